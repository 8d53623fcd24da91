// Planning against the real server: modes, bounds, partition expressions and skew-aware splitting.
// Every export is checked the same way: the files hold exactly the rows a direct fetch of the
// table within its bounds returns (as a multiset: nothing lost, nothing twice), and no task is
// over the limit unless the plan says why.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

struct Exported {
  std::vector<ExportedFile> files;
  std::vector<uint64_t> task_rows;
  std::vector<std::string> task_notes;
  std::string output;
};

// Exports with `args`, then compares with a direct fetch of `table` WHERE `bounds`.
Exported export_and_compare(const std::string& table, const std::string& bounds,
                            std::vector<std::string> args) {
  TempDir out;
  std::vector<std::string> full = {"export", "--url", test_server().url(), "-o", out.str()};
  full.insert(full.end(), args.begin(), args.end());
  auto r = run_chexport(full);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string where = bounds.empty() ? "" : " WHERE " + bounds;
  std::string direct = http_query("SELECT * FROM " + table + where + " FORMAT CSV");
  uint64_t expected = sorted_records(direct).size();
  Exported e;
  e.output = r.output;
  e.files = check_manifest(out, expected);
  std::string all;
  for (const auto& f : e.files) all += f.content;
  EXPECT_EQ(sorted_records(all), sorted_records(direct));
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    e.task_rows.push_back(uint64_t(t["written_rows"]));
    std::string_view note;
    e.task_notes.emplace_back(t["note"].get_string().get(note) == simdjson::SUCCESS ? note : "");
  }
  expect_no_temp_files(out);
  return e;
}

void expect_all_at_most(const Exported& e, uint64_t limit) {
  for (size_t i = 0; i < e.task_rows.size(); ++i) EXPECT_LE(e.task_rows[i], limit) << "task " << i;
}

TEST(Plan, DateSplitColumnWithBounds) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".days (d Date, n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY d");
  http_query("INSERT INTO " + db +
             ".days SELECT toDate('2020-01-01') + intDiv(number, 100), number FROM numbers(20000)");
  std::string bounds = "toYYYYMM(d) >= 202002 AND toYYYYMM(d) <= 202004";
  auto e = export_and_compare(
      db + ".days", bounds,
      {"-t", db + ".days", "--lower-condition", "toYYYYMM(d) >= 202002", "--upper-condition",
       "toYYYYMM(d) <= 202004", "--split-field", "d", "--max-rows-per-task", "1000"});
  expect_all_at_most(e, 1000);
  EXPECT_GE(e.task_rows.size(), 9u);  // 3 months of ~3000 rows, cut into days of 100 rows
}

TEST(Plan, SkewedDateTimeWithTimeZoneEndsUnderTheLimit) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".skew (t DateTime('Asia/Tokyo'), n UInt64) "
             "ENGINE = MergeTree PARTITION BY toYYYYMM(t) ORDER BY t");
  // 90 % of the partition's rows within one hour, the rest over the month.
  http_query("INSERT INTO " + db +
             ".skew SELECT if(number % 10 < 9, toDateTime('2020-01-15 10:00:00') + "
             "(number % 3600), toDateTime('2020-01-01 00:00:00') + number * 13), number FROM "
             "numbers(100000)");
  auto e = export_and_compare(
      db + ".skew", "", {"-t", db + ".skew", "--split-field", "t", "--max-rows-per-task", "8000"});
  expect_all_at_most(e, 8000);
  EXPECT_GE(e.task_rows.size(), 13u);
  // Boundaries are the column's values in its own time zone (10:00 UTC is 19:00 in Tokyo).
  auto plan = run_chexport({"plan", "--url", test_server().url(), "-t", db + ".skew",
                            "--split-field", "t", "--max-rows-per-task", "8000", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_NE(plan.output.find("2020-01-15 19:"), std::string::npos) << plan.output;
}

TEST(Plan, ASingleInstantOverTheLimitIsOneTaskAndSaysSo) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".burst (t DateTime, n UInt64) ENGINE = MergeTree ORDER BY t");
  http_query("INSERT INTO " + db +
             ".burst SELECT if(number < 5000, toDateTime('2021-06-01 12:00:00'), "
             "toDateTime('2021-06-01 12:00:00') + number), number FROM numbers(6000)");
  auto e = export_and_compare(
      db + ".burst", "",
      {"-t", db + ".burst", "--split-field", "t", "--max-rows-per-task", "1000"});
  bool said = false;
  for (size_t i = 0; i < e.task_rows.size(); ++i) {
    if (e.task_rows[i] > 1000) {
      EXPECT_EQ(e.task_rows[i], 5000u);
      EXPECT_NE(e.task_notes[i].find("one value of t holds 5000 rows"), std::string::npos)
          << e.task_notes[i];
      said = true;
    }
  }
  EXPECT_TRUE(said);
}

