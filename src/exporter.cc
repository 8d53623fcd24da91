#include "chexport/exporter.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "chexport/atomic_file.h"
#include "chexport/clickhouse.h"
#include "chexport/error.h"

namespace chexport {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string task_name(const Task& task) {
  std::string name = task.table.display() + " ";
  name += task.partition_id == "all" || task.partition.empty() ? std::string("(whole table)")
                                                               : "partition " + task.partition;
  if (!task.range.empty()) name += " range " + task.range;
  return name;
}

std::string where_clause(const Task& task) {
  return task.predicate.empty() ? std::string() : " WHERE " + task.predicate;
}

uint64_t count_rows(ClickHouseClient& client, const Task& task, const char* when) {
  auto rows =
      client.query_rows("SELECT toString(count()) FROM " + task.table.sql() + where_clause(task),
                        std::string("counting rows of ") + task_name(task) + " " + when);
  return std::stoull(rows.at(0).at(0));
}

// Everything one export attempt needs that outlives the attempt (reused across tasks).
struct Worker {
  ClickHouseClient client;
  std::unique_ptr<ZstdEncoder> encoder;
};

// An error message the server appended to the body (reference §1, check 4), if any. Mid-stream
// errors are transient: the response was already 200, and a new attempt starts from scratch.
void throw_if_server_error_in_tail(const RotatingWriter& writer, const std::string& what) {
  auto found = writer.tail().find_server_error(writer.scanner().in_quotes());
  if (!found) return;
  ServerError e = parse_server_error(found->text);
  uint64_t rows = writer.rows() - std::min(writer.rows(), found->records_in_text);
  std::string message =
      what + ": the server failed mid-stream after " + std::to_string(rows) + " rows: ";
  if (e.code != 0) message += "ClickHouse error " + std::to_string(e.code) + ": ";
  message += e.message;
  throw Error(ErrorKind::transient, ErrorCategory::export_failed, message);
}

// The stream's own evidence of failure: an appended error message, or a body that stops inside a
// record. Returns normally for a clean stream.
void check_stream_tail(const RotatingWriter& writer, const std::string& what) {
  throw_if_server_error_in_tail(writer, what);
  if (!writer.scanner().at_record_boundary()) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                what + ": the response ended inside a record after " +
                    std::to_string(writer.csv_bytes()) + " bytes (truncated stream)");
  }
}

void export_task(Worker& worker, const OutputOptions& out, TaskResult& result,
                 const CancelToken* cancel) {
  const Task& task = result.task;
  const std::string what = "export of " + task_name(task);
  ClickHouseClient& client = worker.client;

  result.count_before = count_rows(client, task, "before export");
  make_directories(out.dir + "/" + task.dir);
  auto path_for = [&](size_t index) {
    return out.dir + "/" + task.dir + "/" + data_file_name(index, out.compression);
  };
  RotatingWriter writer(path_for, out.limits, worker.encoder.get(), out.format == "CSVWithNames");
  result.query_id = new_query_id();
  std::string sql =
      "SELECT * FROM " + task.table.sql() + where_clause(task) + " FORMAT " + out.format;
  spdlog::debug("{}: query_id {}: {}", task_name(task), result.query_id, sql);
  try {
    client.stream(sql, result.query_id, writer, what);
  } catch (const Error& e) {
    // A server message in the tail explains a broken stream better than the transport error;
    // local errors (disk full) stand as they are.
    if (e.category() == ErrorCategory::export_failed) throw_if_server_error_in_tail(writer, what);
    throw;
  }
  if (cancel != nullptr && cancel->requested.load()) {
    throw Error(ErrorKind::cancelled, ErrorCategory::cancelled, what + ": cancelled");
  }
  check_stream_tail(writer, what);
  result.written_rows = writer.rows();
  if (result.written_rows != result.count_before) {
    throw_validation(what + ": received " + std::to_string(result.written_rows) +
                     " rows but count() said " + std::to_string(result.count_before));
  }
  writer.finish();
  result.count_after = count_rows(client, task, "after export");
  if (result.count_after != result.written_rows) {
    throw_validation(what + ": count() changed from " + std::to_string(result.count_before) +
                     " to " + std::to_string(result.count_after) +
                     " during the export (the partition is still being written to)");
  }
  writer.commit();
  result.csv_bytes = writer.csv_bytes();
  result.files = writer.files();
  for (WrittenFile& f : result.files) {
    result.compressed_bytes += f.compressed_bytes;
    f.path = fs::path(f.path).lexically_relative(out.dir).string();
  }
}

void fail_task(TaskResult& result, const Error& e, Clock::time_point task_start, RunResult& run,
               std::string& stop_reason) {
  result.status = TaskStatus::failed;
  result.error = e.what();
  result.exit_code = exit_code_for(e.category());
  result.written_rows = 0;
  result.seconds = seconds_since(task_start);
  spdlog::error("{}", e.what());
  if (run.exit_code == 0) run.exit_code = result.exit_code;
  if (stops_the_run(e.category())) stop_reason = "an earlier task failed: " + result.error;
}

