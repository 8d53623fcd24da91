#include "chexport/common/json_writer.h"
#include "chexport/common/version.h"
#include "chexport/plan/plan_report.h"
#include "chexport/run/exporter.h"
#include "chexport/run/resume.h"

namespace chexport {

const char* to_string(TaskStatus status) noexcept {
  switch (status) {
    case TaskStatus::pending:
      return "pending";
    case TaskStatus::done:
      return "done";
    case TaskStatus::failed:
      return "failed";
  }
  return "unknown";
}

RunTotals totals_of(const RunResult& run) {
  RunTotals t;
  for (const TaskResult& task : run.tasks) {
    ++t.tasks;
    t.failed_tasks += task.status == TaskStatus::failed ? 1 : 0;
    t.files += task.files.size();  // only a task that succeeded has files
    t.rows += task.written_rows;
    t.csv_bytes += task.csv_bytes;
    t.compressed_bytes += task.compressed_bytes;
    t.wire_bytes += task.server.wire_bytes.value_or(0);
  }
  return t;
}

namespace {

// Only what the server sent: 18.16 sends no query id, time zone or summary.
void write_response_info(JsonWriter& j, const ResponseInfo& info) {
  j.key("server_response").begin_object();
  for (const auto& [name, text] : response_text_fields) {
    if (!(info.*text).empty()) j.field(name, info.*text);
  }
  for (const auto& [name, number] : response_number_fields) {
    if ((info.*number).has_value()) j.field(name, *(info.*number));
  }
  j.end_object();
}

void write_options(JsonWriter& j, const ExportOptions& options, const RunResult& run) {
  const OutputOptions& out = options.output;
  j.key("options").begin_object();
  j.field("format", out.format);
  j.field("datetime_format", to_string(out.datetime_format));
  j.field("compression", out.compression == Compression::zstd ? "zstd" : "none");
  j.field("zstd_level", out.zstd_level);
  j.field("max_rows_per_file", out.limits.max_rows);
  j.field("max_bytes_per_file", out.limits.max_csv_bytes);
  j.field("max_compressed_bytes_per_file", out.limits.max_compressed_bytes);
  j.key("settings").begin_object();
  for (const auto& [k, v] : options.connection.settings) j.field(k, v);
  j.end_object();
  j.key("wire_compression").begin_object();
  j.field("requested", wire_method_name(options.wire.method));
  j.field("encoding", run.wire.encoding);
  if (run.wire.level) j.field("level", *run.wire.level);
  if (!run.wire.reason.empty()) j.field("reason", run.wire.reason);
  j.end_object();
  j.end_object();

  j.key("fingerprint").begin_object();
  for (const auto& [k, v] : run.fingerprint) j.field(k, v);
  j.end_object();
  j.key("split")
      .begin_object()
      .field("max_rows_per_task", options.split.max_rows_per_task)
      .field("max_bytes_per_task", options.split.max_bytes_per_task)
      .end_object();
}

void write_tables(JsonWriter& j, const ExportOptions& options, const RunResult& run) {
  j.key("tables").begin_array();
  for (size_t i = 0; i < options.tables.size(); ++i) {
    const TableSpec& t = options.tables[i];
    j.begin_object().field("db", t.table.db).field("table", t.table.table);
    j.field("mode", t.mode == TableMode::all ? "all" : "partition");
    j.field("partition_expr", t.partition_expr);
    j.field("lower_condition", t.lower_condition).field("upper_condition", t.upper_condition);
    j.field("split_field", t.split_field);
    if (i < run.schema_files.size()) j.field("schema", run.schema_files[i]);
    if (auto it = run.identity.table_uuids.find(t.table.display());
        it != run.identity.table_uuids.end())
      j.field("uuid", it->second);
    if (i < run.table_columns.size()) write_columns(j, run.table_columns[i]);
    j.end_object();
  }
  j.end_array();
}

void write_task(JsonWriter& j, const TaskResult& t) {
  j.begin_object();
  j.field("db", t.task.table.db).field("table", t.task.table.table);
  write_task_fields(j, t.task);
  j.field("expected_rows", t.count_before);
  j.field("rows_after", t.count_after);
  j.field("written_rows", t.written_rows);
  j.field("csv_bytes", t.csv_bytes).field("compressed_bytes", t.compressed_bytes);
  j.field("status", to_string(t.status));
  if (!t.error.empty()) j.field("error", t.error);
  j.field("query_id", t.query_id).field("attempts", t.attempts).field("kept", t.kept);
  write_response_info(j, t.server);
  j.field("seconds", t.seconds);
  j.key("files").begin_array();
  for (const WrittenFile& f : t.files) {
    j.begin_object()
        .field("path", f.path)
        .field("rows", f.rows)
        .field("csv_bytes", f.csv_bytes)
        .field("compressed_bytes", f.compressed_bytes)
        .field("sha256", f.sha256)
        .field("handed_off", f.handed_off);
    if (!f.etag.empty()) j.field("etag", f.etag);
    if (!f.s3_checksum.empty()) j.field("s3_checksum_sha256", f.s3_checksum);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

}  // namespace

std::string task_json_line(const TaskResult& task) {
  JsonWriter j(false);
  write_task(j, task);
  return j.str();
}

std::string manifest_json(const ExportOptions& options, const RunResult& run) {
  JsonWriter j;
  j.begin_object();
  j.field("manifest_version", 1);
  j.key("tool")
      .begin_object()
      .field("name", "chexport")
      .field("version", CHEXPORT_VERSION)
      .end_object();
  j.key("server")
      .begin_object()
      .field("url", options.connection.url)
      .field("user",
             options.connection.user.empty() ? std::string("default") : options.connection.user)
      .field("version", run.server_version)
      .field("timezone", run.server_timezone)
      .field("hostname", run.identity.hostname)
      .end_object();
  j.field("started_at", run.started_at)
      .field("finished_at", run.finished_at)
      .field("seconds", run.seconds);
  write_options(j, options, run);
  if (const WorkerShare& w = options.output.worker; w.shared()) {
    j.key("worker")
        .begin_object()
        .field("index", static_cast<uint64_t>(w.index))
        .field("count", static_cast<uint64_t>(w.count))
        .field("plan_tasks", run.plan_tasks)
        .field("plan_digest", run.plan_digest)
        .end_object();
  }
  write_tables(j, options, run);
  j.key("tasks").begin_array();
  for (const TaskResult& t : run.tasks) write_task(j, t);
  j.end_array();
  RunTotals totals = totals_of(run);
  j.key("totals")
      .begin_object()
      .field("tasks", totals.tasks)
      .field("failed_tasks", totals.failed_tasks)
      .field("files", totals.files)
      .field("rows", totals.rows)
      .field("csv_bytes", totals.csv_bytes)
      .field("compressed_bytes", totals.compressed_bytes)
      .field("wire_bytes", totals.wire_bytes)
      .end_object();
  j.field("exit_code", run.exit_code);
  j.end_object();
  return j.str();
}

}  // namespace chexport
