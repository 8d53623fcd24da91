#include "cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>

#include "../support/test_util.h"

namespace chexport::testing {
namespace {

// Whether nothing listens on address:port (binding it succeeds).
bool can_bind(const std::string& address, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A port free on both addresses (other than `avoid`).
int common_free_port(const std::string& a, const std::string& b, int avoid) {
  std::mt19937 random(std::random_device{}());
  for (int i = 0; i < 200; ++i) {
    int port = std::uniform_int_distribution<int>(20000, 60000)(random);
    if (port != avoid && can_bind(a, port) && can_bind(b, port)) return port;
  }
  throw std::runtime_error("no port free on both " + a + " and " + b);
}

std::string replica(const std::string& host, int port, const std::string& db) {
  return "<replica><host>" + host + "</host><port>" + std::to_string(port) +
         "</port><default_database>" + db + "</default_database></replica>";
}

}  // namespace

TestCluster::TestCluster() {
  std::mt19937 random(std::random_device{}());
  prefix_ = "127.0." + std::to_string(std::uniform_int_distribution<int>(16, 250)(random)) + ".";
  std::string host_a = prefix_ + "11", host_b = prefix_ + "12";
  http_port_ = common_free_port(host_a, host_b, 0);
  int tcp = common_free_port(host_a, host_b, http_port_);
  TempDir* dir = new TempDir();  // outlives the servers (temp_dirs() would be test_server.cc's)
  std::string xml = dir->str() + "/cluster.xml";
  std::ofstream(xml) << "<remote_servers><two_shards><shard>" << replica(host_a, tcp, "shard1")
                     << "</shard><shard>" << replica(host_b, tcp, "shard2")
                     << replica(host_a, tcp, "shard2")
                     << "</shard></two_shards>"
                     // Clusters whose shard's database remote() cannot tell: its replicas name
                     // different ones, or none.
                     << "<two_databases><shard>" << replica(host_a, tcp, "shard1")
                     << replica(host_b, tcp, "shard2") << "</shard></two_databases>"
                     << "<no_database><shard><replica><host>" << host_a << "</host><port>" << tcp
                     << "</port></replica></shard></no_database></remote_servers>";
  std::map<std::string, std::string> env{{"CHEXPORT_HTTP_PORT", std::to_string(http_port_)},
                                         {"CHEXPORT_TCP_PORT", std::to_string(tcp)},
                                         {"CHEXPORT_CONFIG_XML", xml}};
  env["CHEXPORT_LISTEN_HOST"] = host_a;
  a_ = std::make_unique<PrivateServer>("", env);
  env["CHEXPORT_LISTEN_HOST"] = host_b;
  b_ = std::make_unique<PrivateServer>("", env);
  for (const char* db : {"shard1", "shard2"}) a_->query(std::string("CREATE DATABASE ") + db);
  b_->query("CREATE DATABASE shard2");
  static std::vector<std::unique_ptr<TempDir>> keep;  // removed at exit, after the servers
  keep.emplace_back(dir);
}

std::string TestCluster::shard_url_template() const {
  return "http://{host}:" + std::to_string(http_port_);
}

void TestCluster::create_local(const std::string& db, const std::string& table,
                               const std::string& columns_and_engine) {
  std::string sql = "CREATE TABLE " + db + "." + table + " " + columns_and_engine;
  a_->query(sql);
  if (db == "shard2") b_->query(sql);
}

void TestCluster::insert_local(const std::string& db, const std::string& insert) {
  a_->query(insert);
  if (db == "shard2") b_->query(insert);
}

}  // namespace chexport::testing
