// End-to-end exports against the real ClickHouse server started by the ctest fixture. Every test
// uses its own database, so tests may run in parallel.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "../support/test_util.h"
#include "checks.h"
#include "chexport/common/sha256.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

TEST(Export, RichTableMatchesADirectFetch) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".rich (d Date, id UInt32, s String, n Nullable(String), "
             "a Array(String), t Tuple(UInt8, String), f Float64) "
             "ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id");
  http_query(
      "INSERT INTO " + db +
      ".rich VALUES "
      "('2020-01-05', 1, 'quote \" comma , newline \\n cr \\r tab \\t end', NULL, ['x','y,z'], (1, "
      "'a\"b'), 0.1), "
      "('2020-02-05', 2, 'Code: 395, e.displayText() = DB::Exception: fake', '\\\\N', [], (2, ''), "
      "-0), "
      "('2020-03-05', 3, 'caf\xc3\xa9 \xe2\x98\x95 \xe6\x97\xa5\xe6\x9c\xac', 'x', ['\\n'], (3, "
      "'\\r\\n'), 1e300), "
      "('2020-03-06', 4, 'line1\\nCode: 62, fake\\n', '__exception__', ['\"'], (4, '\"\"'), -1.5)");
  http_query(
      "INSERT INTO " + db +
      ".rich SELECT toDate('2020-01-01') + number % 90, number + 100, "
      "concat('row \"', toString(number), '\",\\n', if(number % 7 = 0, 'Code: 1', 'x')), "
      "if(number % 3 = 0, NULL, toString(number)), arrayMap(x -> toString(x), range(number % 4)), "
      "(toUInt8(number % 200), toString(number % 13)), number / 3 FROM numbers(20000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "--table", db + ".rich", "--out",
                         out.str(), "--max-rows-per-file", "3000"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("export complete: 3 task(s), 0 failed; 20004 rows"), std::string::npos)
      << r.output;

  auto files = check_manifest(out, 20004);
  std::string all;
  std::map<std::string, std::vector<uint64_t>> rows_per_dir;
  for (const auto& f : files) {
    all += f.content;
    EXPECT_EQ(split_records(f.content).size(), f.rows) << f.path;
    rows_per_dir[fs::path(f.path).parent_path().string()].push_back(f.rows);
  }
  EXPECT_EQ(sorted_records(all),
            sorted_records(http_query("SELECT * FROM " + db + ".rich FORMAT CSV")));

  // Three partitions, each cut into files of exactly 3000 rows but the last.
  ASSERT_EQ(rows_per_dir.size(), 3u);
  for (const auto& [dir, rows] : rows_per_dir) {
    for (size_t i = 0; i + 1 < rows.size(); ++i) EXPECT_EQ(rows[i], 3000u) << dir;
    EXPECT_LE(rows.back(), 3000u);
  }
  std::string base = db + "/rich/";
  EXPECT_TRUE(rows_per_dir.count(base + "partition=202001/whole"));
  EXPECT_TRUE(fs::exists(out.path() / (base + "partition=202001/whole/part-000000.csv.zst")));
  EXPECT_TRUE(fs::exists(out.path() / (base + "partition=202001/whole/part-000002.csv.zst")));
  EXPECT_NE(read_file(out.path() / (base + "schema.sql")).find("CREATE TABLE " + db + ".rich"),
            std::string::npos);
  expect_no_temp_files(out);
}

TEST(Export, RotationByBytesWithHeaders) {
  std::string db = fresh_database();
  // Every record is 11 bytes ("1000000000\n"); the header "\"n\"\n" is 4.
  http_query("CREATE TABLE " + db + ".fixed (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".fixed SELECT 1000000000 + number FROM numbers(10000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".fixed", "-o",
                         out.str(), "--format", "CSVWithNames", "--max-bytes-per-file", "27500"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto files = check_manifest(out, 10000);
  ASSERT_EQ(files.size(), 4u);
  std::string body;
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].path, db + "/fixed/all/whole/part-00000" + std::to_string(i) + ".csv.zst");
    EXPECT_EQ(files[i].rows, 2500u);
    ASSERT_TRUE(files[i].content.starts_with("\"n\"\n"));
    body += files[i].content.substr(4);
  }
  EXPECT_EQ(sorted_records(body),
            sorted_records(http_query("SELECT * FROM " + db + ".fixed FORMAT CSV")));
}

