// The machines between chexport and ClickHouse that users have: nginx (TLS with client
// certificates, path prefixes, error pages, redirects) and tinyproxy (an HTTP proxy, with and
// without authentication), from Debian's packages, started on loopback for one test and stopped
// when the test ends, even when it fails.
#pragma once

#include <memory>
#include <string>

#include "../support/test_util.h"
#include "test_server.h"

namespace chexport::testing {

// A private CA, a server certificate for 127.0.0.1, and a client certificate whose key is
// encrypted with the passphrase in client_key_password (made with the openssl command).
struct Certificates {
  Certificates();
  TempDir dir;
  std::string ca, server_cert, server_key, client_cert, client_key, client_key_password;
};

// nginx in the foreground with `server_blocks` (the http{} body: use {PORT} where it listens),
// on a free port, ready when constructed.
class Nginx {
 public:
  explicit Nginx(const std::string& server_blocks);
  int port() const { return port_; }
  std::string url(const std::string& scheme = "http") const;

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

// tinyproxy in the foreground on a free port; with `user`, it asks for basic authentication.
class TinyProxy {
 public:
  explicit TinyProxy(const std::string& user = "", const std::string& password = "");
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace chexport::testing
