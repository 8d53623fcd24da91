#include "chexport/output/aws_credentials.h"

#include <curl/curl.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "chexport/common/error.h"
#include "chexport/common/json_read.h"

namespace chexport {
namespace {

constexpr auto renew_before = std::chrono::minutes(5);

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string home_file(const char* variable, const char* under_home) {
  std::string set = env(variable);
  if (!set.empty()) return set;
  return env("HOME") + "/" + under_home;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

[[noreturn]] void fail_auth(const std::string& message) {
  throw Error(ErrorKind::permanent, ErrorCategory::auth, message);
}

// One small HTTP exchange (the metadata service, STS); the answer's status and body.
struct Answer {
  long status = 0;
  std::string body;
};
size_t append_body(char* data, size_t size, size_t count, void* user) noexcept {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}
Answer http_call(const char* method, const std::string& url,
                 const std::vector<std::string>& headers, const std::string& body, long timeout_ms,
                 const std::string& what) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("cannot create a libcurl handle");
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  Answer answer;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (std::string_view(method) != "GET") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (code != CURLE_OK) fail_auth(what + ": " + curl_easy_strerror(code));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

std::string xml_text(const std::string& xml, const std::string& tag) {
  size_t a = xml.find("<" + tag + ">");
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  return xml.substr(a, xml.find("</" + tag + ">", a) - a);
}

std::string form_encode(const std::string& value) {
  std::unique_ptr<char, void (*)(void*)> encoded(
      curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size())), curl_free);
  return encoded ? std::string(encoded.get()) : std::string();
}

// credential_process: its standard output is the keys (JSON); what it says on stderr goes to the
// user's terminal, as the AWS CLI lets it.
AwsKeys run_credential_process(const std::string& command, const std::string& profile) {
  std::string what = "credential_process of profile " + profile;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) fail_auth(what + ": cannot start it");
  std::string out;
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0;)
    out.append(buffer.data(), n);
  int status = pclose(pipe.release());
  if (status != 0) {
    fail_auth(what + " failed (exit status " +
              std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status) + ")");
  }
  AwsKeys keys = parse_keys_json(out, what);
  keys.source = what;
  return keys;
}

AwsKeys assume_role_with_web_identity(const std::string& role_arn, const std::string& token_file,
                                      const std::string& session, const std::string& region) {
  std::ifstream in(token_file);
  if (!in) fail_auth("web identity: cannot read the token file " + token_file);
  std::stringstream token;
  token << in.rdbuf();
  std::string endpoint = env("AWS_ENDPOINT_URL_STS");
  if (endpoint.empty()) endpoint = "https://sts." + region + ".amazonaws.com";
  std::string what = "web identity: AssumeRoleWithWebIdentity at " + endpoint + " for " + role_arn;
  // Unsigned: the token is the proof.
  std::string body = "Action=AssumeRoleWithWebIdentity&RoleArn=" + form_encode(role_arn) +
                     "&RoleSessionName=" + form_encode(session) +
                     "&Version=2011-06-15&WebIdentityToken=" + form_encode(trim(token.str()));
  Answer a = http_call("POST", endpoint + "/",
                       {"Content-Type: application/x-www-form-urlencoded", "Accept: */*"}, body,
                       10000, what);
  if (a.status != 200) {
    std::string code = xml_text(a.body, "Code");
    fail_auth(what + ": HTTP " + std::to_string(a.status) + (code.empty() ? "" : " " + code));
  }
  AwsKeys keys{xml_text(a.body, "AccessKeyId"), xml_text(a.body, "SecretAccessKey"),
               xml_text(a.body, "SessionToken"), parse_iso8601(xml_text(a.body, "Expiration")),
               "web identity (" + role_arn + ")"};
  if (keys.access_key.empty() || keys.secret_key.empty()) fail_auth(what + ": no credentials");
  return keys;
}

