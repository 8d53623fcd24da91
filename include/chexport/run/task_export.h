// One attempt at exporting one task: count() before, stream the query through a RotatingWriter
// into temp files, check the stream (status, exception header, curl result, error text in the
// tail, record boundary), rows == count before, finish the files, count() after == rows, rename
// the files to their final names. Any failure throws chexport::Error and removes every file of
// the attempt, so a failed attempt leaves nothing under a final name.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/output/store.h"
#include "chexport/pipeline/zstd_encoder.h"
#include "chexport/run/exporter.h"
#include "chexport/run/progress.h"

namespace chexport {

// What one worker owns and reuses across tasks: a connection and a compression context.
// Used by one thread at a time.
struct Worker {
  Worker(const ExportOptions& options, const CancelToken* cancel);
  // A connection to `url` with the run's other connection options (--shard-url's replicas),
  // opened on first use and kept.
  ClickHouseClient& client_at(const std::string& url);
  ClickHouseClient client;
  ConnectionOptions connection;
  const CancelToken* cancel = nullptr;
  std::map<std::string, std::unique_ptr<ClickHouseClient>> replica_clients;
  std::unique_ptr<ZstdEncoder> encoder;  // null without compression
  std::unique_ptr<Store> store;          // null with --out -
};

// Fills result.query_id (a new one per attempt), counts, rows, bytes and files (relative paths).
// Where an attempt reads the task's rows: through the run's connection (`client` is
// worker.client, `table` the task's), or straight from a shard's replica (--shard-url: that
// replica's connection and the local table).
struct TaskSource {
  ClickHouseClient& client;
  TableRef table;
};
// With `defer_check`, the attempt ends once the files are committed: the columns and count() after
// export are left to check_batch() (result.count_after stays 0).
void export_attempt(Worker& worker, const TaskSource& source, const OutputOptions& out,
                    TaskResult& result, const CancelToken* cancel, Progress& progress, int attempt,
                    bool defer_check = false);

// Tasks of at most this many planned rows (through the run's connection, without --on-file) are
// checked after export in batches of up to batch_check_tasks: a round trip per task costs more
// than such a task's rows. In CSV, such tasks of one table are also exported together, up to
// batch_check_tasks of them and batch_check_max_rows rows in all, by export_group_attempt.
inline constexpr uint64_t batch_check_max_rows = 100000;
inline constexpr size_t batch_check_tasks = 64;
// And at most this many bytes (uncompressed, as stored) in all: the server sorts a group's rows
// by task before it sends the first.
inline constexpr uint64_t group_max_bytes = 64 << 20;

// One attempt at exporting the small tasks `results` (of one table, read through `source`) with
// one query instead of one each: a query costs the server more the more parts the table has, and
// a round trip, which tiny partitions do not outweigh. Each row comes tagged with its task's
// number (multiIf of the predicates), ordered by it, and goes without the tag into that task's
// files (RecordRouter). Ends like export_attempt with its check deferred: each task received
// exactly its planned rows and its files are committed. Else throws Error, with no file of the
// group left (the caller then exports the tasks one by one).
void export_group_attempt(Worker& worker, const TaskSource& source, const OutputOptions& out,
                          const std::vector<TaskResult*>& results, const CancelToken* cancel,
                          Progress& progress);

// One row: count() of each predicate's rows in `from`, in order, as text (one scan of their union).
std::string count_each_query(const std::string& from, const std::vector<std::string>& predicates);

// The deferred checks of tasks read through `client` from `table` (one table, or one shard's
// remote()): its columns against `columns` (a validation Error if they changed), then every
// task's count() now, in one query (countIf of each predicate, over their union); in order.
// Throws Error as a query does.
std::vector<uint64_t> check_batch(ClickHouseClient& client, const TableRef& table,
                                  const std::vector<Column>& columns,
                                  const std::vector<const Task*>& tasks);

// "db.table partition X range [a, b)", for messages.
std::string task_name(const Task& task);

}  // namespace chexport
