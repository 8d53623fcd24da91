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
  EXPECT_EQ(encode_name(".."), "%2E%2E");
  EXPECT_EQ(encode_name("a.b."), "a.b%2E");
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

TEST(Layout, HiveValuesAreEscapedAsSparkDoes) {
  EXPECT_EQ(hive_value("202001"), "202001");
  EXPECT_EQ(hive_value("x y"), "x y");  // Spark and DuckDB keep spaces
  EXPECT_EQ(hive_value("caf\xc3\xa9 \xe2\x98\x95"), "caf\xc3\xa9 \xe2\x98\x95");  // UTF-8 stays
  EXPECT_EQ(hive_value("a'b/c\"d"), "a%27b%2Fc%22d");
  EXPECT_EQ(hive_value("(202001,'x')"), "(202001,%27x%27)");
  EXPECT_EQ(hive_value("k=v:%#?*\\{}[]^<>|"), "k%3Dv%3A%25%23%3F%2A%5C%7B}%5B%5D%5E%3C%3E%7C");
  EXPECT_EQ(hive_value(std::string_view("a\0\n\x7f", 4)), "a%00%0A%7F");
  EXPECT_EQ(hive_value(".."), ".%2E");  // Windows drops trailing dots and spaces
  EXPECT_EQ(hive_value("a. b "), "a. b%20");
  EXPECT_EQ(hive_value(" a"), " a");
  EXPECT_EQ(hive_value("a+b"), "a+b");
}

TEST(Layout, HiveValuesReadersTakeForNullAreEscaped) {
  EXPECT_EQ(hive_value("NULL"), "%4EULL");
  EXPECT_EQ(hive_value("null"), "%6Eull");
  EXPECT_EQ(hive_value("__HIVE_DEFAULT_PARTITION__"), "%5F_HIVE_DEFAULT_PARTITION__");
  EXPECT_EQ(hive_value("NULLS"), "NULLS");
  EXPECT_EQ(hive_null, "__HIVE_DEFAULT_PARTITION__");
}

TEST(Layout, HiveValuesWithoutAnExactReadableNameAreEmpty) {
  EXPECT_EQ(hive_value(""), "");
  EXPECT_EQ(hive_value(std::string(120, 'x')), std::string(120, 'x'));
  EXPECT_EQ(hive_value(std::string(121, 'x')), "");
  EXPECT_EQ(hive_value(std::string(50, '/')), "");  // 150 bytes escaped
  // Not UTF-8: readers would decode the escaped bytes into text that is not the value.
  EXPECT_EQ(hive_value("bad\xff"), "");
  EXPECT_EQ(hive_value("caf\xc3"), "");
  EXPECT_EQ(hive_value("\xe9t\xe9"), "");  // Latin-1
}

TEST(Layout, NamesFoldAsCaseInsensitiveFileSystemsCompareThem) {
  EXPECT_EQ(fold_name_case("partition=Ab"), "partition=ab");
  EXPECT_EQ(fold_name_case("K\xc3\x96LN"), "k\xc3\xb6ln");              // KÖLN -> köln
  EXPECT_EQ(fold_name_case("\xd0\x9c\xd0\xbe"), "\xd0\xbc\xd0\xbe");    // Мо -> мо
  EXPECT_EQ(fold_name_case("\xd0\x81"), "\xd1\x91");                    // Ё -> ё
  EXPECT_EQ(fold_name_case("\xce\xa3"), "\xcf\x83");                    // Σ -> σ
  EXPECT_EQ(fold_name_case("\xc5\x81\xc3\x97"), "\xc5\x82\xc3\x97");    // Ł× -> ł×
  EXPECT_EQ(fold_name_case("\xe6\x9d\xb1 \xff"), "\xe6\x9d\xb1 \xff");  // others as they are
  EXPECT_NE(fold_name_case("\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"),
            fold_name_case("\xd0\x9a\xd0\xb0\xd0\xb7\xd0\xb0\xd0\xbd\xd1\x8c"));
}

TEST(Layout, Paths) {
  EXPECT_EQ(table_dir("default", "trips"), "default/trips");
  EXPECT_EQ(partition_dir("tuple()", "all"), "all");
  EXPECT_EQ(partition_dir("201503", "201503"), "partition=201503");
  EXPECT_EQ(partition_dir("", "d41d8cd98f00b204"), "partition=d41d8cd98f00b204");
  EXPECT_EQ(partition_dir(std::string(200, 'x'), "c0ffee"), "partition=c0ffee");
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
