#include "chexport/output/s3.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>

#include "chexport/clickhouse/http_client.h"
#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/common/version.h"

namespace chexport {
namespace {

const std::string empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Transfer {
  ByteSink* sink = nullptr;
  std::string* body = nullptr;
  std::string* etag = nullptr;
  std::string* checksum = nullptr;
  long status = 0;
  std::exception_ptr error;
};

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

size_t on_header(char* data, size_t size, size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    auto space = line.find(' ');
    t->status = space == std::string_view::npos ? 0 : std::atol(line.data() + space + 1);
    return size * count;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string_view name = line.substr(0, colon), v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
    v.remove_suffix(1);
  if (same_name(name, "etag")) {
    t->etag->assign(v);
  } else if (same_name(name, "x-amz-checksum-sha256")) {
    t->checksum->assign(v);
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  try {
    if (t->sink != nullptr && t->status == 200) {
      t->sink->write(std::string_view(data, n));
    } else if (t->body->size() < (1 << 20) * 16) {
      t->body->append(data, n);
    }
    return n;
  } catch (...) {
    t->error = std::current_exception();
    return CURL_WRITEFUNC_ERROR;
  }
}

// Decodes the XML entities S3 uses, in one left-to-right pass (so "&amp;lt;" stays "&lt;").
std::string xml_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    size_t end = text.find(';', i);
    if (end == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view entity = text.substr(i + 1, end - i - 1);
    if (entity == "amp")
      out += '&';
    else if (entity == "lt")
      out += '<';
    else if (entity == "gt")
      out += '>';
    else if (entity == "quot")
      out += '"';
    else if (entity == "apos")
      out += '\'';
    else if (entity.starts_with("#")) {
      bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
      unsigned long code =
          std::strtoul(std::string(entity.substr(hex ? 2 : 1)).c_str(), nullptr, hex ? 16 : 10);
      if (code < 0x80) {
        out += static_cast<char>(code);
      } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      }
    } else {
      out.append(text.substr(i, end - i + 1));
    }
    i = end;
  }
  return out;
}

// The text of <tag>...</tag> at or after `from`, and where it ended.
std::string xml_value(std::string_view xml, std::string_view tag, size_t* from = nullptr) {
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t start = xml.find(open, from ? *from : 0);
  if (start == std::string_view::npos) {
    if (from) *from = std::string_view::npos;
    return "";
  }
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) end = xml.size();
  if (from) *from = end + close.size();
  return xml_decode(xml.substr(start, end - start));
}