// IMDSv2: a session token first (PUT), then the role's keys with it.
std::optional<AwsKeys> instance_metadata() {
  if (env("AWS_EC2_METADATA_DISABLED") == "true") return std::nullopt;
  std::string endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://169.254.169.254";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string what = "the EC2 instance metadata service at " + endpoint;
  Answer token;
  try {
    // One second, as the AWS CLI waits: off EC2 nothing answers.
    token = http_call("PUT", endpoint + "/latest/api/token",
                      {"X-aws-ec2-metadata-token-ttl-seconds: 21600"}, "", 1000, what);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (token.status != 200) return std::nullopt;
  std::string header = "X-aws-ec2-metadata-token: " + token.body;
  std::string base = endpoint + "/latest/meta-data/iam/security-credentials/";
  Answer role = http_call("GET", base, {header}, "", 2000, what);
  std::string name = trim(role.body.substr(0, role.body.find('\n')));
  if (role.status != 200 || name.empty()) fail_auth(what + ": no instance role");
  Answer keys = http_call("GET", base + name, {header}, "", 2000, what);
  if (keys.status != 200) fail_auth(what + ": HTTP " + std::to_string(keys.status));
  AwsKeys k = parse_keys_json(keys.body, what);
  k.source = "instance role " + name;
  return k;
}

S3Options& s3_options() {
  static S3Options options;
  return options;
}

}  // namespace

void set_s3_options(S3Options options) {
  s3_options() = std::move(options);
}

AwsCredentialChain& aws_credentials() {
  static AwsCredentialChain chain(s3_options());
  return chain;
}

std::string AwsCredentialChain::profile_name() const {
  if (!options_.profile.empty()) return options_.profile;
  std::string from_env = env("AWS_PROFILE");
  return from_env.empty() ? "default" : from_env;
}

// The profile's keys from both files, the credentials file's winning.
const std::map<std::string, std::string>& AwsCredentialChain::profile() {
  if (profile_) return *profile_;
  std::string name = profile_name();
  std::string config = home_file("AWS_CONFIG_FILE", ".aws/config");
  std::string credentials = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
  auto from_config = read_ini_section(config, name == "default" ? name : "profile " + name);
  auto from_credentials = read_ini_section(credentials, name);
  bool named = !options_.profile.empty() || !env("AWS_PROFILE").empty();
  if (named && !from_config && !from_credentials) {
    throw_usage("the AWS profile " + name + " is in neither " + credentials + " nor " + config);
  }
  profile_.emplace(from_config.value_or(std::map<std::string, std::string>{}));
  if (from_credentials) {
    for (auto& [k, v] : *from_credentials) (*profile_)[k] = v;
  }
  return *profile_;
}

std::string AwsCredentialChain::region() {
  std::lock_guard lock(mutex_);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!env(name).empty()) return env(name);
  }
  auto it = profile().find("region");
  return it == profile().end() || it->second.empty() ? "us-east-1" : it->second;
}

