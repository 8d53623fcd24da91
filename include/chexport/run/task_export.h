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
void export_attempt(Worker& worker, const TaskSource& source, const OutputOptions& out,
                    TaskResult& result, const CancelToken* cancel, Progress& progress, int attempt);

// "db.table partition X range [a, b)", for messages.
std::string task_name(const Task& task);

}  // namespace chexport
