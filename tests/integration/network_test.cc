// What stands between users and their servers, for real: nginx terminating TLS and asking for a
// client certificate, a path prefix, error pages and redirects; tinyproxy as an HTTP proxy with
// and without authentication. Against both ClickHouse servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "checks.h"
#include "network.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

std::string small_table() {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db +
             ".t SELECT number % 2, number, concat('\"', toString(number)) FROM numbers(20000)");
  return db;
}

std::string upstream() {
  return "http://127.0.0.1:" + std::to_string(test_server().http_port);
}

TEST(Network, ClientCertificateForATlsTerminator) {
  std::string db = small_table();
  Certificates certs;
  Nginx tls("server {\n listen 127.0.0.1:{PORT} ssl;\n ssl_certificate " + certs.server_cert +
            ";\n ssl_certificate_key " + certs.server_key + ";\n ssl_client_certificate " +
            certs.ca + ";\n ssl_verify_client on;\n location / { proxy_pass " + upstream() +
            "; proxy_buffering off; }\n}\n");
  std::vector<std::string> args = {"export",  "--url",    tls.url("https"), "-t",
                                   db + ".t", "--cacert", certs.ca};
  // Without the certificate: nginx's own page, said as such.
  TempDir refused_out;
  auto refused_args = args;
  refused_args.insert(refused_args.end(), {"-o", refused_out.str()});
  auto refused = run_chexport(refused_args);
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find("(HTTP 400 Bad Request): 400 No required SSL certificate was sent"),
            std::string::npos)
      << refused.output;
  // With it, its key's passphrase from a file, never from argv.
  TempDir out;
  args.insert(args.end(),
              {"-o", out.str(), "--cert", certs.client_cert, "--key", certs.client_key,
               "--key-password-file", certs.client_key_password, "--log-level", "trace"});
  auto r = run_chexport(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 20000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  EXPECT_EQ(r.output.find("key-Secret-7"), std::string::npos);
  // trace names the TLS version and the server's certificate; debug has one line per request.
  EXPECT_NE(r.output.find("chexport: trace: * SSL connection using TLSv1."), std::string::npos)
      << r.output.substr(0, 3000);
  EXPECT_NE(r.output.find("peer certificate Subject:CN = 127.0.0.1"), std::string::npos)
      << r.output.substr(0, 3000);
  EXPECT_NE(r.output.find("chexport: debug: POST " + tls.url("https") + "/?query_id=chexport-"),
            std::string::npos)
      << r.output.substr(0, 3000);
  // A CA file that is not there is a usage error, before any connection.
  auto missing = run_chexport({"export", "--url", tls.url("https"), "-t", db + ".t", "-o",
                               out.str(), "--cacert", certs.dir.str() + "/nope.pem"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("--cacert: cannot read " + certs.dir.str() +
                                "/nope.pem: No such file or directory"),
            std::string::npos)
      << missing.output;
}

TEST(Network, PathPrefixErrorPagesAndRedirects) {
  std::string db = small_table();
  Nginx nginx("server {\n listen 127.0.0.1:{PORT};\n location /ch/ { proxy_pass " + upstream() +
              "/; proxy_buffering off; }\n location = /ch { return 301 /ch/; }\n"
              " location /down/ { return 502; }\n}\n");
  // Behind a path prefix.
  TempDir out;
  auto r = run_chexport({"export", "--url", nginx.url() + "/ch/", "-t", db + ".t", "-o", out.str(),
                         "--progress", "bar"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 20000);
  // With a bar on stderr, every log line clears it first.
  EXPECT_NE(r.output.find("\r\x1b[Kchexport: info: " + db + ".t partition"), std::string::npos)
      << r.output;
  // A 502 page from the balancer: said with its reason and title, and retried in planning too.
  TempDir down_out;
  auto down = run_chexport({"export", "--url", nginx.url() + "/down/", "-t", db + ".t", "-o",
                            down_out.str(), "--retries", "1", "--retry-delay", "0.01"});
  EXPECT_EQ(down.exit_code, 3) << down.output;
  EXPECT_NE(down.output.find("asking the server's version: (HTTP 502 Bad Gateway): 502 Bad "
                             "Gateway (attempt 1 of 2; retrying in"),
            std::string::npos)
      << down.output;
  // A redirect names where to go.
  auto moved =
      run_chexport({"export", "--url", nginx.url() + "/ch", "-t", db + ".t", "-o", down_out.str()});
  EXPECT_EQ(moved.exit_code, 3) << moved.output;
  EXPECT_NE(moved.output.find("(HTTP 301 Moved Permanently): the server redirects to " +
                              nginx.url() + "/ch/; use --url " + nginx.url() + "/ch/"),
            std::string::npos)
      << moved.output;
}

TEST(Network, ThroughAProxyWithAndWithoutCredentials) {
  std::string db = small_table();
  TinyProxy proxy("exporter", "proxy-Secret-9");
  std::string with_credentials =
      "http://exporter:proxy-Secret-9@127.0.0.1:" + std::to_string(proxy.port());
  TempDir out;
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(),
                         "--proxy", with_credentials, "--log-level", "debug"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 20000);
  EXPECT_NE(r.output.find(" via proxy " + proxy.url() + " -> 200"), std::string::npos)
      << r.output.substr(0, 2000);
  EXPECT_EQ(r.output.find("proxy-Secret-9"), std::string::npos);
  EXPECT_EQ(read_file(out.path() / "manifest.json").find("proxy-Secret-9"), std::string::npos);
  // The credentials from a file instead of the command line.
  TempDir secrets, from_file;
  std::string user_file = secrets.str() + "/proxy-user";
  std::ofstream(user_file) << "exporter:proxy-Secret-9\n";
  auto via_file = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                                from_file.str(), "--proxy", proxy.url(), "--proxy-user-file",
                                user_file, "--log-level", "trace"});
  ASSERT_EQ(via_file.exit_code, 0) << via_file.output;
  EXPECT_EQ(via_file.output.find("proxy-Secret-9"), std::string::npos);
  check_manifest(from_file, 20000);
  // The proxy wants credentials: an authentication error, not retried.
  TempDir denied_out;
  auto denied = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                              denied_out.str(), "--proxy", proxy.url()});
  EXPECT_EQ(denied.exit_code, 6) << denied.output;
  EXPECT_NE(denied.output.find("(HTTP 407 Proxy Authentication Required): the proxy " +
                               proxy.url() + " wants credentials"),
            std::string::npos)
      << denied.output;
  // A proxy that is not there is named as the one that failed.
  std::string dead = "http://127.0.0.1:" + std::to_string(unused_port());
  auto gone = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                            denied_out.str(), "--proxy", dead});
  EXPECT_EQ(gone.exit_code, 5) << gone.output;
  EXPECT_NE(
      gone.output.find("cannot connect to " + test_server().url() + " through the proxy " + dead),
      std::string::npos)
      << gone.output;
  // --noproxy goes around it.
  TempDir direct;
  auto around = run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "-o",
                              direct.str(), "--proxy", dead, "--noproxy", "127.0.0.1"});
  EXPECT_EQ(around.exit_code, 0) << around.output;
}

