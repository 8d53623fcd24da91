// Distributed tables: which cluster and local table one reads, and the shards that hold its rows
// (docs/clusters.md). Planning (plan.h) makes one task per shard and partition of the local table
// and reads each shard through remote() on the server the user connects to.
//
// Everything here throws chexport::Error: usage for a cluster or engine that cannot be read,
// else what the server's errors are.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/plan/table_ref.h"

namespace chexport {

struct DistributedEngine {
  std::string cluster;
  std::string db;  // may be empty: each shard's default database
  std::string table;
};

// The arguments of "Distributed(cluster, db, table[, sharding_key[, policy]])" as system.tables'
// engine_full gives them (quoted on modern servers, bare on 18.16); none for other engines.
std::optional<DistributedEngine> parse_distributed_engine(std::string_view engine_full);

// The credentials remote() passes to a shard: the user chexport connects as, or none for the
// user default without a password. A secret (table_ref.h).
std::string remote_credentials(const ConnectionOptions& connection);

// The shards of the engine's cluster, from system.clusters of the server `client` talks to,
// ordered by shard number. `dist` is the Distributed table (for messages and the database an empty
// engine argument means).
std::vector<std::shared_ptr<const ShardSource>> read_shards(ClickHouseClient& client,
                                                            const DistributedEngine& engine,
                                                            const TableRef& dist);

// "host:port" for remote(): IPv6 addresses in brackets.
std::string native_address(const std::string& host, const std::string& port);

}  // namespace chexport
