// Destinations other than a plain directory: one zstd stream on stdout, and per-file hooks.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>

#include "checks.h"
#include "chexport/common/sha256.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

std::string two_partitions(int rows) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT intDiv(number * 2, " + std::to_string(rows) +
             "), number, concat('\"', toString(number), '\\n,') FROM numbers(" +
             std::to_string(rows) + ")");
  return db;
}

TEST(Output, StdoutCarriesOneStreamOfFramesInPlanOrder) {
  std::string db = two_partitions(5000);
  TempDir dir;
  std::string manifest_path = dir.str() + "/m.json";
  auto r =
      run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", "-",
                    "--max-rows-per-file", "1000", "--manifest", manifest_path, "--workers", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--workers 4 is ignored"), std::string::npos) << r.output;
  EXPECT_EQ(zstd_frame_count(r.out), 6u);  // 2500 rows per partition, files of 1000 rows
  std::string csv = zstd_decompress(r.out);
  EXPECT_EQ(sorted_records(csv),
            sorted_records(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  // Partition 0 first, never interleaved with partition 1.
  auto records = split_records(csv);
  ASSERT_EQ(records.size(), 5000u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i][0], i < 2500 ? '0' : '1') << i;
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(manifest_path);
  EXPECT_EQ(uint64_t(manifest["totals"]["files"]), 6u);
  EXPECT_EQ(std::string_view(manifest["tasks"].at(0)["files"].at(0)["path"]), "-");
}

TEST(Output, StdoutFailureMidStreamIsNotRetried) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".two (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".two SELECT if(number < 1000, 0, 1), number FROM numbers(4001000)");
  TempDir dir;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".two", "-o", "-",
                         "--manifest", dir.str() + "/m.json", "--setting",
                         "max_result_rows=3000000", "--setting", "result_overflow_mode=throw",
                         "--retries", "3", "--retry-delay", "0.01"});
  EXPECT_EQ(r.exit_code, 3) << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("after data went to stdout, which is now incomplete"), std::string::npos)
      << r.output.substr(0, 2000);
  EXPECT_EQ(r.output.find("retrying"), std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(dir.str() + "/m.json");
  EXPECT_EQ(int64_t(manifest["tasks"].at(1)["attempts"]), 1);
  EXPECT_EQ(int64_t(manifest["exit_code"]), 3);
}

