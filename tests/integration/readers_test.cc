// Exports read as users read them: DuckDB (the npm package @duckdb/node-api, installed by
// scripts/duckdb/install.sh) and ClickHouse 26.7's file() in clickhouse-local (the engine of
// scripts/modern-clickhouse/), each with the glob docs/reading-exports.md gives, must see every
// row of the source table and each partition's value, also for split partitions and for values
// that readers take for NULL or that need escaping. On both real servers (the readers are the
// same for both).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

// Rows of a TSV text (no escapes: the values of these tests have no tab or newline).
std::vector<std::vector<std::string>> tsv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> row;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      row.push_back(line.substr(start, tab - start));
    row.push_back(line.substr(start));
    rows.push_back(std::move(row));
  }
  return rows;
}

// Every data file's depth below the output (its count of '/').
std::map<size_t, size_t> depths(const TempDir& out) {
  std::map<size_t, size_t> n;
  for (const std::string& f : data_files(out)) ++n[count_of(f, "/")];
  return n;
}

struct ManifestTask {
  std::string partition, partition_id, dir, range;
  bool partition_null = false;
  std::string partition_hex;  // where the value is not UTF-8
};

std::vector<ManifestTask> manifest_tasks(const TempDir& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  std::vector<ManifestTask> tasks;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    tasks.push_back({std::string(std::string_view(t["partition"])),
                     std::string(std::string_view(t["partition_id"])),
                     std::string(std::string_view(t["dir"])),
                     std::string(std::string_view(t["range"])), bool(t["partition_null"]), ""});
    std::string_view hex;
    if (t["partition_hex"].get(hex) == simdjson::SUCCESS) tasks.back().partition_hex = hex;
  }
  return tasks;
}

// A table partitioned by a String key whose values readers could misread: one partition big
// enough to be split into ranges of d, the others whole.
std::string odd_partitions() {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p String, n UInt64, d DateTime('UTC')) ENGINE = MergeTree "
             "PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT 'a', number, toDateTime(1577836800 + number * 3600, 'UTC') FROM "
             "numbers(3000)");
  http_query("INSERT INTO " + db +
             ".t SELECT arrayElement(['', 'NULL', '__HIVE_DEFAULT_PARTITION__', 'x y', "
             "'k=v/1\\'\"%', 'caf\xc3\xa9'], number % 6 + 1), 10000 + number, "
             "toDateTime(1577836800, 'UTC') FROM numbers(60)");
  return db;
}

// "value\tcount" lines of the source table, the empty value under its partition ID (the
// manifest's mapping: no Hive name reads back as an empty string in every reader).
std::string source_counts(const std::string& db, const std::string& empty_as) {
  std::string counts = http_query("SELECT if(p = '', '" + empty_as + "', p) AS v, count() FROM " +
                                  db + ".t GROUP BY v ORDER BY v FORMAT TSVRaw");
  return counts;
}

