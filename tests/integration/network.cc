#include "network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "checks.h"

namespace chexport::testing {
namespace {

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("failed: " + command);
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

}  // namespace

Certificates::Certificates() {
  std::string d = dir.str();
  ca = d + "/ca.pem";
  server_cert = d + "/server.pem";
  server_key = d + "/server.key";
  client_cert = d + "/client.pem";
  client_key = d + "/client.key";
  client_key_password = d + "/client.pass";
  std::ofstream(client_key_password) << "key-Secret-7\n";
  std::ofstream(d + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=chexport-test-ca -keyout " + d +
      "/ca.key -out " + ca);
  run("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " + server_key + " -out " +
      d + "/server.csr");
  run("openssl x509 -req -in " + d + "/server.csr -CA " + ca + " -CAkey " + d +
      "/ca.key -CAcreateserial -days 2 -extfile " + d + "/san.ext -out " + server_cert);
  run("openssl req -newkey rsa:2048 -subj /CN=exporter -passout file:" + client_key_password +
      " -keyout " + client_key + " -out " + d + "/client.csr");
  run("openssl x509 -req -in " + d + "/client.csr -CA " + ca + " -CAkey " + d +
      "/ca.key -CAcreateserial -days 2 -out " + client_cert);
}

Nginx::Nginx(const std::string& server_blocks) {
  port_ = unused_port();
  std::string d = dir_.str();
  std::string conf = d + "/nginx.conf";
  std::ofstream(conf) << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\n"
                      << "error_log " << d << "/error.log;\nevents {}\nhttp {\n"
                      << "  access_log off;\n  client_body_temp_path " << d << "/body;\n"
                      << "  proxy_temp_path " << d << "/proxy;\n"
                      << replace_all(server_blocks, "{PORT}", std::to_string(port_)) << "\n}\n";
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"nginx", "-p", d, "-c", conf, "-e", d + "/error.log"});
  if (!wait_until([&] { return accepts(port_); }))
    throw std::runtime_error("nginx did not start: " + read_file(d + "/error.log"));
}

std::string Nginx::url(const std::string& scheme) const {
  return scheme + "://127.0.0.1:" + std::to_string(port_);
}

TinyProxy::TinyProxy(const std::string& user, const std::string& password) {
  port_ = unused_port();
  std::string conf = dir_.str() + "/tinyproxy.conf";
  std::ofstream out(conf);
  out << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 600\nAllow 127.0.0.1\nLogLevel Error\n"
      << "MaxClients 20\nDisableViaHeader Yes\n";
  if (!user.empty()) out << "BasicAuth " << user << " " << password << "\n";
  out.close();
  process_ =
      std::make_unique<BackgroundProcess>(std::vector<std::string>{"tinyproxy", "-d", "-c", conf});
  if (!wait_until([&] { return accepts(port_); }))
    throw std::runtime_error("tinyproxy did not start: " + process_->output());
}

}  // namespace chexport::testing
