// A small S3 client on libcurl's AWS SigV4 signing (docs/object-storage-and-pipes.md "Object
// storage").
//
// Credentials, region and endpoint follow the AWS conventions (aws_credentials.h). Addressing is
// virtual-hosted (https://bucket.host/key) or path-style (https://host/bucket/key), as
// --s3-addressing or the profile says; "auto": path-style with an endpoint, virtual-hosted on AWS.
//
// With checksums on (the default), every PUT carries x-amz-checksum-sha256, multipart uploads are
// created with x-amz-checksum-algorithm: SHA256 and completed with each part's checksum, and the
// composite S3 answers (base64 SHA-256 of the parts' digests, "-N") is compared with the one of the
// parts sent. Servers without checksums (radosgw 16) ignore the headers and answer none. The three
// libcurl 7.88
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
  std::string endpoint;         // e.g. http://127.0.0.1:7480; empty: AWS
  bool virtual_hosted = false;  // the bucket in the host name, else in the path
  // "auto" chose virtual-hosted AWS: a bucket name with dots still goes in the path (AWS's
  // wildcard certificate covers one label).
  bool addressing_auto = false;
  bool checksums = true;  // SHA-256 checksums S3 keeps (above)
};

// The process's credential chain (aws_credentials.h), its region, endpoint, addressing and
// checksum choice; throws the chain's Error when it finds no keys.
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
  struct Part {
    std::string etag;
    std::string sha256;  // hex, of the bytes sent
  };
  Part upload_part(const std::string& key, const std::string& upload_id, int part_number,
                   std::string_view body);
  // What S3 keeps of an object to check it by: its ETag (normalized as s3_etag() does) and its
  // SHA-256 checksum as S3 writes it ("base64-N"); either empty when the server has none.
  struct Stored {
    std::string etag;
    std::string checksum;
  };
  // Throws a transient Error when S3's composite checksum is not the one of the parts sent.
  Stored complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                   const std::vector<Part>& parts);
  void abort_multipart_upload(const std::string& key, const std::string& upload_id) noexcept;
  void delete_object(const std::string& key);
  // Streams the object into `sink`; false when there is no such object.
  bool get_object(const std::string& key, ByteSink& sink);
  // HEAD: the object's size, ETag and checksum without its bytes; none when there is no such
  // object.
  struct Head {
    uint64_t size = 0;
    std::string etag;
    std::string checksum;
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
  bool checksums() const noexcept { return credentials_.checksums; }

 private:
  struct Response {
    long status = 0;
    std::string body;  // of errors and small answers
    std::string etag;
    std::string checksum;         // x-amz-checksum-sha256
    int64_t content_length = -1;  // as the answer declares it; -1 when it does not
    std::string sent_sha256;      // hex, of the request's body
  };
  // `condition`, when given, is a conditional header (If-None-Match: *): a 412 answer is then
  // returned, not thrown. `header`, when given, is one more header to send.
  Response request(const char* method, const std::string& key, const std::string& query,
                   std::string_view body, ByteSink* sink, const std::string& what,
                   const char* condition = nullptr, const char* header = nullptr);
  std::string url(const std::string& key) const;

  S3Credentials credentials_;
  std::string bucket_;
  void* curl_;
};

// An ETag as S3 writes it in a header ("abc") or in XML (&quot;abc&quot;), without the quotes:
// the one form the manifest records and compares.
std::string s3_etag(std::string_view raw);

// The checksum S3 keeps of a multipart object made of parts with these SHA-256 digests (hex):
// base64(SHA-256(the raw digests, concatenated)) + "-" + the number of parts.
std::string s3_composite_sha256(const std::vector<std::string>& part_sha256);
std::string base64_of_hex(std::string_view hex);

// Percent-encodes an object key for the request path (everything but A-Z a-z 0-9 - . _ ~ /).
std::string s3_encode_key(std::string_view key);

}  // namespace chexport