// S3 error codes worth another attempt, whatever the status says.
bool transient_s3_code(const std::string& code) {
  for (const char* c : {"XAmzContentSHA256Mismatch", "BadDigest", "RequestTimeout",
                        "IncompleteBody", "OperationAborted", "SlowDown", "InternalError",
                        "ServiceUnavailable", "RequestTimeTooSkewed"}) {
    if (code == c) return true;
  }
  return false;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string base64_of_hex(std::string_view hex) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string raw = bytes_of_hex(hex);
  std::string out;
  for (size_t i = 0; i < raw.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(raw[i])) << 16;
    if (i + 1 < raw.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(raw[i + 1])) << 8;
    if (i + 2 < raw.size()) n |= static_cast<unsigned char>(raw[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < raw.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < raw.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

std::string s3_composite_sha256(const std::vector<std::string>& part_sha256) {
  std::string raw;
  for (const std::string& hex : part_sha256) raw += bytes_of_hex(hex);
  return base64_of_hex(Sha256::of(raw)) + "-" + std::to_string(part_sha256.size());
}

std::string s3_encode_key(std::string_view key) {
  return url_encode(key, true);
}

bool is_s3_url(std::string_view text) {
  return text.starts_with("s3://");
}

S3Location parse_s3_url(std::string_view text) {
  if (!is_s3_url(text)) throw_usage("not an s3:// URL: " + std::string(text));
  std::string_view rest = text.substr(5);
  auto slash = rest.find('/');
  S3Location loc{std::string(rest.substr(0, slash)),
                 slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1))};
  while (!loc.prefix.empty() && loc.prefix.back() == '/') loc.prefix.pop_back();
  if (loc.bucket.size() < 3)
    throw_usage("s3:// URL without a valid bucket name: " + std::string(text));
  return loc;
}

std::string S3Location::key(std::string_view relative) const {
  return prefix.empty() ? std::string(relative) : prefix + "/" + std::string(relative);
}

std::string S3Location::url() const {
  return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
}

S3Credentials s3_credentials() {
  AwsCredentialChain& chain = aws_credentials();
  chain.keys();  // none: the run stops here, before anything is written
  S3Credentials c{&chain, chain.region(), chain.endpoint()};
  std::string addressing = chain.addressing();
  c.virtual_hosted = addressing == "virtual" || (addressing == "auto" && c.endpoint.empty());
  c.addressing_auto = addressing == "auto";
  c.checksums = chain.checksums();
  return c;
}

S3Client::S3Client(S3Credentials credentials, std::string bucket)
    : credentials_(std::move(credentials)), bucket_(std::move(bucket)), curl_(curl_easy_init()) {
  if (curl_ == nullptr) throw std::runtime_error("cannot create a libcurl handle");
}

S3Client::~S3Client() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string S3Client::url(const std::string& key) const {
  std::string endpoint = credentials_.endpoint.empty()
                             ? "https://s3." + credentials_.region + ".amazonaws.com"
                             : credentials_.endpoint;
  bool dotted = credentials_.addressing_auto && bucket_.find('.') != std::string::npos;
  if (!credentials_.virtual_hosted || dotted)
    return endpoint + "/" + bucket_ + "/" + s3_encode_key(key);
  size_t host = endpoint.find("://");
  host = host == std::string::npos ? 0 : host + 3;
  return endpoint.substr(0, host) + bucket_ + "." + endpoint.substr(host) + "/" +
         s3_encode_key(key);
}

S3Client::Response S3Client::request(const char* method, const std::string& key,
                                     const std::string& query, std::string_view body,
                                     ByteSink* sink, const std::string& what, const char* condition,
                                     const char* header) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  std::string url = this->url(key);
  if (!query.empty()) url += "?" + query;
  Response response;
  Transfer t{sink, &response.body, &response.etag, &response.checksum, 0, nullptr};
  const AwsKeys keys = credentials_.keys->keys();
  std::string sha = body.empty() ? empty_sha256 : Sha256::of(body);
  response.sent_sha256 = sha;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("x-amz-content-sha256: " + sha).c_str());
  if (!keys.session_token.empty())
    headers = curl_slist_append(headers, ("x-amz-security-token: " + keys.session_token).c_str());
  if (condition != nullptr) headers = curl_slist_append(headers, condition);
  if (header != nullptr) headers = curl_slist_append(headers, header);
  // Objects and parts: S3 refuses the body unless it has this SHA-256, and keeps it.
  if (credentials_.checksums && std::string_view(method) == "PUT" && !body.empty()) {
    headers = curl_slist_append(headers, ("x-amz-checksum-sha256: " + base64_of_hex(sha)).c_str());
  }
  // No "Expect:" to suppress 100-continue: libcurl would sign the empty header it never sends.
  std::string sigv4 = "aws:amz:" + credentials_.region + ":s3";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  if (std::string_view(method) == "PUT" || std::string_view(method) == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  } else if (std::string_view(method) == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, keys.access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, keys.secret_key.c_str());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "chexport/" CHEXPORT_VERSION);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
  if (t.error) std::rethrow_exception(t.error);
  std::string where = what + " s3://" + bucket_ + "/" + key;
  if (code != CURLE_OK) {
    throw Error(ErrorKind::transient, ErrorCategory::connection,
                where + ": " + (error_buffer[0] ? error_buffer : curl_easy_strerror(code)));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t length = -1;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  response.content_length = length;
  if (response.status >= 200 && response.status < 300) return response;
  if (response.status == 412 && condition != nullptr) return response;
  std::string s3_code = xml_value(response.body, "Code");
  // A missing object is an answer (resume, verify); a missing bucket is an error. A HEAD's 404
  // has no body to tell them apart: the object's absence is the likely answer.
  if (response.status == 404 && std::string_view(method) == "GET" && sink != nullptr &&
      s3_code != "NoSuchBucket") {
    return response;
  }
  if (response.status == 404 && std::string_view(method) == "HEAD") return response;
  std::string message =
      where + ": HTTP " + std::to_string(response.status) + (s3_code.empty() ? "" : " " + s3_code);
  std::string detail = xml_value(response.body, "Message");
  if (!detail.empty()) message += ": " + detail;
  bool auth = response.status == 403 || s3_code == "InvalidAccessKeyId" ||
              s3_code == "SignatureDoesNotMatch";
  bool transient = (response.status >= 500 && response.status != 501) || response.status == 408 ||
                   response.status == 429 || transient_s3_code(s3_code);
  throw Error(transient ? ErrorKind::transient : ErrorKind::permanent,
              auth ? ErrorCategory::auth : ErrorCategory::export_failed, message);
}

void S3Client::put_object(const std::string& key, std::string_view body) {
  request("PUT", key, "", body, nullptr, "PUT");
}

bool S3Client::put_object_if_absent(const std::string& key, std::string_view body) {
  return request("PUT", key, "", body, nullptr, "PUT", "If-None-Match: *").status != 412;
}

std::string S3Client::create_multipart_upload(const std::string& key) {
  Response r =
      request("POST", key, "uploads=", "", nullptr, "starting a multipart upload of", nullptr,
              credentials_.checksums ? "x-amz-checksum-algorithm: SHA256" : nullptr);
  std::string id = xml_value(r.body, "UploadId");
  if (id.empty())
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                "no UploadId for s3://" + bucket_ + "/" + key);
  return id;
}

