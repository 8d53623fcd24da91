// Error framing of old and modern servers, and the retry classification, without a server.
#include "chexport/clickhouse/clickhouse.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

namespace chexport {
namespace {

TEST(ParseServerError, Old18_16Format) {
  auto e = parse_server_error(
      "Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = "
      "DB::Exception\n");
  EXPECT_EQ(e.code, 60);
  EXPECT_EQ(e.message, "Table default.nope doesn't exist.");
}

TEST(ParseServerError, ModernFormat) {
  auto e = parse_server_error(
      "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version "
      "23.8.2.7 (official build))\n");
  EXPECT_EQ(e.code, 60);
  EXPECT_EQ(e.message, "Table default.nope does not exist. (UNKNOWN_TABLE)");
}

TEST(ParseServerError, ExceptionTagFraming) {
  // 25.11+: \r\n__exception__\r\n<TAG>\r\n<message>\n<len> <TAG>\r\n__exception__\r\n
  auto e = parse_server_error(
      "\r\n__exception__\r\nAbCdEfGh12345678\r\nCode: 395. DB::Exception: Value passed to "
      "'throwIf' function is non-zero. "
      "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.11.1.1)\n120 "
      "AbCdEfGh12345678\r\n__exception__\r\n");
  EXPECT_EQ(e.code, 395);
  EXPECT_EQ(
      e.message,
      "Value passed to 'throwIf' function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)");
}

TEST(ParseServerError, TextWithoutCode) {
  auto e = parse_server_error("Bad Gateway\nmore");
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(e.message, "Bad Gateway");
}

TEST(Classification, TransientAndPermanentCodes) {
  for (int code : {159, 202, 241, 209, 210, 236, 394}) {
    EXPECT_EQ(classify_server_code(code), ErrorKind::transient) << code;
  }
  // Deterministic: throwIf, result limits (rows, rows to read, bytes), parse and type errors,
  // division by zero; the same query fails the same way again.
  for (int code :
       {47, 60, 62, 81, 115, 164, 192, 193, 395, 396, 158, 307, 6, 27, 53, 70, 41, 153}) {
    EXPECT_EQ(classify_server_code(code), ErrorKind::permanent) << code;
  }
  EXPECT_TRUE(is_auth_code(193));
  EXPECT_TRUE(is_auth_code(516));
  EXPECT_FALSE(is_auth_code(60));
}

Error response_error(const HttpResponse& r) {
  try {
    check_response(r, "http://127.0.0.1:1", "test");
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorKind::permanent, ErrorCategory::usage, "no error thrown");
}

TEST(CheckResponse, SuccessThrowsNothing) {
  HttpResponse ok;
  ok.status = 200;
  EXPECT_NO_THROW(check_response(ok, "u", "test"));
}

TEST(CheckResponse, AuthenticationFailure) {
  HttpResponse r;
  r.status = 401;
  r.error_body =
      "Code: 193, e.displayText() = DB::Exception: Wrong password for user exporter, e.what() = "
      "DB::Exception\n";
  Error e = response_error(r);
  EXPECT_EQ(e.category(), ErrorCategory::auth);
  EXPECT_EQ(e.kind(), ErrorKind::permanent);
  EXPECT_EQ(std::string(e.what()),
            "test: ClickHouse error 193 (HTTP 401): Wrong password for user exporter");
}

TEST(CheckResponse, ModernExceptionHeaderOn200) {
  HttpResponse r;
  r.status = 200;
  r.exception_code = "241";
  r.error_body =
      "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)\n";
  Error e = response_error(r);
  EXPECT_EQ(e.category(), ErrorCategory::export_failed);
  EXPECT_EQ(e.kind(), ErrorKind::transient);
  EXPECT_NE(std::string(e.what()).find("ClickHouse error 241"), std::string::npos);
}

TEST(CheckResponse, ModernTimeoutStatusIsTransient) {
  HttpResponse r;
  r.status = 408;
  r.exception_code = "159";
  Error e = response_error(r);
  EXPECT_EQ(e.kind(), ErrorKind::transient);
  EXPECT_NE(std::string(e.what()).find("ClickHouse error 159 (HTTP 408)"), std::string::npos);
}

TEST(CheckResponse, ServiceUnavailableIsTransient) {
  HttpResponse r;
  r.status = 503;
  r.error_body = "Service Unavailable";
  EXPECT_EQ(response_error(r).kind(), ErrorKind::transient);
}

TEST(CheckResponse, ConnectionRefused) {
  HttpResponse r;
  r.curl_code = CURLE_COULDNT_CONNECT;
  r.curl_error = "Failed to connect";
  Error e = response_error(r);
  EXPECT_EQ(e.category(), ErrorCategory::connection);
  EXPECT_EQ(e.kind(), ErrorKind::transient);
  EXPECT_EQ(std::string(e.what()), "test: cannot connect to http://127.0.0.1:1: Failed to connect");
}

TEST(CheckResponse, ModernMidStreamAbortIsATruncatedStream) {
  HttpResponse r;
  r.status = 200;
  r.connected = true;
  r.curl_code = CURLE_PARTIAL_FILE;
  r.curl_error = "transfer closed with outstanding read data remaining";
  r.body_bytes = 12345;
  Error e = response_error(r);
  EXPECT_EQ(e.category(), ErrorCategory::export_failed);
  EXPECT_EQ(e.kind(), ErrorKind::transient);
  EXPECT_NE(std::string(e.what()).find("after 12345 bytes"), std::string::npos);
}

// A compressed body that stops early or is damaged may come whole next time; one in an encoding
// chexport never asked for comes from something in between and will come again.
TEST(CheckResponse, ABodyThatDoesNotDecode) {
  HttpResponse r;
  r.status = 200;
  r.connected = true;
  r.curl_code = CURLE_WRITE_ERROR;  // the decoder stopped the transfer
  r.content_encoding = "zstd";
  r.body_bytes = 4096;
  r.decode_error = "the zstd stream ends inside a frame (truncated)";
  Error truncated = response_error(r);
  EXPECT_EQ(truncated.category(), ErrorCategory::export_failed);
  EXPECT_EQ(truncated.kind(), ErrorKind::transient);
  EXPECT_EQ(std::string(truncated.what()),
            "test: the response cannot be decoded (Content-Encoding: zstd, 4096 bytes received): "
            "the zstd stream ends inside a frame (truncated)");
  r.content_encoding = "br";
  r.decode_error = "an encoding chexport did not ask for: br";
  Error foreign = response_error(r);
  EXPECT_EQ(foreign.kind(), ErrorKind::permanent);
  EXPECT_NE(std::string(foreign.what()).find("try --wire-compression none"), std::string::npos);
}

TEST(CheckResponse, StalledQueryIsNotAConnectionFailure) {
  HttpResponse r;
  r.connected = true;  // no header yet: 18.16 sends them with the first flush
  r.curl_code = CURLE_OPERATION_TIMEDOUT;
  r.curl_error = "Operation too slow";
  Error e = response_error(r);
  EXPECT_EQ(e.category(), ErrorCategory::export_failed);
  EXPECT_EQ(e.kind(), ErrorKind::transient);
}

TEST(CheckResponse, Cancelled) {
  HttpResponse r;
  r.cancelled = true;
  r.curl_code = CURLE_WRITE_ERROR;
  EXPECT_EQ(response_error(r).kind(), ErrorKind::cancelled);
}

TEST(ResponseInfo, KeepsWhatTheServerSaid) {
  HttpResponse r;
  r.query_id = "chexport-0123456789abcdef";
  r.timezone = "Europe/Berlin";
  r.display_name = "ch-1";
  r.exception_tag = "rzbnodbdjrmudcfe";
  r.summary =
      R"({"read_rows":"261636","read_bytes":"2093088","written_rows":"0","written_bytes":"0",)"
      R"("total_rows_to_read":"1000000","result_rows":"0","elapsed_ns":"4403601"})";
  ResponseInfo info = response_info(r);
  EXPECT_EQ(info.query_id, r.query_id);
  EXPECT_EQ(info.timezone, "Europe/Berlin");
  EXPECT_EQ(info.display_name, "ch-1");
  EXPECT_EQ(info.exception_tag, r.exception_tag);
  EXPECT_EQ(info.read_rows, 261636u);
  EXPECT_EQ(info.read_bytes, 2093088u);
  EXPECT_EQ(info.total_rows_to_read, 1000000u);
}

TEST(ResponseInfo, NothingSaidIsNothingInvented) {
  HttpResponse r;  // 18.16: no summary, no query id
  ResponseInfo info = response_info(r);
  EXPECT_FALSE(info.read_rows || info.read_bytes || info.total_rows_to_read);
  r.summary = R"({"read_rows":"12x","read_bytes":7})";  // not digits in a string: ignored
  info = response_info(r);
  EXPECT_FALSE(info.read_rows || info.read_bytes);
  r.summary = "not json";
  EXPECT_FALSE(response_info(r).read_rows);
}

TEST(ServerVersion, Parses) {
  auto v = parse_server_version("18.16.1\n");
  EXPECT_EQ(v.major, 18);
  EXPECT_EQ(v.minor, 16);
  EXPECT_EQ(v.patch, 1);
  EXPECT_EQ(v.text, "18.16.1");
  EXPECT_FALSE(v.at_least(21, 4));
  EXPECT_TRUE(parse_server_version("24.3.1.2672").at_least(21, 4));
}

TEST(Quoting, StringsAndIdentifiers) {
  EXPECT_EQ(quote_string("a'b\\c"), "'a\\'b\\\\c'");
  EXPECT_EQ(quote_identifier("we`ird"), "`we\\`ird`");
}

TEST(QueryId, UniqueAndPrefixed) {
  std::string a = new_query_id(), b = new_query_id();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("chexport-"));
  EXPECT_EQ(a.size(), 9u + 16u);
}

}  // namespace
}  // namespace chexport
