#include "chexport/clickhouse/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>

#include "chexport/common/version.h"
#include "chexport/pipeline/content_decoder.h"
#include "chexport/pipeline/csv_scanner.h"

#include <spdlog/spdlog.h>

namespace chexport {
namespace {

constexpr size_t max_error_body = 64 * 1024;

// Keeps the end of what it is given (a StreamTail, as the writer keeps for mid-stream errors):
// the message of a failed response is at its end (a mid-stream error after less than the
// server's buffer is a 500 whose body starts with data).
class TailSink final : public ByteSink {
 public:
  void write(std::string_view data) override { tail_.append(data); }
  void finish() override {}
  void cancel() noexcept override {}
  std::string_view text() const noexcept { return tail_.bytes(); }

 private:
  StreamTail tail_;
};

// The body of a failed response, decoded where it can be: as its Content-Encoding says, or, for
// 18.16's errors, which it compresses without saying so, as its first bytes show. A body that
// cannot be decoded is kept as sent (its first 64 KiB): 26.7 sends some messages plain under a
// "Content-Encoding: gzip" header.
class ErrorBody {
 public:
  void add(std::string_view data, const std::string& declared) {
    if (raw_.size() < max_error_body)
      raw_.append(data.substr(0, std::min(data.size(), max_error_body - raw_.size())));
    if (!started_) start(declared, data);
    if (failed_) return;
    try {
      if (decoder_ != nullptr) {
        decoder_->decode(data, decoded_);
      } else {
        decoded_.write(data);
      }
    } catch (const DecodeError&) {
      failed_ = true;
    }
  }
  std::string text() const {
    return failed_ || (decoded_.text().empty() && !raw_.empty()) ? raw_
                                                                 : std::string(decoded_.text());
  }

 private:
  void start(const std::string& declared, std::string_view head) {
    started_ = true;
    auto encoding = content_encoding_from_name(declared);
    if (!encoding) {
      failed_ = true;  // an encoding we do not decode: the raw bytes are all there is
      return;
    }
    if (*encoding == ContentEncoding::identity) encoding = sniff_content_encoding(head);
    decoder_ = make_content_decoder(*encoding);
  }
  std::string raw_;
  TailSink decoded_;
  std::unique_ptr<ContentDecoder> decoder_;
  bool started_ = false, failed_ = false;
};

struct Transfer {
  ByteSink* sink = nullptr;
  ByteSource* source = nullptr;  // the request body, when it is pulled
  HttpResponse* response = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  std::exception_ptr error;
  std::unique_ptr<ContentDecoder> decoder;  // for a successful body with a Content-Encoding
  bool body_started = false;
  ErrorBody error_body;