TEST(Plan, NullableSplitColumnPutsNullsInExactlyOneRange) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".nul (id UInt64, t Nullable(DateTime)) ENGINE = MergeTree ORDER BY id");
  http_query("INSERT INTO " + db +
             ".nul SELECT number, if(number % 4 = 0, NULL, "
             "toDateTime('2020-01-01 00:00:00') + number * 60) FROM numbers(12000)");
  auto e = export_and_compare(
      db + ".nul", "", {"-t", db + ".nul", "--split-field", "t", "--max-rows-per-task", "4000"});
  expect_all_at_most(e, 4000);
  EXPECT_GE(e.task_rows.size(), 3u);
}

TEST(Plan, IntegerSplitColumnInModeAll) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".ints (p UInt8, k Int64) ENGINE = MergeTree PARTITION BY p ORDER BY k");
  http_query("INSERT INTO " + db +
             ".ints SELECT number % 3, toInt64(number) - 5000 FROM numbers(10000)");
  auto e = export_and_compare(db + ".ints", "k < 4000",
                              {"-t", db + ".ints", "--mode", "all", "--upper-condition", "k < 4000",
                               "--split-field", "k", "--max-rows-per-task", "2500"});
  expect_all_at_most(e, 2500);
  EXPECT_EQ(e.files.front().path.find(db + "/ints/all/range-0000_from_min/"), 0u)
      << e.files.front().path;
}

TEST(Plan, PartitionExpressionThatIsNotTheKey) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".expr (d Date, k String, n UInt64) ENGINE = MergeTree "
             "PARTITION BY toYYYYMM(d) ORDER BY n");
  http_query("INSERT INTO " + db +
             ".expr SELECT toDate('2020-01-01') + number % 60, "
             "['it''s', 'a\"b', 'c,d', 'caf\xc3\xa9'][1 + number % 4], number FROM numbers(4000)");
  // Group by a string expression with quotes (a literal for each value must select it exactly).
  auto e = export_and_compare(
      db + ".expr", "n >= 100",
      {"-t", db + ".expr", "--partition-expr", "k", "--lower-condition", "n >= 100"});
  EXPECT_EQ(e.task_rows.size(), 4u);
  // And by a date expression that differs from the key.
  auto days =
      export_and_compare(db + ".expr", "", {"-t", db + ".expr", "--partition-expr", "toMonday(d)"});
  EXPECT_EQ(days.task_rows.size(), 9u);  // 2020-01-01 (a Wednesday) to 02-29 touch 9 weeks
}

TEST(Plan, PartitionExpressionOfADateTimeWithTimeZone) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".tz (t DateTime('Asia/Tokyo'), n UInt64) ENGINE = MergeTree ORDER BY t");
  http_query("INSERT INTO " + db +
             ".tz SELECT toDateTime('2020-01-01 00:00:00') + number * 3600, number "
             "FROM numbers(100)");
  // The values are printed in Tokyo time; their literals must be read in Tokyo time too.
  auto e =
      export_and_compare(db + ".tz", "", {"-t", db + ".tz", "--partition-expr", "toStartOfDay(t)"});
  EXPECT_EQ(e.task_rows.size(), 5u);  // 100 hours from 09:00 Tokyo on 1 January end on the 5th
}

TEST(Plan, ATableListedTwiceIsRefused) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt8) ENGINE = Log");
  auto r = run_chexport({"plan", "--url", test_server().url(), "-t", db + ".t", "-t", db + ".t"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("table " + db + ".t is listed twice"), std::string::npos) << r.output;
}

TEST(Plan, NullablePartitionExpression) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".np (n UInt64, g Nullable(UInt8)) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db +
             ".np SELECT number, if(number % 3 = 0, NULL, number % 2) FROM numbers(300)");
  auto e = export_and_compare(db + ".np", "", {"-t", db + ".np", "--partition-expr", "g"});
  EXPECT_EQ(e.task_rows.size(), 3u);  // 0, 1 and NULL
}

TEST(Plan, TupleAndStringPartitionKeysWithQuotes) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".tup (d Date, k String, n UInt64) ENGINE = MergeTree "
             "PARTITION BY (toYYYYMM(d), k) ORDER BY n");
  http_query(
      "INSERT INTO " + db +
      ".tup SELECT toDate('2020-01-01') + number % 40, "
      "['o''neil', 'say \"hi\"', 'back\\\\slash'][1 + number % 3], number FROM numbers(3000)");
  auto e = export_and_compare(db + ".tup", "toYYYYMM(d) = 202002",
                              {"-t", db + ".tup", "--lower-condition", "toYYYYMM(d) = 202002"});
  EXPECT_EQ(e.task_rows.size(), 3u);
}

