#include "test_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "../support/test_util.h"
#include "chexport/common/sha256.h"

namespace chexport::testing {

std::string TestServer::url() const {
  return "http://127.0.0.1:" + std::to_string(http_port);
}

const TestServer& test_server() {
  static TestServer server = [] {
    const char* dir = std::getenv("CHEXPORT_TEST_SERVER_DIR");
    if (dir == nullptr) throw std::runtime_error("CHEXPORT_TEST_SERVER_DIR is not set (run ctest)");
    std::ifstream ports(std::string(dir) + "/ports"), version(std::string(dir) + "/version");
    TestServer s;
    s.display_name = "chexport-" + std::filesystem::path(dir).filename().string();
    if (!(ports >> s.http_port >> s.tcp_port) || !(version >> s.version)) {
      throw std::runtime_error(std::string("no server in ") + dir + " (run through ctest)");
    }
    return s;
  }();
  return server;
}

namespace {

size_t collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::vector<std::unique_ptr<TempDir>>& temp_dirs() {
  static std::vector<std::unique_ptr<TempDir>> dirs;
  return dirs;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

}  // namespace

std::string http_query(const std::string& sql, const std::string& params) {
  return http_query_at(test_server().url() + "/" + (params.empty() ? "" : "?" + params), sql);
}

void run_sql_script(const std::string& script) {
  const TestServer& server = test_server();
  if (server.tcp_port != 0) {
    TempDir dir;
    std::string path = dir.str() + "/script.sql";
    std::ofstream(path) << script;
    std::string command = "clickhouse-client --port " + std::to_string(server.tcp_port) +
                          " --multiquery < " + shell_quote(path) + " 2>&1";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("script failed: " + script);
    return;
  }
  for (size_t start = 0; start < script.size();) {
    size_t end = script.find(";\n", start);
    if (end == std::string::npos) end = script.size();
    std::string statement = script.substr(start, end - start);
    if (statement.find_first_not_of(" \n") != std::string::npos) http_query(statement);
    start = end + 2;
  }
}

std::string http_query_at(const std::string& url, const std::string& sql) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, sql.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK || status != 200) {
    throw std::runtime_error("query failed (" + std::to_string(status) + "): " + sql + "\n" + body);
  }
  return body;
}

CommandResult run_chexport(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env,
                           const std::string& shell_prefix) {
  std::vector<std::string> argv = {
      "env", "-u", "CLICKHOUSE_URL", "-u", "CLICKHOUSE_USER", "-u", "CLICKHOUSE_PASSWORD"};
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  argv.push_back(chexport_binary());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, shell_prefix);
}

CommandResult run_program(const std::vector<std::string>& argv, const std::string& shell_prefix) {
  TempDir out_dir;
  std::string out_file = out_dir.str() + "/output.txt";
  std::string command = shell_prefix;
  for (const auto& a : argv) command += " " + shell_quote(a);
  std::string err_file = out_dir.str() + "/stderr.txt";
  command += " </dev/null >" + shell_quote(out_file) + " 2>" + shell_quote(err_file);
  int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_file);
  result.output = read_file(err_file) + result.out;
  return result;
}

int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);  // bound but never listening: connections are refused
  return port;
}

}  // namespace chexport::testing

