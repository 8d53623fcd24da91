// Export planning: one task per partition of a table, read from system.parts.
//
// Plans are pure data, deterministic for the same table contents: tasks are ordered by their
// output directory name, which is derived only from the partition value. plan_table() throws
// chexport::Error (unknown table, server errors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chexport/clickhouse.h"

namespace chexport {

struct TableRef {
  std::string db;
  std::string table;
  std::string display() const { return db + "." + table; }
  std::string sql() const;  // `db`.`table`
};

// "db.table" or "table" (database "default"); throws a usage Error for anything else.
TableRef parse_table_ref(std::string_view text);

struct Task {
  TableRef table;
  std::string partition;     // the partition key's value as ClickHouse prints it ("201503")
  std::string partition_id;  // "all" for an unpartitioned table
  std::string predicate;     // selects exactly this task's rows; empty means the whole table
  uint64_t planned_rows = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t uncompressed_bytes = 0;
  std::string dir;  // output directory of the task's files, relative to the output root
};

struct TablePlan {
  TableRef table;
  std::string engine;
  std::vector<Task> tasks;
};

// The predicate that selects exactly one partition and prunes on this server version
// (reference §7): `_partition_id = 'id'` from 21.4, `startsWith(_part, 'id_')` before.
std::string partition_predicate(const ServerVersion& version, std::string_view partition_id);

TablePlan plan_table(ClickHouseClient& client, const ServerVersion& version, const TableRef& table);

}  // namespace chexport