TEST(Readers, DuckDBAndClickHouseReadEveryRowOfSplitAndOddPartitions) {
  std::string db = odd_partitions();
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(),
                         "--split-field", "d", "--max-rows-per-task", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 3060);

  // One depth for every file, split or not: <db>/t/partition=<v>/<whole|range-*>/part-*.
  auto depth = depths(out);
  ASSERT_EQ(depth.size(), 1u) << ::testing::PrintToString(data_files(out));
  EXPECT_EQ(depth.begin()->first, 4u) << ::testing::PrintToString(data_files(out));
  std::string empty_id;
  size_t ranges = 0;
  std::map<std::string, std::string> dirs;  // of the whole partitions
  for (const ManifestTask& t : manifest_tasks(out)) {
    if (t.partition.empty()) empty_id = t.partition_id;
    if (!t.range.empty()) ++ranges;
    if (t.range.empty() && !t.partition.empty()) dirs[t.partition] = t.dir;
  }
  std::string base = db + "/t/partition=";
  EXPECT_EQ(dirs, (std::map<std::string, std::string>{
                      {"NULL", base + "%4EULL/whole"},
                      {"__HIVE_DEFAULT_PARTITION__", base + "%5F_HIVE_DEFAULT_PARTITION__/whole"},
                      {"caf\xc3\xa9", base + "caf\xc3\xa9/whole"},
                      {"k=v/1'\"%", base + "k%3Dv%2F1%27%22%25/whole"},
                      {"x y", base + "x y/whole"}}));
  EXPECT_GE(ranges, 3u);
  ASSERT_EQ(empty_id.size(), 32u);  // a String partition's ID: a hash of its value
  std::string expected = source_counts(db, empty_id);
  ASSERT_EQ(tsv_rows(expected).size(), 7u) << expected;
  std::string glob = out.str() + "/" + db + "/t/*/*/*.csv.zst";

  // DuckDB decodes the folder value; the column p equals it but for the empty value.
  EXPECT_EQ(duckdb("SELECT partition, count(*) FROM read_csv('" + glob +
                   "', header = false, delim = ',', quote = '\"', escape = '\"', new_line = '\\n', "
                   "hive_partitioning = true, "
                   "hive_types_autocast = false, "
                   "columns = {'p': 'VARCHAR', 'n': 'UBIGINT', 'd': 'TIMESTAMP'}) "
                   "GROUP BY partition ORDER BY partition"),
            expected);
  EXPECT_EQ(duckdb("SELECT count(*), sum(n) FROM read_csv('" + glob +
                   "', header = false, delim = ',', quote = '\"', escape = '\"', new_line = '\\n', "
                   "hive_partitioning = true, "
                   "hive_types_autocast = false, "
                   "columns = {'p': 'VARCHAR', 'n': 'UBIGINT', 'd': 'TIMESTAMP'}) "
                   "WHERE p IS DISTINCT FROM partition"),
            "10\t" + http_query("SELECT sum(n) FROM " + db + ".t WHERE p = ''"));

  // A recursive glob reads the same files.
  EXPECT_EQ(
      duckdb("SELECT count(*) FROM read_csv('" + out.str() + "/" + db +
             "/t/**/*.csv.zst', header = false, delim = ',', quote = '\"', escape = '\"', "
             "new_line = '\\n', columns = {'p': 'VARCHAR', 'n': 'UBIGINT', 'd': 'TIMESTAMP'})"),
      "3060\n");

  // ClickHouse keeps the folder value as it is written: decodeURLComponent gives the value.
  EXPECT_EQ(
      clickhouse_local("SELECT decodeURLComponent(partition) AS v, count() FROM file('" + glob +
                       "', CSV, 'p String, n UInt64, d DateTime(\\'UTC\\'), partition "
                       "String') GROUP BY v ORDER BY v SETTINGS use_hive_partitioning = 1"),
      expected);
  EXPECT_EQ(clickhouse_local("SELECT count(), sum(n), sum(toUnixTimestamp(d)) FROM file('" + glob +
                             "', CSV, 'p String, n UInt64, d DateTime(\\'UTC\\')')"),
            http_query("SELECT count(), sum(n), sum(toUnixTimestamp(d)) FROM " + db +
                       ".t FORMAT TSVRaw"));
  EXPECT_EQ(clickhouse_local("SELECT count() FROM file('" + out.str() + "/" + db +
                             "/t/**/*.csv.zst', CSV, 'p String, n UInt64, d DateTime')"),
            "3060\n");
}

