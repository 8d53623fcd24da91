// The ClickHouse HTTP protocol on top of HttpClient: query ids, settings, and turning every kind
// of failure into a typed chexport::Error (reference/clickhouse-http.md §1).
//
// Owns one HttpClient (one connection); not thread-safe: one client per worker. Every method that
// talks to the server throws chexport::Error: category auth / connection / export_failed,
// kind transient or permanent by classify_server_code() and the HTTP status, like curl's
// retrycheck(). stream() checks status, exception header and transport; the caller checks the
// CSV tail and the row count, which need the stream's content.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chexport/clickhouse/http_client.h"
#include "chexport/common/byte_sink.h"
#include "chexport/common/error.h"

namespace chexport {

struct ServerVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string text;
  bool at_least(int maj, int min) const noexcept {
    return major > maj || (major == maj && minor >= min);
  }
};
ServerVersion parse_server_version(std::string_view text);

// A ClickHouse error message ("Code: 60, e.displayText() = DB::Exception: ..." on 18.16,
// "Code: 60. DB::Exception: ... (UNKNOWN_TABLE) (version ...)" on modern servers, possibly inside
// the 25.11+ "__exception__" framing), reduced to its code and its human text.
struct ServerError {
  int code = 0;  // 0 when the text has no code
  std::string message;
};
ServerError parse_server_error(std::string_view body);

// Whether a ClickHouse error code is worth retrying, or an authentication failure.
ErrorKind classify_server_code(int code) noexcept;
bool is_auth_code(int code) noexcept;

// The Error for a failed response, or none (returns normally) when the response succeeded.
// `what` says what was being done, e.g. "export of default.trips partition 201501".
void check_response(const HttpResponse& response, const std::string& url, std::string_view what);

// What the server said about one query in its response headers, and how many bytes its body took
// on the wire. Modern servers send all of it; 18.16 only the display name (and Content-Encoding). A
// streamed result's summary is written with the headers, at the first flush, so for an export it
// says how far the server had read by then (a lower bound); total_rows_to_read is the server's
// estimate for the whole query.
struct ResponseInfo {
  std::string query_id;          // X-ClickHouse-Query-Id: the id the server ran the query under
  std::string timezone;          // X-ClickHouse-Timezone: the server's time zone
  std::string display_name;      // X-ClickHouse-Server-Display-Name: which server answered
  std::string exception_tag;     // X-ClickHouse-Exception-Tag: frames a mid-stream error (25.11+)
  std::string content_encoding;  // Content-Encoding: how the body came compressed
  std::optional<uint64_t> wire_bytes;  // bytes of the body as received (compressed)
  std::string decode_error;            // why the body did not decode, if it did not
  std::optional<uint64_t> read_rows, read_bytes, total_rows_to_read;  // X-ClickHouse-Summary
};
ResponseInfo response_info(const HttpResponse& response);

// The fields of ResponseInfo kept in a manifest, by name: one list for the writer and the reader.
inline constexpr std::pair<const char*, std::string ResponseInfo::*> response_text_fields[] = {
    {"query_id", &ResponseInfo::query_id},
    {"timezone", &ResponseInfo::timezone},
    {"display_name", &ResponseInfo::display_name},
    {"content_encoding", &ResponseInfo::content_encoding}};
inline constexpr std::pair<const char*, std::optional<uint64_t> ResponseInfo::*>
    response_number_fields[] = {{"wire_bytes", &ResponseInfo::wire_bytes},
                                {"read_rows", &ResponseInfo::read_rows},
                                {"read_bytes", &ResponseInfo::read_bytes},
                                {"total_rows_to_read", &ResponseInfo::total_rows_to_read}};

// A fresh unique query id: "chexport-<16 hex>".
std::string new_query_id();

// Quotes an identifier with backticks (db and table names) and a string literal with '.
std::string quote_identifier(std::string_view name);
std::string quote_string(std::string_view text);

// How the small queries of planning, verify and the like are retried on a transient failure
// (a 502 from a load balancer, a connection reset). Tasks have their own retry loop instead.
struct QueryRetry {
  int retries = 0;
  double first_delay = 1.0;  // seconds, doubled each time
  double max_delay = 30.0;
};

class ClickHouseClient;

// The user's settings that decide what chexport may ask for on its own (compression on the wire,
// cancel on close), read once per run from system.settings.
struct UserSettings {
  std::map<std::string, std::string> values;  // by name; a setting the server lacks is absent
  // readonly=0, or 2 (which allows settings but not readonly itself); true when unknown
  bool may_change() const { return value("readonly") != "1"; }
  std::string value(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};
// Throws what an unreachable server or refused credentials throw; any other failure (the table
// cannot be read) gives no values, and what depends on them is decided without.
UserSettings read_user_settings(ClickHouseClient& client);

class ClickHouseClient {
 public:
  explicit ClickHouseClient(ConnectionOptions options);

  // Runs `sql` (which names its FORMAT) and pushes the body into `sink`. Fills `info`, when
  // given, before it checks the response: it is there also when stream() throws.
  void stream(std::string_view sql, const std::string& query_id, ByteSink& sink,
              std::string_view what, ResponseInfo* info = nullptr);
  // Runs `sql`, an INSERT ... FORMAT (sent in the URL), with its data pulled from `data` as it is
  // sent, declared as `content_encoding` (empty: plain). Never retried: a failed INSERT may have
  // stored some of its blocks. What `data` throws is rethrown.
  void insert(std::string_view sql, ByteSource& data, const std::string& content_encoding,
              std::string_view what);
  // Runs a small query and returns its whole body; fills `info` as stream() does. Retries
  // transient failures (see set_query_retry), but not a body that did not decode.
  std::string query(std::string_view sql, std::string_view what, ResponseInfo* info = nullptr);
  // Runs `sql` with FORMAT JSONCompact appended; every value as text (numbers in decimal,
  // null as "\N").
  std::vector<std::vector<std::string>> query_rows(std::string_view sql, std::string_view what);

  ServerVersion server_version();
  std::string server_timezone();  // SELECT timezone()
  std::string server_hostname();  // SELECT hostName()

  // KILL QUERY ... ASYNC for these ids; best effort (logs a warning on failure), never throws.
  // A streaming query dies when its client goes away, but one that has produced no output yet
  // (a count(), a slow filter) keeps running: abandoned queries must be killed explicitly.
  // Returns how many of them the server found: none when they had ended, or ran on another server
  // behind a load balancer.
  size_t kill_queries(const std::vector<std::string>& query_ids) noexcept;

  // The id of the query this client sent last (safe to read from another thread).
  std::string current_query_id() const {
    std::lock_guard lock(current_mutex_);
    return current_query_id_;
  }
  void set_cancel_flag(const std::atomic<bool>* flag) noexcept {
    cancel_ = flag;
    http_.set_cancel_flag(flag);
  }
  // query() and query_rows() retry transient failures so (default: not at all).
  void set_query_retry(QueryRetry retry) noexcept { retry_ = retry; }
  const ConnectionOptions& options() const noexcept { return http_.options(); }

 private:
  std::string query_string(const std::string& query_id) const;
  // Says once per process when the answering server (X-ClickHouse-Server-Display-Name) changes.
  void notice_server(const ResponseInfo& info);
  HttpClient http_;
  QueryRetry retry_;
  const std::atomic<bool>* cancel_ = nullptr;
  mutable std::mutex current_mutex_;
  std::string current_query_id_;
};

}  // namespace chexport
