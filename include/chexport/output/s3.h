// A small S3 client on libcurl's AWS SigV4 signing (docs/object-storage-and-pipes.md "Object
// storage").
//
// Credentials, region and endpoint follow the AWS conventions (aws_credentials.h): with an
// endpoint, path-style addressing; without it, virtual-hosted AWS endpoints. The three libcurl 7.88
// traps (reference object-storage.md) are handled here: every request carries x-amz-content-sha256
// (the body's real SHA-256, so the server rejects a corrupted body), query parameters are written
// sorted and as "key=" when empty, and keys are percent-encoded except A-Z a-z 0-9 - . _ ~ /.
//
// One client owns one CURL handle: not thread-safe, one per worker. Failures throw
// chexport::Error: 403 and bad credentials are auth errors (permanent), 5xx, 408, 429 and
// transport failures transient, other 4xx permanent; each message names the method and object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/common/byte_sink.h"
#include "chexport/output/aws_credentials.h"

namespace chexport {

struct S3Location {
  std::string bucket;
  std::string prefix;                                // no leading or trailing '/'; may be empty
  std::string key(std::string_view relative) const;  // prefix + "/" + relative
  std::string url() const;                           // s3://bucket/prefix
};

bool is_s3_url(std::string_view text);
// "s3://bucket[/prefix]"; throws a usage Error otherwise.
S3Location parse_s3_url(std::string_view text);

struct S3Credentials {
  AwsCredentialChain* keys = nullptr;  // asked before each request: temporary keys change
  std::string region = "us-east-1";
  std::string endpoint;  // e.g. http://127.0.0.1:7480; empty: AWS
};

// The process's credential chain (aws_credentials.h), its region and endpoint; throws the chain's
// Error when it finds no keys.
S3Credentials s3_credentials();

class S3Client {
 public:
  S3Client(S3Credentials credentials, std::string bucket);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  void put_object(const std::string& key, std::string_view body);
  // PUT with If-None-Match: *: false when the object exists (412). A server that ignores the
  // condition (older radosgw) overwrites it and answers true: read it back to be sure.
  bool put_object_if_absent(const std::string& key, std::string_view body);
  std::string create_multipart_upload(const std::string& key);
  // Returns the part's ETag.
  std::string upload_part(const std::string& key, const std::string& upload_id, int part_number,
                          std::string_view body);
  // Returns the object's ETag (normalized as s3_etag() does), or empty if the answer has none.
  std::string complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                        const std::vector<std::string>& etags);
  void abort_multipart_upload(const std::string& key, const std::string& upload_id) noexcept;
  void delete_object(const std::string& key);
  // Streams the object into `sink`; false when there is no such object.
  bool get_object(const std::string& key, ByteSink& sink);
  // HEAD: the object's size and ETag without its bytes; none when there is no such object.
  struct Head {
    uint64_t size = 0;
    std::string etag;
  };
  std::optional<Head> head_object(const std::string& key);

  struct Object {
    std::string key;
    uint64_t size = 0;
  };
  std::vector<Object> list_objects(const std::string& prefix);
  struct Upload {
    std::string key;
    std::string upload_id;
  };
  std::vector<Upload> list_multipart_uploads(const std::string& prefix);

  const std::string& bucket() const noexcept { return bucket_; }

 private:
  struct Response {
    long status = 0;
    std::string body;  // of errors and small answers
    std::string etag;
    int64_t content_length = -1;  // as the answer declares it; -1 when it does not
  };
  // `condition`, when given, is a conditional header (If-None-Match: *): a 412 answer is then
  // returned, not thrown.
  Response request(const char* method, const std::string& key, const std::string& query,
                   std::string_view body, ByteSink* sink, const std::string& what,
                   const char* condition = nullptr);

  S3Credentials credentials_;
  std::string bucket_;
  void* curl_;
};

// An ETag as S3 writes it in a header ("abc") or in XML (&quot;abc&quot;), without the quotes:
// the one form the manifest records and compares.
std::string s3_etag(std::string_view raw);

// Percent-encodes an object key for the request path (everything but A-Z a-z 0-9 - . _ ~ /).
std::string s3_encode_key(std::string_view key);

}  // namespace chexport
