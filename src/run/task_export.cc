#include "chexport/run/task_export.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "chexport/common/error.h"
#include "chexport/output/file_hook.h"
#include "chexport/output/stdout_file.h"
#include "chexport/pipeline/atomic_file.h"
#include "chexport/pipeline/record_router.h"
#include "chexport/pipeline/rotating_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chexport {
namespace {

std::string where_clause(const Task& task) {
  return task.predicate.empty() ? std::string() : " WHERE " + task.predicate;
}

uint64_t count_rows(const TaskSource& source, const Task& task, const char* when) {
  auto rows = source.client.query_rows(
      "SELECT toString(count()) FROM " + source.table.sql() + where_clause(task),
      std::string("counting rows of ") + task_name(task) + " " + when);
  return std::stoull(rows.at(0).at(0));
}

// An error message the server appended to the body (reference §1, check 4), if any. The response
// was already 200, so the error is classified by its code, like an error before the stream: a
// deterministic one (throwIf, a result limit, a parse error) would fail every attempt alike.
void throw_if_server_error_in_tail(const StreamTail& tail, const CsvScanner& scanner,
                                   uint64_t stream_rows, const ResponseInfo& info,
                                   const std::string& what) {
  auto found = tail.find_server_error(scanner.in_quotes(), info.exception_tag);
  if (!found) return;
  ServerError e = parse_server_error(found->text);
  uint64_t rows = stream_rows - std::min(stream_rows, found->records_in_text);
  std::string message =
      what + ": the server failed mid-stream after " + std::to_string(rows) + " rows: ";
  if (e.code != 0) message += "ClickHouse error " + std::to_string(e.code) + ": ";
  message += e.message;
  // Without a code nothing says the error would repeat: try again.
  ErrorKind kind = e.code == 0 ? ErrorKind::transient : classify_server_code(e.code);
  throw Error(kind, ErrorCategory::export_failed, message).with_server_code(e.code);
}

void throw_if_server_error_in_tail(const RotatingWriter& writer, const ResponseInfo& info,
                                   const std::string& what) {
  throw_if_server_error_in_tail(writer.tail(), writer.scanner(), writer.rows(), info, what);
}

// The stream's own evidence of failure: an appended error message, or a body that stops inside a
// record. Returns normally for a clean stream.
void check_stream_tail(const RotatingWriter& writer, const ResponseInfo& info,
                       const std::string& what) {
  throw_if_server_error_in_tail(writer, info, what);
  if (!writer.scanner().at_record_boundary()) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                what + ": the response ended inside a record after " +
                    std::to_string(writer.csv_bytes()) + " bytes (truncated stream)");
  }
}

// Passes the stream on to the writer and tells the progress display how far it got.
class ProgressSink final : public ByteSink {
 public:
  ProgressSink(RotatingWriter& writer, Progress& progress) : writer_(writer), progress_(progress) {}
  ~ProgressSink() override { progress_.take_back(bytes_, rows_); }  // only kept when committed
  void write(std::string_view data) override {
    writer_.write(data);
    uint64_t rows = writer_.rows();
    progress_.add(data.size(), rows - rows_);
    bytes_ += data.size();
    rows_ = rows;
  }
  void finish() override { writer_.finish(); }
  void cancel() noexcept override { writer_.cancel(); }
  void keep() noexcept { bytes_ = rows_ = 0; }

 private:
  RotatingWriter& writer_;
  Progress& progress_;
  uint64_t bytes_ = 0, rows_ = 0;
};