void prepare_output(const ExportOptions& options) {
  const std::string& dir = options.output.dir;
  make_directories(dir);
  std::string manifest = dir + "/manifest.json";
  if (!fs::exists(manifest)) return;
  if (!options.output.fresh) {
    throw_usage(dir + " already holds an export (manifest.json); use --fresh to replace it");
  }
  std::error_code ec;
  fs::remove(manifest, ec);
  for (const TableSpec& t : options.tables) {
    fs::remove_all(dir + "/" + table_dir(t.table.db, t.table.table), ec);
  }
}

void write_manifest(const ExportOptions& options, const RunResult& run) {
  write_file_atomically(options.output.dir + "/manifest.json", manifest_json(options, run));
}

}  // namespace

RunResult run_export(const ExportOptions& options, const CancelToken* cancel) {
  const auto start = Clock::now();
  RunResult run;
  run.started_at = utc_now();
  if (options.tables.empty()) throw_usage("no table to export (use --table db.table)");
  if (options.workers != 1) {
    spdlog::warn("--workers {}: parallel export is not built yet; exporting one task at a time",
                 options.workers);
  }
  if (options.output.format != "CSV" && options.output.format != "CSVWithNames") {
    throw_usage("--format must be CSV or CSVWithNames, not \"" + options.output.format + "\"");
  }

  Worker worker{ClickHouseClient(options.connection),
                options.output.compression == Compression::zstd
                    ? std::make_unique<ZstdEncoder>(options.output.zstd_level)
                    : nullptr};
  if (cancel != nullptr) worker.client.set_cancel_flag(&cancel->requested);
  run.server_version = worker.client.server_version().text;
  ServerVersion version = parse_server_version(run.server_version);
  spdlog::info("connected to ClickHouse {} at {}", run.server_version, options.connection.url);

  std::vector<TablePlan> plans = plan_export(worker.client, version, options.tables, options.split);
  prepare_output(options);

  for (const TablePlan& plan : plans) {
    const TableRef& table = plan.spec.table;
    std::string dir = table_dir(table.db, table.table);
    make_directories(options.output.dir + "/" + dir);
    std::string schema = worker.client.query("SHOW CREATE TABLE " + table.sql() + " FORMAT TSVRaw",
                                             "reading the schema of " + table.display());
    if (!schema.empty() && schema.back() != '\n') schema += '\n';
    write_file_atomically(options.output.dir + "/" + dir + "/schema.sql", schema);
    run.schema_files.push_back(dir + "/schema.sql");
    for (const Task& task : plan.tasks) {
      TaskResult result;
      result.task = task;
      run.tasks.push_back(std::move(result));
    }
    spdlog::info("{}: {} task(s), {} rows planned", table.display(), plan.tasks.size(),
                 plan.rows_in_bounds);
    if (plan.tasks.empty())
      spdlog::warn("{}: nothing to export within the bounds", table.display());
  }

  std::string stop_reason;  // set when an error makes the remaining tasks pointless
  for (TaskResult& result : run.tasks) {
    if (cancel != nullptr && cancel->requested.load() && stop_reason.empty()) {
      stop_reason = "cancelled";
    }
    if (!stop_reason.empty()) {
      result.status = TaskStatus::failed;
      result.error = "not started: " + stop_reason;
      result.exit_code = run.exit_code != 0 ? run.exit_code : cancel->exit_code.load();
      continue;
    }
    const auto task_start = Clock::now();
    try {
      export_task(worker, options.output, result, cancel);
      result.status = TaskStatus::done;
      result.seconds = seconds_since(task_start);
      spdlog::info("{}: {} rows in {} file(s), {} CSV -> {} ({:.2f} s)", task_name(result.task),
                   result.written_rows, result.files.size(), human_bytes(result.csv_bytes),
                   human_bytes(result.compressed_bytes), result.seconds);
    } catch (const Error& e) {
      fail_task(result, e, task_start, run, stop_reason);
    } catch (const std::exception& e) {
      // Not expected (a malformed answer, say), but it must not lose the manifest.
      Error error(ErrorKind::permanent, ErrorCategory::export_failed,
                  "export of " + task_name(result.task) + ": " + e.what());
      fail_task(result, error, task_start, run, stop_reason);
    }
    run.seconds = seconds_since(start);
    write_manifest(options, run);
  }

  run.finished_at = utc_now();
  run.seconds = seconds_since(start);
  if (cancel != nullptr && cancel->requested.load()) run.exit_code = cancel->exit_code.load();
  write_manifest(options, run);
  RunTotals totals = totals_of(run);
  char line[512];
  std::snprintf(line, sizeof line,
                "%s: %llu task(s), %llu failed; %llu rows, %llu file(s), %s CSV -> %s in %.2f s "
                "(%.1f MB/s) into %s",
                totals.failed_tasks == 0 ? "export complete" : "export FAILED",
                static_cast<unsigned long long>(totals.tasks),
                static_cast<unsigned long long>(totals.failed_tasks),
                static_cast<unsigned long long>(totals.rows),
                static_cast<unsigned long long>(totals.files),
                human_bytes(totals.csv_bytes).c_str(), human_bytes(totals.compressed_bytes).c_str(),
                run.seconds,
                run.seconds > 0 ? static_cast<double>(totals.csv_bytes) / 1e6 / run.seconds : 0.0,
                options.output.dir.c_str());
  run.summary = line;
  return run;
}

}  // namespace chexport
