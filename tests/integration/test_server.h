// Access to the ClickHouse server that the ctest fixture started (scripts/clickhouse-local.sh),
// and to the chexport binary. Queries use plain libcurl, independent of the code under test.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace chexport::testing {

struct TestServer {
  int http_port = 0;
  std::string url() const;  // http://127.0.0.1:<port>
};

// The fixture's server; fails the test run if it is not there.
const TestServer& test_server();

// POSTs `sql` to the server; throws std::runtime_error on any failure (status, transport).
std::string http_query(const std::string& sql, const std::string& params = "");

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stderr, then stdout
  std::string out;     // stdout alone
};

// Runs the chexport binary with `args`, extra environment variables, and stdin from /dev/null.
// `shell_prefix` runs in the same shell first (e.g. "ulimit -f 100;").
CommandResult run_chexport(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {},
                           const std::string& shell_prefix = "");

// A port on 127.0.0.1 where nothing listens.
int unused_port();

}  // namespace chexport::testing
