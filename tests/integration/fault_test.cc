// Faults, made real wherever the real server can make them: a killed server, a query that fails
// mid-stream once, an interrupted 4-worker export, a full disk, bad credentials. Faults that need a
// man in the middle (a cut response, a 503, a stall) and the untagged error framing of servers
// 25.1-25.10, which neither real server sends, come from tests/tools/fault_proxy.py in front of
// the real server.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

std::vector<std::string> export_args(const std::string& url, const std::string& table,
                                     const TempDir& out, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {chexport_binary(), "export", "--url", url, "-t", table, "-o",
                                   out.str()};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

simdjson::dom::element load_manifest(simdjson::dom::parser& parser, const TempDir& out) {
  return parser.load(out.str() + "/manifest.json");
}

TEST(Fault, ServerKilledMidExportAndStartedAgain) {
  PrivateServer server;
  server.query(
      "CREATE TABLE default.t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p "
      "ORDER BY n");
  server.query(
      "INSERT INTO default.t SELECT number % 8, number, concat('row ', toString(number)) FROM "
      "numbers(2400000)");
  RecordsDigest expected = records_digest(server.query("SELECT * FROM default.t FORMAT CSV"));
  TempDir out;
  BackgroundProcess run(export_args(server.url(), "default.t", out,
                                    {"--workers", "2", "--progress", "json", "--retries", "30",
                                     "--retry-delay", "0.1", "--retry-max-delay", "0.5"}));
  ASSERT_TRUE(run.wait_for("\"event\":\"task_finished\"")) << run.output();
  server.crash();
  server.restart();
  EXPECT_EQ(run.wait(), 0) << run.output();
  EXPECT_NE(run.output().find("\"event\":\"retry\""), std::string::npos) << run.output();
  check_manifest(out, 2400000);
  EXPECT_EQ(exported_digest(out), expected);
  expect_no_temp_files(out);
}

TEST(Fault, TransientMidStreamErrorOnTheFirstAttemptOnlyIsRetried) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".base (p UInt8, n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".base SELECT 0, number FROM numbers(4000000)");
  http_query("CREATE TABLE " + db + ".flag (x UInt8) ENGINE = Memory");
  // Deep in the stream (after the 200: plain on the wire, where 26.7 sends it long before), one
  // row needs a 400 MB array while the query may use 100 MB: a real memory-limit error (241,
  // transient), until the test inserts into `flag`.
  http_query("CREATE VIEW " + db +
             ".v AS SELECT p, n, length(arrayStringConcat(arrayMap(x -> 'x', range(if(n = 3000000 "
             "AND (SELECT count() FROM " +
             db + ".flag) = 0, 50000000, 1))))) AS t FROM " + db + ".base");
  RecordsDigest expected =
      records_digest(http_query("SELECT p, n, 1 FROM " + db + ".base FORMAT CSV"));
  TempDir out;
  BackgroundProcess run(
      export_args(test_server().url(), db + ".v", out,
                  {"--progress", "json", "--retries", "10", "--retry-delay", "0.2", "--setting",
                   "max_memory_usage=100000000", "--wire-compression", "none"}));
  auto retry = run.wait_for("\"event\":\"retry\"");
  ASSERT_TRUE(retry) << run.output();
  EXPECT_NE(retry->find("the server failed mid-stream after"), std::string::npos) << *retry;
  EXPECT_NE(retry->find("ClickHouse error 241"), std::string::npos) << *retry;
  http_query("INSERT INTO " + db + ".flag VALUES (1)");
  EXPECT_EQ(run.wait(), 0) << run.output();
  check_manifest(out, 4000000);
  EXPECT_EQ(exported_digest(out), expected);
  simdjson::dom::parser parser;
  EXPECT_GE(int64_t(load_manifest(parser, out)["tasks"].at(0)["attempts"]), 2);
}

