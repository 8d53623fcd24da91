// The pieces of the AWS credential chain that need no server: the shared files' format, the keys
// a credential_process or the metadata service prints, and their expiry times.
#include "chexport/output/aws_credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chexport/common/error.h"

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

}  // namespace
}  // namespace chexport
