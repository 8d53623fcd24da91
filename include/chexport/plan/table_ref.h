// A table as the user names it, and as SQL names it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chexport {

// One shard of a Distributed table (docs/clusters.md), read through the one HTTP endpoint the
// user has: remote() with the shard's replicas, so that the server picks a live one and fails over
// to the next on connection errors.
struct ShardSource {
  uint32_t num = 0;                   // system.clusters' shard_num
  std::string cluster;                //
  std::vector<std::string> replicas;  // "host:port" of the native protocol, system.clusters' order
  std::vector<std::string> hosts;     // the replicas' host names, same order (for --shard-url)
  std::string local_db, local_table;  // the table the Distributed table reads on each shard
  // ", 'user', 'password'" for remote(), or empty for the user default without a password. A
  // secret: only sql() and system_table() put it into SQL, which is never logged.
  std::string credentials;
  // remote('replicas', <args><credentials>)
  std::string remote(std::string_view args) const;
};

struct TableRef {
  std::string db;
  std::string table;
  std::shared_ptr<const ShardSource> shard =
      nullptr;  // set for the tasks of one shard of a Distributed table
  std::string display() const { return db + "." + table; }
  // `db`.`table`; for a shard, remote() of its local table.
  std::string sql() const;
  // The system table `name` (system.tables, system.parts) of the server that stores the rows: the
  // shard's through remote().
  std::string system_table(std::string_view name) const;
  // The names the table has where its rows are stored (system.parts' database and table).
  const std::string& stored_db() const { return shard ? shard->local_db : db; }
  const std::string& stored_table() const { return shard ? shard->local_table : table; }
};

// "db.table" or "table" (database "default"); throws a usage Error for anything else.
TableRef parse_table_ref(std::string_view text);

}  // namespace chexport
