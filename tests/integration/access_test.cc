// The users DBAs hand out, on both real servers (scripts/clickhouse-server.sh creates them):
// a read-only user, and a user who may read one table only.
#include <gtest/gtest.h>

#include <algorithm>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

TEST(Access, ReadOnlyUserExportsButMayNotChangeSettings) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number % 3, number FROM numbers(3000)");
  TempDir out;
  std::vector<std::string> args = {
      "export", "--url", test_server().url(), "--user", "reader", "-t", db + ".t", "-o", out.str()};
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 3000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));

  // readonly=1 refuses any setting that differs from the profile's: one clear line, no retry.
  // (Not max_threads=1: where the server counts one physical core, that is the profile's value.)
  TempDir out2;
  args.back() = out2.str();
  args.insert(args.end(), {"--setting", "max_block_size=12345"});
  auto refused = run_chexport(args);
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find("ClickHouse error 164 (HTTP 500): Cannot "), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("max_block_size"), std::string::npos) << refused.output;
  EXPECT_EQ(std::count(refused.output.begin(), refused.output.end(), '\n'), 1) << refused.output;
}

// table_reader may read granted.t and nothing else: on 26.7 `GRANT SELECT ON granted.t`, which
// does not cover system.parts; 18.16 has no grants, only the database. Either way the export
// holds exactly the table; on 26.7 the partitions come from the table itself.
TEST(Access, UserGrantedOneTable) {
  // Only granted.t: Only26_7.RowPolicy... may use granted.policy at the same time.
  http_query("CREATE DATABASE IF NOT EXISTS granted");
  http_query("DROP TABLE IF EXISTS granted.t");
  http_query(
      "CREATE TABLE granted.t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p "
      "ORDER BY n");
  http_query("INSERT INTO granted.t SELECT number % 3, number, toString(number) FROM numbers(300)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "--user", "table_reader", "-t",
                         "granted.t", "-o", out.str()},
                        {{"CLICKHOUSE_PASSWORD", "table-secret"}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 300);
  EXPECT_EQ(exported_digest(out), records_digest(http_query("SELECT * FROM granted.t FORMAT CSV")));
  EXPECT_EQ(data_files(out),
            (std::vector<std::string>{"granted/t/partition=0/whole/part-000000.csv.zst",
                                      "granted/t/partition=1/whole/part-000000.csv.zst",
                                      "granted/t/partition=2/whole/part-000000.csv.zst"}));
  EXPECT_EQ(r.output.find("system.parts may not be read") != std::string::npos,
            test_server().modern())
      << r.output;
  EXPECT_EQ(r.output.find("table-secret"), std::string::npos) << r.output;
  if (test_server().modern()) {
    // Without system.parts nothing tells whether a partition changed: a resume keeps nothing.
    auto again = run_chexport({"export", "--url", test_server().url(), "--user", "table_reader",
                               "-t", "granted.t", "-o", out.str()},
                              {{"CLICKHOUSE_PASSWORD", "table-secret"}});
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(count_of(again.output, "exporting again: its data has no version to compare"), 3u)
        << again.output;
    check_manifest(out, 300);
  }
  // Mode all reads no system table at all.
  TempDir all;
  auto whole = run_chexport({"export", "--url", test_server().url(), "--user", "table_reader", "-t",
                             "granted.t", "-o", all.str(), "--mode", "all"},
                            {{"CLICKHOUSE_PASSWORD", "table-secret"}});
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_EQ(data_files(all), std::vector<std::string>{"granted/t/all/whole/part-000000.csv.zst"});
  EXPECT_EQ(exported_digest(all), exported_digest(out));
}

}  // namespace
}  // namespace chexport::testing
