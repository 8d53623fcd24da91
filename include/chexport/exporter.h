// The export engine: plans the tables, exports each task over HTTP into rotating files, validates
// it, and keeps the manifest. The CLI (src/main.cc) only fills ExportOptions and calls run_export.
//
// Task life cycle: count() before -> stream "SELECT * ... WHERE <predicate> FORMAT <format>"
// through RotatingWriter (temp names) -> check the stream (server status, exception header, curl
// result, error text in the last record, ends on a record boundary) -> rows == count before ->
// finish files -> count() after == rows -> rename to final names. Any failure removes the task's
// temp files, so a failed task never leaves a file under a final name.
//
// run_export() throws chexport::Error only for problems that stop the run before any task starts
// (usage, output directory, connection, authentication, unknown table); task failures are
// reported in the RunResult and the manifest; so are unexpected std::exceptions inside a task. A
// manifest that cannot be written stops the run with that error. Single-threaded for now.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "chexport/http_client.h"
#include "chexport/layout.h"
#include "chexport/plan.h"
#include "chexport/rotating_writer.h"

namespace chexport {

struct OutputOptions {
  std::string dir;
  std::string format = "CSV";  // CSV | CSVWithNames
  Compression compression = Compression::zstd;
  int zstd_level = 3;
  RotationLimits limits;
  bool fresh = false;  // replace an earlier export in `dir`
};

struct ExportOptions {
  ConnectionOptions connection;
  std::vector<TableSpec> tables;
  OutputOptions output;
  SplitOptions split;
  int workers = 1;
};

enum class TaskStatus { pending, done, failed };
const char* to_string(TaskStatus status) noexcept;

struct TaskResult {
  Task task;
  TaskStatus status = TaskStatus::pending;
  std::string query_id;
  uint64_t count_before = 0;
  uint64_t count_after = 0;
  uint64_t written_rows = 0;
  uint64_t csv_bytes = 0;
  uint64_t compressed_bytes = 0;
  double seconds = 0;
  std::string error;
  int exit_code = 0;               // for a failed task
  std::vector<WrittenFile> files;  // paths relative to the output directory
};

struct RunResult {
  std::string server_version;
  std::string started_at;  // UTC, ISO 8601
  std::string finished_at;
  double seconds = 0;
  std::vector<std::string> schema_files;  // relative paths
  std::vector<TaskResult> tasks;
  int exit_code = 0;
  std::string summary;  // one line
};

// Set from a signal handler (both members are lock-free atomics): `requested` stops the run at the
// next callback, `exit_code` is what the run then reports (130 for SIGINT, 143 for SIGTERM).
struct CancelToken {
  std::atomic<int> exit_code{0};
  std::atomic<bool> requested{false};
};

RunResult run_export(const ExportOptions& options, const CancelToken* cancel);

struct RunTotals {
  uint64_t tasks = 0, failed_tasks = 0, files = 0, rows = 0, csv_bytes = 0, compressed_bytes = 0;
};
RunTotals totals_of(const RunResult& run);

// The manifest for a run (README "manifest.json"). Never contains the password.
std::string manifest_json(const ExportOptions& options, const RunResult& run);

}  // namespace chexport
