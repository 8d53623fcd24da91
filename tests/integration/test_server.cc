#include "test_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "../support/test_util.h"

namespace chexport::testing {

std::string TestServer::url() const {
  return "http://127.0.0.1:" + std::to_string(http_port);
}

const TestServer& test_server() {
  static TestServer server = [] {
    const char* dir = std::getenv("CHEXPORT_TEST_SERVER_DIR");
    if (dir == nullptr) dir = CHEXPORT_TEST_SERVER_DIR_DEFAULT;
    std::ifstream in(std::string(dir) + "/ports");
    TestServer s;
    if (!(in >> s.http_port)) {
      throw std::runtime_error(std::string("no server ports in ") + dir + " (run through ctest)");
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
  CURL* curl = curl_easy_init();
  std::string body;
  std::string url = test_server().url() + "/" + (params.empty() ? "" : "?" + params);
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
  const char* bin = std::getenv("CHEXPORT_BIN");
  if (bin == nullptr) bin = CHEXPORT_BIN_DEFAULT;
  TempDir out_dir;
  std::string out_file = out_dir.str() + "/output.txt";
  std::string command =
      shell_prefix + " env -u CLICKHOUSE_URL -u CLICKHOUSE_USER -u CLICKHOUSE_PASSWORD";
  for (const auto& [k, v] : env) command += " " + shell_quote(k + "=" + v);
  command += " " + shell_quote(bin);
  for (const auto& a : args) command += " " + shell_quote(a);
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
