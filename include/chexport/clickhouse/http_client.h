// One reusable libcurl easy handle that POSTs a query and pushes the response body into a sink.
//
// Owns its CURL handle (connection reuse across requests; create one per worker). The body of a
// 200 response without an X-ClickHouse-Exception-Code header goes to the sink as it arrives,
// decoded from its Content-Encoding (pipeline/content_decoder.h) in the receiving thread; any
// other body is decoded where it can be and kept (its last 20 KiB) in HttpResponse::error_body.
// No exception crosses libcurl: the write callback catches what the sink throws, aborts the
// transfer, and post() rethrows it. post() itself throws only what the sink threw; transport
// failures and undecodable bodies are reported in the response for the caller to classify.
// Not thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chexport/common/byte_sink.h"

namespace chexport {

struct ConnectionOptions {
  std::string url = "http://127.0.0.1:8123";                  // never contains credentials
  std::string user;                                           // empty: the server's default user
  std::string password;                                       // secret: never logged
  std::vector<std::pair<std::string, std::string>> settings;  // sent as URL parameters
  long connect_timeout_ms = 10'000;
  long speed_limit = 1;      // bytes per second ...
  long speed_time = 600;     // ... sustained for this many seconds, else the transfer fails
  std::string cacert;        // CA bundle for https
  std::string capath;        // directory of CA certificates (c_rehash layout)
  bool insecure = false;     // skip TLS verification
  std::string cert;          // client certificate (PEM)
  std::string key;           // its private key (PEM); empty: in `cert`
  std::string key_password;  // secret: never logged
  std::string proxy;         // http://[user:password@]host:port; secret: never logged whole
  std::string noproxy;       // hosts reached directly, as curl's --noproxy
  std::string proxy_user;    // "user:password" for the proxy; secret: never logged
  // The Accept-Encoding header: what the server may compress the body with. Every encoding in it
  // must be one chexport decodes (zstd, lz4, gzip, deflate); modern servers compress by default
  // when asked, so the default asks for none.
  std::string accept_encoding = "identity";
};

// The proxy a request to `url` goes through: `options.proxy`, or the environment as libcurl reads
// it (https_proxy/HTTPS_PROXY, http_proxy, all_proxy/ALL_PROXY; no_proxy is not looked at), with
// any credentials removed, for messages. Empty: none.
std::string proxy_for_messages(const ConnectionOptions& options);
// `url` without "user:password@".
std::string without_credentials(std::string_view url);

struct HttpResponse {
  long status = 0;
  int curl_code = 0;  // CURLcode
  std::string curl_error;
  std::string exception_code;  // X-ClickHouse-Exception-Code, if any
  std::string exception_tag;   // X-ClickHouse-Exception-Tag (25.11+), if any
  std::string retry_after;     // Retry-After, if any
  // What the server says about the query in headers (each empty when not sent; 18.16 sends only
  // the display name): X-ClickHouse-Query-Id, -Timezone, -Server-Display-Name, -Summary (JSON).
  std::string query_id;
  std::string timezone;
  std::string display_name;
  std::string summary;
  std::string reason;            // the status line's reason phrase ("Bad Gateway")
  std::string location;          // Location, of a redirect
  std::string proxy;             // the proxy the request went through (no credentials), if any
  std::string content_encoding;  // Content-Encoding, if any
  std::string error_body;        // body of a failed response, decoded where it can be (last 20 KiB)
  std::string decode_error;      // why a successful response's body could not be decoded, if so
  uint64_t body_bytes = 0;       // bytes received in the body, as sent (compressed)
  uint64_t decoded_bytes = 0;    // bytes of the body after decoding, that went to the sink
  bool connected = false;        // a connection to the server was established
  bool cancelled = false;        // aborted because the cancel flag was set
};

class HttpClient {
 public:
  explicit HttpClient(ConnectionOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to the base URL with `query_string` ("k=v&k=v", already encoded) appended.
  HttpResponse post(const std::string& query_string, std::string_view body, ByteSink& sink);
  // The same with a body pulled from `body` as it is sent (chunked transfer encoding), declared
  // as `content_encoding` (empty: none). What `body` throws is rethrown here.
  HttpResponse post(const std::string& query_string, ByteSource& body,
                    const std::string& content_encoding, ByteSink& sink);

  // When set and true, the transfer in progress stops at the next callback.
  void set_cancel_flag(const std::atomic<bool>* flag) noexcept { cancel_ = flag; }

  const ConnectionOptions& options() const noexcept { return options_; }

 private:
  HttpResponse perform(const std::string& query_string, std::string_view text, ByteSource* source,
                       const std::string& content_encoding, ByteSink& sink);
  ConnectionOptions options_;
  void* curl_;  // CURL*
  const std::atomic<bool>* cancel_ = nullptr;
};

// Decodes %XX escapes and '+' (as a space), as in a URL's query string.
std::string url_decode(std::string_view text);

// Percent-encodes everything but A-Z a-z 0-9 - . _ ~ (and '/' when `keep_slash`).
std::string url_encode(std::string_view text, bool keep_slash = false);

// Process-wide libcurl initialisation; call once from main before any thread starts.
void http_global_init();

}  // namespace chexport
