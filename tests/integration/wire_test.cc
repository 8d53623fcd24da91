// Compression on the wire, on both real servers: every method the server offers gives the same
// bytes as a plain fetch, a mid-stream error inside a compressed stream is still the server's
// error, a method the server lacks or a user may not ask for is one clear error, and `auto` does
// without where it must. (fault_test.cc cuts, truncates and damages compressed streams.)
#include <gtest/gtest.h>
#include <simdjson.h>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

bool offered(const std::string& method) {
  return test_server().modern() || method == "gzip" || method == "deflate";
}

simdjson::dom::element manifest_of(simdjson::dom::parser& parser, const TempDir& out) {
  return parser.load(out.str() + "/manifest.json");
}

class WireMethod : public ::testing::TestWithParam<const char*> {};

TEST_P(WireMethod, SameBytesAsAPlainFetchAndTheServersErrorMidStream) {
  const std::string method = GetParam();
  std::string db = fresh_database();
  // Hashes compress poorly: 26.7 has sent its 200 long before the error at n = 1,200,000.
  http_query("CREATE TABLE " + db +
             ".base (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".base SELECT number % 2, number, concat('\"', hex(cityHash64(number)), ',\\n') "
             "FROM numbers(1500000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".base", "-o",
                         out.str(), "--wire-compression", method});
  if (!offered(method)) {
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("chexport: error: --wire-compression " + method +
                            ": the server answers without it: it compresses with gzip, deflate "
                            "only; use --wire-compression auto or none\n"),
              std::string::npos)
        << r.output;
    EXPECT_TRUE(data_files(out).empty());
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("chexport: info: wire compression: " + method + ", level 1\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" on the wire, " + method + ") -> "), std::string::npos) << r.output;
  check_manifest(out, 1500000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".base FORMAT CSV")));
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = manifest_of(parser, out);
  simdjson::dom::element wire = manifest["options"]["wire_compression"];
  EXPECT_EQ(std::string_view(wire["requested"]), method);
  EXPECT_EQ(std::string_view(wire["encoding"]), method);
  EXPECT_EQ(int64_t(wire["level"]), 1);
  uint64_t wire_bytes = 0;
  for (simdjson::dom::element task : manifest["tasks"].get_array()) {
    EXPECT_EQ(std::string_view(task["server_response"]["content_encoding"]), method);
    EXPECT_LT(uint64_t(task["server_response"]["wire_bytes"]), uint64_t(task["csv_bytes"]));
    wire_bytes += uint64_t(task["server_response"]["wire_bytes"]);
  }
  EXPECT_EQ(uint64_t(manifest["totals"]["wire_bytes"]), wire_bytes);

  http_query("CREATE VIEW " + db + ".bad AS SELECT p, n, s, throwIf(n = 1200000) AS t FROM " + db +
             ".base WHERE p = 0");
  TempDir failed;
  auto e = run_chexport({"export", "--url", test_server().url(), "-t", db + ".bad", "-o",
                         failed.str(), "--wire-compression", method, "--retry-delay", "0.01"});
  EXPECT_EQ(e.exit_code, 3) << e.output;
  EXPECT_NE(e.output.find("the server failed mid-stream after"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("rows: ClickHouse error 395: "), std::string::npos) << e.output;
  EXPECT_EQ(e.output.find("retrying"), std::string::npos) << e.output;
  EXPECT_EQ(e.output.find("cannot be decoded"), std::string::npos) << e.output;
  EXPECT_TRUE(data_files(failed).empty());
  expect_no_temp_files(failed);
}

INSTANTIATE_TEST_SUITE_P(Wire, WireMethod, ::testing::Values("zstd", "lz4", "gzip", "deflate"),
                         [](const auto& info) { return std::string(info.param); });

std::string small_table() {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number % 2, number FROM numbers(100000)");
  return db + ".t";
}

// readonly=1 may not set enable_http_compression nor the level. 18.16 compresses only when told,
// so `auto` does without (one info line) and an explicit method is an error; 26.7 compresses by
// default, at its own level, which an explicit --wire-level may not change.
TEST(Wire, ReadonlyUserAutoDoesWithoutAndExplicitIsAnError) {
  std::string table = small_table();
  std::string expected = http_query("SELECT * FROM " + table + " FORMAT CSV");
  TempDir out;
  std::vector<std::string> args = {
      "export", "--url", test_server().url(), "--user", "reader", "-t", table, "-o", out.str()};
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(exported_digest(out), records_digest(expected));
  std::string line = test_server().modern()
                         ? "chexport: info: wire compression: zstd, level 3\n"
                         : "chexport: info: wire compression: none (the user may not change "
                           "settings (readonly=1) and the server does not compress responses for "
                           "it (enable_http_compression=0))\n";
  EXPECT_EQ(count_of(r.output, line), 1u) << r.output;
  simdjson::dom::parser parser;
  simdjson::dom::element task = manifest_of(parser, out)["tasks"].at(0);
  if (test_server().modern()) {
    EXPECT_EQ(std::string_view(task["server_response"]["content_encoding"]), "zstd");
  } else {
    EXPECT_EQ(task["server_response"]["content_encoding"].error(), simdjson::NO_SUCH_FIELD);
  }

  TempDir explicit_out;
  args.back() = explicit_out.str();
  args.insert(args.end(), {"--wire-compression", "gzip"});
  auto gzip = run_chexport(args);
  if (test_server().modern()) {
    ASSERT_EQ(gzip.exit_code, 0) << gzip.output;
    EXPECT_EQ(exported_digest(explicit_out), records_digest(expected));
    args.insert(args.end(), {"--wire-level", "5"});
    auto level = run_chexport(args);
    EXPECT_EQ(level.exit_code, 2) << level.output;
    EXPECT_NE(level.output.find("chexport: error: --wire-level 5: the user may not change "
                                "settings (readonly=1), and the server compresses at level 3 "
                                "(http_zlib_compression_level)\n"),
              std::string::npos)
        << level.output;
  } else {
    EXPECT_EQ(gzip.exit_code, 2) << gzip.output;
    EXPECT_NE(gzip.output.find("chexport: error: --wire-compression gzip: the user may not change "
                               "settings (readonly=1) and the server does not compress responses "
                               "for it (enable_http_compression=0); use --wire-compression auto "
                               "or none\n"),
              std::string::npos)
        << gzip.output;
    EXPECT_TRUE(data_files(explicit_out).empty());
  }
}