TEST(Readers, NullEmptyAndNullLookingValuesOfAPartitionExprWithCSVWithNames) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".e (k Nullable(String), n UInt64) ENGINE = MergeTree PARTITION BY tuple() "
             "ORDER BY n");
  http_query("INSERT INTO " + db +
             ".e SELECT arrayElement([NULL, 'null', '', 'b'], number % 4 + 1), number FROM "
             "numbers(40)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".e", "-o", out.str(),
                         "--partition-expr", "k", "--format", "CSVWithNames"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 40);
  EXPECT_EQ(depths(out), (std::map<size_t, size_t>{{4, 4}}))
      << ::testing::PrintToString(data_files(out));
  std::string empty_dir;
  std::map<std::string, std::string> dirs;
  for (const ManifestTask& t : manifest_tasks(out)) {
    if (t.partition.empty()) empty_dir = t.dir;
    if (!t.partition.empty()) dirs[t.partition] = t.dir;
    EXPECT_EQ(t.partition_null, t.dir.ends_with("=__HIVE_DEFAULT_PARTITION__/whole")) << t.dir;
  }
  EXPECT_EQ(dirs, (std::map<std::string, std::string>{
                      {"NULL", db + "/e/partition=__HIVE_DEFAULT_PARTITION__/whole"},
                      {"b", db + "/e/partition=b/whole"},
                      {"null", db + "/e/partition=%6Eull/whole"}}));
  // The empty value has no Hive name: its folder is named by a digest, which the manifest maps.
  ASSERT_TRUE(empty_dir.starts_with(db + "/e/partition=") && empty_dir.ends_with("/whole"))
      << empty_dir;
  std::string empty_name = empty_dir.substr(db.size() + 13, empty_dir.size() - db.size() - 19);
  ASSERT_EQ(empty_name.size(), 16u) << empty_dir;
  std::string glob = out.str() + "/" + db + "/e/*/*/*.csv.zst";

  // The header names the columns; DuckDB reads __HIVE_DEFAULT_PARTITION__ as NULL, and ClickHouse's
  // \N in CSV with nullstr.
  std::map<std::string, std::string> by_value = {
      {empty_name, "10\t0"}, {"b", "10\t10"}, {"null", "10\t10"}};
  std::string expected = "\\N\t10\t10\n";
  for (const auto& [v, counts] : by_value) expected += v + "\t" + counts + "\n";
  EXPECT_EQ(
      duckdb("SELECT partition, count(*), count(*) FILTER (WHERE k IS NOT DISTINCT FROM "
             "partition) FROM read_csv('" +
             glob +
             "', header = true, delim = ',', quote = '\"', escape = '\"', new_line = '\\n', "
             "nullstr = '\\N', hive_partitioning = "
             "true, "
             "hive_types_autocast = false) GROUP BY partition ORDER BY partition NULLS FIRST"),
      expected);
  // ClickHouse reads it as a string, and the header too (CSVWithNames).
  std::map<std::string, std::string> raw = {{"%6Eull", "10\t10"},
                                            {empty_name, "10\t0"},
                                            {"__HIVE_DEFAULT_PARTITION__", "10\t0"},
                                            {"b", "10\t10"}};
  std::string raw_expected;
  for (const auto& [v, counts] : raw) raw_expected += v + "\t" + counts + "\n";
  EXPECT_EQ(clickhouse_local("SELECT partition, count(), countIf(ifNull(k, '') = "
                             "decodeURLComponent(partition)) FROM file('" +
                             glob +
                             "', CSVWithNames) GROUP BY partition ORDER BY partition "
                             "SETTINGS use_hive_partitioning = 1"),
            raw_expected);
}

// Partition values that are not UTF-8 have no readable name: escaped, DuckDB would decode them
// into text that is not UTF-8 and fail on the whole table (Spark into other characters). Their
// folders are named by the partition ID, and every reader reads every row.
TEST(Readers, ValuesThatAreNotUtf8AreNamedByTheirPartitionId) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".b (h String, n UInt64) ENGINE = MergeTree PARTITION BY unhex(h) ORDER BY n");
  http_query("INSERT INTO " + db +
             ".b SELECT arrayElement(['ff', '41', 'c3a9', 'c3'], number % 4 + 1), number FROM "
             "numbers(40)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".b", "-o", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 40);
  std::map<std::string, std::string> dirs;  // by the value's hex
  std::set<std::string> folders;
  for (const ManifestTask& t : manifest_tasks(out)) {
    // The manifest keeps the exact bytes in partition_hex; its partition is text.
    bool utf8 = t.partition.find("\xef\xbf\xbd") == std::string::npos;  // U+FFFD
    EXPECT_EQ(t.partition_hex.empty(), utf8) << t.dir;
    dirs[utf8 ? t.partition : "0x" + t.partition_hex] = t.dir;
    folders.insert(t.dir.substr(db.size() + 13, t.dir.size() - db.size() - 19));
  }
  std::string base = db + "/b/partition=";
  auto id_of = [&](const std::string& value) {
    return http_query("SELECT partition_id FROM system.parts WHERE database = '" + db +
                      "' AND table = 'b' AND active AND partition = unhex('" + value +
                      "') LIMIT 1 FORMAT TSVRaw");
  };
  std::string ff = id_of("ff"), c3 = id_of("c3");
  ff.pop_back();
  c3.pop_back();
  EXPECT_EQ(dirs, (std::map<std::string, std::string>{{"0xff", base + ff + "/whole"},
                                                      {"A", base + "A/whole"},
                                                      {"\xc3\xa9", base + "\xc3\xa9/whole"},
                                                      {"0xc3", base + c3 + "/whole"}}));
  std::string expected;  // "folder value\tcount" in DuckDB's order
  for (const std::string& folder : folders) expected += folder + "\t10\n";
  EXPECT_EQ(duckdb("SELECT partition, count(*) FROM read_csv('" + out.str() + "/" + db +
                   "/b/*/*/*.csv.zst', header = false, delim = ',', quote = '\"', escape = '\"', "
                   "hive_partitioning = true, "
                   "hive_types_autocast = false, columns = {'h': 'VARCHAR', 'n': 'UBIGINT'}) "
                   "GROUP BY partition ORDER BY partition"),
            expected);

  // The same values of a partition_expr: each selected by its exact bytes.
  TempDir by_expr;
  r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".b", "-o", by_expr.str(),
                    "--partition-expr", "unhex(h)"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(by_expr, 40);
  std::set<std::string> hex;
  for (const ManifestTask& t : manifest_tasks(by_expr)) {
    if (!t.partition_hex.empty()) hex.insert(t.partition_hex);
  }
  EXPECT_EQ(hex, (std::set<std::string>{"c3", "ff"}));
}

