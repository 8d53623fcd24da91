#include "chexport/output/layout.h"

#include <gtest/gtest.h>

#include <set>

#include "chexport/common/error.h"
#include "chexport/common/json_writer.h"
#include "chexport/common/units.h"
#include "chexport/plan/plan.h"

namespace chexport {
namespace {

TEST(Layout, EncodesUnsafeBytes) {
  EXPECT_EQ(encode_name("201503"), "201503");
  EXPECT_EQ(encode_name("'2015-03-01'"), "%272015-03-01%27");
  EXPECT_EQ(encode_name("a/b"), "a%2Fb");
  EXPECT_EQ(encode_name(".."), "%2E.");
  EXPECT_EQ(encode_name(".hidden"), "%2Ehidden");
  EXPECT_EQ(encode_name("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(encode_name("(1,'a\\'b')"), "%281%2C%27a%5C%27b%27%29");
  EXPECT_EQ(encode_name(""), "%empty");
  EXPECT_EQ(encode_name(std::string_view("\0", 1)), "%00");
}

TEST(Layout, DistinctValuesGiveDistinctNames) {
  std::set<std::string> names;
  std::vector<std::string> values = {"a",   "A",     "a b", "a%20b",
                                     "a/b", "a%2Fb", "",    std::string(1, '\0'),
                                     "%00", ".",     "%2E", "%empty"};
  for (const auto& v : values) names.insert(encode_name(v));
  EXPECT_EQ(names.size(), values.size());
}

TEST(Layout, LongNamesAreCutWithAHash) {
  std::string a(500, 'x'), b(500, 'x');
  b.back() = 'y';
  std::string ea = encode_name(a), eb = encode_name(b);
  EXPECT_LE(ea.size(), 120u);
  EXPECT_NE(ea, eb);
  std::string quotes(300, '\'');
  std::string eq = encode_name(quotes);
  EXPECT_LE(eq.size(), 120u);
  EXPECT_EQ(eq.find("%2~"), std::string::npos);  // never cut inside an escape
}

TEST(Layout, Paths) {
  EXPECT_EQ(table_dir("default", "trips"), "default/trips");
  EXPECT_EQ(partition_dir("tuple()", "all"), "all");
  EXPECT_EQ(partition_dir("201503", "201503"), "partition=201503");
  EXPECT_EQ(data_file_name(0, Compression::zstd), "part-000000.csv.zst");
  EXPECT_EQ(data_file_name(42, Compression::none), "part-000042.csv");
}

TEST(Plan, PartitionPredicateDependsOnTheServerVersion) {
  EXPECT_EQ(partition_predicate(parse_server_version("18.16.1"), "201503"),
            "startsWith(_part, '201503_')");
  EXPECT_EQ(partition_predicate(parse_server_version("21.4.1"), "a'b"), "_partition_id = 'a\\'b'");
}

TEST(Plan, TableRefs) {
  EXPECT_EQ(parse_table_ref("db.t").sql(), "`db`.`t`");
  EXPECT_EQ(parse_table_ref("t").db, "default");
  EXPECT_THROW(parse_table_ref("db."), Error);
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("1000", "x"), 1000u);
  EXPECT_EQ(parse_size("512KiB", "x"), 512u * 1024);
  EXPECT_EQ(parse_size("100 MiB", "x"), 100u << 20);
  EXPECT_EQ(parse_size("1GiB", "x"), 1u << 30);
  EXPECT_EQ(parse_size("2gb", "x"), 2'000'000'000u);
  try {
    parse_size("12 parsecs", "--max-bytes-per-file");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::usage);
    EXPECT_NE(std::string(e.what()).find("--max-bytes-per-file: \"12 parsecs\""),
              std::string::npos);
  }
}

TEST(Json, EscapesAndNests) {
  EXPECT_EQ(json_escape("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  JsonWriter j;
  j.begin_object().field("a", 1).key("b").begin_array().value("x").value(uint64_t{2}).end_array();
  j.key("c").begin_object().end_object().end_object();
  EXPECT_EQ(j.str(), "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    2\n  ],\n  \"c\": {}\n}\n");
}

}  // namespace
}  // namespace chexport