// Runs --on-file for each committed file (paths relative to the store); on a failure, takes
// every file of the task back so that the retry starts from nothing.
void hand_off(const OutputOptions& out, Store& store, const TaskResult& result,
              const std::vector<WrittenFile>& files) {
  const Task& task = result.task;
  size_t done = 0;
  try {
    for (; done < files.size(); ++done) {
      const WrittenFile& f = files[done];
      std::string where = store.describe(f.path);
      if (store.is_local()) where = std::filesystem::absolute(where).lexically_normal().string();
      run_file_hook(out.on_file,
                    {{"CHEXPORT_FILE", where},
                     {"CHEXPORT_FILE_NAME", f.path},
                     {"CHEXPORT_DB", task.table.db},
                     {"CHEXPORT_TABLE", task.table.table},
                     {"CHEXPORT_PARTITION", task.partition},
                     {"CHEXPORT_RANGE", task.range},
                     {"CHEXPORT_ROWS", std::to_string(f.rows)},
                     {"CHEXPORT_CSV_BYTES", std::to_string(f.csv_bytes)},
                     {"CHEXPORT_COMPRESSED_BYTES", std::to_string(f.compressed_bytes)},
                     {"CHEXPORT_SHA256", f.sha256},
                     {"CHEXPORT_QUERY_ID", result.query_id}},
                    out.hidden_env);
      if (out.delete_after_hook) store.remove(f.path);
    }
  } catch (const Error&) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (out.delete_after_hook && i < done) continue;
      try {
        store.remove(files[i].path);
      } catch (const std::exception& e) {
        spdlog::error("could not take back {}: {}", store.describe(files[i].path), e.what());
      }
    }
    throw;
  }
}

}  // namespace

std::string count_each_query(const std::string& from, const std::vector<std::string>& predicates) {
  std::string select, where;
  for (const std::string& p : predicates) {
    select += std::string(select.empty() ? "" : ", ") + "toString(countIf(" + p + "))";
    where += std::string(where.empty() ? "" : " OR ") + "(" + p + ")";
  }
  return "SELECT " + select + " FROM " + from + " WHERE " + where;
}

std::vector<uint64_t> check_batch(ClickHouseClient& client, const TableRef& table,
                                  const std::vector<Column>& columns,
                                  const std::vector<const Task*>& tasks) {
  std::string what = "checking " + std::to_string(tasks.size()) + " task(s) of " + table.display() +
                     " after export";
  check_layout_unchanged(client, table, columns, what);
  std::vector<std::string> predicates;
  for (const Task* task : tasks) predicates.push_back(task->predicate);
  auto rows = client.query_rows(count_each_query(table.sql(), predicates), what);
  std::vector<uint64_t> counts;
  for (size_t i = 0; i < tasks.size(); ++i) counts.push_back(std::stoull(rows.at(0).at(i)));
  return counts;
}

std::string task_name(const Task& task) {
  std::string name = task.table.display() + " ";
  if (task.table.shard) name += "shard " + std::to_string(task.table.shard->num) + " ";
  name += task.partition_id == "all" || task.partition.empty() ? std::string("(whole table)")
                                                               : "partition " + task.partition;
  if (!task.range.empty()) name += " range " + task.range;
  return name;
}

Worker::Worker(const ExportOptions& options, const CancelToken* cancel)
    : client(options.connection),
      connection(options.connection),
      cancel(cancel),
      encoder(options.output.compression == Compression::zstd
                  ? std::make_unique<ZstdEncoder>(options.output.zstd_level)
                  : nullptr),
      store(options.output.to_stdout()
                ? nullptr
                : open_store(options.output.dir, options.output.s3_part_size)) {
  if (cancel != nullptr) client.set_cancel_flag(&cancel->requested);
}

ClickHouseClient& Worker::client_at(const std::string& url) {
  auto& slot = replica_clients[url];
  if (!slot) {
    ConnectionOptions options = connection;
    options.url = url;
    slot = std::make_unique<ClickHouseClient>(options);
    if (cancel != nullptr) slot->set_cancel_flag(&cancel->requested);
  }
  return *slot;
}