// A Nullable table key (allow_nullable_key, 20.x and later; 18.16 refuses Nullable partition
// keys, so this test is 26.7's only): its NULL partition, which system.parts prints like a
// string, is NULL for readers, and the strings that look like it are strings.
TEST(Only26_7, TheNullPartitionOfANullableKeyIsHivesDefaultPartition) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".k (k Nullable(String), n UInt64) ENGINE = MergeTree PARTITION BY k ORDER BY n "
             "SETTINGS allow_nullable_key = 1");
  http_query(
      "INSERT INTO " + db +
      ".k SELECT arrayElement([NULL, 'NULL', '\xe1\xb4\xba\xe1\xb5\x81\xe1\xb4\xb8\xe1\xb4\xb8', "
      "'b'], number % 4 + 1), number FROM numbers(40)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".k", "-o", out.str(),
                         "--split-field", "n", "--max-rows-per-task", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 40);
  std::map<std::string, std::set<std::string>> dirs;
  for (const ManifestTask& t : manifest_tasks(out)) {
    std::string folder = t.dir.substr(0, t.dir.rfind('/'));
    dirs[t.partition + (t.partition_null ? " (null)" : "")].insert(folder);
  }
  std::string base = db + "/k/partition=";
  EXPECT_EQ(dirs, (std::map<std::string, std::set<std::string>>{
                      {"NULL (null)", {base + "__HIVE_DEFAULT_PARTITION__"}},
                      {"NULL", {base + "%4EULL"}},
                      {"\xe1\xb4\xba\xe1\xb5\x81\xe1\xb4\xb8\xe1\xb4\xb8",
                       {base + "\xe1\xb4\xba\xe1\xb5\x81\xe1\xb4\xb8\xe1\xb4\xb8"}},
                      {"b", {base + "b"}}}));
  EXPECT_EQ(duckdb("SELECT partition, count(*), count(*) FILTER (WHERE k IS NOT DISTINCT FROM "
                   "partition) FROM read_csv('" +
                   out.str() + "/" + db +
                   "/k/*/*/*.csv.zst', header = false, delim = ',', quote = '\"', escape = '\"', "
                   "nullstr = '\\N', hive_partitioning = true, "
                   "hive_types_autocast = false, columns = {'k': 'VARCHAR', 'n': 'UBIGINT'}) "
                   "GROUP BY partition ORDER BY partition NULLS FIRST"),
            "\\N\t10\t10\nNULL\t10\t10\nb\t10\t10\n\xe1\xb4\xba\xe1\xb5\x81\xe1\xb4\xb8\xe1\xb4\xb8"
            "\t10\t10\n");
}

// An export as the chexport before the Hive layout left it: whole partitions' files directly in
// their folder, and no "layout" in the manifest's fingerprint.
void to_earlier_layout(const TempDir& out,
                       const std::vector<std::string>& manifests = {"manifest.json"}) {
  for (const std::string& f : data_files(out)) {
    fs::path p = out.path() / f;
    ASSERT_EQ(p.parent_path().filename(), "whole") << f;
    fs::rename(p, p.parent_path().parent_path() / p.filename());
  }
  for (const std::string& f : data_files(out)) fs::remove((out.path() / f).parent_path() / "whole");
  for (const std::string& name : manifests) {
    std::string manifest = read_file(out.path() / name);
    std::string layout = "\"layout\": \"hive-1\",";
    size_t at = manifest.find(layout);
    ASSERT_NE(at, std::string::npos) << manifest;
    manifest.erase(at, layout.size());
    for (size_t i; (i = manifest.find("/whole")) != std::string::npos;) manifest.erase(i, 6);
    std::ofstream(out.path() / name, std::ios::binary | std::ios::trunc) << manifest;
  }
}

// A fresh database with table t: `partitions` partitions (p = 0, 1, ...) of 100 rows.
std::string small_partitions(int partitions) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number % " + std::to_string(partitions) +
             ", number FROM numbers(" + std::to_string(partitions * 100) + ")");
  return db;
}

