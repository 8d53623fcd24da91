// The export engine: plans the tables, resumes what an earlier run left, and exports the tasks
// with N workers over HTTP into rotating files, retrying what is worth retrying and keeping the
// manifest current. The CLI (src/main.cc) only fills ExportOptions and calls run_export.
//
// Scheduling: tasks to export are ordered largest first and handed out from one shared queue, so
// a slow task never idles the other workers; each worker owns one connection and one zstd
// context (task_export.h). A task is retried on transient errors (exponential backoff with
// jitter, Retry-After honoured, a new query_id each time) and not on permanent ones; after an
// error that would hit every task (disk, authentication, connection after its retries,
// interruption) no new task starts. The manifest is rewritten atomically after every task.
//
// run_export() throws chexport::Error for problems before any task starts (usage, output
// directory, connection, authentication, unknown table, a plan that does not add up) and when the
// manifest cannot be written; task failures are reported in the RunResult and the manifest.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/clickhouse/http_client.h"
#include "chexport/clickhouse/wire_compression.h"
#include "chexport/output/layout.h"
#include "chexport/pipeline/rotating_writer.h"
#include "chexport/plan/plan.h"
#include "chexport/run/progress.h"
#include "chexport/run/worker_share.h"

namespace chexport {

struct OutputOptions {
  std::string dir;             // "-": standard output (stdout_file.h)
  std::string manifest_path;   // default <dir>/manifest.json; with "-", none unless given
  std::string format = "CSV";  // CSV | CSVWithNames
  DateTimeFormat datetime_format = DateTimeFormat::text;
  Compression compression = Compression::zstd;
  int zstd_level = 3;
  RotationLimits limits;
  bool fresh = false;               // replace an earlier export in `dir` instead of resuming it
  bool break_lock = false;          // take an S3 output's lock from a run that is gone
  std::string on_file;              // command run for each finished file (file_hook.h)
  bool delete_after_hook = false;   // remove each file once its command succeeded
  uint64_t s3_part_size = 8 << 20;  // with an s3:// output (store.h)
  std::string s3_profile;           // the AWS profile for s3:// (aws_credentials.h)
  std::string s3_addressing;        // path, virtual, auto; empty: the profile's (s3.h)
  bool s3_checksums = true;         // ask S3 to keep SHA-256 checksums (s3.h)
  std::vector<std::string> hidden_env = {"CLICKHOUSE_PASSWORD"};  // not passed to --on-file
  WorkerShare worker;  // --worker K/N: this host's share of the plan (worker_share.h)
  bool to_stdout() const { return dir == "-"; }
};

struct RetryPolicy {
  int retries = 5;           // further attempts after the first
  double first_delay = 1.0;  // seconds; doubled each time, with jitter
  double max_delay = 30.0;   // seconds, also the cap on Retry-After
};

// The pause before attempt `attempt` + 1 after `e`: doubled each time from first_delay, with
// jitter (workers do not retry in step), at most max_delay, at least a Retry-After (capped too).
double retry_delay(const RetryPolicy& policy, int attempt, const Error& e);

struct ExportOptions {
  ConnectionOptions connection;
  WireCompression wire;  // how the server compresses the tasks' answers
  std::vector<TableSpec> tables;
  OutputOptions output;
  SplitOptions split;
  RetryPolicy retry;
  int workers = 1;
  ProgressMode progress = ProgressMode::none;
  // --shard-url: the URL of a shard's replica, "{host}" standing for its host name (and "{shard}"
  // for its number). Empty: shards are read through `connection` (remote()).
  std::string shard_url;
};

// The --shard-url template for one replica; throws a usage Error for a template without {host}.
std::string shard_replica_url(const std::string& shard_url, const std::string& host,
                              uint32_t shard);

enum class TaskStatus { pending, done, failed };
const char* to_string(TaskStatus status) noexcept;

struct TaskResult {
  Task task;
  TaskStatus status = TaskStatus::pending;
  std::string query_id;
  ResponseInfo server;  // what the server said about the export query (its last attempt)
  uint64_t count_before = 0;
  uint64_t count_after = 0;
  uint64_t written_rows = 0;
  uint64_t csv_bytes = 0;
  uint64_t compressed_bytes = 0;
  double seconds = 0;
  std::string error;
  int exit_code = 0;  // for a failed task
  int attempts = 0;
  bool kept = false;               // done by an earlier run, verified and kept
  std::vector<WrittenFile> files;  // paths relative to the output directory
};

// Which server and which tables an export read: a resume keeps tasks only from the same ones.
struct ExportIdentity {
  std::string hostname;                            // SELECT hostName()
  std::string url;                                 // the --url the export used
  std::map<std::string, std::string> table_uuids;  // "db.table" -> UUID (empty on 18.16)
};

struct RunResult {
  std::string server_version;
  std::string server_timezone;
  ExportIdentity identity;
  std::vector<std::vector<Column>> table_columns;  // per options.tables entry
  std::map<std::string, std::string> fingerprint;  // what resume compares (resume.h)
  std::string started_at;                          // UTC, ISO 8601
  std::string finished_at;
  double seconds = 0;
  std::vector<std::string> schema_files;  // relative paths
  WireChoice wire;                        // how the server compressed its answers
  // With --worker: the whole plan's task count and digest (tasks holds this worker's share).
  uint64_t plan_tasks = 0;
  std::string plan_digest;
  std::set<std::string> plan_dirs;  // --worker: the task directories of the whole plan
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
  uint64_t wire_bytes = 0;  // the export queries' bodies as received (their last attempts)
};
RunTotals totals_of(const RunResult& run);

// The manifest for a run (docs/output-layout-and-manifest.md "manifest.json"). Never contains the
// password.
std::string manifest_json(const ExportOptions& options, const RunResult& run);

// Above this many tasks, the lines a run logs for each task go to debug level, and a summary
// comes at info level every 10 seconds instead.
inline constexpr size_t per_task_log_limit = 200;
// One task as manifest_json() writes it, on one line (task_journal.h).
std::string task_json_line(const TaskResult& task);

}  // namespace chexport
