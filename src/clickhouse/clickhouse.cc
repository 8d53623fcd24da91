#include "chexport/clickhouse/clickhouse.h"

#include <curl/curl.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "chexport/common/utf8.h"
#include "chexport/pipeline/content_decoder.h"

namespace chexport {
namespace {

std::string first_line(std::string_view text) {
  auto end = text.find('\n');
  std::string_view line = text.substr(0, end);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.size() > 1000) line = line.substr(0, 1000);
  return std::string(line);
}

// What a page that did not come from ClickHouse says: its <title>, or its first line of text
// with the markup taken out (a proxy's "<html>..." or "<?xml ...>" first line says nothing).
std::string page_text(std::string_view body) {
  std::string folded = ascii_lower(body);
  if (auto t = folded.find("<title>"); t != std::string::npos) {
    auto end = folded.find("</title>", t);
    if (end != std::string::npos) return first_line(body.substr(t + 7, end - t - 7));
  }
  std::string text;
  bool in_tag = false;
  for (char c : body) {
    if (c == '<') in_tag = true;
    if (!in_tag) text.push_back(c);
    if (c == '>') in_tag = false;
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    std::string line = first_line(rest);
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      return line.substr(line.find_first_not_of(" \t"));
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return "";
}

bool tls_failure(int code) {
  return code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION ||
         code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CIPHER ||
         code == CURLE_SSL_CACERT_BADFILE || code == CURLE_USE_SSL_FAILED;
}

}  // namespace

ServerVersion parse_server_version(std::string_view text) {
  ServerVersion v;
  v.text = first_line(text);
  int* parts[] = {&v.major, &v.minor, &v.patch};
  const char* p = v.text.data();
  const char* end = p + v.text.size();
  for (int* part : parts) {
    auto [next, ec] = std::from_chars(p, end, *part);
    if (ec != std::errc()) break;
    p = next;
    if (p == end || *p != '.') break;
    ++p;
  }
  return v;
}

ServerError parse_server_error(std::string_view body) {
  ServerError e;
  auto at = body.find("Code: ");
  if (at == std::string_view::npos) {
    e.message = first_line(body);
    return e;
  }
  std::string_view rest = body.substr(at + 6);
  auto [next, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.code);
  if (ec != std::errc()) e.code = 0;
  rest = rest.substr(static_cast<size_t>(next - rest.data()));
  std::string line = first_line(rest);
  std::string_view m = line;
  // 18.16: ", e.displayText() = DB::Exception: text, e.what() = DB::Exception"
  // modern: ". DB::Exception: text (NAME) (version x.y)"
  for (std::string_view lead : {", e.displayText() = ", ". ", ", "}) {
    if (m.starts_with(lead)) {
      m.remove_prefix(lead.size());
      break;
    }
  }
  if (m.starts_with("DB::Exception: ")) m.remove_prefix(15);
  if (auto w = m.rfind(", e.what() = "); w != std::string_view::npos) m = m.substr(0, w);
  if (auto v = m.rfind(" (version "); v != std::string_view::npos) m = m.substr(0, v);
  e.message = std::string(m);
  return e;
}

ErrorKind classify_server_code(int code) noexcept {
  switch (code) {
    case 3:     // UNEXPECTED_END_OF_FILE
    case 32:    // ATTEMPT_TO_READ_AFTER_EOF
    case 33:    // CANNOT_READ_ALL_DATA
    case 86:    // RECEIVED_ERROR_FROM_REMOTE_IO_SERVER
    case 159:   // TIMEOUT_EXCEEDED
    case 160:   // TOO_SLOW
    case 173:   // CANNOT_ALLOCATE_MEMORY
    case 202:   // TOO_MANY_SIMULTANEOUS_QUERIES
    case 203:   // NO_FREE_CONNECTION
    case 209:   // SOCKET_TIMEOUT
    case 210:   // NETWORK_ERROR
    case 236:   // ABORTED (server shutting down)
    case 241:   // MEMORY_LIMIT_EXCEEDED
    case 242:   // TABLE_IS_READ_ONLY
    case 279:   // ALL_CONNECTION_TRIES_FAILED
    case 285:   // TOO_FEW_LIVE_REPLICAS
    case 394:   // QUERY_WAS_CANCELLED
    case 425:   // SYSTEM_ERROR
    case 439:   // CANNOT_SCHEDULE_TASK
    case 499:   // S3_ERROR (a table on an S3 disk)
    case 999:   // KEEPER_EXCEPTION
    case 1000:  // POCO_EXCEPTION (a connection to another server)
    case 1001:  // STD_EXCEPTION
      return ErrorKind::transient;
    default:
      return ErrorKind::permanent;
  }
}

bool is_auth_code(int code) noexcept {
  switch (code) {
    case 192:  // UNKNOWN_USER
    case 193:  // WRONG_PASSWORD
    case 194:  // REQUIRED_PASSWORD
    case 195:  // IP_ADDRESS_NOT_ALLOWED
    case 291:  // DATABASE_ACCESS_DENIED
    case 497:  // ACCESS_DENIED
    case 516:  // AUTHENTICATION_FAILED
      return true;
    default:
      return false;
  }
}

void check_response(const HttpResponse& r, const std::string& url, std::string_view what) {
  std::string context(what);
  if (r.cancelled)
    throw Error(ErrorKind::cancelled, ErrorCategory::cancelled, context + ": cancelled");

  bool server_error = (r.status != 0 && r.status != 200) || !r.exception_code.empty();
  if (server_error) {
    ServerError e = parse_server_error(r.error_body);
    if (e.code == 0 && !r.exception_code.empty()) e.code = std::atoi(r.exception_code.c_str());
    ErrorKind kind = classify_server_code(e.code);
    if (r.status == 408 || r.status == 429 || r.status == 502 || r.status == 503 ||
        r.status == 504 || (r.status == 500 && e.code == 0)) {
      kind = ErrorKind::transient;
    }
    ErrorCategory category = ErrorCategory::export_failed;
    if (r.status == 401 || r.status == 403 || is_auth_code(e.code)) {
      category = ErrorCategory::auth;
      kind = ErrorKind::permanent;
    }
    if (r.status == 407) category = ErrorCategory::auth;  // the proxy wants credentials
    std::string message = context + ": ";
    if (e.code != 0) message += "ClickHouse error " + std::to_string(e.code) + " ";
    message += "(HTTP " + std::to_string(r.status) +
               (e.code == 0 && !r.reason.empty() ? " " + r.reason : "") + ")";
    if (e.code == 0 && r.status >= 300 && r.status < 400 && !r.location.empty()) {
      std::string target = r.location.substr(0, r.location.find('?'));
      message += ": the server redirects to " + target + "; use --url " + target;
      kind = ErrorKind::permanent;
    } else if (e.code == 0 && r.status == 407) {
      message += ": the proxy " + r.proxy + " wants credentials: give them in --proxy " +
                 "http://user:password@host:port";
    } else if (e.code == 0) {
      // Not ClickHouse's answer: a proxy's, a load balancer's or a TLS terminator's page.
      std::string text = page_text(r.error_body);
      if (!text.empty()) message += ": " + text;
      if (!r.proxy.empty()) message += " (through the proxy " + r.proxy + ")";
    } else if (!e.message.empty()) {
      message += ": " + e.message;
    }
    Error error(kind, category, message);
    error.with_server_code(e.code);
    // Retry-After: delay-seconds (the HTTP-date form is not worth a date parser here).
    if (!r.retry_after.empty() && std::isdigit(static_cast<unsigned char>(r.retry_after[0]))) {
      error.with_retry_after(std::atof(r.retry_after.c_str()));
    }
    throw error;
  }
  if (!r.decode_error.empty()) {
    // An encoding chexport did not ask for comes from something in between (a proxy that
    // recompresses) and will come again; a stream cut short or damaged may not.
    bool asked = content_encoding_from_name(r.content_encoding).has_value();
    throw Error(
        asked ? ErrorKind::transient : ErrorKind::permanent, ErrorCategory::export_failed,
        context + ": the response cannot be decoded (Content-Encoding: " + r.content_encoding +
            ", " + std::to_string(r.body_bytes) + " bytes received): " + r.decode_error +
            (asked ? "" : "; a proxy in between recompresses? try --wire-compression none"));
  }
  if (r.curl_code == CURLE_OK) return;

  if (r.curl_code == CURLE_COULDNT_RESOLVE_PROXY) {
    throw Error(ErrorKind::transient, ErrorCategory::connection,
                context + ": cannot resolve the proxy " + r.proxy + ": " + r.curl_error);
  }
  if (!r.connected) {
    std::string what_failed =
        r.curl_code == CURLE_OPERATION_TIMEDOUT ? "timed out connecting to " : "cannot connect to ";
    std::string via = r.proxy.empty() ? "" : " through the proxy " + r.proxy;
    throw Error(ErrorKind::transient, ErrorCategory::connection,
                context + ": " + what_failed + url + via + ": " + r.curl_error);
  }
  if (tls_failure(r.curl_code)) {
    throw Error(ErrorKind::permanent, ErrorCategory::connection,
                context + ": TLS failure with " + url + ": " + r.curl_error);
  }
  // Connected: whatever broke concerns this query, not the server's reachability.
  if (r.curl_code == CURLE_OPERATION_TIMEDOUT) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                context + ": timed out (" + r.curl_error + ")");
  }
  throw Error(ErrorKind::transient, ErrorCategory::export_failed,
              context + ": connection broken after " + std::to_string(r.body_bytes) +
                  " bytes of response (curl error " + std::to_string(r.curl_code) + ": " +
                  r.curl_error + ")");
}