TEST(Readers, AnExportInTheEarlierLayoutIsVerifiedButResumedOnlyWithFresh) {
  std::string db = small_partitions(3);
  TempDir out;
  std::vector<std::string> args = {"export", "--url",  test_server().url(), "-t", db + ".t",
                                   "-o",     out.str()};
  auto first = run_chexport(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  to_earlier_layout(out);
  const std::vector<std::string> earlier = {db + "/t/partition=0/part-000000.csv.zst",
                                            db + "/t/partition=1/part-000000.csv.zst",
                                            db + "/t/partition=2/part-000000.csv.zst"};
  ASSERT_EQ(data_files(out), earlier);
  const std::string earlier_manifest = read_file(out.path() / "manifest.json");

  auto verify = run_chexport({"verify", out.str()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  std::string into = db + "_copy";
  auto import = run_chexport(
      {"import", out.str(), "--url", test_server().url(), "--database", into, "--create-tables"});
  EXPECT_EQ(import.exit_code, 0) << import.output;
  EXPECT_EQ(http_query("SELECT p, count() FROM " + into + ".t GROUP BY p ORDER BY p FORMAT CSV"),
            "0,100\n1,100\n2,100\n");
  http_query("DROP DATABASE IF EXISTS " + into);

  const std::vector<std::string> files_before = out.files();
  auto resume = run_chexport(args);
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_NE(resume.output.find(" holds an export in an earlier layout of chexport's (before Hive "
                               "folders), which this version does not resume"),
            std::string::npos)
      << resume.output;
  EXPECT_NE(resume.output.find("use --fresh"), std::string::npos) << resume.output;
  // Untouched: no file written, removed or moved, the manifest as it was.
  EXPECT_EQ(out.files(), files_before);
  EXPECT_EQ(read_file(out.path() / "manifest.json"), earlier_manifest);

  args.push_back("--fresh");
  auto fresh = run_chexport(args);
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  check_manifest(out, 300);
  EXPECT_EQ(data_files(out),
            (std::vector<std::string>{db + "/t/partition=0/whole/part-000000.csv.zst",
                                      db + "/t/partition=1/whole/part-000000.csv.zst",
                                      db + "/t/partition=2/whole/part-000000.csv.zst"}));
}

// Without its manifest, an earlier layout's files (one level above the new task folders) are
// still files of another export: the run refuses to write beside them.
TEST(Readers, AnEarlierLayoutWithoutItsManifestIsRefused) {
  std::string db = small_partitions(3);
  TempDir out;
  std::vector<std::string> args = {"export", "--url",  test_server().url(), "-t", db + ".t",
                                   "-o",     out.str()};
  ASSERT_EQ(run_chexport(args).exit_code, 0);
  to_earlier_layout(out);
  fs::remove(out.path() / "manifest.json");
  const std::vector<std::string> before = out.files();
  auto r = run_chexport(args);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(" has data files but no manifest.json (" + db +
                          "/t/partition=0/part-000000.csv.zst)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(out.files(), before);
}

// --fresh for --worker shares of an earlier layout also removes the temp files a killed run left
// directly in a partition's folder (which now holds the tasks' folders).
TEST(Readers, WorkersFreshRemoveTheTempFilesOfAnEarlierLayout) {
  std::string db = small_partitions(4);
  TempDir out;
  auto worker = [&](const std::string& k, bool fresh) {
    std::vector<std::string> args = {"export", "--url",   test_server().url(), "-t", db + ".t",
                                     "-o",     out.str(), "--worker",          k};
    if (fresh) args.push_back("--fresh");
    return run_chexport(args);
  };
  for (const char* k : {"1/2", "2/2"}) ASSERT_EQ(worker(k, false).exit_code, 0);
  to_earlier_layout(out, {"manifest.worker-1-of-2.json", "manifest.worker-2-of-2.json"});
  for (int p = 0; p < 4; ++p) {
    std::ofstream(out.path() / db / "t" / ("partition=" + std::to_string(p)) /
                  ".part-000001.csv.zst.chexport-tmp.1.0000abcd")
        << "left by a killed run";
  }
  ASSERT_EQ(count_temp_files(out), 4u);
  for (const char* k : {"1/2", "2/2"}) {
    auto r = worker(k, true);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  expect_no_temp_files(out);
  auto verify = run_chexport({"verify", out.str()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  std::vector<std::string> files = data_files(out);
  EXPECT_EQ(files.size(), 4u) << ::testing::PrintToString(files);
  for (const std::string& f : files) EXPECT_NE(f.find("/whole/part-"), std::string::npos) << f;
}

}  // namespace
}  // namespace chexport::testing
