// What the server says about a query, on both real servers: errors it reports after it answered
// 200 (18.16 appends the message as plain text and ends the body cleanly; 26.7 writes a tagged
// __exception__ block and closes the connection), classified by their code like errors before
// the stream; and the headers it sends about each query, recorded in the manifest.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

struct DeterministicCase {
  const char* name;
  const char* expression;  // fails at the row n = 3000000, deep in the stream
  int code;
};

void PrintTo(const DeterministicCase& c, std::ostream* os) {
  *os << c.name;
}

class DeterministicMidStreamError : public ::testing::TestWithParam<DeterministicCase> {};

// The same query fails the same way every time: one attempt, not 1 + --retries re-sends of the
// partition, and not a single file under a final name. Plain on the wire, where the error comes
// after the 200 on both servers (wire_test.cc has it inside compressed streams).
TEST_P(DeterministicMidStreamError, FailsItsTaskAtOnce) {
  const DeterministicCase& c = GetParam();
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".base (p UInt8, n UInt64) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db + ".base SELECT 0, number FROM numbers(4000000)");
  // count() on the view reads only `base`, so the count before the export succeeds.
  http_query("CREATE VIEW " + db + ".bad AS SELECT p, n, " + c.expression + " AS t FROM " + db +
             ".base");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".bad", "-o", out.str(),
                         "--max-rows-per-file", "1000000", "--retries", "3", "--retry-delay",
                         "0.01", "--wire-compression", "none"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("the server failed mid-stream after"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ClickHouse error " + std::to_string(c.code) + ": "), std::string::npos)
      << r.output;
  // The server's error, not what the transport saw (26.7 closes the connection after its block).
  EXPECT_EQ(r.output.find("connection broken"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("truncated"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_TRUE(data_files(out).empty());
  expect_no_temp_files(out);
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  EXPECT_EQ(std::string_view(manifest["tasks"].at(0)["status"]), "failed");
  EXPECT_EQ(int64_t(manifest["tasks"].at(0)["attempts"]), 1);
  EXPECT_EQ(int64_t(manifest["exit_code"]), 3);
}

INSTANTIATE_TEST_SUITE_P(
    MidStream, DeterministicMidStreamError,
    ::testing::Values(DeterministicCase{"throwIf", "throwIf(n = 3000000)", 395},
                      DeterministicCase{"division_by_zero", "intDiv(1, n - 3000000)", 153},
                      DeterministicCase{"parse_number", "toUInt32(if(n = 3000000, 'abc', '1'))", 6},
                      DeterministicCase{"parse_datetime",
                                        "toDateTime(if(n = 3000000, 'abc', '2020-01-01 00:00:00'))",
                                        41}),
    [](const auto& info) { return std::string(info.param.name); });

// 26.7 frames a mid-stream error as "\r\n__exception__\r\n<TAG>\r\n<message>\n<len> <TAG>\r\n
// __exception__\r\n" with TAG from the X-ClickHouse-Exception-Tag header, then closes the
// connection (curl error 18). The message comes out whole, without framing or tag.
TEST(Only26_7, TaggedErrorBlockIsTheServersErrorDecodedExactly) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db + ".base (n UInt64, s String) ENGINE = MergeTree ORDER BY n");
  http_query("INSERT INTO " + db +
             ".base SELECT number, concat('\"', toString(number), '\",\\n') FROM numbers(2000000)");
  http_query("CREATE VIEW " + db + ".bad AS SELECT n, s, throwIf(n = 1500000) AS t FROM " + db +
             ".base");
  TempDir out;
  // Plain on the wire: compressed, this little data may all wait in the server's buffer until the
  // error, which then comes as a 500 (wire_test.cc has the block inside compressed streams).
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".bad", "-o", out.str(),
                         "--wire-compression", "none"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  simdjson::dom::parser parser;
  simdjson::dom::element task = parser.load(out.str() + "/manifest.json")["tasks"].at(0);
  std::string error{std::string_view(task["error"])};
  EXPECT_TRUE(error.starts_with("export of " + db +
                                ".bad (whole table): the server failed "
                                "mid-stream after "))
      << error;
  EXPECT_NE(error.find(" rows: ClickHouse error 395: Value passed to 'throwIf' function is "
                       "non-zero"),
            std::string::npos)
      << error;
  EXPECT_TRUE(error.ends_with("(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)")) << error;
  EXPECT_EQ(error.find("__exception__"), std::string::npos) << error;
  // The failed attempt still records the query id the server ran it under.
  EXPECT_EQ(std::string_view(task["server_response"]["query_id"]),
            std::string_view(task["query_id"]));
}

// Per task, the manifest keeps what the server's headers said about the export query: 26.7 sends
// the query id, its time zone, its display name and a summary; 18.16 only the display name.
TEST(Manifest, RecordsWhatTheServerSaidAboutEachQuery) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT number % 2, number FROM numbers(3000)");
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string host = test_server().display_name;
  std::string timezone = http_query("SELECT timezone()");
  timezone.pop_back();
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  size_t tasks = 0;
  for (simdjson::dom::element task : manifest["tasks"].get_array()) {
    ++tasks;
    simdjson::dom::element said = task["server_response"];
    EXPECT_EQ(std::string_view(said["display_name"]), host);
    if (test_server().modern()) {
      EXPECT_EQ(std::string_view(said["query_id"]), std::string_view(task["query_id"]));
      EXPECT_EQ(std::string_view(said["timezone"]), timezone);
      // Read before the first byte left: at most the partition's rows, which the server plans
      // to read whole.
      EXPECT_LE(uint64_t(said["read_rows"]), 1500u);
      EXPECT_EQ(uint64_t(said["total_rows_to_read"]), 1500u);
      EXPECT_GT(uint64_t(said["read_bytes"]), 0u);
    } else {
      // The display name alone, and how the body came: gzip, 18.16's best.
      EXPECT_EQ(said.get_object().size(), 3u) << said;
    }
    // What `auto` settles on: each server's best method, and the body's size as it came.
    EXPECT_EQ(std::string_view(said["content_encoding"]), test_server().modern() ? "zstd" : "gzip");
    EXPECT_GT(uint64_t(said["wire_bytes"]), 0u);
    EXPECT_LT(uint64_t(said["wire_bytes"]), uint64_t(task["csv_bytes"]));
  }
  EXPECT_EQ(tasks, 2u);
  // Where the user may set it (26.7; 18.16 has no such setting), a closed connection stops the
  // query on whichever server runs it.
  simdjson::dom::element settings = manifest["options"]["settings"];
  std::string_view cancel;
  bool sent =
      settings["cancel_http_readonly_queries_on_client_close"].get(cancel) == simdjson::SUCCESS;
  EXPECT_EQ(sent, test_server().modern());
  if (sent) {
    EXPECT_EQ(cancel, "1");
  }
}

}  // namespace
}  // namespace chexport::testing