TEST(Export, PlainCsvAndNonMergeTreeTable) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".log (x UInt64, s String) ENGINE = Log");
  http_query("INSERT INTO " + db +
             ".log SELECT number, concat('\"', toString(number)) FROM numbers(1234)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".log", "-o", out.str(),
                         "--compression", "none", "--max-rows-per-file", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto files = check_manifest(out, 1234);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, db + "/log/all/whole/part-000000.csv");
  EXPECT_EQ(files[0].content + files[1].content,
            http_query("SELECT * FROM " + db + ".log FORMAT CSV"));
}

TEST(Export, PartitionValuesBecomeSafeDistinctNames) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".odd (k String, v UInt8) ENGINE = MergeTree PARTITION BY k ORDER BY v");
  http_query("INSERT INTO " + db +
             ".odd VALUES ('a\\'b/c\"d', 1), ('caf\xc3\xa9', 2), ('..', 3), "
             "('x y', 4), ('x y', 5)");
  TempDir out;
  auto r =
      run_chexport({"export", "--url", test_server().url(), "-t", db + ".odd", "-o", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 5);
  // 18.16 prints a String partition's value bare (modern servers quote it: 'x y').
  std::vector<std::string> expected = {
      db + "/odd/partition=.%2E/whole/part-000000.csv.zst",  // Windows drops a trailing dot
      db + "/odd/partition=a%27b%2Fc%22d/whole/part-000000.csv.zst",
      db + "/odd/partition=caf\xc3\xa9/whole/part-000000.csv.zst",
      db + "/odd/partition=x y/whole/part-000000.csv.zst",
  };
  EXPECT_EQ(data_files(out), expected);
}

TEST(Export, MidStreamErrorDeepInAPartitionKeepsOnlyTheGoodPartition) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".two (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".two SELECT if(number < 1000, 0, 1), number FROM numbers(4001000)");
  TempDir out;
  // Partition 1 overflows max_result_rows after the server has streamed ~3 million rows: a
  // deterministic error (396), so no retry.
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".two", "-o", out.str(),
                         "--setting", "max_result_rows=3000000", "--setting",
                         "result_overflow_mode=throw", "--retries", "3", "--retry-delay", "0.01"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("partition 1: the server failed mid-stream"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("ClickHouse error 396"), std::string::npos) << r.output;
  EXPECT_EQ(data_files(out),
            std::vector<std::string>{db + "/two/partition=0/whole/part-000000.csv.zst"});
  expect_no_temp_files(out);
}

// The query_id of each task in the manifest.
std::vector<std::string> task_query_ids(const TempDir& out) {
  simdjson::dom::parser parser;
  std::vector<std::string> ids;
  for (simdjson::dom::element t : parser.load(out.str() + "/manifest.json")["tasks"].get_array())
    ids.emplace_back(std::string_view(t["query_id"]));
  return ids;
}

// Tiny partitions go 64 to a query, each routed into its own files; a group whose query fails
// (here: more result rows than the user may read at once) is exported again task by task.
TEST(Export, SmallPartitionsGoByOneQueryAndAFailedGroupTaskByTask) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  for (const char* rows : {"numbers(0, 750)", "numbers(750, 750)"}) {  // 100 partitions at most
    http_query("INSERT INTO " + db +
               ".t SELECT intDiv(number, 10), number, concat('\"', toString(number), ',\\n') "
               "FROM " +
               rows);
  }
  const RecordsDigest source = records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV"));
  TempDir out;
  std::vector<std::string> args = {"export", "--url",  test_server().url(), "-t", db + ".t",
                                   "-o",     out.str()};
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<ExportedFile> files = check_manifest(out, 1500);
  ASSERT_EQ(files.size(), 150u);
  for (const ExportedFile& f : files) {
    // Each file holds its partition's ten rows and nothing else.
    std::string p = f.path.substr(f.path.find("partition=") + 10);
    p = p.substr(0, p.find('/'));
    EXPECT_EQ(f.rows, 10u) << f.path;
    EXPECT_EQ(f.content.substr(0, p.size() + 1), p + ",") << f.path;
    EXPECT_EQ(count_of(f.content, "\n" + p + ","), 9u) << f.path;
  }
  EXPECT_EQ(exported_digest(out), source);
  std::vector<std::string> ids = task_query_ids(out);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 3u);  // 64 + 64 + 22

  TempDir out2;
  args.back() = out2.str();
  args.insert(args.end(),
              {"--setting", "max_result_rows=200", "--setting", "result_overflow_mode=throw"});
  auto limited = run_chexport(args);
  ASSERT_EQ(limited.exit_code, 0) << limited.output;
  EXPECT_EQ(count_of(limited.output, " task(s), and every task after them, one by one"), 1u)
      << limited.output;
  check_manifest(out2, 1500);
  EXPECT_EQ(exported_digest(out2), source);
  ids = task_query_ids(out2);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 150u);
}

