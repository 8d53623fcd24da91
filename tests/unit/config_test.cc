#include "chexport/cli/config.h"

#include <gtest/gtest.h>

#include "chexport/common/error.h"

namespace chexport {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_config(json, "x.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::usage);
    return e.what();
  }
  return "no error";
}

TEST(Config, ReadsEveryKey) {
  auto c = parse_config(R"json({
    "clickhouse": {"url": "http://127.0.0.1:9", "user": "exporter", "password_env": "PW",
                   "shard_url": "https://{host}:8443",
                   "settings": {"max_threads": 2, "join_use_nulls": true, "s": "x"},
                   "wire_compression": "gzip", "wire_level": 6},
    "workers": 4,
    "output": {"dir": "./dump", "format": "CSVWithNames", "compression": "none", "zstd_level": 5,
               "max_rows_per_file": 100, "max_bytes_per_file": "1GiB", "max_compressed_bytes_per_file": 2048,
               "s3_profile": "archive", "s3_addressing": "virtual", "s3_checksum": "none"},
    "split": {"max_rows_per_task": 50000000, "max_bytes_per_task": "20GiB"},
    "tables": [{"db": "default", "table": "trips", "mode": "partition", "partition_expr": "toYYYYMM(d)",
                "lower_condition": "a", "upper_condition": "b", "split_field": "t"},
               {"db": "default", "table": "np", "mode": "all"}]
})json",
                        "x.json");
  const ExportOptions& o = c.options;
  EXPECT_EQ(o.connection.url, "http://127.0.0.1:9");
  EXPECT_EQ(o.connection.user, "exporter");
  EXPECT_EQ(o.shard_url, "https://{host}:8443");
  EXPECT_EQ(c.password_env, "PW");
  ASSERT_EQ(o.connection.settings.size(), 3u);
  EXPECT_EQ(o.connection.settings[0], (std::pair<std::string, std::string>{"max_threads", "2"}));
  EXPECT_EQ(o.connection.settings[1].second, "1");
  EXPECT_EQ(o.wire.method, WireMethod::gzip);
  EXPECT_EQ(o.wire.level, 6);
  EXPECT_EQ(o.workers, 4);
  EXPECT_EQ(o.output.dir, "./dump");
  EXPECT_EQ(o.output.format, "CSVWithNames");
  EXPECT_EQ(o.output.compression, Compression::none);
  EXPECT_EQ(o.output.zstd_level, 5);
  EXPECT_EQ(o.output.limits.max_rows, 100u);
  EXPECT_EQ(o.output.limits.max_csv_bytes, 1ull << 30);
  EXPECT_EQ(o.output.limits.max_compressed_bytes, 2048u);
  EXPECT_EQ(o.output.s3_profile, "archive");
  EXPECT_EQ(o.output.s3_addressing, "virtual");
  EXPECT_FALSE(o.output.s3_checksums);
  EXPECT_EQ(o.split.max_rows_per_task, 50'000'000u);
  EXPECT_EQ(o.split.max_bytes_per_task, 20ull << 30);
  ASSERT_EQ(o.tables.size(), 2u);
  EXPECT_EQ(o.tables[0].table.display(), "default.trips");
  EXPECT_EQ(o.tables[0].partition_expr, "toYYYYMM(d)");
  EXPECT_EQ(o.tables[0].bounds(), "(a) AND (b)");
  EXPECT_EQ(o.tables[0].split_field, "t");
  EXPECT_EQ(o.tables[1].mode, TableMode::all);
}

TEST(Config, OldSpellingOfSplitField) {
  auto c = parse_config(R"json({"tables": [{"db": "d", "table": "t", "split_filed": "ts"}]})json",
                        "x.json");
  EXPECT_EQ(c.options.tables[0].split_field, "ts");
}

TEST(Config, ErrorsNameThePathAndTheProblem) {
  EXPECT_EQ(
      error_of(
          R"json({"tables": [{"db": "a", "table": "b"}, {"db": "a", "table": "b", "mode": "partiton"}]})json"),
      "x.json: tables[1].mode: expected \"all\" or \"partition\", got \"partiton\"");
  EXPECT_EQ(error_of(R"json({"output": {"dir": "x", "max_rows": 1}})json").substr(0, 39),
            "x.json: output.max_rows: unknown key (k");
  EXPECT_EQ(error_of(R"json({"workers": "four"})json"),
            "x.json: workers: expected a whole number >= 0, got a string");
  EXPECT_EQ(error_of(R"json({"workers": 0})json"), "x.json: workers: expected 1 to 256, got 0");
  EXPECT_EQ(error_of(R"json({"tables": [{"table": "b"}]})json"),
            "x.json: tables[0].db: missing (the table's database)");
  EXPECT_EQ(error_of(R"json({"split": {"max_bytes_per_task": "lots"}})json"),
            "x.json: split.max_bytes_per_task: \"lots\" is not a size (examples: 1000000, 512KiB, "
            "100MiB, 1GiB)");
  EXPECT_EQ(error_of("{\"tables\": [}").substr(0, 24), "x.json: not valid JSON (");
  EXPECT_EQ(error_of(R"json({"clickhouse": {"wire_compression": "brotli"}})json"),
            "x.json: clickhouse.wire_compression: expected auto, zstd, lz4, gzip, deflate or none, "
            "got \"brotli\"");
  EXPECT_EQ(error_of(R"json({"clickhouse": {"wire_level": 30}})json"),
            "x.json: clickhouse.wire_level: expected 1 to 22, got 30");
  EXPECT_EQ(
      error_of(R"json({"output": {"s3_addressing": "dns"}})json"),
      "x.json: output.s3_addressing: expected \"path\", \"virtual\" or \"auto\", got \"dns\"");
  EXPECT_EQ(error_of(R"json({"output": {"s3_checksum": "md5"}})json"),
            "x.json: output.s3_checksum: expected \"sha256\" or \"none\", got \"md5\"");
  EXPECT_EQ(error_of(R"json({"clickhouse": {"settings": {"a": [1]}}})json"),
            "x.json: clickhouse.settings.a: expected a string, number or boolean, got an array");
}

}  // namespace
}  // namespace chexport