  bool succeeded() const { return response->status == 200 && response->exception_code.empty(); }
  // At the first byte of the body, when the headers are all in.
  void start_body() {
    body_started = true;
    if (!succeeded()) return;
    auto encoding = content_encoding_from_name(response->content_encoding);
    if (!encoding)
      throw DecodeError("an encoding chexport did not ask for: " + response->content_encoding);
    decoder = make_content_decoder(*encoding);
  }
  void body(std::string_view data) {
    if (!body_started) start_body();
    if (!succeeded()) {
      error_body.add(data, response->content_encoding);
    } else if (decoder != nullptr) {
      decoder->decode(data, *sink);
    } else {
      response->decoded_bytes += data.size();
      sink->write(data);
    }
  }
  // The transfer has ended without a transport error: a compressed body must be whole. An empty
  // one too: 18.16 answers 200 with an empty body when it cannot compress at the level asked.
  void end_body() {
    if (!succeeded()) return;
    if (!body_started) start_body();
    if (decoder == nullptr) return;
    decoder->end();
  }
};

bool header_is(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) !=
        std::tolower(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

std::string header_value(std::string_view line) {
  std::string_view v = line.substr(line.find(':') + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
    v.remove_suffix(1);
  return std::string(v);
}

// The response headers we keep, and where.
constexpr std::pair<std::string_view, std::string HttpResponse::*> kept_headers[] = {
    {"X-ClickHouse-Exception-Code", &HttpResponse::exception_code},
    {"X-ClickHouse-Exception-Tag", &HttpResponse::exception_tag},
    {"Retry-After", &HttpResponse::retry_after},
    {"X-ClickHouse-Query-Id", &HttpResponse::query_id},
    {"X-ClickHouse-Timezone", &HttpResponse::timezone},
    {"X-ClickHouse-Server-Display-Name", &HttpResponse::display_name},
    {"X-ClickHouse-Summary", &HttpResponse::summary},
    {"Location", &HttpResponse::location},
    {"Content-Encoding", &HttpResponse::content_encoding},
};

std::string* header_field(HttpResponse& r, std::string_view line) {
  for (const auto& [name, member] : kept_headers) {
    if (header_is(line, name)) return &(r.*member);
  }
  return nullptr;
}

size_t on_header(char* data, size_t size, size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  try {
    if (spdlog::should_log(spdlog::level::trace) && line.size() > 2)
      spdlog::trace("< {}", header_value(":" + std::string(line)));
    if (line.starts_with("HTTP/")) {
      // A new response (also after "100 Continue"): forget the previous one's headers.
      auto space = line.find(' ');
      t->response->status =
          space == std::string_view::npos ? 0 : std::atol(line.data() + space + 1);
      for (const auto& header : kept_headers) (t->response->*header.second).clear();
      // "HTTP/1.1 502 Bad Gateway": the reason, for errors that do not come from ClickHouse.
      auto reason = space == std::string_view::npos ? space : line.find(' ', space + 1);
      t->response->reason = reason == std::string_view::npos
                                ? std::string()
                                : header_value(":" + std::string(line.substr(reason)));
    } else if (std::string* field = header_field(*t->response, line)) {
      *field = header_value(line);
    }
  } catch (...) {
    t->error = std::current_exception();
    return 0;
  }
  return size * count;
}

int on_debug(CURL*, curl_infotype type, char* data, size_t size, void*) noexcept {
  if (type != CURLINFO_TEXT) return 0;  // headers are logged on their own; data never
  try {
    std::string_view text(data, size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    spdlog::trace("* {}", text);
  } catch (...) {
  }
  return 0;
}

size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  try {
    if (t->cancel != nullptr && t->cancel->load(std::memory_order_relaxed)) {
      t->response->cancelled = true;
      return CURL_WRITEFUNC_ERROR;
    }
    t->response->body_bytes += n;
    t->body(std::string_view(data, n));
    return n;
  } catch (const DecodeError& e) {
    t->response->decode_error = e.what();
    return CURL_WRITEFUNC_ERROR;
  } catch (...) {
    t->error = std::current_exception();
    return CURL_WRITEFUNC_ERROR;
  }
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel != nullptr && t->cancel->load(std::memory_order_relaxed)) {
    t->response->cancelled = true;
    return CURL_READFUNC_ABORT;
  }
  try {
    return t->source->read(buffer, size * count);
  } catch (...) {
    t->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel != nullptr && t->cancel->load(std::memory_order_relaxed)) {
    t->response->cancelled = true;
    return 1;
  }
  return 0;
}

}  // namespace

void http_global_init() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    throw std::runtime_error("cannot initialise libcurl");
  }
}

std::string url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string url_encode(std::string_view text, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string without_credentials(std::string_view url) {
  auto scheme = url.find("://");
  size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto at = url.find('@', start);
  auto slash = url.find('/', start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && at > slash))
    return std::string(url);
  return std::string(url.substr(0, start)) + std::string(url.substr(at + 1));
}

std::string proxy_for_messages(const ConnectionOptions& options) {
  if (!options.proxy.empty()) return without_credentials(options.proxy);
  bool https = options.url.starts_with("https://");
  // The variables libcurl reads (it ignores HTTP_PROXY in upper case: a CGI hazard).
  for (const char* name : {https ? "https_proxy" : "http_proxy", https ? "HTTPS_PROXY" : "",
                           "all_proxy", "ALL_PROXY"}) {
    if (*name == 0) continue;
    if (const char* v = std::getenv(name); v != nullptr && *v != 0) return without_credentials(v);
  }
  return "";
}

namespace {

// curl -v in one line (debug), and the TLS peer (trace). The URL holds no credentials.
void log_request(void* handle, const std::string& url, const HttpResponse& r) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  CURL* curl = static_cast<CURL*>(handle);
  double seconds = 0;
  curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &seconds);
  std::string decoded =
      r.content_encoding.empty()
          ? std::string()
          : " " + r.content_encoding + " (" + std::to_string(r.decoded_bytes) + " decoded)";
  spdlog::debug("POST {}{} -> {} {}, {} bytes{} in {:.3f} s{}", url,
                r.proxy.empty() ? std::string() : " via proxy " + r.proxy,
                r.status == 0 ? std::string("no answer") : std::to_string(r.status), r.reason,
                r.body_bytes, decoded, seconds,
                r.curl_code == 0 ? std::string() : ": " + r.curl_error);
  if (!spdlog::should_log(spdlog::level::trace)) return;
  curl_certinfo* certs = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &certs) == CURLE_OK && certs != nullptr &&
      certs->num_of_certs > 0) {
    for (curl_slist* field = certs->certinfo[0]; field != nullptr; field = field->next) {
      std::string_view f = field->data;
      if (f.starts_with("Subject:") || f.starts_with("Issuer:") || f.starts_with("Expire date:"))
        spdlog::trace("peer certificate {}", f);
    }
  }
}

}  // namespace