TEST(Export, DiskFullIsOneClearErrorAndLeavesNoFinalFile) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".big (n UInt64, s String) ENGINE = MergeTree PARTITION BY n % 2 ORDER BY n");
  http_query("INSERT INTO " + db +
             ".big SELECT number, toString(cityHash64(number)) FROM numbers(300000)");
  TempDir out;
  // A file-size limit of 512 KiB makes write() fail with EFBIG, as a full disk fails with ENOSPC
  // (SIGXFSZ is ignored so that the error reaches the program).
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".big", "-o", out.str(),
                         "--compression", "none"},
                        {}, "trap '' XFSZ; ulimit -f 512;");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("disk full"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cannot write " + out.str()), std::string::npos) << r.output;
  // The first failure stops the run: one error line for the task, then the summary (after the
  // lines that say where it connected, what it planned and how the data comes on the wire).
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 5) << r.output;
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  EXPECT_EQ(
      int64_t(manifest["tasks"].at(0)["attempts"]) + int64_t(manifest["tasks"].at(1)["attempts"]),
      1);  // no retry storm: a full disk is not worth retrying
  EXPECT_TRUE(std::string_view(manifest["tasks"].at(1)["error"])
                  .starts_with("not started: an earlier task failed"));
  EXPECT_TRUE(data_files(out).empty());
  expect_no_temp_files(out);
}

TEST(Export, BadPasswordIsOneClearErrorAndNeverLeaks) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = Log");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "--user", "exporter", "-t",
                         db + ".t", "-o", out.str()},
                        {{"CLICKHOUSE_PASSWORD", "not-the-Secret-42"}});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  // Each server's own words: 18.16 says which check failed, 26.7 deliberately does not.
  std::string said = test_server().modern()
                         ? "ClickHouse error 516 (HTTP 403): exporter: Authentication failed: "
                           "password is incorrect, or there is no user with such name."
                         : "ClickHouse error 193 (HTTP 401): Wrong password for user exporter";
  EXPECT_NE(r.output.find("chexport: error: asking the server's version: " + said),
            std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(r.output.find("not-the-Secret-42"), std::string::npos);
}

TEST(Export, PasswordFromEnvironmentOrFileIsUsedAndNeverLogged) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t VALUES (1), (2)");
  TempDir out, secret;
  auto r = run_chexport({"export", "--url", test_server().url(), "--user", "exporter", "-t",
                         db + ".t", "-o", out.str(), "--log-level", "trace"},
                        {{"CLICKHOUSE_PASSWORD", "exporter-secret"}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("exporter-secret"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(out.path() / "manifest.json").find("exporter-secret"), std::string::npos);
  check_manifest(out, 2);

  std::string password_file = secret.str() + "/password";
  std::ofstream(password_file) << "exporter-secret\n";
  TempDir out2;
  auto r2 = run_chexport({"export", "--url", test_server().url(), "--user", "exporter", "-t",
                          db + ".t", "-o", out2.str(), "--password-file", password_file});
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
}

TEST(Export, ServerThreadsIsMaxThreadsPerQuery) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number FROM numbers(1000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(),
                         "--server-threads", "1", "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(out.path() / "manifest.json").find("\"max_threads\": \"1\""),
            std::string::npos);
  check_manifest(out, 1000);
}

