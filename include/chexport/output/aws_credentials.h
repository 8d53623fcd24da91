// AWS credentials for s3:// outputs, found as the AWS CLI finds them
// (docs/object-storage-and-pipes.md "Credentials"):
//   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), unless a profile was named
//      with --s3-profile (then the profile wins, as `aws --profile` does);
//   2. the profile (--s3-profile, else AWS_PROFILE, else "default") in the shared credentials file
//      (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) and config file (AWS_CONFIG_FILE,
//      ~/.aws/config): static keys, credential_process, or role_arn + web_identity_token_file;
//   3. web identity from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (STS
//      AssumeRoleWithWebIdentity; AWS_ENDPOINT_URL_STS overrides the endpoint);
//   4. the EC2 instance metadata service, IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides
//      http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true skips it).
// Temporary keys (an Expiration) are fetched again from their source 5 minutes before they expire.
// Secrets are never logged nor put in messages; the source is logged at debug level.
//
// Thread-safe: one chain serves every S3 client of the process.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace chexport {

using SystemTime = std::chrono::system_clock::time_point;

struct AwsKeys {
  std::string access_key;
  std::string secret_key;  // secret
  std::string session_token;
  std::optional<SystemTime> expires;  // temporary keys only
  std::string source;                 // for the debug log: "environment", "profile x", ...
};

// What the user chose for S3 (--s3-profile, --s3-addressing, --s3-checksum and the config keys
// output.s3_*); set by main before any store opens.
struct S3Options {
  std::string profile;
  std::string addressing;  // "path", "virtual", "auto"; empty: the profile's, else "auto"
  bool checksums = true;   // ask S3 to keep a SHA-256 of each object (s3.h)
};
void set_s3_options(S3Options options);

class AwsCredentialChain {
 public:
  explicit AwsCredentialChain(S3Options options) : options_(std::move(options)) {}
  // The keys to sign with now. Throws Error: usage when no source has any, auth when a source
  // fails (credential_process, STS, the metadata service).
  AwsKeys keys();
  // AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region, else us-east-1.
  std::string region();
  // AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the profile's endpoint_url; empty: AWS.
  std::string endpoint();
  // --s3-addressing, else the profile's s3 addressing_style, else "auto": "path", "virtual" or
  // "auto" (path-style with an endpoint, virtual-hosted on AWS).
  std::string addressing();
  bool checksums() const { return options_.checksums; }

 private:
  AwsKeys resolve();
  std::string profile_name() const;
  const std::map<std::string, std::string>& profile();

  S3Options options_;
  std::mutex mutex_;
  std::optional<AwsKeys> cached_;
  std::optional<std::map<std::string, std::string>> profile_;
};

// The process's chain, made on first use with the options set_s3_options() gave.
AwsCredentialChain& aws_credentials();

// Exposed for tests. A section of an INI file as the AWS tools read it ("[name]", "key = value",
// '#' and ';' comments; an indented "key = value" below "s3 =" as "s3.key"); none when the file or
// the section is missing.
std::optional<std::map<std::string, std::string>> read_ini_section(const std::string& path,
                                                                   const std::string& section);
// credential_process output ({"Version": 1, "AccessKeyId", ...}) or the metadata service's
// ({"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}); throws an auth Error naming `what`.
AwsKeys parse_keys_json(const std::string& json, const std::string& what);
// "2026-11-22T10:00:00Z" (fractions and +00:00 too); none when it is not such a time.
std::optional<SystemTime> parse_iso8601(const std::string& text);

}  // namespace chexport