TEST(Plan, UnpartitionedTableSplitByTime) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".flat (t DateTime, n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query(
      "INSERT INTO " + db +
      ".flat SELECT toDateTime('2022-03-01 00:00:00') + number * 37, number FROM numbers(9000)");
  auto e = export_and_compare(
      db + ".flat", "", {"-t", db + ".flat", "--split-field", "t", "--max-rows-per-task", "2000"});
  expect_all_at_most(e, 2000);
  EXPECT_EQ(e.files.front().path.find(db + "/flat/all/range-0000_from_min/"), 0u)
      << e.files.front().path;
}

TEST(Plan, BoundsThatExcludeEverything) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (d Date, n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT toDate('2020-01-01') + number, number FROM numbers(100)");
  auto plan = run_chexport({"plan", "--url", test_server().url(), "-t", db + ".t",
                            "--lower-condition", "d > '2030-01-01'"});
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_NE(plan.output.find("0 task(s), 0 rows"), std::string::npos) << plan.output;
  EXPECT_NE(plan.output.find("the plan is empty: no rows within the bounds"), std::string::npos)
      << plan.output;
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(),
                         "--lower-condition", "d > '2030-01-01'"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to export within the bounds"), std::string::npos) << r.output;
  EXPECT_TRUE(data_files(out).empty());
}

TEST(Plan, ConfigFileLikeTheOldToolsAndFlagsOverrideIt) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".trips (pickup_date Date, pickup_datetime DateTime, n UInt64) "
             "ENGINE = MergeTree PARTITION BY toYYYYMM(pickup_date) ORDER BY n");
  http_query("INSERT INTO " + db +
             ".trips SELECT toDate('2015-05-01') + intDiv(number, 50), "
             "toDateTime('2015-05-01 00:00:00') + number * 1728, number FROM numbers(12000)");
  http_query("CREATE TABLE " + db + ".trips_np (n UInt64) ENGINE = Log");
  http_query("INSERT INTO " + db + ".trips_np SELECT number FROM numbers(77)");
  TempDir dir;
  std::string config = dir.str() + "/export.json";
  std::string text = R"json({
    "clickhouse": {"url": "@URL@", "settings": {"max_threads": 2}},
    "workers": 1,
    "output": {"dir": "@DIR@/out", "format": "CSV", "zstd_level": 1, "max_bytes_per_file": "1MiB"},
    "split": {"max_rows_per_task": 1000, "max_bytes_per_task": "20GiB"},
    "tables": [
      {"db": "@DB@", "table": "trips", "mode": "partition",
       "partition_expr": "toYYYYMM(pickup_date)",
       "upper_condition": "toYYYYMM(pickup_date)<=201508",
       "lower_condition": "toYYYYMM(pickup_date)>=201506",
       "split_filed": "pickup_datetime"},
      {"db": "@DB@", "table": "trips_np", "mode": "all", "partition_expr": "",
       "upper_condition": "", "lower_condition": ""}
    ]
  })json";
  for (auto [key, value] : {std::pair<std::string, std::string>{"@URL@", test_server().url()},
                            {"@DIR@", dir.str()},
                            {"@DB@", db}}) {
    for (size_t at; (at = text.find(key)) != std::string::npos;)
      text.replace(at, key.size(), value);
  }
  std::ofstream(config) << text;
  auto r = run_chexport({"export", "--config", config});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"split_filed\" is the old tool's spelling"), std::string::npos)
      << r.output;
  uint64_t in_bounds =
      std::stoull(http_query("SELECT count() FROM " + db +
                             ".trips WHERE toYYYYMM(pickup_date) BETWEEN 201506 AND 201508"));
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(dir.str() + "/out/manifest.json");
  EXPECT_EQ(uint64_t(manifest["totals"]["rows"]), in_bounds + 77);
  for (simdjson::dom::element t : manifest["tasks"].get_array())
    EXPECT_LE(uint64_t(t["written_rows"]), 1000u);

  // A flag overrides the file: the output directory and the task limit.
  TempDir other;
  auto r2 = run_chexport({"plan", "--config", config, "--max-rows-per-task", "0", "--json"});
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  simdjson::dom::element plan = parser.parse(r2.out);
  EXPECT_EQ(plan["tables"].at(0)["tasks"].get_array().size(), 3u);  // June, July, August unsplit
}

TEST(Plan, ConfigErrorsNameTheFileAndThePath) {
  TempDir dir;
  std::string config = dir.str() + "/bad.json";
  std::ofstream(config)
      << R"json({"tables": [{"db": "a", "table": "b"}, {"db": "a", "table": "c", "mode": "partiton"}]})json";
  auto r = run_chexport({"plan", "--config", config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("chexport: error: " + config +
                          ": tables[1].mode: expected \"all\" or \"partition\", got \"partiton\""),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace chexport::testing
