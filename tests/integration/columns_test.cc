// Fidelity: every column the table stores, exactly the rows the user may read, files of one
// layout, a schema.sql that runs as it is, and what CSV cannot carry said out loud. On both real
// servers, except where a feature exists on one only (the test's suite then says so).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

simdjson::dom::element load_manifest(simdjson::dom::parser& parser, const TempDir& out) {
  return parser.load(out.str() + "/manifest.json");
}

std::vector<std::string> export_args(const std::string& table, const TempDir& out,
                                     std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"export", "--url",  test_server().url(), "-t", table,
                                   "-o",     out.str()};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(Fidelity, MaterializedColumnsAreExportedAndReimportExactly) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, d UInt64 DEFAULT n + 1, m String MATERIALIZED "
             "concat('m', toString(n * 2)), a UInt64 ALIAS n * 3) "
             "ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t (p, n) SELECT number % 2, number FROM numbers(1000)");
  TempDir out;
  auto r = run_chexport(export_args(db + ".t", out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto files = check_manifest(out, 1000);
  std::string all;
  for (const auto& f : files) all += f.content;
  // MATERIALIZED included, ALIAS (computed on read) not.
  EXPECT_EQ(sorted_records(all),
            sorted_records(http_query("SELECT p, n, d, m FROM " + db + ".t FORMAT CSV")));
  simdjson::dom::parser parser;
  simdjson::dom::element columns = load_manifest(parser, out)["tables"].at(0)["columns"];
  std::string listed;
  for (simdjson::dom::element c : columns.get_array()) {
    listed += std::string(std::string_view(c["name"])) + " " +
              std::string(std::string_view(c["type"])) + " " +
              std::string(std::string_view(c["default_kind"])) + ";";
  }
  EXPECT_EQ(listed, "p UInt8 ;n UInt64 ;d UInt64 DEFAULT;m String MATERIALIZED;");

  // The way back, as the README shows it: the columns named, MATERIALIZED ones allowed.
  http_query("CREATE TABLE " + db + ".copy AS " + db + ".t");
  for (const auto& f : files) {
    http_query("INSERT INTO " + db + ".copy (p, n, d, m) FORMAT CSV\n" + f.content,
               "insert_allow_materialized_columns=1");
  }
  EXPECT_EQ(http_query("SELECT p, n, d, m, a FROM " + db + ".copy ORDER BY n FORMAT CSV"),
            http_query("SELECT p, n, d, m, a FROM " + db + ".t ORDER BY n FORMAT CSV"));
}

TEST(Fidelity, ColumnsChangedSinceTheLastRunRefuseTheResume) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number FROM numbers(100)");
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(db + ".t", out)).exit_code, 0);
  http_query("ALTER TABLE " + db + ".t ADD COLUMN s String DEFAULT 'x'");
  auto again = run_chexport(export_args(db + ".t", out));
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("holds an export made with other options (columns " + db +
                              ".t: \"`n` UInt64\" -> \"`n` UInt64, `s` String\")"),
            std::string::npos)
      << again.output;
  // The files already there keep their layout: nothing was written.
  check_manifest(out, 100);
}

// The table's type changes while a task is on the wire (held by the fault proxy): the attempt
// that follows streams the new layout, and the task fails instead of committing it.
TEST(Fidelity, AColumnTypeChangedDuringTheRunFailsTheTaskLoudly) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".t (n UInt64, v UInt32) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number, number FROM numbers(300000)");
  FaultProxy proxy = start_fault_proxy(test_server().http_port, "stall", 1, 100000);
  TempDir out;
  BackgroundProcess run({chexport_binary(), "export", "--url", proxy.url(), "-t", db + ".t", "-o",
                         out.str(), "--retry-delay", "0.01", "--speed-limit", "1000",
                         "--speed-time", "2", "--wire-compression", "none"});
  ASSERT_TRUE(proxy.process->wait_for("fault stall")) << proxy.process->output();
  http_query("ALTER TABLE " + db + ".t MODIFY COLUMN v String");
  EXPECT_EQ(run.wait(), 4) << run.output();
  EXPECT_NE(run.output().find("the columns of " + db +
                              ".t changed during the export (from `n` UInt64, `v` UInt32 to `n` "
                              "UInt64, `v` String)"),
            std::string::npos)
      << run.output();
  EXPECT_TRUE(data_files(out).empty());
  expect_no_temp_files(out);
}

