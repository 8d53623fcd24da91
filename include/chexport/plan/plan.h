// Export planning: which tasks a run consists of, and how many rows each must produce.
//
// Per table (docs/planning.md "Planning"):
// - mode "all": one task over the whole table within its bounds (no system table needed);
// - mode "partition" with the table's own partition key (or no partition_expr): one task per
//   partition, counted with count() GROUP BY _partition_id like validation counts, named and sized
//   from system.parts where the user may read it, selected so that it prunes;
// - mode "partition" with another expression: one task per value of it, counted with GROUP BY
//   and selected with `(expr) = <literal>` (`isNull(expr)` for NULL);
// - lower_condition / upper_condition are ANDed into every predicate and every count;
// - a task above SplitOptions' limits is cut into half-open ranges of split_field chosen from the
//   server's own distribution (split_task(), src/split.cc).
// The plan checks itself: the tasks' rows add up to count() within the bounds, else it throws.
// Plans are deterministic for the same data and options: tasks are ordered by output directory.
// Everything here throws chexport::Error (usage for a bad spec, else the server's errors).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/plan/columns.h"
#include "chexport/plan/table_ref.h"

namespace chexport {

enum class TableMode { all, partition };

struct TableSpec {
  TableRef table;
  TableMode mode = TableMode::partition;
  std::string partition_expr;  // empty: the table's partition key
  std::string lower_condition;
  std::string upper_condition;
  std::string split_field;
  std::string bounds() const;  // "(lower) AND (upper)", either, or empty
};

struct SplitOptions {
  uint64_t max_rows_per_task = 0;   // 0 = no limit
  uint64_t max_bytes_per_task = 0;  // 0 = no limit (estimated from uncompressed part sizes)
};

struct Task {
  TableRef table;
  std::string partition;        // the partition (or partition_expr) value as text; "" in mode all
  std::string partition_id;     // system.parts id when selected by partition
  bool partition_null = false;  // a partition_expr's NULL (whose `partition` text is "NULL")
  std::string range;            // the split_field range ("[lo, hi)"), empty when not split
  std::string predicate;        // selects exactly this task's rows; empty means the whole table
  uint64_t planned_rows = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t uncompressed_bytes = 0;
  std::string dir;   // output directory of the task's files, relative to the output root
  std::string note;  // why it was split, or why it could not be
  std::shared_ptr<const std::vector<Column>> columns;  // the table's exported columns
  // A version of the data the task reads: a digest of the names of the active parts of its
  // partition (of the whole table for whole-table and expression tasks). Part names change with
  // every insert, merge, mutation and lightweight delete, so an unchanged version means
  // unchanged rows; resume keeps a task only then.
  std::string data_version;
  // Its place among its shard's tasks (0, 1, ...): --shard-url starts each task at another
  // replica, so that no one replica carries the shard's whole stream.
  uint32_t shard_task_index = 0;
};

struct TablePlan {
  TableSpec spec;
  std::string engine;
  std::string uuid;             // system.tables.uuid where the server has one (20.x+), else empty
  uint64_t rows_in_bounds = 0;  // count() within the bounds, which the tasks add up to
  std::vector<Task> tasks;
  std::vector<Column> columns;  // what every task selects (columns.h)
};

// The predicate that selects exactly one partition and prunes on this server version
// (reference §7): `_partition_id = 'id'` from 21.4, `startsWith(_part, 'id_')` before.
std::string partition_predicate(const ServerVersion& version, std::string_view partition_id);

// Warns (spdlog) once per column whose values CSV will not carry exactly (columns.h).
std::vector<TablePlan> plan_export(ClickHouseClient& client, const ServerVersion& version,
                                   const std::vector<TableSpec>& tables, const SplitOptions& split,
                                   const ColumnOptions& column_options);

// Cuts `task` into ranges of `spec.split_field` of at most `row_limit` rows each (split.cc).
// `field_type` is the column's type as system.columns gives it.
std::vector<Task> split_task(ClickHouseClient& client, const TableSpec& spec, const Task& task,
                             const std::string& field_type, uint64_t row_limit);

// Throws a usage Error unless `type` can be split by (Date, DateTime, DateTime64, integers).
void check_split_field_type(const std::string& column, const std::string& type);

// "a AND b" of the non-empty parts, each parenthesized.
std::string and_predicates(const std::vector<std::string>& parts);

}  // namespace chexport
