// A ClickHouse cluster for tests of Distributed tables: two private servers of the fixture's
// version (18.16 or 26.7), A and B, on two loopback addresses (127.0.N.11 and 127.0.N.12, N
// chosen per test) with the same HTTP and native ports, so that one URL template reaches either.
// Both know the cluster `two_shards`:
//   shard 1: A, database shard1
//   shard 2: B and A (replicas in this order), database shard2
// A Distributed(two_shards, '', local) table reads `local` in each replica's default database, so
// A holds shard 1 and a replica of shard 2; what a test inserts into shard2.local it inserts on
// both (replicas "holding the same data"). Both servers stop when the cluster is destroyed.
#pragma once

#include <memory>
#include <string>

#include "test_server.h"

namespace chexport::testing {

class TestCluster {
 public:
  TestCluster();
  PrivateServer& a() { return *a_; }
  PrivateServer& b() { return *b_; }
  int http_port() const { return http_port_; }
  // "http://{host}:<http port>", the --shard-url template that reaches every replica.
  std::string shard_url_template() const;
  // Creates `db`.`table` with `columns_and_engine` on the servers that hold `db` (shard1: A;
  // shard2: A and B).
  void create_local(const std::string& db, const std::string& table,
                    const std::string& columns_and_engine);
  // Runs an INSERT ... SELECT into `db` on every server that holds it.
  void insert_local(const std::string& db, const std::string& insert);

 private:
  std::string prefix_;  // "127.0.N."
  int http_port_ = 0;
  std::unique_ptr<PrivateServer> a_, b_;
};

}  // namespace chexport::testing