std::string AwsCredentialChain::endpoint() {
  std::lock_guard lock(mutex_);
  std::string url = env("AWS_ENDPOINT_URL_S3");
  if (url.empty()) url = env("AWS_ENDPOINT_URL");
  if (url.empty()) {
    auto it = profile().find("endpoint_url");
    if (it != profile().end()) url = it->second;
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string AwsCredentialChain::addressing() {
  if (!options_.addressing.empty()) return options_.addressing;
  std::lock_guard lock(mutex_);
  auto it = profile().find("s3.addressing_style");
  if (it == profile().end() || it->second.empty()) return "auto";
  if (it->second != "path" && it->second != "virtual" && it->second != "auto") {
    throw_usage("the AWS profile " + profile_name() + " has s3 addressing_style = " + it->second +
                ", not path, virtual or auto");
  }
  return it->second;
}

AwsKeys AwsCredentialChain::keys() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::system_clock::now();
  if (cached_ && (!cached_->expires || now + renew_before < *cached_->expires)) return *cached_;
  try {
    cached_ = resolve();
  } catch (const Error& e) {
    // Keys that still hold outlast a source that is briefly away; the next request asks again.
    if (!cached_ || !cached_->expires || now >= *cached_->expires) throw;
    spdlog::warn("could not renew the S3 credentials from {} ({}); using them until they expire",
                 cached_->source, e.what());
    return *cached_;
  }
  spdlog::debug("S3 credentials from {}{}", cached_->source,
                cached_->expires ? " (temporary)" : "");
  return *cached_;
}

AwsKeys AwsCredentialChain::resolve() {
  if (options_.profile.empty() && !env("AWS_ACCESS_KEY_ID").empty() &&
      !env("AWS_SECRET_ACCESS_KEY").empty()) {
    return AwsKeys{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN"),
                   std::nullopt, "environment"};
  }
  const auto& p = profile();
  std::string name = profile_name();
  auto value = [&](const char* key) {
    auto it = p.find(key);
    return it == p.end() ? std::string() : it->second;
  };
  if (!value("aws_access_key_id").empty() && !value("aws_secret_access_key").empty()) {
    return AwsKeys{value("aws_access_key_id"), value("aws_secret_access_key"),
                   value("aws_session_token"), std::nullopt, "profile " + name};
  }
  if (!value("credential_process").empty())
    return run_credential_process(value("credential_process"), name);
  std::string region_now = env("AWS_REGION");
  if (region_now.empty()) region_now = value("region").empty() ? "us-east-1" : value("region");
  if (!value("role_arn").empty() && !value("web_identity_token_file").empty()) {
    std::string session = value("role_session_name");
    return assume_role_with_web_identity(value("role_arn"), value("web_identity_token_file"),
                                         session.empty() ? "chexport" : session, region_now);
  }
  if (!env("AWS_ROLE_ARN").empty() && !env("AWS_WEB_IDENTITY_TOKEN_FILE").empty()) {
    std::string session = env("AWS_ROLE_SESSION_NAME");
    return assume_role_with_web_identity(env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE"),
                                         session.empty() ? "chexport" : session, region_now);
  }
  if (!value("sso_session").empty() || !value("sso_start_url").empty() ||
      !value("source_profile").empty() || !value("credential_source").empty()) {
    throw_usage("the AWS profile " + name +
                " gets its keys through IAM Identity Center (sso_*) or another profile "
                "(source_profile, credential_source), which chexport does not read: add "
                "credential_process = aws configure export-credentials --profile " +
                name + " --format process to a profile and use that one");
  }
  if (auto keys = instance_metadata()) return *keys;
  throw_usage(
      "s3:// needs AWS credentials, and none were found: set AWS_ACCESS_KEY_ID and "
      "AWS_SECRET_ACCESS_KEY, name a profile (--s3-profile or AWS_PROFILE) of ~/.aws/credentials "
      "or ~/.aws/config, set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or run on an EC2 "
      "instance with a role");
}

std::optional<std::map<std::string, std::string>> read_ini_section(const std::string& path,
                                                                   const std::string& section) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::optional<std::map<std::string, std::string>> found;
  bool inside = false;
  std::string parent;  // a key with no value whose indented lines below are its own
  for (std::string line; std::getline(in, line);) {
    bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = trim(line.substr(1, line.size() - 2)) == section;
      if (inside && !found) found.emplace();
      parent.clear();
      continue;
    }
    auto eq = line.find('=');
    if (!inside || eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (indented && !parent.empty()) {
      (*found)[parent + "." + key] = value;
      continue;
    }
    parent = value.empty() ? key : "";
    (*found)[key] = value;
  }
  return found;
}

AwsKeys parse_keys_json(const std::string& json, const std::string& what) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object())
    fail_auth(what + ": its answer is not a JSON object");
  AwsKeys keys;
  keys.access_key = json_text(root, "AccessKeyId");
  keys.secret_key = json_text(root, "SecretAccessKey");
  keys.session_token = json_text(root, "SessionToken");
  if (keys.session_token.empty()) keys.session_token = json_text(root, "Token");
  std::string expiration = json_text(root, "Expiration");
  if (!expiration.empty()) {
    keys.expires = parse_iso8601(expiration);
    if (!keys.expires) fail_auth(what + ": Expiration \"" + expiration + "\" is not a time");
  }
  if (keys.access_key.empty() || keys.secret_key.empty())
    fail_auth(what + ": no AccessKeyId and SecretAccessKey in its answer");
  return keys;
}

std::optional<SystemTime> parse_iso8601(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t end = rest.find_first_not_of("0123456789", 1);
    rest = end == std::string::npos ? "" : rest.substr(end);
  }
  if (rest != "Z" && rest != "+00:00" && rest != "") return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace chexport