HttpClient::HttpClient(ConnectionOptions options)
    : options_(std::move(options)), curl_(curl_easy_init()) {
  if (curl_ == nullptr) throw std::runtime_error("cannot create a libcurl handle");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::post(const std::string& query_string, std::string_view body,
                              ByteSink& sink) {
  return perform(query_string, body, nullptr, "", sink);
}

HttpResponse HttpClient::post(const std::string& query_string, ByteSource& body,
                              const std::string& content_encoding, ByteSink& sink) {
  return perform(query_string, {}, &body, content_encoding, sink);
}

HttpResponse HttpClient::perform(const std::string& query_string, std::string_view body,
                                 ByteSource* source, const std::string& content_encoding,
                                 ByteSink& sink) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the connection cache

  std::string url = options_.url;
  // "http://host:port" has no path: the query string needs one.
  auto scheme = url.find("://");
  if (scheme != std::string::npos && url.find('/', scheme + 3) == std::string::npos) url += '/';
  if (!query_string.empty()) {
    url += (url.find('?') == std::string::npos) ? '?' : '&';
    url += query_string;
  }

  HttpResponse response;
  Transfer transfer;
  transfer.sink = &sink;
  transfer.source = source;
  transfer.response = &response;
  transfer.cancel = cancel_;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: text/plain; charset=UTF-8");
  headers = curl_slist_append(headers, ("Accept-Encoding: " + options_.accept_encoding).c_str());
  if (!content_encoding.empty())
    headers = curl_slist_append(headers, ("Content-Encoding: " + content_encoding).c_str());

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  if (source != nullptr) {
    // Size unknown: HTTP/1.1 chunked transfer encoding, which both servers read.
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
    // Larger writes to the socket: fewer read callbacks and syscalls per byte sent.
    curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  // Ask for exactly what we decode, and decode it ourselves (libcurl would not check that a
  // compressed body is whole): modern servers compress by default when asked.
  curl_easy_setopt(curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "chexport/" CHEXPORT_VERSION);
  if (!options_.user.empty() || !options_.password.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME,
                     options_.user.empty() ? "default" : options_.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.speed_limit);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options_.speed_time);
  // Large reads: fewer recv() calls and wake-ups per byte, larger chunks down the pipeline.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!options_.cacert.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.cacert.c_str());
  if (!options_.capath.empty()) curl_easy_setopt(curl, CURLOPT_CAPATH, options_.capath.c_str());
  if (!options_.cert.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.cert.c_str());
  if (!options_.key.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.key.c_str());
  if (!options_.key_password.empty())
    curl_easy_setopt(curl, CURLOPT_KEYPASSWD, options_.key_password.c_str());
  if (!options_.proxy.empty()) curl_easy_setopt(curl, CURLOPT_PROXY, options_.proxy.c_str());
  if (!options_.noproxy.empty()) curl_easy_setopt(curl, CURLOPT_NOPROXY, options_.noproxy.c_str());
  if (!options_.proxy_user.empty())
    curl_easy_setopt(curl, CURLOPT_PROXYUSERPWD, options_.proxy_user.c_str());
  if (spdlog::should_log(spdlog::level::trace)) {
    // libcurl's own account (connects, proxy tunnels, the TLS version and cipher), never data.
    curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, on_debug);
  }
  if (options_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);

  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  // Do not leave pointers to this frame's buffers in the handle.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
  curl_easy_setopt(curl, CURLOPT_KEYPASSWD, "");
  curl_easy_setopt(curl, CURLOPT_PROXYUSERPWD, "");
  response.proxy = proxy_for_messages(options_);

  if (transfer.error) std::rethrow_exception(transfer.error);
  if (code == CURLE_OK && response.decode_error.empty()) {
    try {
      transfer.end_body();
    } catch (const DecodeError& e) {
      response.decode_error = e.what();
    }
  }
  if (transfer.decoder != nullptr) response.decoded_bytes = transfer.decoder->decoded_bytes();
  if (!transfer.succeeded()) response.error_body = transfer.error_body.text();
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) response.status = status;
  curl_off_t connect_time = 0;
  curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_time);
  response.connected = connect_time > 0 || response.status != 0;
  response.curl_code = static_cast<int>(code);
  if (code != CURLE_OK) {
    response.curl_error = error_buffer[0] != 0 ? error_buffer : curl_easy_strerror(code);
  }
  log_request(curl, url, response);
  return response;
}

}  // namespace chexport
