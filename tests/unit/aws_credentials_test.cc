// The pieces of the AWS credential chain that need no server: the shared files' format, the keys
// a credential_process or the metadata service prints, and their expiry times; and S3's checksums.
#include "chexport/output/aws_credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/output/s3.h"

namespace chexport {
namespace {

TEST(AwsCredentials, IniSectionsAsTheAwsToolsReadThem) {
  auto path = std::filesystem::temp_directory_path() / "chexport-aws-config-test";
  std::ofstream(path) << "# comment\n[default]\nregion=eu-west-1\n\n[profile archive]\n"
                         "  aws_access_key_id = AKIA1  \n; another comment\n"
                         "aws_secret_access_key=s/e=cret\n[other]\nregion = x\n";
  auto archive = read_ini_section(path.string(), "profile archive");
  ASSERT_TRUE(archive);
  EXPECT_EQ(archive->at("aws_access_key_id"), "AKIA1");
  EXPECT_EQ(archive->at("aws_secret_access_key"), "s/e=cret");  // only the first '=' splits
  EXPECT_EQ(archive->count("region"), 0u);
  EXPECT_EQ(read_ini_section(path.string(), "default")->at("region"), "eu-west-1");
  EXPECT_FALSE(read_ini_section(path.string(), "archive"));  // config files say "profile NAME"
  EXPECT_FALSE(read_ini_section(path.string() + ".none", "default"));
  std::filesystem::remove(path);
}

TEST(AwsCredentials, KeysOfCredentialProcessAndMetadataService) {
  AwsKeys process = parse_keys_json(
      R"({"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T",
          "Expiration": "2026-11-22T10:00:00Z"})",
      "p");
  EXPECT_EQ(process.access_key, "A");
  EXPECT_EQ(process.secret_key, "S");
  EXPECT_EQ(process.session_token, "T");
  ASSERT_TRUE(process.expires);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*process.expires), 1795341600);
  AwsKeys imds =
      parse_keys_json(R"({"AccessKeyId": "A", "SecretAccessKey": "S", "Token": "T2"})", "imds");
  EXPECT_EQ(imds.session_token, "T2");
  EXPECT_FALSE(imds.expires);  // static keys never expire
  try {
    parse_keys_json(R"({"AccessKeyId": "A"})", "credential_process of profile x");
    FAIL() << "no secret key";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::auth);
    EXPECT_EQ(std::string(e.what()),
              "credential_process of profile x: no AccessKeyId and SecretAccessKey in its answer");
  }
  EXPECT_THROW(parse_keys_json("not json", "p"), Error);
  EXPECT_THROW(parse_keys_json(R"({"AccessKeyId": "A", "SecretAccessKey": "S",
                                   "Expiration": "tomorrow"})",
                               "p"),
               Error);
}

TEST(AwsCredentials, Iso8601Times) {
  auto at = [](const char* text) {
    auto t = parse_iso8601(text);
    return t ? std::chrono::system_clock::to_time_t(*t) : -1;
  };
  EXPECT_EQ(at("2026-11-22T10:00:00Z"), 1795341600);
  EXPECT_EQ(at("2026-11-22T10:00:00.123Z"), 1795341600);
  EXPECT_EQ(at("2026-11-22T10:00:00+00:00"), 1795341600);
  EXPECT_EQ(at("2026-11-22T10:00:00.5"), 1795341600);
  EXPECT_EQ(at("2026-11-22T10:00:00+02:00"), -1);  // other offsets are not what AWS sends
  EXPECT_EQ(at("2026-11-22"), -1);
}

// The config file's nested settings ("s3 =" and indented lines) as the AWS CLI reads them.
TEST(AwsCredentials, NestedS3Settings) {
  auto path = std::filesystem::temp_directory_path() / "chexport-aws-nested-test";
  std::ofstream(path) << "[profile store]\nregion = eu-west-1\ns3 =\n  addressing_style = virtual\n"
                         "  max_concurrent_requests = 4\nendpoint_url = http://x\n"
                         "  indented_after_a_value = 1\n";
  auto store = read_ini_section(path.string(), "profile store");
  std::filesystem::remove(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->at("s3.addressing_style"), "virtual");
  EXPECT_EQ(store->at("s3.max_concurrent_requests"), "4");
  EXPECT_EQ(store->at("s3"), "");
  EXPECT_EQ(store->at("endpoint_url"), "http://x");
  EXPECT_EQ(store->at("indented_after_a_value"), "1");  // no parent: a key of its own
  EXPECT_FALSE(store->count("addressing_style"));
}

// The checksum S3 keeps of a multipart object, against values Python's hashlib and base64 give:
// base64(sha256(sha256("hello") + sha256("world"))) + "-2".
TEST(S3Checksums, CompositeOfThePartsAsS3ComputesIt) {
  EXPECT_EQ(s3_composite_sha256({Sha256::of("hello"), Sha256::of("world")}),
            "cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2");
  EXPECT_EQ(base64_of_hex(Sha256::of("hello")), "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
  EXPECT_EQ(base64_of_hex("6162"), "YWI=");
  EXPECT_EQ(base64_of_hex("61626364"), "YWJjZA==");
  EXPECT_EQ(base64_of_hex(""), "");
}

}  // namespace
}  // namespace chexport