TEST(Export, UnknownTable) {
  std::string db = fresh_database();
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".nope", "-o",
                         out.str(), "--progress", "json"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  // Scripts that read the events hear of it too.
  EXPECT_NE(r.output.find("{\"event\":\"run_finished\",\"exit_code\":3,\"error\":\"table " + db +
                          ".nope does not exist on the server\"}"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("chexport: error: table " + db + ".nope does not exist on the server"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(out.files().empty());
}

TEST(Export, UnreachableServer) {
  TempDir out;
  std::string url = "http://127.0.0.1:" + std::to_string(unused_port());
  auto r = run_chexport({"export", "--url", url, "-t", "default.t", "-o", out.str()});
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("chexport: error: asking the server's version: cannot connect to " + url),
            std::string::npos)
      << r.output;
}

TEST(Export, UsageErrors) {
  TempDir out;
  auto bad_compression =
      run_chexport({"export", "-t", "a.b", "-o", out.str(), "--compression", "lz4"});
  EXPECT_EQ(bad_compression.exit_code, 2);
  EXPECT_NE(bad_compression.output.find("--compression must be zstd or none"), std::string::npos);
  auto credentials_in_url =
      run_chexport({"export", "--url", "http://u:p@127.0.0.1:1", "-t", "a.b", "-o", out.str()});
  EXPECT_EQ(credentials_in_url.exit_code, 2);
  EXPECT_NE(credentials_in_url.output.find("--url must not contain credentials"),
            std::string::npos);
  EXPECT_EQ(credentials_in_url.output.find("u:p@"), std::string::npos);
  auto password_setting = run_chexport(
      {"export", "-t", "a.b", "-o", out.str(), "--setting", "password=hunter2-secret"});
  EXPECT_EQ(password_setting.exit_code, 2);
  EXPECT_NE(password_setting.output.find("setting password is not allowed"), std::string::npos)
      << password_setting.output;
  EXPECT_EQ(password_setting.output.find("hunter2-secret"), std::string::npos);
  auto missing_out = run_chexport({"export", "-t", "a.b"});
  EXPECT_EQ(missing_out.exit_code, 2);
  auto bad_size =
      run_chexport({"export", "-t", "a.b", "-o", out.str(), "--max-bytes-per-file", "lots"});
  EXPECT_EQ(bad_size.exit_code, 2);
  EXPECT_NE(bad_size.output.find("--max-bytes-per-file: \"lots\" is not a size"),
            std::string::npos);
}

TEST(Export, ASecondRunResumesAndFreshStartsOver) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = MergeTree PARTITION BY n ORDER BY n");
  http_query("INSERT INTO " + db + ".t VALUES (1), (2)");
  TempDir out;
  std::vector<std::string> args = {"export", "--url",  test_server().url(), "-t", db + ".t",
                                   "-o",     out.str()};
  ASSERT_EQ(run_chexport(args).exit_code, 0);
  auto again = run_chexport(args);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("2 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
  check_manifest(out, 2);
  {
    // A kept task keeps what the server said when it was exported.
    simdjson::dom::parser parser;
    simdjson::dom::element task = parser.load(out.str() + "/manifest.json")["tasks"].at(0);
    EXPECT_TRUE(bool(task["kept"]));
    EXPECT_EQ(std::string_view(task["server_response"]["display_name"]),
              test_server().display_name);
  }
  auto other_options = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                                     out.str(), "--zstd-level", "1"});
  EXPECT_EQ(other_options.exit_code, 2);
  EXPECT_NE(other_options.output.find(
                "holds an export made with other options (zstd_level: \"3\" -> \"1\")"),
            std::string::npos)
      << other_options.output;
  args.push_back("--fresh");
  auto fresh = run_chexport(args);
  ASSERT_EQ(fresh.exit_code, 0);
  EXPECT_EQ(fresh.output.find("already done"), std::string::npos) << fresh.output;
  check_manifest(out, 2);
}

}  // namespace
}  // namespace chexport::testing