namespace {

// Removes the committed files of `writers` (a group's tasks, up to the one whose commit failed).
void take_back_files(Store& store, const std::vector<std::vector<std::string>>& names,
                     size_t count) {
  for (size_t i = 0; i < count; ++i) {
    for (const std::string& path : names[i]) {
      try {
        store.remove(path);
      } catch (const std::exception& e) {
        spdlog::error("could not take back {}: {}", store.describe(path), e.what());
      }
    }
  }
}

// Splits a count of one response among the tasks of its group by `weight`, so that the tasks add
// up to it.
void share(const std::optional<uint64_t>& total, const std::vector<TaskResult*>& results,
           uint64_t TaskResult::*weight, std::optional<uint64_t> ResponseInfo::*field) {
  if (!total) return;
  uint64_t sum = 0, given = 0;
  for (const TaskResult* r : results) sum += r->*weight;
  for (size_t i = 0; i < results.size(); ++i) {
    double part = sum == 0
                      ? 0
                      : static_cast<double>(*total) * static_cast<double>(results[i]->*weight) /
                            static_cast<double>(sum);
    uint64_t n = i + 1 == results.size() ? *total - given : static_cast<uint64_t>(part);
    results[i]->server.*field = n;
    given += n;
  }
}

// Each task of a group records the response's headers and its share of the response's counts:
// bytes on the wire by CSV bytes, rows and bytes read by rows.
void share_response(const ResponseInfo& server, const std::vector<TaskResult*>& results) {
  for (TaskResult* r : results) r->server = server;
  share(server.wire_bytes, results, &TaskResult::csv_bytes, &ResponseInfo::wire_bytes);
  share(server.read_rows, results, &TaskResult::written_rows, &ResponseInfo::read_rows);
  share(server.read_bytes, results, &TaskResult::written_rows, &ResponseInfo::read_bytes);
  share(server.total_rows_to_read, results, &TaskResult::written_rows,
        &ResponseInfo::total_rows_to_read);
}

}  // namespace

void export_group_attempt(Worker& worker, const TaskSource& source, const OutputOptions& out,
                          const std::vector<TaskResult*>& results, const CancelToken* cancel,
                          Progress& progress) {
  const Task& first = results.front()->task;
  const std::string what = "export of " + std::to_string(results.size()) + " tasks of " +
                           first.table.display() + " in one query";
  const size_t n = results.size();
  std::vector<std::vector<std::string>> names(n);
  std::vector<std::unique_ptr<RotatingWriter>> writers;
  std::vector<std::unique_ptr<ProgressSink>> sinks;
  std::vector<ByteSink*> routes;
  std::string tag = "multiIf(", where;
  for (size_t i = 0; i < n; ++i) {
    const Task& task = results[i]->task;
    tag += "(" + task.predicate + "), " + std::to_string(i) + ", ";
    where += (i == 0 ? "(" : " OR (") + task.predicate + ")";
    FileOpener open = [&names, &worker, &out, i, dir = task.dir](size_t index) {
      names[i].push_back(dir + "/" + data_file_name(index, out.compression));
      return worker.store->create(names[i].back());
    };
    writers.push_back(
        std::make_unique<RotatingWriter>(open, out.limits, worker.encoder.get(), false));
    sinks.push_back(std::make_unique<ProgressSink>(*writers.back(), progress));
    routes.push_back(sinks.back().get());
  }
  tag += "-1)";
  RecordRouter router(routes);
  const std::string query_id = new_query_id();
  ResponseInfo server;
  std::string sql =
      export_query(source.table, *first.columns, out.datetime_format, where, out.format, tag);
  spdlog::debug("{}: query_id {}: {}", what, query_id, sql);
  for (const TaskResult* r : results) progress.task_started(r->task, query_id, 1);
  try {
    source.client.stream(sql, query_id, router, what, &server);
  } catch (const Error& e) {
    if (e.category() == ErrorCategory::export_failed) {
      throw_if_server_error_in_tail(router.tail(), router.scanner(), router.scanner().records(),
                                    server, what);
    }
    throw;
  }
  if (cancel != nullptr && cancel->requested.load()) {
    throw Error(ErrorKind::cancelled, ErrorCategory::cancelled, what + ": cancelled");
  }
  throw_if_server_error_in_tail(router.tail(), router.scanner(), router.scanner().records(), server,
                                what);
  if (!router.broken().empty()) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                what + ": the response has " + router.broken());
  }
  if (!router.scanner().at_record_boundary()) {
    throw Error(ErrorKind::transient, ErrorCategory::export_failed,
                what + ": the response ended inside a record after " +
                    std::to_string(router.scanner().bytes()) + " bytes (truncated stream)");
  }
  for (size_t i = 0; i < n; ++i) {
    if (writers[i]->rows() != results[i]->task.planned_rows) {
      throw_validation(what + ": received " + std::to_string(writers[i]->rows()) + " rows of " +
                       task_name(results[i]->task) + ", but the plan counted " +
                       std::to_string(results[i]->task.planned_rows) +
                       " (did the table change since the export started?)");
    }
  }
  router.finish();
  for (size_t i = 0; i < n; ++i) {
    try {
      writers[i]->commit();
    } catch (...) {
      take_back_files(*worker.store, names, i);
      throw;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    TaskResult& result = *results[i];
    result.query_id = query_id;
    result.count_before = result.written_rows = writers[i]->rows();
    result.count_after = 0;
    result.csv_bytes = writers[i]->csv_bytes();
    result.files = writers[i]->files();
    result.compressed_bytes = 0;
    for (size_t f = 0; f < result.files.size(); ++f) {
      result.files[f].path = names[i][f];
      result.compressed_bytes += result.files[f].compressed_bytes;
    }
    sinks[i]->keep();
  }
  share_response(server, results);
}

