// Access to the ClickHouse server that the ctest fixture started (scripts/clickhouse-server.sh;
// CHEXPORT_TEST_SERVER_DIR names its directory, so one test binary runs against 18.16 and 26.7),
// and to the chexport binary. Queries use plain libcurl, independent of the code under test.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chexport::testing {

struct TestServer {
  int http_port = 0;
  int tcp_port = 0;          // 0 on 26.7, which serves HTTP only here
  std::string version;       // "18.16" or "26.7", as the fixture started it
  std::string display_name;  // X-ClickHouse-Server-Display-Name: "chexport-<dir name>"
  std::string url() const;   // http://127.0.0.1:<port>
  bool modern() const { return version != "18.16"; }
};

// The fixture's server; fails the test run if it is not there.
const TestServer& test_server();

// POSTs `sql` to the fixture's server; throws std::runtime_error on any failure.
std::string http_query(const std::string& sql, const std::string& params = "");
// Runs a script of ';'-terminated statements as a user would on that server: with
// clickhouse-client --multiquery on 18.16, statement by statement over HTTP on 26.7 (no TCP).
void run_sql_script(const std::string& script);
// The same against any server.
std::string http_query_at(const std::string& url, const std::string& sql);

// A program running in the background whose stdout and stderr are read line by line, so that a
// test can wait for an event it prints instead of sleeping. Killed (SIGKILL) if still running when
// destroyed.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // The next line of output, or nothing at end of output or after `timeout_seconds` (a safety net
  // against a hung test, not a synchronisation).
  std::optional<std::string> read_line(double timeout_seconds = 120);
  // Reads lines until one contains `needle`.
  std::optional<std::string> wait_for(const std::string& needle, double timeout_seconds = 120);
  void signal(int sig);
  int wait();  // exit code, 128 + signal if killed; reads the rest of the output
  const std::string& output() const { return output_; }
  pid_t pid() const { return pid_; }
  long max_rss_kib() const { return max_rss_kib_; }  // after wait()

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  std::string output_;
  int status_ = -1;
  long max_rss_kib_ = 0;
};

// The chexport binary under test.
std::string chexport_binary();

// A private ClickHouse server, of the fixture's version or of `version` ("18.16", "26.7"), for
// tests that crash or restart it, or need a second server (scripts/clickhouse-server.sh).
// Stopped when destroyed, even when the test fails.
class PrivateServer {
 public:
  // `env` goes to clickhouse-server.sh start (its CHEXPORT_* variables: address, ports, config).
  explicit PrivateServer(const std::string& version = "",
                         const std::map<std::string, std::string>& env = {});
  ~PrivateServer();
  std::string url() const;
  const std::string& host() const { return host_; }
  // X-ClickHouse-Server-Display-Name: "chexport-<its directory's name>".
  std::string display_name() const;
  int port() const { return port_; }
  std::string query(const std::string& sql) const { return http_query_at(url(), sql); }
  void crash();    // kill -9
  void restart();  // same ports, same data
  void stop();     // as the admin would; restart() starts it again

 private:
  void script(const std::string& command, const std::string& more = "",
              const std::map<std::string, std::string>& env = {});
  std::string dir_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
};

// The S3 server (radosgw) that the ctest fixture started, and requests to it signed with curl's
// own SigV4 (independent of chexport's S3 client).
struct TestS3 {
  int port = 0;
  std::string access_key, secret_key;
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port); }
  // The AWS_* variables chexport needs.
  std::map<std::string, std::string> env() const;
};
const TestS3& test_s3();
// `path` is "/bucket/key?query", already percent-encoded; returns the body, status in `status`.
// `endpoint`: another S3 server than the fixture's, with the same keys.
std::string s3_call(const std::string& method, const std::string& path,
                    const std::string& body = "", long* status = nullptr,
                    const std::string& endpoint = "");

// Starts tests/tools/fault_proxy.py in front of `upstream_port`; returns it and its port.
struct FaultProxy {
  std::unique_ptr<BackgroundProcess> process;
  int port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};
FaultProxy start_fault_proxy(int upstream_port, const std::string& mode, int faults,
                             long after_bytes);

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

// Runs `argv` (argv[0] looked up in PATH) with stdin from /dev/null, as run_chexport does.
CommandResult run_program(const std::vector<std::string>& argv,
                          const std::string& shell_prefix = "");

// A port on 127.0.0.1 where nothing listens.
int unused_port();

}  // namespace chexport::testing