TEST(Fidelity, OldSyntaxMergeTreeExportsExactly) {
  std::string db = fresh_database();
  // 26.7 creates such tables only when asked to; 18.16 still names their parts by date range.
  http_query(
      "CREATE TABLE " + db + ".old (d Date, k UInt32, s String) ENGINE = MergeTree(d, (k), 8192)",
      test_server().modern() ? "allow_deprecated_syntax_for_merge_tree=1" : "");
  http_query(
      "INSERT INTO " + db +
      ".old SELECT toDate('2020-01-01') + number % 70, number, concat('\"', toString(number)) "
      "FROM numbers(7000)");
  TempDir out;
  auto r = run_chexport(export_args(db + ".old", out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 7000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".old FORMAT CSV")));
  std::vector<std::string> expected = {db + "/old/partition=202001/whole/part-000000.csv.zst",
                                       db + "/old/partition=202002/whole/part-000000.csv.zst",
                                       db + "/old/partition=202003/whole/part-000000.csv.zst"};
  EXPECT_EQ(data_files(out), expected);
  simdjson::dom::parser parser;
  std::string_view predicate = load_manifest(parser, out)["tasks"].at(0)["predicate"];
  // A whole-number partition is selected by its key, which prunes, on every version.
  EXPECT_EQ(predicate, "(toYYYYMM(d)) = 202001");
}

TEST(Fidelity, SchemaSqlRunsAsItIsOnTheServerItCameFrom) {
  std::string db = fresh_database();
  std::string create = "CREATE TABLE " + db +
                       ".t (n UInt64, s LowCardinality(String), m UInt64 MATERIALIZED n + 1) "
                       "ENGINE = MergeTree ORDER BY n";
  std::string setting = test_server().modern() ? "" : "allow_experimental_low_cardinality_type=1";
  http_query(create, setting);
  http_query("INSERT INTO " + db + ".t (n, s) VALUES (1, 'a')");
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(db + ".t", out)).exit_code, 0);
  std::string schema = read_file(out.path() / (db + "/t/schema.sql"));
  EXPECT_TRUE(schema.ends_with(";\n")) << schema;
  EXPECT_EQ(schema.starts_with("SET allow_experimental_low_cardinality_type = 1;\n"),
            !test_server().modern())
      << schema;
  std::string before = http_query("SHOW CREATE TABLE " + db + ".t FORMAT TSVRaw");
  http_query("DROP TABLE " + db + ".t");
  run_sql_script(schema);
  EXPECT_EQ(http_query("SHOW CREATE TABLE " + db + ".t FORMAT TSVRaw"), before);
}

