// The export query, layouts and warnings are pure functions of the columns: checked here without
// a server.
#include "chexport/plan/columns.h"

#include <gtest/gtest.h>

#include "chexport/common/json_writer.h"

namespace chexport {
namespace {

const TableRef table{"db", "t"};

std::vector<Column> sample() {
  return {{"n", "UInt64", "", ""},
          {"t", "DateTime('Europe/Berlin')", "", "Europe/Berlin"},
          {"u", "Nullable(DateTime64(3))", "MATERIALIZED", "UTC"},
          {"odd`name", "String", "DEFAULT", ""}};
}

TEST(ExportQuery, NamesEveryColumnQuoted) {
  EXPECT_EQ(export_query(table, sample(), DateTimeFormat::text, "p = 1", "CSV"),
            "SELECT `n`, `t`, `u`, `odd\\`name` FROM `db`.`t` WHERE p = 1 FORMAT CSV");
  EXPECT_EQ(export_query(table, sample(), DateTimeFormat::text, "", "CSVWithNames"),
            "SELECT `n`, `t`, `u`, `odd\\`name` FROM `db`.`t` FORMAT CSVWithNames");
}

TEST(ExportQuery, UnixTimeConvertsOutsideThePredicate) {
  // The predicate must see the columns, not the converted values of the same names.
  EXPECT_EQ(export_query(table, sample(), DateTimeFormat::unix, "t > now()", "CSV"),
            "SELECT `n`, toUnixTimestamp(`t`) AS `t`, CAST(`u` AS Nullable(Decimal64(3))) AS `u`, "
            "`odd\\`name` FROM (SELECT `n`, `t`, `u`, `odd\\`name` FROM `db`.`t` WHERE t > "
            "now()) FORMAT CSV");
  std::vector<Column> plain = {{"n", "UInt64", "", ""}};
  EXPECT_EQ(export_query(table, plain, DateTimeFormat::unix, "", "CSV"),
            "SELECT `n` FROM `db`.`t` FORMAT CSV");
}

TEST(Layout, IsWhatResumeCompares) {
  EXPECT_EQ(layout(sample()),
            "`n` UInt64, `t` DateTime('Europe/Berlin'), `u` Nullable(DateTime64(3)) MATERIALIZED, "
            "`odd\\`name` String");
}

TEST(DateTimeZones, FindsEveryDateTimeInAType) {
  EXPECT_EQ(datetime_zones("DateTime", "UTC"), std::vector<std::string>{"UTC"});
  EXPECT_EQ(datetime_zones("Nullable(DateTime('Asia/Tokyo'))", "UTC"),
            std::vector<std::string>{"Asia/Tokyo"});
  EXPECT_EQ(datetime_zones("DateTime64(6, 'Europe/Berlin')", "UTC"),
            std::vector<std::string>{"Europe/Berlin"});
  EXPECT_EQ(datetime_zones("Tuple(a DateTime64(3), b Array(DateTime('America/New_York')))", "X"),
            (std::vector<std::string>{"X", "America/New_York"}));
  // Not types: an Enum's text, a longer name.
  EXPECT_TRUE(datetime_zones("Enum8('DateTime' = 1)", "UTC").empty());
  EXPECT_TRUE(datetime_zones("DateTimeX", "UTC").empty());
}

TEST(FidelityWarnings, OneLinePerColumnAndOnlyWhatApplies) {
  std::vector<Column> columns = {{"t", "DateTime('Europe/Berlin')", "", "Europe/Berlin"},
                                 {"u", "DateTime", "", "UTC"},
                                 {"a", "Array(DateTime('Europe/Berlin'))", "", ""},
                                 {"v", "Variant(String, UInt64)", "", ""},
                                 {"p", "Point", "", ""}};
  std::set<std::string> dst = {"Europe/Berlin"};
  ColumnOptions text{DateTimeFormat::text, false, "UTC"};
  auto w = fidelity_warnings(table, columns, text, dst);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_TRUE(
      w[0].starts_with("db.t: column `t` DateTime('Europe/Berlin'): the zone "
                       "Europe/Berlin has daylight saving time"))
      << w[0];
  EXPECT_TRUE(w[0].ends_with("--datetime-format unix writes exact Unix time")) << w[0];
  EXPECT_TRUE(w[1].starts_with("db.t: column `a`")) << w[1];
  EXPECT_TRUE(w[1].ends_with("convert the column to Unix time in a view")) << w[1];
  EXPECT_NE(w[2].find("CSV carries no value types"), std::string::npos) << w[2];

  // Unix time fixes the top-level column; the header brings the tuple's warning.
  ColumnOptions unix_names{DateTimeFormat::unix, true, "UTC"};
  w = fidelity_warnings(table, columns, unix_names, dst);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_TRUE(w[0].starts_with("db.t: column `a`")) << w[0];
  EXPECT_NE(w[2].find("the CSVWithNames header names its elements (p.1, p.2, ...)"),
            std::string::npos)
      << w[2];
}

TEST(DateTimeFormatOption, ParsesAndNamesTheFlag) {
  EXPECT_EQ(parse_datetime_format("unix", "--datetime-format"), DateTimeFormat::unix);
  EXPECT_EQ(parse_datetime_format("text", "--datetime-format"), DateTimeFormat::text);
  try {
    parse_datetime_format("iso", "--datetime-format");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--datetime-format must be text or unix, not \"iso\"");
    EXPECT_EQ(e.category(), ErrorCategory::usage);
  }
}

TEST(Utf8, JsonAndSqlStayValidWhateverTheBytes) {
  // Valid multi-byte text passes; stray bytes become U+FFFD in JSON and \xNN in SQL literals.
  EXPECT_EQ(json_escape("caf\xc3\xa9 \xe2\x98\x95"), "\"caf\xc3\xa9 \xe2\x98\x95\"");
  EXPECT_EQ(json_escape("a\xff\xfe"
                        "b\xc3"),
            "\"a\\ufffd\\ufffdb\\ufffd\"");
  EXPECT_EQ(json_escape("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a UTF-16 surrogate
  EXPECT_EQ(quote_string("caf\xc3\xa9\xff'"), "'caf\xc3\xa9\\xFF\\''");
}

}  // namespace
}  // namespace chexport