S3Client::Part S3Client::upload_part(const std::string& key, const std::string& upload_id,
                                     int part_number, std::string_view body) {
  // Sorted parameters: the signature covers the query string exactly as written.
  Response r =
      request("PUT", key,
              "partNumber=" + std::to_string(part_number) + "&uploadId=" + url_encode(upload_id),
              body, nullptr, "uploading part " + std::to_string(part_number) + " of");
  if (r.etag.empty()) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                "uploading part " + std::to_string(part_number) + " of s3://" + bucket_ + "/" +
                    key + ": no ETag in the answer");
  }
  return Part{r.etag, r.sent_sha256};
}

S3Client::Stored S3Client::complete_multipart_upload(const std::string& key,
                                                     const std::string& upload_id,
                                                     const std::vector<Part>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  std::vector<std::string> digests;
  for (size_t i = 0; i < parts.size(); ++i) {
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
           xml_escape(parts[i].etag) + "</ETag>";
    if (credentials_.checksums)
      xml += "<ChecksumSHA256>" + base64_of_hex(parts[i].sha256) + "</ChecksumSHA256>";
    xml += "</Part>";
    digests.push_back(parts[i].sha256);
  }
  xml += "</CompleteMultipartUpload>";
  Response r = request("POST", key, "uploadId=" + url_encode(upload_id), xml, nullptr,
                       "completing the upload of");
  // S3 may answer 200 with an error document.
  if (r.body.find("<Error>") != std::string::npos) {
    throw Error(
        ErrorKind::transient, ErrorCategory::export_failed,
        "completing the upload of s3://" + bucket_ + "/" + key + ": " + xml_value(r.body, "Code"));
  }
  Stored stored{s3_etag(xml_value(r.body, "ETag")), xml_value(r.body, "ChecksumSHA256")};
  if (stored.etag.empty()) stored.etag = s3_etag(r.etag);
  if (stored.etag.empty()) {
    // radosgw 16 answers <ETag></ETag>: the object itself has one.
    auto head = head_object(key);
    if (head) stored = Stored{head->etag, head->checksum};
  }
  if (!stored.checksum.empty() && credentials_.checksums) {
    std::string sent = s3_composite_sha256(digests);
    if (stored.checksum != sent) {
      // Another upload would meet the same store: not worth a retry.
      throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                  "completing the upload of s3://" + bucket_ + "/" + key + ": S3 keeps SHA-256 " +
                      stored.checksum + ", the parts sent make " + sent +
                      " (a store that computes it otherwise: --s3-checksum none)");
    }
  }
  return stored;
}

void S3Client::abort_multipart_upload(const std::string& key,
                                      const std::string& upload_id) noexcept {
  try {
    request("DELETE", key, "uploadId=" + url_encode(upload_id), "", nullptr,
            "aborting the upload of");
  } catch (const std::exception&) {
    // Best effort: a later run lists and aborts leftover uploads.
  }
}

void S3Client::delete_object(const std::string& key) {
  request("DELETE", key, "", "", nullptr, "DELETE");
}

bool S3Client::get_object(const std::string& key, ByteSink& sink) {
  Response r = request("GET", key, "", "", &sink, "GET");
  return r.status != 404;
}

std::optional<S3Client::Head> S3Client::head_object(const std::string& key) {
  Response r = request("HEAD", key, "", "", nullptr, "HEAD", nullptr,
                       credentials_.checksums ? "x-amz-checksum-mode: ENABLED" : nullptr);
  if (r.status == 404) return std::nullopt;
  if (r.content_length < 0) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                "HEAD s3://" + bucket_ + "/" + key + ": no Content-Length in the answer");
  }
  return Head{static_cast<uint64_t>(r.content_length), s3_etag(r.etag), r.checksum};
}

std::string s3_etag(std::string_view raw) {
  std::string etag(raw);
  for (size_t at; (at = etag.find("&quot;")) != std::string::npos;) etag.replace(at, 6, "\"");
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return etag;
}

std::vector<S3Client::Object> S3Client::list_objects(const std::string& prefix) {
  std::vector<Object> objects;
  std::string token;
  do {
    std::string query = (token.empty() ? "" : "continuation-token=" + url_encode(token) + "&") +
                        "list-type=2&prefix=" + url_encode(prefix);
    Response r = request("GET", "", query, "", nullptr, "listing");
    size_t at = 0;
    while (true) {
      std::string contents = xml_value(r.body, "Contents", &at);
      if (at == std::string::npos) break;
      objects.push_back({xml_value(contents, "Key"),
                         std::strtoull(xml_value(contents, "Size").c_str(), nullptr, 10)});
    }
    token = xml_value(r.body, "IsTruncated") == "true" ? xml_value(r.body, "NextContinuationToken")
                                                       : "";
  } while (!token.empty());
  return objects;
}

std::vector<S3Client::Upload> S3Client::list_multipart_uploads(const std::string& prefix) {
  std::vector<Upload> uploads;
  Response r = request("GET", "", "prefix=" + url_encode(prefix) + "&uploads=", "", nullptr,
                       "listing uploads in");
  size_t at = 0;
  while (true) {
    std::string upload = xml_value(r.body, "Upload", &at);
    if (at == std::string::npos) break;
    uploads.push_back({xml_value(upload, "Key"), xml_value(upload, "UploadId")});
  }
  return uploads;
}

}  // namespace chexport
