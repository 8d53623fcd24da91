// Trustworthy runs: a resume keeps only what still matches the table, two runs never share an
// output, no task overwrites another's files, a failed stream says so to whatever reads it, and
// --fresh and verify know which files are the export's. On both real servers.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> export_args(const std::string& url, const std::string& table,
                                     const TempDir& out, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"export", "--url", url, "-t", table, "-o", out.str()};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::string two_partitions() {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  for (int i = 0; i < 2; ++i) {
    http_query("INSERT INTO " + db + ".t SELECT number % 2, number + " + std::to_string(i * 1000) +
               ", 'v' FROM numbers(1000)");
  }
  // One part per partition, so that no background merge renames them behind the test's back.
  settle_parts(db, "t");
  return db;
}

TEST(Resume, DataThatChangedWithTheSameCountIsExportedAgain) {
  std::string db = two_partitions();
  TempDir out;
  auto args = export_args(test_server().url(), db + ".t", out);
  ASSERT_EQ(run_chexport(args).exit_code, 0);
  // A merge (FINAL merges even a single part) keeps the rows and renames the part; an update
  // (26.7, synchronous) changes rows without changing their number. The count alone would keep
  // both partitions' old files.
  http_query("OPTIMIZE TABLE " + db + ".t PARTITION 1 FINAL");
  if (test_server().modern()) {
    http_query("ALTER TABLE " + db + ".t UPDATE s = 'changed' WHERE p = 0", "mutations_sync=2");
  }
  auto again = run_chexport(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find(db + ".t partition 1: exporting again: its data changed since it was "
                                   "exported (its active parts differ)"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(again.output.find(db + ".t partition 0: exporting again") != std::string::npos,
            test_server().modern())
      << again.output;
  check_manifest(out, 2000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  simdjson::dom::parser parser;
  simdjson::dom::element task = parser.load(out.str() + "/manifest.json")["tasks"].at(1);
  EXPECT_EQ(std::string_view(task["data_version"]).size(), 32u);
  // Unchanged now: everything is kept.
  auto third = run_chexport(args);
  EXPECT_NE(third.output.find("2 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << third.output;
}

TEST(Resume, AnotherServerIsNotTheSameData) {
  // The same table with the same rows (and, on 18.16, the same part names) on another server.
  std::string db = fresh_database();
  std::string create = "CREATE TABLE " + db +
                       ".same (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n";
  std::string insert = "INSERT INTO " + db + ".same SELECT number % 2, number FROM numbers(100)";
  http_query(create);
  http_query(insert);
  PrivateServer other;
  other.query("CREATE DATABASE " + db);
  other.query(create);
  other.query(insert);
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(test_server().url(), db + ".same", out)).exit_code, 0);
  auto again = run_chexport(export_args(other.url(), db + ".same", out));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  std::string why = test_server().modern() ? "the table is not the one exported before (UUID "
                                           : "another server answered (";
  EXPECT_EQ(count_of(again.output, "exporting again: " + why), 2u) << again.output;
  check_manifest(out, 100);
}

TEST(Resume, OnlySettingsThatShapeTheFilesMustStayTheSame) {
  std::string db = two_partitions();
  TempDir out;
  std::string url = test_server().url() + "/?max_threads=1";  // a setting in the URL
  ASSERT_EQ(run_chexport(export_args(url, db + ".t", out, {"--setting", "max_execution_time=600"}))
                .exit_code,
            0);
  simdjson::dom::parser parser;
  simdjson::dom::element settings =
      parser.load(out.str() + "/manifest.json")["options"]["settings"];
  EXPECT_EQ(std::string_view(settings["max_threads"]), "1");
  // A timeout that was too short can be raised, and max_threads dropped, without --fresh.
  auto raised = run_chexport(
      export_args(test_server().url(), db + ".t", out, {"--setting", "max_execution_time=3600"}));
  EXPECT_EQ(raised.exit_code, 0) << raised.output;
  EXPECT_NE(raised.output.find("2 task(s) already done and verified"), std::string::npos)
      << raised.output;
  // A setting that changes the bytes refuses the resume.
  auto shaped = run_chexport(
      export_args(test_server().url(), db + ".t", out, {"--setting", "format_csv_delimiter=;"}));
  EXPECT_EQ(shaped.exit_code, 2) << shaped.output;
  EXPECT_NE(shaped.output.find("(settings: \"\" -> \"format_csv_delimiter=;\")"), std::string::npos)
      << shaped.output;
  // The URL's settings get the checks --setting gets.
  auto user = run_chexport(export_args(test_server().url() + "/?user=exporter", db + ".t", out));
  EXPECT_EQ(user.exit_code, 2) << user.output;
  EXPECT_NE(user.output.find("setting user is not allowed"), std::string::npos) << user.output;
}

TEST(Stdout, AFailureStopsTheRunAndTheStreamFailsToDecode) {
  std::string db = two_partitions();
  TempDir dir;
  // The first task's query gets a 503 and no retry: nothing of it reaches stdout, and the run
  // must not go on to the next partition as if the stream were whole.
  FaultProxy proxy = start_fault_proxy(test_server().http_port, "status503", 1, 0);
  auto r = run_chexport({"export", "--url", proxy.url(), "-t", db + ".t", "-o", "-", "--manifest",
                         dir.str() + "/m.json", "--retries", "0"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THROW(zstd_decompress(r.out), std::runtime_error);
  simdjson::dom::parser parser;
  simdjson::dom::element tasks = parser.load(dir.str() + "/m.json")["tasks"];
  EXPECT_EQ(std::string_view(tasks.at(1)["status"]), "failed");
  EXPECT_TRUE(std::string_view(tasks.at(1)["error"]).starts_with("not started"));
  // What the zstd command line says of it, as a pipeline would see it.
  std::string path = dir.str() + "/stream.zst";
  std::ofstream(path, std::ios::binary) << r.out;
  EXPECT_NE(std::system(("zstd -t -q " + path + " 2>/dev/null").c_str()), 0);
}

TEST(Layout, PartitionTextsThatCollideUseTheirIds) {
  std::string db = fresh_database();
  // Hourly partitions across Berlin's autumn change: two hours print as 02:00:00. And two string
  // partitions that differ only in case.
  http_query("CREATE TABLE " + db +
             ".hours (t DateTime('Europe/Berlin'), n UInt64) ENGINE = MergeTree "
             "PARTITION BY toStartOfHour(t) ORDER BY n");
  http_query("INSERT INTO " + db +
             ".hours SELECT toDateTime(1603580400 + number * 60, 'Europe/Berlin'), number FROM "
             "numbers(240)");
  http_query("CREATE TABLE " + db +
             ".names (k String, n UInt64) ENGINE = MergeTree PARTITION BY k ORDER BY n");
  // And two that differ in the case of a letter beyond ASCII: Köln and KÖLN.
  http_query(
      "INSERT INTO " + db +
      ".names VALUES ('Ab', 1), ('aB', 2), ('x', 3), ('K\xc3\xb6ln', 4), ('K\xc3\x96LN', 5)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".hours", "-t",
                         db + ".names", "-o", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 245);
  std::vector<std::string> files = data_files(out);
  // 00:00 and 01:00 UTC are both 02:00 in Berlin that night.
  std::string all;
  for (const std::string& f : files) all += f + "\n";
  // The IDs go under the same key, so that readers see one partition column.
  EXPECT_NE(all.find(db + "/hours/partition=1603584000/whole/part-000000.csv.zst\n"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(db + "/hours/partition=1603587600/whole/part-000000.csv.zst\n"),
            std::string::npos)
      << all;
  EXPECT_EQ(count_of(all, db + "/hours/partition="), 4u) << all;
  EXPECT_EQ(count_of(all, db + "/hours/partition=2020-10-25 0"), 2u) << all;  // 01:00 and 03:00
  EXPECT_NE(all.find(db + "/names/partition=x/whole/part-000000.csv.zst\n"), std::string::npos)
      << all;
  EXPECT_EQ(count_of(all, db + "/names/partition="), 5u) << all;
  EXPECT_EQ(count_of(all, db + "/names/partition=Ab/"), 0u) << all;
  EXPECT_EQ(count_of(all, db + "/names/partition=K"), 0u) << all;

  // A DateTime partition_expr is grouped and selected by Unix time: each autumn hour exactly.
  TempDir by_expr;
  auto e = run_chexport({"export", "--url", test_server().url(), "-t", db + ".hours", "-o",
                         by_expr.str(), "--partition-expr", "toStartOfHour(t) + 0"});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  check_manifest(by_expr, 240);
  EXPECT_EQ(exported_digest(by_expr),
            records_digest(http_query("SELECT * FROM " + db + ".hours FORMAT CSV")));
}

TEST(Lock, ASecondRunOnTheSameOutputIsRefusedUntilTheFirstEnds) {
  std::string db = two_partitions();
  FaultProxy proxy = start_fault_proxy(test_server().http_port, "stall", 1, 100);
  TempDir out;
  // Plain on the wire: the proxy holds the stream after 100 bytes of CSV, which reach a file.
  BackgroundProcess first({chexport_binary(), "export", "--url", proxy.url(), "-t", db + ".t", "-o",
                           out.str(), "--speed-time", "600", "--progress", "json",
                           "--wire-compression", "none"});
  ASSERT_TRUE(proxy.process->wait_for("fault stall")) << proxy.process->output();
  // Its first bytes have reached a temp file: the run is in the middle of a task.
  ASSERT_TRUE(wait_until([&] { return count_temp_files(out) == 1; })) << first.output();
  // A task that does not move still gives scripts a progress event every second.
  ASSERT_TRUE(first.wait_for("{\"event\":\"progress\",\"tasks_done\":0,\"tasks\":2,"))
      << first.output();
  auto second = run_chexport(export_args(test_server().url(), db + ".t", out));
  EXPECT_EQ(second.exit_code, 7) << second.output;
  EXPECT_NE(second.output.find(out.str() + " is in use by another chexport run: run run-"),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("(pid " + std::to_string(first.pid()) + " on host "),
            std::string::npos)
      << second.output;
  // The first run's unfinished file is still there: the second touched nothing.
  EXPECT_EQ(count_temp_files(out), 1u);
  // A run that is gone holds nothing: the next one takes over and cleans up after it.
  first.signal(SIGKILL);
  first.wait();
  auto third = run_chexport(export_args(test_server().url(), db + ".t", out));
  ASSERT_EQ(third.exit_code, 0) << third.output;
  EXPECT_NE(third.output.find("removed 1 unfinished file(s) left by an earlier run"),
            std::string::npos)
      << third.output;
  check_manifest(out, 2000);
  expect_no_temp_files(out);
}

TEST(Fresh, RemovesWhatTheExportWroteAndRefusesForeignFiles) {
  std::string db = two_partitions();
  http_query("CREATE TABLE " + db + ".other (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".other SELECT number FROM numbers(10)");
  TempDir out;
  ASSERT_EQ(run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-t",
                          db + ".other", "-o", out.str()})
                .exit_code,
            0);
  // --fresh with one table: the other table's files go too, listed nowhere otherwise.
  auto fresh = run_chexport(export_args(test_server().url(), db + ".t", out, {"--fresh"}));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  EXPECT_FALSE(fs::exists(out.path() / db / "other"));
  check_manifest(out, 2000);
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;

  // A file chexport did not write: verify reports it, and --fresh refuses to run over it.
  std::ofstream(out.path() / db / "t" / "notes.txt") << "mine\n";
  auto extra = run_chexport({"verify", out.str()});
  EXPECT_EQ(extra.exit_code, 4) << extra.output;
  EXPECT_NE(extra.out.find("extra: " + db + "/t/notes.txt is not in the manifest"),
            std::string::npos)
      << extra.out;
  auto refused = run_chexport(export_args(test_server().url(), db + ".t", out, {"--fresh"}));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--fresh: " + out.str() +
                                " holds 1 file(s) that this export did "
                                "not write (" +
                                db + "/t/notes.txt)"),
            std::string::npos)
      << refused.output;
  check_manifest(out, 2000);  // nothing was removed

  // Data files without a manifest (a --fresh cut short, say) belong to no run: a resume refuses
  // to export over them, and --fresh, which recognises its own file names in its own
  // directories, replaces them.
  fs::remove(out.path() / db / "t" / "notes.txt");
  fs::remove(out.path() / "manifest.json");
  auto orphan = run_chexport(export_args(test_server().url(), db + ".t", out));
  EXPECT_EQ(orphan.exit_code, 2) << orphan.output;
  EXPECT_NE(orphan.output.find(out.str() + " has data files but no manifest.json"),
            std::string::npos)
      << orphan.output;
  auto replaced = run_chexport(export_args(test_server().url(), db + ".t", out, {"--fresh"}));
  ASSERT_EQ(replaced.exit_code, 0) << replaced.output;
  check_manifest(out, 2000);
}

}  // namespace
}  // namespace chexport::testing