TEST(Fidelity, DateTimeAsUnixTimeReimportsExactlyAcrossTheAutumnHour) {
  std::string db = fresh_database();
  // Every 10 minutes from 00:00 to 03:50 UTC on 2020-10-25: Berlin's clocks went from 03:00
  // CEST back to 02:00 CET at 01:00 UTC, so 02:00-02:59 local time happened twice.
  std::string dt64 = test_server().modern() ? ", t64 DateTime64(3, 'Europe/Berlin')" : "";
  http_query("CREATE TABLE " + db +
             ".t (k UInt32, t DateTime('Europe/Berlin'), u Nullable(DateTime)" + dt64 +
             ") ENGINE = MergeTree ORDER BY k");
  std::string t64 = test_server().modern()
                        ? ", toDateTime64(1603584000 + number * 600 + 0.125, 3, 'Europe/Berlin')"
                        : "";
  http_query("INSERT INTO " + db +
             ".t SELECT number, toDateTime(1603584000 + number * 600, 'Europe/Berlin'), "
             "if(number % 2 = 0, NULL, toDateTime(1603584000 + number * 600))" +
             t64 + " FROM numbers(24)");

  // As text, the zone's repeated hour is said out loud, once for the column.
  TempDir text_out;
  auto text = run_chexport(export_args(db + ".t", text_out));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_EQ(count_of(text.output, "the zone Europe/Berlin has daylight saving time"),
            test_server().modern() ? 2u : 1u)
      << text.output;

  TempDir out;
  auto r = run_chexport(export_args(db + ".t", out, {"--datetime-format", "unix"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("daylight saving"), std::string::npos) << r.output;
  auto files = check_manifest(out, 24);
  EXPECT_TRUE(files.at(0).content.starts_with("0,1603584000,\\N")) << files.at(0).content;
  http_query("CREATE TABLE " + db + ".copy AS " + db + ".t");
  for (const auto& f : files) http_query("INSERT INTO " + db + ".copy FORMAT CSV\n" + f.content);
  std::string exact = "SELECT k, toUnixTimestamp(t), toUnixTimestamp(u)" +
                      std::string(test_server().modern() ? ", toUnixTimestamp64Milli(t64)" : "") +
                      " FROM " + db + ".%s ORDER BY k FORMAT CSV";
  char original[512], copy[512];
  std::snprintf(original, sizeof original, exact.c_str(), "t");
  std::snprintf(copy, sizeof copy, exact.c_str(), "copy");
  EXPECT_EQ(http_query(copy), http_query(original));

  simdjson::dom::parser parser;
  simdjson::dom::element manifest = load_manifest(parser, out);
  EXPECT_EQ(std::string_view(manifest["options"]["datetime_format"]), "unix");
  std::string server_zone = http_query("SELECT timezone()");
  server_zone.pop_back();
  EXPECT_EQ(std::string_view(manifest["server"]["timezone"]), server_zone);
  simdjson::dom::element columns = manifest["tables"].at(0)["columns"];
  EXPECT_EQ(std::string_view(columns.at(1)["timezone"]), "Europe/Berlin");
  EXPECT_EQ(std::string_view(columns.at(2)["timezone"]), server_zone);
}

TEST(Fidelity, WhatCsvCannotCarryIsSaidOncePerColumn) {
  std::string db = fresh_database();
  std::string modern_types =
      test_server().modern() ? ", v Variant(UInt64, String), dyn Dynamic" : "";
  http_query("CREATE TABLE " + db + ".t (k UInt8, tup Tuple(UInt8, String)" + modern_types +
                 ") ENGINE = MergeTree ORDER BY k",
             test_server().modern() ? "allow_experimental_variant_type=1&"
                                      "allow_experimental_dynamic_type=1"
                                    : "");
  http_query("INSERT INTO " + db + ".t (k, tup) VALUES (1, (2, 'x'))");
  TempDir out;
  auto r = run_chexport(export_args(db + ".t", out, {"--format", "CSVWithNames"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_of(r.output, "chexport: warning: " + db +
                                   ".t: column `tup` Tuple(UInt8, "
                                   "String): the CSVWithNames header names its elements"),
            1u)
      << r.output;
  EXPECT_EQ(count_of(r.output, "CSV carries no value types"), test_server().modern() ? 2u : 0u)
      << r.output;
  // Without a header, a tuple comes back whole.
  TempDir plain;
  auto p = run_chexport(export_args(db + ".t", plain));
  EXPECT_EQ(p.output.find("CSVWithNames header"), std::string::npos) << p.output;
}

TEST(Fidelity, ManifestStaysValidUtf8WhateverTheServerSays) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".base (p UInt8, n UInt64, s String) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db +
             ".base SELECT 0, number, if(number = 3000000, 'bad \\xFF\\xFE byte', '1') FROM "
             "numbers(4000000)");
  // The parse error quotes the value, invalid UTF-8 and all. (count() on the view reads its
  // smallest column, p, and succeeds.)
  http_query("CREATE VIEW " + db + ".bad AS SELECT p, n, toUInt32(s) AS v FROM " + db + ".base");
  TempDir out;
  auto r = run_chexport(export_args(db + ".bad", out));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  simdjson::dom::parser parser;  // validates UTF-8
  simdjson::dom::element manifest = load_manifest(parser, out);
  std::string_view error = manifest["tasks"].at(0)["error"];
  EXPECT_NE(error.find("bad \xEF\xBF\xBD\xEF\xBF\xBD byte"), std::string_view::npos) << error;
}

// A lightweight DELETE hides rows that system.parts still counts; the plan counts like
// validation does. (18.16 has no lightweight DELETE.)
TEST(Only26_7, LightweightDeleteExportsExactly) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number % 3, number FROM numbers(30000)");
  http_query("DELETE FROM " + db + ".t WHERE n % 7 = 0 OR p = 2");
  TempDir out;
  auto r = run_chexport(export_args(db + ".t", out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  uint64_t rows = std::stoull(http_query("SELECT count() FROM " + db + ".t"));
  check_manifest(out, rows);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  // Partition 2 is all deleted: no task for it.
  EXPECT_EQ(data_files(out),
            (std::vector<std::string>{db + "/t/partition=0/whole/part-000000.csv.zst",
                                      db + "/t/partition=1/whole/part-000000.csv.zst"}));
}

// policy_reader sees the rows of granted.policy with an even n (a row policy in users.xml;
// 18.16 has none): the export holds exactly those.
TEST(Only26_7, RowPolicyExportsTheRowsTheUserMayRead) {
  http_query("DROP TABLE IF EXISTS granted.policy");
  http_query("CREATE DATABASE IF NOT EXISTS granted");
  http_query(
      "CREATE TABLE granted.policy (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p "
      "ORDER BY n");
  http_query("INSERT INTO granted.policy SELECT number % 3, number FROM numbers(3000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "--user", "policy_reader", "-t",
                         "granted.policy", "-o", out.str()},
                        {{"CLICKHOUSE_PASSWORD", "policy-secret"}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 1500);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM granted.policy WHERE n % 2 = 0 FORMAT CSV")));
}

}  // namespace
}  // namespace chexport::testing