TEST(Output, HookTakesEachValidatedFileAndItIsRemoved) {
  std::string db = two_partitions(4000);
  TempDir out, side;
  std::string log = side.str() + "/hook.log";
  std::string sink = side.str() + "/sink";
  fs::create_directories(sink);
  std::string hook =
      "printf '%s %s %s %s %s\\n' \"$CHEXPORT_FILE_NAME\" \"$CHEXPORT_ROWS\" \"$CHEXPORT_SHA256\" "
      "\"$CHEXPORT_PARTITION\" \"pw=$CLICKHOUSE_PASSWORD$MY_CH_PW\" >> " +
      log + " && cp \"$CHEXPORT_FILE\" " + sink +
      "/$(basename \"$CHEXPORT_FILE\")-$CHEXPORT_PARTITION";
  std::vector<std::string> args = {"export",
                                   "--url",
                                   test_server().url(),
                                   "--user",
                                   "exporter",
                                   "-t",
                                   db + ".t",
                                   "-o",
                                   out.str(),
                                   "--max-rows-per-file",
                                   "1500",
                                   "--on-file",
                                   hook,
                                   "--delete-after-hook",
                                   "--password-env",
                                   "MY_CH_PW"};
  // The password comes from a variable of the user's choosing; the hook sees neither it nor
  // CLICKHOUSE_PASSWORD.
  std::map<std::string, std::string> env = {{"MY_CH_PW", "exporter-secret"},
                                            {"CLICKHOUSE_PASSWORD", "decoy"}};
  auto r = run_chexport(args, env);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(data_files(out).empty());  // all handed off
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  std::string expected_log;
  std::string all;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    for (simdjson::dom::element f : t["files"].get_array()) {
      std::string path{std::string_view(f["path"])};
      EXPECT_TRUE(bool(f["handed_off"]));
      expected_log += path + " " + std::to_string(uint64_t(f["rows"])) + " " +
                      std::string(std::string_view(f["sha256"])) + " " +
                      std::string(std::string_view(t["partition"])) + " pw=\n";
      std::string copy = sink + "/" + fs::path(path).filename().string() + "-" +
                         std::string(std::string_view(t["partition"]));
      std::string raw = read_file(copy);
      EXPECT_EQ(Sha256::of(raw), std::string_view(f["sha256"]));
      all += zstd_decompress(raw);
    }
  }
  EXPECT_EQ(read_file(log), expected_log);  // the password never reaches the hook
  EXPECT_EQ(sorted_records(all),
            sorted_records(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  auto verify = run_chexport({"verify", out.str()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("(4 handed off to --on-file and removed)"), std::string::npos)
      << verify.output;
  // A second run keeps everything: the files were handed off, not lost.
  auto again = run_chexport(args, env);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("2 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
}

TEST(Output, AFailingHookFailsTheTaskWhichIsRetried) {
  std::string db = two_partitions(2000);
  TempDir out, side;
  std::string marker = side.str() + "/failed-once";
  std::string hook = "test -e " + marker + " || { touch " + marker + "; exit 3; }";
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(),
                         "--on-file", hook, "--retry-delay", "0.01"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--on-file command exited with 3 for " + db + "/t/partition="),
            std::string::npos)
      << r.output;
  check_manifest(out, 2000);
  simdjson::dom::parser parser;
  int64_t attempts = 0;
  for (simdjson::dom::element t : parser.load(out.str() + "/manifest.json")["tasks"].get_array()) {
    attempts += int64_t(t["attempts"]);
  }
  EXPECT_EQ(attempts, 3);
  expect_no_temp_files(out);
}

TEST(Output, HookFlagsAreChecked) {
  TempDir out;
  auto no_hook = run_chexport({"export", "-t", "a.b", "-o", out.str(), "--delete-after-hook"});
  EXPECT_EQ(no_hook.exit_code, 2);
  EXPECT_NE(no_hook.output.find("--delete-after-hook needs --on-file"), std::string::npos);
  auto s3_delete = run_chexport(
      {"export", "-t", "a.b", "-o", "s3://bucket/x", "--on-file", "true", "--delete-after-hook"});
  EXPECT_EQ(s3_delete.exit_code, 2);
  EXPECT_NE(s3_delete.output.find("--delete-after-hook is for local files"), std::string::npos)
      << s3_delete.output;
  auto manifest_dir =
      run_chexport({"export", "-t", "a.b", "-o", out.str(), "--manifest", out.str() + "/m.json"});
  EXPECT_EQ(manifest_dir.exit_code, 2);
  EXPECT_NE(manifest_dir.output.find("--manifest is for --out -"), std::string::npos)
      << manifest_dir.output;
  auto small_parts = run_chexport({"export", "--url", test_server().url(), "-t", "a.b", "-o",
                                   "s3://bucket/x", "--s3-part-size", "1MiB"},
                                  {{"AWS_ACCESS_KEY_ID", "a"}, {"AWS_SECRET_ACCESS_KEY", "b"}});
  EXPECT_EQ(small_parts.exit_code, 2);
  EXPECT_NE(small_parts.output.find("--s3-part-size must be at least 5MiB"), std::string::npos)
      << small_parts.output;
  auto stdout_hook = run_chexport({"export", "-t", "a.b", "-o", "-", "--on-file", "true"});
  EXPECT_EQ(stdout_hook.exit_code, 2);
  EXPECT_NE(stdout_hook.output.find("--on-file needs files"), std::string::npos)
      << stdout_hook.output;
}

}  // namespace
}  // namespace chexport::testing