TEST(Fault, SigintStopsAFourWorkerExportAndTheNextRunResumes) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT number % 8, number, concat('a fairly long string so that "
             "each partition takes a while, row ', toString(number)) FROM numbers(8000000)");
  // One part per partition: a background merge would change the data's version, and the resume
  // would (rightly) export those partitions again.
  settle_parts(db, "t");
  TempDir out;
  BackgroundProcess run(
      export_args(test_server().url(), db + ".t", out, {"--workers", "4", "--progress", "json"}));
  std::vector<std::string> query_ids;
  const std::string key = "\"query_id\":\"";
  while (auto line = run.read_line()) {
    if (auto at = line->find(key); at != std::string::npos) {
      auto start = at + key.size();
      query_ids.push_back(line->substr(start, line->find('"', start) - start));
    }
    if (line->find("\"event\":\"task_finished\"") != std::string::npos) break;
  }
  run.signal(SIGINT);
  EXPECT_EQ(run.wait(), 130) << run.output();
  ASSERT_FALSE(query_ids.empty());
  // None of its queries may still run on the server within 2 seconds.
  std::string list;
  for (const auto& id : query_ids) list += (list.empty() ? "'" : ",'") + id + "'";
  std::string running;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  do {
    running = http_query("SELECT query_id FROM system.processes WHERE query_id IN (" + list + ")");
    if (running.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(running, "");
  expect_no_temp_files(out);
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = load_manifest(parser, out);
  EXPECT_EQ(int64_t(manifest["exit_code"]), 130);
  uint64_t done = 0;
  for (simdjson::dom::element t : manifest["tasks"].get_array())
    done += std::string_view(t["status"]) == "done";
  EXPECT_GE(done, 1u);
  EXPECT_LT(done, 8u);

  auto again = run_chexport(
      {"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(), "--workers", "4"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find(std::to_string(done) + " task(s) already done and verified, " +
                              std::to_string(8 - done) + " to export"),
            std::string::npos)
      << again.output;
  check_manifest(out, 8000000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
}

struct ProxyCase {
  const char* name;
  const char* mode;
  const char* wire;      // --wire-compression
  long after;            // body bytes before the fault (compressed ones, when compressed)
  const char* detected;  // what the error says
};

void PrintTo(const ProxyCase& c, std::ostream* os) {
  *os << c.name;
}

class ProxyFault : public ::testing::TestWithParam<ProxyCase> {};

TEST_P(ProxyFault, IsDetectedAndRetried) {
  std::string db = std::string("it_proxy_") + GetParam().name;
  http_query("DROP DATABASE IF EXISTS " + db);
  http_query("CREATE DATABASE " + db);
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query(
      "INSERT INTO " + db +
      ".t SELECT number % 2, number, concat('\"', toString(number), ',x') FROM numbers(400000)");
  FaultProxy proxy =
      start_fault_proxy(test_server().http_port, GetParam().mode, 1, GetParam().after);
  TempDir out;
  auto r = run_chexport({"export", "--url", proxy.url(), "-t", db + ".t", "-o", out.str(),
                         "--retries", "3", "--retry-delay", "0.05", "--speed-limit", "1000",
                         "--speed-time", "2", "--wire-compression", GetParam().wire});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(GetParam().detected), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(attempt 1 of 4; retrying in"), std::string::npos) << r.output;
  check_manifest(out, 400000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  simdjson::dom::parser parser;
  int64_t attempts = 0;
  for (simdjson::dom::element t : load_manifest(parser, out)["tasks"].get_array()) {
    attempts += int64_t(t["attempts"]);
    // The faults hit the stream they were meant for: compressed (the server's best) or plain.
    std::string_view encoding;
    if (t["server_response"]["content_encoding"].get(encoding) != simdjson::SUCCESS) encoding = "";
    EXPECT_EQ(encoding, std::string_view(GetParam().wire) == "none"
                            ? ""
                            : (test_server().modern() ? "zstd" : "gzip"));
  }
  EXPECT_EQ(attempts, 3);  // two tasks, one of them twice
}

INSTANTIATE_TEST_SUITE_P(
    Fault, ProxyFault,
    ::testing::Values(
        ProxyCase{"cut", "cut", "none", 1 << 20, "connection broken after"},
        ProxyCase{"status503", "status503", "none", 0,
                  "(HTTP 503 Service Unavailable): Service Unavailable (injected)"},
        ProxyCase{"stall", "stall", "none", 1 << 20, "timed out"},
        ProxyCase{"exception", "exception", "none", 1 << 20,
                  "ClickHouse error 241: Memory limit (for query)"},
        // The server's own compression (zstd on 26.7, gzip on 18.16), cut or damaged after its
        // first 64 KiB: the decoder, not the CSV, notices a clean end in the middle of a frame.
        ProxyCase{"cut_compressed", "cut", "auto", 64 << 10, "connection broken after"},
        ProxyCase{"truncated_compressed", "truncate", "auto", 64 << 10,
                  "the response cannot be decoded (Content-Encoding: "},
        ProxyCase{"corrupt_compressed", "corrupt", "auto", 64 << 10,
                  "the response cannot be decoded (Content-Encoding: "}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Fault, RetryAfterIsHonoured) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number FROM numbers(1000)");
  FaultProxy proxy = start_fault_proxy(test_server().http_port, "status503", 1, 0);
  TempDir out;
  auto r = run_chexport(
      {"export", "--url", proxy.url(), "-t", db + ".t", "-o", out.str(), "--retry-delay", "0.01"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The computed delay, not a measured one: at least the server's "Retry-After: 1".
  EXPECT_NE(r.output.find("retrying in 1.0 s"), std::string::npos) << r.output;
}

TEST(Fault, PermanentErrorsFailFastWithoutRetries) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = Log");
  TempDir out;
  auto bad_password = run_chexport({"export", "--url", test_server().url(), "--user", "exporter",
                                    "-t", db + ".t", "-o", out.str(), "--retries", "5"},
                                   {{"CLICKHOUSE_PASSWORD", "wrong"}});
  EXPECT_EQ(bad_password.exit_code, 6);
  EXPECT_EQ(bad_password.output.find("retrying"), std::string::npos) << bad_password.output;
  // A syntax error in a bound fails the plan at once.
  auto bad_sql = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                               out.str(), "--lower-condition", "n >>> 1", "--retries", "5"});
  EXPECT_EQ(bad_sql.exit_code, 3);
  EXPECT_NE(bad_sql.output.find("ClickHouse error 62"), std::string::npos) << bad_sql.output;
  EXPECT_EQ(bad_sql.output.find("retrying"), std::string::npos) << bad_sql.output;
}

}  // namespace
}  // namespace chexport::testing