namespace chexport::testing {

std::string chexport_binary() {
  const char* bin = std::getenv("CHEXPORT_BIN");
  return bin != nullptr ? bin : CHEXPORT_BIN_DEFAULT;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::map<std::string, std::string>& env) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    for (const char* name : {"CLICKHOUSE_URL", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"})
      ::unsetenv(name);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  fd_ = fds[0];
}

BackgroundProcess::~BackgroundProcess() {
  if (status_ < 0 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> BackgroundProcess::read_line(double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000));
  while (true) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (fd_ < 0) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      if (!buffer_.empty()) {
        std::string rest = std::move(buffer_);
        buffer_.clear();
        output_ += rest;
        return rest;
      }
      return std::nullopt;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    output_.append(chunk, static_cast<size_t>(n));
  }
}

std::optional<std::string> BackgroundProcess::wait_for(const std::string& needle,
                                                       double timeout_seconds) {
  while (auto line = read_line(timeout_seconds)) {
    if (line->find(needle) != std::string::npos) return line;
  }
  return std::nullopt;
}

void BackgroundProcess::signal(int sig) {
  ::kill(pid_, sig);
}

int BackgroundProcess::wait() {
  while (read_line(300)) {
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid_, &status, 0, &usage);
  max_rss_kib_ = usage.ru_maxrss;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return status_;
}

PrivateServer::PrivateServer(const std::string& version,
                             const std::map<std::string, std::string>& env) {
  TempDir* dir = new TempDir();  // removed in the destructor, after the server stopped
  dir_ = dir->str();
  temp_dirs().emplace_back(dir);
  script("start", " " + (version.empty() ? test_server().version : version), env);
  std::ifstream in(dir_ + "/ports");
  in >> port_;
  std::ifstream host(dir_ + "/host");
  host >> host_;
}

PrivateServer::~PrivateServer() {
  try {
    script("stop");
  } catch (const std::exception&) {
  }
}

std::string PrivateServer::url() const {
  return "http://" + host_ + ":" + std::to_string(port_);
}
std::string PrivateServer::display_name() const {
  return "chexport-" + std::filesystem::path(dir_).filename().string();
}
void PrivateServer::stop() {
  script("stop");
}
void PrivateServer::crash() {
  script("kill");
}
void PrivateServer::restart() {
  script("restart");
}

void PrivateServer::script(const std::string& command, const std::string& more,
                           const std::map<std::string, std::string>& env) {
  std::string line = "env ";
  for (const auto& [k, v] : env) line += shell_quote(k + "=" + v) + " ";
  line += std::string(CHEXPORT_SCRIPTS_DIR) + "/clickhouse-server.sh " + command + " " +
          shell_quote(dir_) + more + " >/dev/null";
  if (std::system(line.c_str()) != 0)
    throw std::runtime_error("clickhouse-server.sh " + command + " failed");
}

FaultProxy start_fault_proxy(int upstream_port, const std::string& mode, int faults,
                             long after_bytes) {
  FaultProxy proxy;
  proxy.process = std::make_unique<BackgroundProcess>(std::vector<std::string>{
      "python3", std::string(CHEXPORT_TOOLS_DIR) + "/fault_proxy.py", "--upstream",
      std::to_string(upstream_port), "--mode", mode, "--faults", std::to_string(faults), "--after",
      std::to_string(after_bytes)});
  auto port = proxy.process->read_line(30);
  if (!port) throw std::runtime_error("the fault proxy did not start: " + proxy.process->output());
  proxy.port = std::stoi(*port);
  return proxy;
}

}  // namespace chexport::testing

namespace chexport::testing {

std::map<std::string, std::string> TestS3::env() const {
  return {{"AWS_ACCESS_KEY_ID", access_key},
          {"AWS_SECRET_ACCESS_KEY", secret_key},
          {"AWS_ENDPOINT_URL", endpoint()},
          {"AWS_REGION", "us-east-1"}};
}

const TestS3& test_s3() {
  static TestS3 s3 = [] {
#ifdef CHEXPORT_TEST_S3_DIR_DEFAULT
    const char* dir = std::getenv("CHEXPORT_TEST_S3_DIR");
    if (dir == nullptr) dir = CHEXPORT_TEST_S3_DIR_DEFAULT;
    std::ifstream in(std::string(dir) + "/endpoint");
    TestS3 t;
    if (!(in >> t.port >> t.access_key >> t.secret_key)) {
      throw std::runtime_error(std::string("no S3 endpoint in ") + dir + " (run through ctest)");
    }
    return t;
#else
    throw std::runtime_error("this test binary has no S3 server");
    return TestS3{};
#endif
  }();
  return s3;
}

std::string s3_call(const std::string& method, const std::string& path, const std::string& body,
                    long* status, const std::string& endpoint) {
  const TestS3& s3 = test_s3();
  CURL* curl = curl_easy_init();
  std::string answer;
  std::string url = (endpoint.empty() ? s3.endpoint() : endpoint) + path;
  std::string sha = Sha256::of(body);
  curl_slist* headers = curl_slist_append(nullptr, ("x-amz-content-sha256: " + sha).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
  curl_easy_setopt(curl, CURLOPT_USERNAME, s3.access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, s3.secret_key.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  CURLcode code = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) throw std::runtime_error("S3 request failed: " + method + " " + path);
  if (status != nullptr) *status = http;
  return answer;
}

}  // namespace chexport::testing