TEST(Network, FlagsAreCheckedBeforeAnythingRuns) {
  auto negative =
      run_chexport({"export", "-t", "a.b", "-o", "/tmp/x", "--max-rows-per-file", "-5"});
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_EQ(negative.output,
            "chexport: error: --max-rows-per-file: must be a whole number, 0 or more, not "
            "\"-5\"\n");
  auto typo = run_chexport({"export", "--tabel", "a.b", "-o", "/tmp/x"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("chexport: error: The following arguments were not expected"),
            std::string::npos)
      << typo.output;
  EXPECT_NE(typo.output.find("(did you mean --table?)"), std::string::npos) << typo.output;
  auto command = run_chexport({"exprot", "-t", "a.b"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_EQ(command.output, "chexport: error: unknown command \"exprot\" (did you mean export?)\n");
  auto dotted = run_chexport({"export", "-t", "db.t.extra", "-o", "/tmp/x"});
  EXPECT_EQ(dotted.exit_code, 2);
  EXPECT_NE(dotted.output.find("table \"db.t.extra\" is not of the form db.table"),
            std::string::npos);
  auto no_db = run_chexport(
      {"export", "--url", test_server().url(), "-t", "no_such_db_xyz.t", "-o", "/tmp/x"});
  EXPECT_EQ(no_db.exit_code, 3) << no_db.output;
  EXPECT_NE(no_db.output.find("database no_such_db_xyz does not exist on the server"),
            std::string::npos)
      << no_db.output;
}

// nginx balancing round robin over two servers that hold the same table: the export is whole,
// and chexport says once that the answering server changed.
TEST(Network, ARoundRobinLoadBalancerIsNoticed) {
  std::string db = small_table();
  PrivateServer other;
  other.query("CREATE DATABASE " + db);
  other.query("CREATE TABLE " + db +
              ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  other.query("INSERT INTO " + db +
              ".t SELECT number % 2, number, concat('\"', toString(number)) FROM numbers(20000)");
  Nginx balancer(
      "upstream clickhouse {\n server 127.0.0.1:" + std::to_string(test_server().http_port) +
      ";\n server 127.0.0.1:" + std::to_string(other.port()) +
      ";\n}\nserver {\n listen 127.0.0.1:{PORT};\n location / { proxy_pass "
      "http://clickhouse; proxy_buffering off; }\n}\n");
  TempDir out;
  auto r = run_chexport({"export", "--url", balancer.url(), "-t", db + ".t", "-o", out.str()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check_manifest(out, 20000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  EXPECT_EQ(count_of(r.output, "the server that answers changed from chexport-"), 1u) << r.output;
  EXPECT_NE(r.output.find(" is a load balancer over several servers"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace chexport::testing