// A level 18.16's zlib does not take: it answers 200 with an empty "gzip" body, which is no gzip
// stream at all; 26.7 refuses with error 355. `auto` does without; an explicit gzip is an error.
TEST(Wire, ALevelTheServerCannotCompressAtIsCaught) {
  std::string table = small_table();
  TempDir out;
  std::vector<std::string> args = {"export",
                                   "--url",
                                   test_server().url(),
                                   "-t",
                                   table,
                                   "-o",
                                   out.str(),
                                   "--wire-compression",
                                   "gzip",
                                   "--setting",
                                   "http_zlib_compression_level=10"};
  auto r = run_chexport(args);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  std::string why = test_server().modern()
                        ? "ClickHouse error 355 (HTTP 500): deflateInit2 failed"
                        : "the response cannot be decoded (Content-Encoding: gzip, 0 bytes "
                          "received): empty gzip stream";
  EXPECT_NE(r.output.find("chexport: error: --wire-compression gzip: the server refused: asking "
                          "the server to compress its answers: " +
                          why),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(data_files(out).empty());
  if (test_server().modern()) return;  // 26.7's `auto` takes zstd, which has a level 10

  args[8] = "auto";
  auto fallback = run_chexport(args);
  ASSERT_EQ(fallback.exit_code, 0) << fallback.output;
  EXPECT_EQ(count_of(fallback.output,
                     "chexport: info: wire compression: none (the server "
                     "refused: asking the server to compress its answers: " +
                         why + ")\n"),
            1u)
      << fallback.output;
  check_manifest(out, 100000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + table + " FORMAT CSV")));
}

// The user's own settings win: enable_http_compression=0 turns compression off (one info line,
// and the summary says so); an explicit method with it is an error.
TEST(Wire, TheUsersOwnSettingTurnsItOff) {
  std::string table = small_table();
  TempDir out;
  std::vector<std::string> args = {"export",  "--url",     test_server().url(),
                                   "-t",      table,       "-o",
                                   out.str(), "--setting", "enable_http_compression=0"};
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_of(r.output,
                     "chexport: info: wire compression: none (--setting "
                     "enable_http_compression=0 turns it off)\n"),
            1u)
      << r.output;
  EXPECT_NE(r.output.find(" on the wire, uncompressed) -> "), std::string::npos) << r.output;
  check_manifest(out, 100000);
  TempDir out2;
  args[6] = out2.str();
  args.insert(args.end(), {"--wire-compression", "gzip"});
  auto gzip = run_chexport(args);
  EXPECT_EQ(gzip.exit_code, 2) << gzip.output;
  EXPECT_NE(gzip.output.find("chexport: error: --wire-compression gzip: --setting "
                             "enable_http_compression=0 turns it off; use --wire-compression auto "
                             "or none\n"),
            std::string::npos)
      << gzip.output;
}

TEST(Wire, BadFlagsAreOneClearError) {
  TempDir out;
  auto method = run_chexport({"export", "--url", test_server().url(), "-t", "default.x", "-o",
                              out.str(), "--wire-compression", "brotli"});
  EXPECT_EQ(method.exit_code, 2);
  EXPECT_EQ(method.output,
            "chexport: error: --wire-compression must be auto, zstd, lz4, gzip, deflate or none, "
            "not \"brotli\"\n");
  auto level = run_chexport({"export", "--url", test_server().url(), "-t", "default.x", "-o",
                             out.str(), "--wire-compression", "gzip", "--wire-level", "12"});
  EXPECT_EQ(level.exit_code, 2);
  EXPECT_EQ(level.output,
            "chexport: error: --wire-level (clickhouse.wire_level) must be between 1 and 9 for "
            "gzip, not 12\n");
  // A level for no compression is said to do nothing, and the export goes on.
  auto none = run_chexport({"export", "--url", test_server().url(), "-t", "default.x", "-o",
                            out.str(), "--wire-compression", "none", "--wire-level", "5"});
  EXPECT_NE(none.output.find("chexport: warning: --wire-level 5 has no effect with "
                             "--wire-compression none\n"),
            std::string::npos)
      << none.output;
}

}  // namespace
}  // namespace chexport::testing