void export_attempt(Worker& worker, const TaskSource& source, const OutputOptions& out,
                    TaskResult& result, const CancelToken* cancel, Progress& progress, int attempt,
                    bool defer_check) {
  const Task& task = result.task;
  const std::string what = "export of " + task_name(task);
  ClickHouseClient& client = source.client;

  result.query_id = new_query_id();
  result.server = ResponseInfo{};
  // The plan's count() (one GROUP BY per table, made by this run) is the count before: the rows
  // received must match it, and count() after the export must match them.
  result.count_before = task.planned_rows;
  FileOpener open;
  std::vector<std::string> names;  // relative to the store, in order
  if (out.to_stdout()) {
    open = [](size_t) -> std::unique_ptr<OutputFile> { return std::make_unique<StdoutFile>(); };
  } else {
    open = [&](size_t index) {
      names.push_back(task.dir + "/" + data_file_name(index, out.compression));
      return worker.store->create(names.back());
    };
  }
  RotatingWriter writer(open, out.limits, worker.encoder.get(), out.format == "CSVWithNames");
  ProgressSink sink(writer, progress);
  std::string sql =
      export_query(source.table, *task.columns, out.datetime_format, task.predicate, out.format);
  spdlog::debug("{}: attempt {}, query_id {}: {}", task_name(task), attempt, result.query_id, sql);
  progress.task_started(task, result.query_id, attempt);
  try {
    client.stream(sql, result.query_id, sink, what, &result.server);
  } catch (const Error& e) {
    // A server message in the tail explains a broken stream better than the transport error
    // (26.7 closes the connection after its error block); local errors (disk full) stand.
    if (e.category() == ErrorCategory::export_failed) {
      throw_if_server_error_in_tail(writer, result.server, what);
    }
    throw;
  }
  if (cancel != nullptr && cancel->requested.load()) {
    throw Error(ErrorKind::cancelled, ErrorCategory::cancelled, what + ": cancelled");
  }
  check_stream_tail(writer, result.server, what);
  result.written_rows = writer.rows();
  if (result.written_rows != result.count_before) {
    // The data changed since planning, or the predicate does not select what the plan counted:
    // either must stop the task rather than export something else.
    throw_validation(what + ": received " + std::to_string(result.written_rows) +
                     " rows, but the plan counted " + std::to_string(result.count_before) +
                     " (did the table change since the export started?)");
  }
  writer.finish();
  result.count_after = 0;
  if (!defer_check) {
    // As planning read the columns (a shard's through remote(), which shows them alike on every
    // version).
    check_layout_unchanged(worker.client, task.table, *task.columns, what);
    result.count_after = count_rows(source, task, "after export");
  }
  if (!defer_check && result.count_after != result.written_rows) {
    throw_validation(what + ": count() changed from " + std::to_string(result.count_before) +
                     " to " + std::to_string(result.count_after) +
                     " during the export (the partition is still being written to)");
  }
  writer.commit();
  result.csv_bytes = writer.csv_bytes();
  result.files = writer.files();
  for (size_t i = 0; i < names.size(); ++i) result.files[i].path = names[i];
  if (!out.on_file.empty()) hand_off(out, *worker.store, result, result.files);
  sink.keep();
  result.compressed_bytes = 0;
  for (WrittenFile& f : result.files) {
    result.compressed_bytes += f.compressed_bytes;
    f.handed_off = out.delete_after_hook;
  }
}

}  // namespace chexport