ResponseInfo response_info(const HttpResponse& r) {
  ResponseInfo info;
  info.query_id = r.query_id;
  info.timezone = r.timezone;
  info.display_name = r.display_name;
  info.exception_tag = r.exception_tag;
  info.content_encoding = r.content_encoding;
  info.wire_bytes = r.body_bytes;
  info.decode_error = r.decode_error;
  if (r.summary.empty()) return info;
  // {"read_rows":"1","read_bytes":"8",...}: every value is a string of digits.
  simdjson::dom::parser parser;
  simdjson::padded_string json(r.summary);
  simdjson::dom::object summary;
  if (parser.parse(json).get_object().get(summary) != simdjson::SUCCESS) return info;
  auto number = [&](const char* key) -> std::optional<uint64_t> {
    std::string_view text;
    uint64_t value = 0;
    if (summary[key].get_string().get(text) != simdjson::SUCCESS) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
  };
  info.read_rows = number("read_rows");
  info.read_bytes = number("read_bytes");
  info.total_rows_to_read = number("total_rows_to_read");
  return info;
}

std::string new_query_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string("chexport-") + buf;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

std::string quote_string(std::string_view text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t n = utf8_sequence_length(text, i);
      if (n == 0) {
        // The same byte, written so that the query text (and the manifest) stays valid UTF-8.
        static const char* hex = "0123456789ABCDEF";
        unsigned char b = static_cast<unsigned char>(c);
        out += {'\\', 'x', hex[b >> 4], hex[b & 15]};
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

ClickHouseClient::ClickHouseClient(ConnectionOptions options) : http_(std::move(options)) {}

std::string ClickHouseClient::query_string(const std::string& query_id) const {
  std::string qs = "query_id=" + url_encode(query_id);
  for (const auto& [key, value] : http_.options().settings) {
    qs += "&" + url_encode(key) + "=" + url_encode(value);
  }
  return qs;
}

void ClickHouseClient::stream(std::string_view sql, const std::string& query_id, ByteSink& sink,
                              std::string_view what, ResponseInfo* info) {
  {
    std::lock_guard lock(current_mutex_);
    current_query_id_ = query_id;
  }
  HttpResponse r = http_.post(query_string(query_id), sql, sink);
  ResponseInfo said = response_info(r);
  notice_server(said);
  if (info != nullptr) *info = said;
  check_response(r, http_.options().url, what);
}

void ClickHouseClient::insert(std::string_view sql, ByteSource& data,
                              const std::string& content_encoding, std::string_view what) {
  std::string query_id = new_query_id();
  {
    std::lock_guard lock(current_mutex_);
    current_query_id_ = query_id;
  }
  StringSink answer;
  HttpResponse r = http_.post(query_string(query_id) + "&query=" + url_encode(sql), data,
                              content_encoding, answer);
  notice_server(response_info(r));
  check_response(r, http_.options().url, what);
}

std::string ClickHouseClient::query(std::string_view sql, std::string_view what,
                                    ResponseInfo* info) {
  ResponseInfo said;
  for (int attempt = 1;; ++attempt) {
    try {
      StringSink sink;
      stream(sql, new_query_id(), sink, what, &said);
      if (info != nullptr) *info = said;
      return std::move(sink.text);
    } catch (const Error& e) {
      if (info != nullptr) *info = said;
      // A server that cannot be reached at all (a wrong --url) fails at once, as before; a 502
      // from a load balancer or a connection reset is retried. A whole answer that does not
      // decode would decode no better the next time.
      if (!e.transient() || e.category() == ErrorCategory::connection ||
          !said.decode_error.empty() || attempt > retry_.retries)
        throw;
      double delay =
          std::min(retry_.max_delay,
                   retry_.first_delay * static_cast<double>(1u << std::min(attempt - 1, 20)));
      if (e.retry_after() >= 0)
        delay = std::max(delay, std::min(e.retry_after(), retry_.max_delay));
      spdlog::warn("{} (attempt {} of {}; retrying in {:.1f} s)", e.what(), attempt,
                   retry_.retries + 1, delay);
      auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(delay);
      while (std::chrono::steady_clock::now() < until) {
        if (cancel_ != nullptr && cancel_->load()) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

std::vector<std::vector<std::string>> ClickHouseClient::query_rows(std::string_view sql,
                                                                   std::string_view what) {
  std::string body = query(std::string(sql) + " FORMAT JSONCompact", what);
  simdjson::dom::parser parser;
  simdjson::padded_string json(body);
  simdjson::dom::element doc;
  simdjson::dom::array data;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS ||
      doc["data"].get_array().get(data) != simdjson::SUCCESS) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                std::string(what) + ": the server's JSON answer cannot be parsed");
  }
  std::vector<std::vector<std::string>> rows;
  for (simdjson::dom::element row : data) {
    std::vector<std::string> values;
    simdjson::dom::array cells;
    if (row.get_array().get(cells) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element v : cells) {
      switch (v.type()) {
        case simdjson::dom::element_type::STRING:
          values.emplace_back(std::string_view(v.get_string().value_unsafe()));
          break;
        case simdjson::dom::element_type::INT64:
          values.push_back(std::to_string(v.get_int64().value_unsafe()));
          break;
        case simdjson::dom::element_type::UINT64:
          values.push_back(std::to_string(v.get_uint64().value_unsafe()));
          break;
        case simdjson::dom::element_type::DOUBLE:
          values.push_back(std::to_string(v.get_double().value_unsafe()));
          break;
        case simdjson::dom::element_type::BOOL:
          values.emplace_back(v.get_bool().value_unsafe() ? "1" : "0");
          break;
        case simdjson::dom::element_type::NULL_VALUE:
          values.emplace_back("\\N");
          break;
        default:
          values.push_back(simdjson::minify(v));
          break;
      }
    }
    rows.push_back(std::move(values));
  }
  return rows;
}

size_t ClickHouseClient::kill_queries(const std::vector<std::string>& query_ids) noexcept {
  if (query_ids.empty()) return 0;
  std::string list;
  for (const auto& id : query_ids) list += (list.empty() ? "" : ", ") + quote_string(id);
  try {
    // One line per query it found (and killed).
    std::string found =
        query("KILL QUERY WHERE query_id IN (" + list + ") ASYNC FORMAT TSV", "killing queries");
    return static_cast<size_t>(std::count(found.begin(), found.end(), '\n'));
  } catch (const std::exception& e) {
    spdlog::warn("could not kill queries {} on the server: {}", list, e.what());
    return 0;
  }
}

void ClickHouseClient::notice_server(const ResponseInfo& info) {
  // Process-wide: every worker's connection goes to the same --url.
  static std::mutex mutex;
  static std::string first;
  static bool said = false;
  const std::string& who = info.display_name;
  if (who.empty()) return;
  std::lock_guard lock(mutex);
  if (first.empty()) {
    first = who;
  } else if (who != first && !said) {
    said = true;
    spdlog::warn(
        "the server that answers changed from {} to {}: {} is a load balancer over several "
        "servers; each task still reads one server, and a resume keeps tasks only from the same "
        "table (docs/networks.md)",
        first, who, http_.options().url);
  }
}

UserSettings read_user_settings(ClickHouseClient& client) {
  UserSettings user;
  try {
    for (const auto& row : client.query_rows(
             "SELECT name, value FROM system.settings WHERE name IN ('readonly', "
             "'cancel_http_readonly_queries_on_client_close', 'enable_http_compression', "
             "'http_zlib_compression_level')",
             "reading the user's settings")) {
      user.values[row.at(0)] = row.at(1);
    }
  } catch (const Error& e) {
    if (e.category() == ErrorCategory::connection || e.category() == ErrorCategory::auth) throw;
    spdlog::debug("cannot read the user's settings: {}", e.what());
  }
  return user;
}

std::string ClickHouseClient::server_timezone() {
  auto rows = query_rows("SELECT timezone()", "asking the server's time zone");
  return rows.at(0).at(0);
}

std::string ClickHouseClient::server_hostname() {
  return query_rows("SELECT hostName()", "asking the server's host name").at(0).at(0);
}

ServerVersion ClickHouseClient::server_version() {
  return parse_server_version(query("SELECT version()", "asking the server's version"));
}

}  // namespace chexport
