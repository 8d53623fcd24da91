#include "chexport/run/exporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/common/byte_sink.h"
#include "chexport/common/error.h"
#include "chexport/common/units.h"
#include "chexport/output/stdout_file.h"
#include "chexport/pipeline/atomic_file.h"
#include "chexport/run/import_journal.h"
#include "chexport/run/resume.h"
#include "chexport/run/task_export.h"
#include "chexport/run/task_journal.h"

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

bool cancelled(const CancelToken* cancel) {
  return cancel != nullptr && cancel->requested.load();
}

// State shared by the workers of one run.
class Run {
 public:
  // `store` (null with --out -) receives the manifest; it is used under the run's mutex only.
  Run(const ExportOptions& options, const CancelToken* cancel, RunResult& result,
      Progress& progress, Store* store)
      : options_(options), cancel_(cancel), result_(result), progress_(progress), store_(store) {}

  // Exports result_.tasks[i] for every i in `queue`, with up to options_.workers threads.
  void execute(const std::vector<size_t>& queue) {
    queue_ = queue;
    units_ = units_of(queue);
    // Stdout carries one stream: tasks one after another, in the plan's order.
    size_t wanted = options_.output.to_stdout() ? 1 : static_cast<size_t>(options_.workers);
    size_t n = std::min<size_t>(wanted, queue_.size());
    std::vector<std::unique_ptr<Worker>> workers;
    for (size_t i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>(options_, cancel_));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) threads.emplace_back([this, w = workers[i].get()] { work(*w); });
    for (auto& t : threads) t.join();
    if (cancelled(cancel_) && !workers.empty()) {
      // The transfers stopped; a query that had produced nothing yet would run on.
      std::vector<std::string> ids;
      for (const auto& w : workers) ids.push_back(w->client.current_query_id());
      Worker killer(options_, nullptr);
      size_t on_replicas = 0;  // --shard-url: the queries ran on the replicas
      for (const auto& w : workers) {
        for (const auto& [url, client] : w->replica_clients)
          on_replicas += killer.client_at(url).kill_queries({client->current_query_id()});
      }
      if (killer.client.kill_queries(ids) + on_replicas == 0) {
        spdlog::info(
            "KILL QUERY found none of the run's queries on the server that answered it: they "
            "had ended, or ran on another server behind a load balancer (closing the connection "
            "stops a streaming query there)");
      }
    }
  }

  // The manifest as the run starts; then, in a local directory, a new journal beside it.
  void start_recording() {
    std::lock_guard lock(mutex_);
    write_manifest_locked();
    if (store_ != nullptr && store_->is_local() && options_.output.manifest_path.empty()) {
      journal_ = std::make_unique<TaskJournal>(
          store_->describe(journal_name(options_.output.worker.manifest_name())));
    }
  }

  // The manifest with every task; the journal, whose tasks it now holds, goes.
  void finish_recording() {
    std::lock_guard lock(mutex_);
    write_manifest_locked();
    if (journal_) journal_->remove();
  }

  // Bytes written to record progress: the manifests, and the journal.
  uint64_t bookkeeping_bytes() {
    std::lock_guard lock(mutex_);
    return manifest_bytes_ + (journal_ ? journal_->bytes() : 0);
  }

 private:
  void write_manifest_locked() {
    std::string json = manifest_json(options_, result_);
    if (!options_.output.manifest_path.empty()) {
      write_file_atomically(options_.output.manifest_path, json);
    } else if (store_ != nullptr) {
      store_->put(options_.output.worker.manifest_name(), json);
    }
    manifest_bytes_ += json.size();
    last_manifest_ = Clock::now();
  }

  // A task that ended, and its place in result_.tasks.
  struct Ended {
    size_t index;
    const TaskResult* result;
  };

  // Finished tasks, at a cost that does not grow with the number of tasks: one journal line each
  // (one write and fdatasync for all of `ended`), or
  // (S3, --manifest FILE) the whole manifest at most every manifest_interval_seconds.
  void record_locked(const std::vector<Ended>& ended) {
    if (journal_) {
      std::vector<std::string> lines;
      for (const Ended& e : ended) lines.push_back(task_json_line(*e.result));
      journal_->append(lines);
    } else if (std::chrono::duration<double>(Clock::now() - last_manifest_).count() >=
               manifest_interval_seconds) {
      write_manifest_locked();
    }
    recorded_ += ended.size();
    if (!many_tasks_) return;
    if (std::chrono::duration<double>(Clock::now() - last_summary_).count() >= 10) {
      last_summary_ = Clock::now();
      RunTotals totals = totals_of(result_);
      spdlog::info("{} of {} task(s) finished, {} failed; {} rows so far", recorded_, queue_.size(),
                   totals.failed_tasks, totals.rows);
    }
  }

  bool should_stop() {
    if (cancelled(cancel_)) return true;
    std::lock_guard lock(mutex_);
    return !stop_reason_.empty();
  }

  // A task exported with its check deferred (batchable()), waiting for check_and_record().
  struct Unchecked {
    size_t index;
    TaskResult result;
  };

  // Small tasks read through the run's connection, whose files nobody else sees before they are
  // recorded (no --on-file, not stdout), are checked after export batch_check_tasks at a time.
  bool batchable(const Task& task) const {
    return !options_.output.to_stdout() && options_.output.on_file.empty() &&
           (!task.table.shard || options_.shard_url.empty()) && !task.predicate.empty() &&
           task.planned_rows <= batch_check_max_rows;
  }

  // Small tasks of one table that one query can export together (export_group_attempt): CSV
  // without settings that change its form, which the router reads.
  bool groupable(const Task& task) const {
    if (!batchable(task) || options_.output.format != "CSV") return false;
    return std::none_of(options_.connection.settings.begin(), options_.connection.settings.end(),
                        [](const auto& s) { return s.first.find("csv") != std::string::npos; });
  }

  // The queue in units of work: a task, or a group of small tasks of one table (in the order of
  // the group's first task).
  std::vector<std::vector<size_t>> units_of(const std::vector<size_t>& queue) const {
    std::vector<std::vector<size_t>> units;
    std::map<std::string, size_t> open;  // a table's group that may take more
    // Rows and bytes of each unit: the server sorts a group's rows before it sends any.
    std::vector<std::pair<uint64_t, uint64_t>> size;
    for (size_t index : queue) {
      const Task& task = result_.tasks[index].task;
      if (!groupable(task)) {
        units.push_back({index});
        size.emplace_back(0, 0);
        continue;
      }
      auto it = open.find(task.table.sql());
      if (it != open.end() && units[it->second].size() < batch_check_tasks &&
          size[it->second].first + task.planned_rows <= batch_check_max_rows &&
          size[it->second].second + task.uncompressed_bytes <= group_max_bytes) {
        units[it->second].push_back(index);
        size[it->second].first += task.planned_rows;
        size[it->second].second += task.uncompressed_bytes;
        continue;
      }
      open[task.table.sql()] = units.size();
      units.push_back({index});
      size.emplace_back(task.planned_rows, task.uncompressed_bytes);
    }
    return units;
  }

  void work(Worker& worker) {
    while (!should_stop()) {
      size_t next = next_.fetch_add(1);
      if (next >= units_.size()) break;
      const std::vector<size_t>& unit = units_[next];
      std::vector<TaskResult> results;
      {
        std::lock_guard lock(mutex_);
        for (size_t index : unit) results.push_back(result_.tasks[index]);
      }
      if (unit.size() > 1 && !groups_off_.load()) {
        run_group(worker, results);
      } else {
        for (TaskResult& r : results) run_task(worker, r, batchable(r.task));
      }
      for (size_t i = 0; i < unit.size(); ++i) {
        if (!settle(worker, unit[i], results[i])) return;
      }
    }
    // Each worker that leaves checks what waits; the last one leaves nothing behind.
    std::vector<Unchecked> rest;
    {
      std::lock_guard lock(mutex_);
      rest.swap(unchecked_);
    }
    if (!rest.empty()) check_and_record(worker, rest);
  }

  // Records a task that ended, or queues its deferred check; false when the run must stop.
  bool settle(Worker& worker, size_t index, TaskResult& result) {
    if (!batchable(result.task) || result.status != TaskStatus::done)
      return store_and_record(index, result);
    std::vector<Unchecked> batch;
    {
      std::lock_guard lock(mutex_);
      unchecked_.push_back({index, std::move(result)});
      if (unchecked_.size() >= batch_check_tasks) batch.swap(unchecked_);
    }
    return batch.empty() || check_and_record(worker, batch);
  }

  // Small tasks of one table by one query; where that fails, each task on its own, with its
  // retries (a group is one attempt more, never one attempt less).
  void run_group(Worker& worker, std::vector<TaskResult>& results) {
    const auto start = Clock::now();
    std::vector<TaskResult*> group;
    for (TaskResult& r : results) group.push_back(&r);
    std::optional<Error> failure;
    try {
      export_group_attempt(worker, TaskSource{worker.client, results[0].task.table},
                           options_.output, group, cancel_, progress_);
    } catch (const Error& e) {
      failure = e;
    } catch (const std::exception& e) {
      failure =
          Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "export of " + std::to_string(results.size()) + " tasks in one query: " + e.what());
    }
    if (!failure) {
      for (TaskResult& r : results) {
        r.status = TaskStatus::done;
        r.attempts = 1;
        r.error.clear();
        r.seconds = seconds_since(start) / static_cast<double>(results.size());
      }
      return;
    }
    if (failure->category() == ErrorCategory::cancelled || should_stop()) {
      for (TaskResult& r : results) fail(r, *failure, start);
      return;
    }
    worker.client.kill_queries({worker.client.current_query_id()});
    // What failed one group (a server profile's CSV settings, a memory limit) would most likely
    // fail the next: the rest of the run goes task by task.
    if (!groups_off_.exchange(true)) {
      spdlog::warn("{}; exporting its {} task(s), and every task after them, one by one",
                   failure->what(), results.size());
    }
    for (TaskResult& r : results) run_task(worker, r, true);
  }

  // False when the manifest cannot be written: the run stops.
  bool store_and_record(size_t index, const TaskResult& result) {
    return store_and_record({{index, &result}});
  }

  // Tasks that ended together (a checked batch), recorded by one journal write.
  bool store_and_record(const std::vector<Ended>& ended) {
    std::lock_guard lock(mutex_);
    for (const Ended& e : ended) result_.tasks[e.index] = *e.result;
    result_.seconds = seconds_since(start_);
    try {
      record_locked(ended);
      // After the record: a task logged as done is in the manifest or its journal.
      for (const Ended& e : ended) {
        if (e.result->status == TaskStatus::done) log_done(*e.result, e.result->attempts);
      }
      return true;
    } catch (const Error& e) {
      // Without a manifest the run cannot be trusted or resumed: stop it, keep the error.
      spdlog::error("cannot write the manifest: {}", e.what());
      if (result_.exit_code == 0) result_.exit_code = exit_code_for(e.category());
      if (stop_reason_.empty())
        stop_reason_ = std::string("cannot write the manifest: ") + e.what();
      return false;
    }
  }

  // The deferred checks of `batch`, one query per table (check_batch()): a task whose count()
  // still matches is done; one whose count changed, or whose table's columns changed, fails
  // validation; when the check itself fails (the server, the network), the table's tasks are
  // exported again one by one, each checked on its own. Files of a task that does not end done
  // are taken back.
  bool check_and_record(Worker& worker, std::vector<Unchecked>& batch) {
    std::map<std::string, std::vector<Unchecked*>> by_source;
    for (Unchecked& u : batch) by_source[u.result.task.table.sql()].push_back(&u);
    for (auto& [source, group] : by_source) {
      const Task& first = group.front()->result.task;
      std::vector<const Task*> tasks;
      for (Unchecked* u : group) tasks.push_back(&u->result.task);
      std::vector<uint64_t> counts;
      std::optional<Error> failure;
      try {
        counts = check_batch(worker.client, first.table, *first.columns, tasks);
      } catch (const Error& e) {
        failure = e;
      }
      for (size_t i = 0; i < group.size(); ++i) {
        TaskResult& result = group[i]->result;
        const auto task_start = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(result.seconds));
        if (!failure && counts.at(i) == result.written_rows) {
          result.count_after = counts[i];
          progress_.task_finished(result.task, true, result.written_rows, result.files, "", false);
          continue;
        }
        take_back(worker, result);
        if (!failure) {
          fail(result,
               Error(ErrorKind::permanent, ErrorCategory::validation,
                     "export of " + task_name(result.task) + ": count() changed from " +
                         std::to_string(result.count_before) + " to " + std::to_string(counts[i]) +
                         " during the export (the partition is still being written to)"),
               task_start);
        } else if (failure->category() == ErrorCategory::validation || should_stop()) {
          fail(result, *failure, task_start);
        } else {
          if (i == 0) {
            spdlog::warn("{}; exporting its {} task(s) again, each checked on its own",
                         failure->what(), group.size());
          }
          run_task(worker, result, false);
        }
      }
    }
    std::vector<Ended> ended;
    for (const Unchecked& u : batch) ended.push_back({u.index, &u.result});
    return store_and_record(ended);
  }

  // Removes the files of a task that was exported but did not pass its check.
  void take_back(Worker& worker, TaskResult& result) {
    progress_.take_back(result.csv_bytes, result.written_rows);
    for (const WrittenFile& f : result.files) {
      try {
        worker.store->remove(f.path);
      } catch (const std::exception& e) {
        spdlog::error("could not take back {}: {}", worker.store->describe(f.path), e.what());
      }
    }
    result.files.clear();
  }

  void log_done(const TaskResult& result, int attempt) {
    spdlog::log(many_tasks_ ? spdlog::level::debug : spdlog::level::info,
                "{}: {} rows in {} file(s), {} CSV -> {} ({:.2f} s{})", task_name(result.task),
                result.written_rows, result.files.size(), format_bytes(result.csv_bytes),
                format_bytes(result.compressed_bytes), result.seconds,
                attempt > 1 ? ", attempt " + std::to_string(attempt) : std::string());
  }

  // Sleeps for `seconds` unless the run is cancelled or stopped first.
  void pause(double seconds) {
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(seconds));
    while (Clock::now() < until && !should_stop())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // One attempt, through the run's connection; with --shard-url straight from one of the shard's
  // replicas, the next one after a connection error (each task and each attempt starts at another).
  void attempt_task(Worker& worker, TaskResult& result, int attempt, bool defer_check) {
    const Task& task = result.task;
    if (!task.table.shard || options_.shard_url.empty()) {
      export_attempt(worker, TaskSource{worker.client, task.table}, options_.output, result,
                     cancel_, progress_, attempt, defer_check);
      return;
    }
    const ShardSource& shard = *task.table.shard;
    const size_t n = shard.hosts.size();
    const size_t first = task.shard_task_index + static_cast<size_t>(attempt - 1);
    for (size_t i = 0; i < n; ++i) {
      std::string url =
          shard_replica_url(options_.shard_url, shard.hosts[(first + i) % n], shard.num);
      ClickHouseClient& replica = worker.client_at(url);
      try {
        export_attempt(worker, TaskSource{replica, TableRef{shard.local_db, shard.local_table}},
                       options_.output, result, cancel_, progress_, attempt);
        return;
      } catch (const Error& e) {
        // As run_task does on the run's connection: the replica may still run the query (after
        // a timeout, say).
        if (e.category() != ErrorCategory::cancelled)
          replica.kill_queries({replica.current_query_id()});
        if (e.category() != ErrorCategory::connection || i + 1 == n || should_stop()) throw;
        spdlog::warn("{}; trying the shard's next replica", e.what());
      }
    }
  }

  // With `defer_check`, a task that ends done waits for check_and_record().
  void run_task(Worker& worker, TaskResult& result, bool defer_check) {
    const auto task_start = Clock::now();
    for (int attempt = 1;; ++attempt) {
      result.attempts = attempt;
      const uint64_t stdout_before = stdout_bytes_written();
      std::optional<Error> failure;
      try {
        attempt_task(worker, result, attempt, defer_check);
        result.status = TaskStatus::done;
        result.error.clear();
        result.seconds = seconds_since(task_start);
        if (defer_check) return;
        progress_.task_finished(result.task, true, result.written_rows, result.files, "", false);
        return;
      } catch (const Error& e) {
        failure = e;
      } catch (const std::exception& e) {
        // Not expected (a malformed answer, say); handled like any other failure.
        failure = Error(ErrorKind::permanent, ErrorCategory::export_failed,
                        "export of " + task_name(result.task) + ": " + e.what());
      }
      const Error& e = *failure;
      if (e.category() != ErrorCategory::cancelled) {
        // The server may still be running the query (a count(), or a slow first block).
        worker.client.kill_queries({worker.client.current_query_id()});
      }
      if (options_.output.to_stdout() && stdout_bytes_written() != stdout_before) {
        // Bytes on stdout cannot be taken back: a new attempt would write them twice.
        Error final(
            ErrorKind::permanent, e.category(),
            std::string(e.what()) + " (after data went to stdout, which is now incomplete)");
        fail(result, final, task_start);
        std::lock_guard lock(mutex_);
        if (stop_reason_.empty()) stop_reason_ = final.what();
        return;
      }
      bool retry = e.transient() && attempt <= options_.retry.retries && !should_stop();
      if (!retry) {
        fail(result, e, task_start);
        return;
      }
      double delay = retry_delay(options_.retry, attempt, e);
      spdlog::warn("{} (attempt {} of {}; retrying in {:.1f} s)", e.what(), attempt,
                   options_.retry.retries + 1, delay);
      progress_.retry(result.task, attempt, delay, e.what());
      pause(delay);
    }
  }

  void fail(TaskResult& result, const Error& e, Clock::time_point task_start) {
    result.status = TaskStatus::failed;
    result.error = e.what();
    result.exit_code = exit_code_for(e.category());
    result.written_rows = result.csv_bytes = result.compressed_bytes = 0;
    result.files.clear();
    result.seconds = seconds_since(task_start);
    if (e.category() != ErrorCategory::cancelled) spdlog::error("{}", e.what());
    progress_.task_finished(result.task, false, 0, {}, result.error, false);
    std::lock_guard lock(mutex_);
    if (result_.exit_code == 0) result_.exit_code = result.exit_code;
    // On stdout, the tasks are one stream: a missing one would leave a valid-looking stream.
    bool stops = stops_the_run(e.category()) || options_.output.to_stdout();
    if (stops && stop_reason_.empty()) stop_reason_ = result.error;
  }

  const ExportOptions& options_;
  const CancelToken* cancel_;
  RunResult& result_;
  Progress& progress_;
  Store* store_;
  std::vector<size_t> queue_;
  std::vector<std::vector<size_t>> units_;  // of queue_ (units_of())
  std::atomic<bool> groups_off_{false};     // after a group failed
  std::atomic<size_t> next_{0};
  std::mutex mutex_;  // result_, stop_reason_, the manifest file
  std::string stop_reason_;
  Clock::time_point start_ = Clock::now();
  std::vector<Unchecked> unchecked_;      // exported, waiting for their check
  std::unique_ptr<TaskJournal> journal_;  // a local directory's (task_journal.h)
  uint64_t manifest_bytes_ = 0;
  Clock::time_point last_manifest_ = Clock::now();
  // Above per_task_log_limit tasks, a line per task goes to debug and a summary comes every 10 s.
  bool many_tasks_ = result_.tasks.size() > per_task_log_limit;
  size_t recorded_ = 0;
  Clock::time_point last_summary_ = Clock::now();

 public:
  std::string stop_reason() {
    std::lock_guard lock(mutex_);
    return stop_reason_;
  }
};

}  // namespace

std::string shard_replica_url(const std::string& shard_url, const std::string& host,
                              uint32_t shard) {
  auto at = shard_url.find("{host}");
  if (at == std::string::npos)
    throw_usage("--shard-url \"" + shard_url + "\" has no {host} (e.g. https://{host}:8443)");
  if (!shard_url.starts_with("http://") && !shard_url.starts_with("https://"))
    throw_usage("--shard-url must start with http:// or https://, got \"" + shard_url + "\"");
  std::string authority = shard_url.substr(shard_url.find("://") + 3);
  authority = authority.substr(0, authority.find('/'));
  // The URL shows in messages and the manifest; the password comes from where --url's does.
  if (authority.find('@') != std::string::npos || shard_url.find("password=") != std::string::npos)
    throw_usage("--shard-url must not contain credentials; the replicas get --user's and --url's");
  bool bracketed = at > 0 && shard_url[at - 1] == '[';
  bool ipv6 = host.find(':') != std::string::npos && !host.starts_with("[") && !bracketed;
  std::string url = shard_url;
  for (; at != std::string::npos; at = url.find("{host}", at + 1))
    url.replace(at, 6, ipv6 ? "[" + host + "]" : host);
  for (auto s = url.find("{shard}"); s != std::string::npos; s = url.find("{shard}", s + 1))
    url.replace(s, 7, std::to_string(shard));
  return url;
}

double retry_delay(const RetryPolicy& p, int attempt, const Error& e) {
  double delay =
      std::min(p.max_delay, p.first_delay * static_cast<double>(1u << std::min(attempt - 1, 20)));
  static thread_local std::mt19937 rng{std::random_device{}()};
  delay *= std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  if (e.retry_after() >= 0) delay = std::max(delay, std::min(e.retry_after(), p.max_delay));
  return delay;
}

namespace {

PreviousExport read_previous_for_fresh(Store& store, const std::string& manifest_name) {
  try {
    return read_previous_export(store, manifest_name);
  } catch (const Error& e) {
    if (e.category() != ErrorCategory::usage) throw;
    return PreviousExport{};  // an unreadable manifest lists nothing: start_fresh then refuses
  }
}

// The directories this export owns: its tables' now, and those of the earlier run. A --worker
// share owns only its tasks' (the other workers write beside it).
std::vector<std::string> export_dirs(const ExportOptions& options, const PreviousExport& previous,
                                     const RunResult& run) {
  if (options.output.worker.shared()) {
    std::set<std::string> dirs;
    for (const TaskResult& r : run.tasks) dirs.insert(r.task.dir);
    for (const auto& [dir, task] : previous.tasks) dirs.insert(dir);
    return {dirs.begin(), dirs.end()};
  }
  std::set<std::string> dirs(previous.table_dirs.begin(), previous.table_dirs.end());
  for (const TableSpec& t : options.tables) dirs.insert(table_dir(t.table.db, t.table.table));
  return {dirs.begin(), dirs.end()};
}

// Whether `path` is named like a data file of chexport (part-NNNNNN.csv[.zst]) below one of `dirs`.
bool is_data_file_in(const std::string& path, const std::vector<std::string>& dirs) {
  std::string name = path.substr(path.rfind('/') + 1);
  if (!name.starts_with("part-") || !(name.ends_with(".csv") || name.ends_with(".csv.zst")))
    return false;
  return std::any_of(dirs.begin(), dirs.end(),
                     [&](const std::string& d) { return path.starts_with(d + "/"); });
}

// Without a manifest, data files in the tasks' directories belong to no known run (a --fresh
// cut short, or someone's copy): exporting over them would mix two exports. So do files directly
// in a partition's folder, where the earlier layout put a whole partition's.
void refuse_unlisted_data_files(Store& store, const RunResult& run,
                                const std::string& manifest_name) {
  std::set<std::string> dirs;
  for (const TaskResult& r : run.tasks) {
    dirs.insert(r.task.dir);
    dirs.insert(r.task.dir.substr(0, r.task.dir.rfind('/')));
  }
  for (const std::string& dir : dirs) {
    for (const StoredFile& f : store.list(dir)) {
      if (!is_data_file_in(f.path, {dir})) continue;
      if (manifest_name != "manifest.json") {
        throw_usage(store.describe("") + " has data files in this worker's share that " +
                    manifest_name + " does not list (" + f.path +
                    "): another worker planned other tasks (did the tables change between the "
                    "workers' starts?); run every worker again with --fresh");
      }
      throw_usage(store.describe("") + " has data files but no manifest.json (" + f.path +
                  "): not an export this run can resume; use --fresh to replace them, or another "
                  "directory");
    }
  }
}

// --fresh: removes everything the earlier run wrote, once sure that the output holds nothing
// else (a directory that is not an export of this tool must not be emptied by mistake).
void start_fresh(const ExportOptions& options, const PreviousExport& previous, Store& store,
                 const std::vector<std::string>& dirs) {
  std::set<std::string> ours(previous.files.begin(), previous.files.end());
  ours.insert("manifest.json");
  ours.insert(journal_name("manifest.json"));
  for (const TableSpec& t : options.tables)
    ours.insert(table_dir(t.table.db, t.table.table) + "/schema.sql");
  std::vector<std::string> foreign, temps;
  for (const StoredFile& f : store.list_all()) {
    if (f.path == lock_file_name || ours.count(f.path)) continue;
    // An import's journal speaks of these files: new files make it stale.
    if (f.path.starts_with(std::string(journal_dir) + "/")) {
      ours.insert(f.path);
      continue;
    }
    if (is_data_file_in(f.path, dirs)) {  // chexport's own name in this export's directories
      ours.insert(f.path);
      continue;
    }
    bool temp = f.path.find(AtomicFile::temp_marker) != std::string::npos;
    (temp ? temps : foreign).push_back(f.path);
  }
  if (!foreign.empty()) {
    throw_usage("--fresh: " + store.describe("") + " holds " + std::to_string(foreign.size()) +
                " file(s) that this export did not write (" + foreign[0] +
                (foreign.size() > 1 ? ", ..." : "") +
                "); remove them yourself, or export into another directory");
  }
  store.clean_leftovers(dirs);
  for (const std::string& path : temps) store.remove(path);
  // The manifest goes last: a --fresh cut short leaves it, and it still lists what is left.
  for (const std::string& path : ours) {
    if (path != "manifest.json") store.remove(path);
  }
  store.remove("manifest.json");
  for (const std::string& dir : dirs) store.remove_tree(dir);
}

// The manifest parts in `store` of a split among other than `share.count` workers.
std::vector<std::string> parts_of_other_counts(Store& store, const WorkerShare& share) {
  std::vector<std::string> names;
  for (const StoredFile& f : store.list_all()) {
    if (f.path.find('/') != std::string::npos) continue;
    std::optional<WorkerShare> other = parse_manifest_part_name(f.path);
    if (other && other->count != share.count) names.push_back(f.path);
  }
  return names;
}

// --fresh for one --worker share. Its new share's directories are its own, whoever wrote there
// before; of the directories an earlier part listed (its own, or of a split among another number
// of workers) only those that no task of the new plan uses: the other workers, started with it,
// are writing the rest.
void start_fresh_share(const ExportOptions& options, const PreviousExport& previous, Store& store,
                       const RunResult& run) {
  std::set<std::string> mine, stale;
  for (const TaskResult& r : run.tasks) mine.insert(r.task.dir);
  auto add_stale = [&](const PreviousExport& part) {
    for (const auto& [dir, task] : part.tasks) {
      if (!dir.empty() && !run.plan_dirs.count(dir)) stale.insert(dir);
    }
  };
  add_stale(previous);
  std::vector<std::string> old_parts = parts_of_other_counts(store, options.output.worker);
  // An unreadable part throws: its files could not be told from the other workers'.
  for (const std::string& name : old_parts) add_stale(read_previous_export(store, name));
  // Leftovers are cleaned below a directory, so not below one that holds a task of the new plan
  // (a partition now split into ranges): another worker may be writing there.
  std::vector<std::string> clean(mine.begin(), mine.end()), clean_top;
  for (const std::string& dir : stale) {
    bool holds_planned =
        std::any_of(run.plan_dirs.begin(), run.plan_dirs.end(),
                    [&](const std::string& d) { return d.starts_with(dir + "/"); });
    // (An earlier layout's partition folder holds the new tasks' folders, and its own leftovers.)
    (holds_planned ? clean_top : clean).push_back(dir);
  }
  store.clean_leftovers(clean);
  store.clean_leftovers(clean_top, Store::Depth::directly_in);
  for (const std::set<std::string>* dirs : {&mine, &stale}) {
    for (const std::string& dir : *dirs) remove_data_files(store, dir);
  }
  for (const std::string& name : old_parts) {
    store.remove(journal_name(name));
    store.remove(name);
  }
  store.remove(journal_name(options.output.worker.manifest_name()));
  store.remove(options.output.worker.manifest_name());
}

// A --worker share goes into a directory of --worker parts only: a whole export's manifest.json
// beside them would hide them from verify and import.
void refuse_whole_export(Store& store) {
  StringSink whole;
  if (!store.read("manifest.json", whole)) return;
  throw_usage(store.describe("") +
              " holds the manifest.json of an export without --worker; --worker parts cannot "
              "join it: export into another directory, or remove that export first");
}

// A --worker part of another plan: its share may now hold tasks that other workers exported.
void refuse_changed_plan(const PreviousExport& previous, const RunResult& run,
                         const std::string& manifest_name) {
  if (previous.plan_digest == run.plan_digest) return;
  throw_usage(manifest_name +
              " was written for another plan (did the tables or options change since?); this "
              "worker's share would overlap the other workers': run every worker again with "
              "--fresh");
}

// The folders of the tasks that write files (a task with no rows writes none).
std::vector<std::string> task_dirs(const RunResult& run) {
  std::vector<std::string> dirs;
  for (const TaskResult& r : run.tasks) {
    if (r.task.planned_rows > 0) dirs.push_back(r.task.dir);
  }
  return dirs;
}

// --fresh, or resume: decides which tasks an earlier run already finished, and cleans up what it
// left behind (only in this export's directories). Marks kept tasks done in `run`.
void prepare_output(const ExportOptions& options, RunResult& run, Store& store) {
  const std::string manifest_name = options.output.worker.manifest_name();
  const bool shared = options.output.worker.shared();
  if (shared) refuse_whole_export(store);
  if (options.output.fresh && shared) {
    // Its cleaning removes files by folder: not those of another worker's folder of another
    // spelling.
    store.make_task_dirs(task_dirs(run), false);
    start_fresh_share(options, read_previous_export(store, manifest_name), store, run);
    store.make_task_dirs(task_dirs(run));
    return;
  }
  if (options.output.fresh) {
    PreviousExport previous = read_previous_for_fresh(store, manifest_name);
    start_fresh(options, previous, store, export_dirs(options, previous, run));
    store.make_task_dirs(task_dirs(run));
    return;
  }
  PreviousExport previous = read_previous_export(store, manifest_name);
  // The checks come before any cleaning: a refused --worker share may be another worker's now.
  if (!previous.exists) {
    refuse_unlisted_data_files(store, run, manifest_name);
  } else {
    check_same_options(previous, run.fingerprint, options.output.dir);
    if (shared) refuse_changed_plan(previous, run, manifest_name);
  }
  // Before anything is removed: on a file system that ignores case, the files of one task would
  // be the other's.
  store.make_task_dirs(task_dirs(run));
  if (size_t n = store.clean_leftovers(export_dirs(options, previous, run)); n > 0) {
    spdlog::info("removed {} unfinished file(s) left by an earlier run", n);
  }
  if (!previous.exists) return;
  size_t kept = 0, redo = 0;
  for (TaskResult& result : run.tasks) {
    const Task& task = result.task;
    auto it = previous.tasks.find(task.dir);
    std::string why = why_export_again(previous, it == previous.tasks.end() ? nullptr : &it->second,
                                       task, run.identity, store);
    if (why.empty()) {
      const PreviousTask& p = it->second;
      result.status = TaskStatus::done;
      result.kept = true;
      result.query_id = p.query_id;
      result.server = p.server;
      result.count_before = result.count_after = result.written_rows = p.written_rows;
      result.csv_bytes = p.csv_bytes;
      result.compressed_bytes = p.compressed_bytes;
      result.files = p.files;
      remove_data_files(store, task.dir, p.files);
      ++kept;
    } else {
      if (it != previous.tasks.end()) {
        spdlog::log(
            run.tasks.size() > per_task_log_limit ? spdlog::level::debug : spdlog::level::info,
            "{}: exporting again: {}", task_name(task), why);
      }
      remove_data_files(store, task.dir);
      ++redo;
    }
  }
  // Tasks of the earlier plan that are not in this one (a partition gone, or now split).
  for (const auto& [task_dir, p] : previous.tasks) {
    bool planned = std::any_of(run.tasks.begin(), run.tasks.end(),
                               [&](const TaskResult& r) { return r.task.dir == task_dir; });
    if (!planned && remove_data_files(store, task_dir) > 0) {
      spdlog::info("{}: removed the files of a task that is no longer in the plan", task_dir);
    }
  }
  spdlog::info("resuming the export in {}: {} task(s) already done and verified, {} to export",
               store.describe(""), kept, redo);
}

// The table's CREATE statement as a script that runs as it is (clickhouse-client --multiquery)
// on the server it came from: ended with ';', after the settings its types need there.
std::string schema_sql(ClickHouseClient& client, const ServerVersion& version,
                       const TableRef& table) {
  std::string create = client.query("SHOW CREATE TABLE " + table.sql() + " FORMAT TSVRaw",
                                    "reading the schema of " + table.display());
  while (!create.empty() && (create.back() == '\n' || create.back() == ';')) create.pop_back();
  std::string script;
  // LowCardinality was experimental until 19.x; newer servers accept and ignore the setting.
  if (!version.at_least(19, 0) && create.find("LowCardinality(") != std::string::npos)
    script += "SET allow_experimental_low_cardinality_type = 1;\n";
  return script + create + ";\n";
}

// Connects, plans, and records what the plan says about the server, the tables and the tasks.
std::vector<TablePlan> plan_run(const ExportOptions& options, Worker& probe, RunResult& run,
                                const ServerVersion& version) {
  run.server_version = version.text;
  run.server_timezone = probe.client.server_timezone();
  run.identity.hostname = probe.client.server_hostname();
  run.identity.url = options.connection.url;
  spdlog::info("connected to ClickHouse {} at {}", run.server_version, options.connection.url);
  std::vector<TablePlan> plans =
      plan_export(probe.client, version, options.tables, options.split,
                  ColumnOptions{options.output.datetime_format,
                                options.output.format == "CSVWithNames", run.server_timezone});
  for (const TablePlan& plan : plans) {
    run.table_columns.push_back(plan.columns);
    run.identity.table_uuids[plan.spec.table.display()] = plan.uuid;
    for (const Task& task : plan.tasks) {
      TaskResult result;
      result.task = task;
      run.tasks.push_back(std::move(result));
    }
    spdlog::info("{}: {} task(s), {} rows planned", plan.spec.table.display(), plan.tasks.size(),
                 plan.rows_in_bounds);
    if (plan.tasks.empty())
      spdlog::warn("{}: nothing to export within the bounds", plan.spec.table.display());
  }
  run.fingerprint = export_fingerprint(options, run.table_columns, run.server_timezone);
  return plans;
}

// A shard's planned rows, counts, stream and data version must come from one replica, not from
// whichever remote() picks for each query: in_order takes the first live one every time. The
// setting acts on remote() and Distributed queries only; a readonly=1 user cannot send it.
void read_shards_in_order(ConnectionOptions& connection, const UserSettings& user) {
  bool asked = std::any_of(connection.settings.begin(), connection.settings.end(),
                           [](const auto& kv) { return kv.first == "load_balancing"; });
  if (!asked && user.may_change()) connection.settings.emplace_back("load_balancing", "in_order");
}

// The server's version, and what it lets this user change: asked before planning, whose queries
// depend on it. The version first: an unreachable server or a wrong password shows there.
struct FirstContact {
  ServerVersion version;
  UserSettings user;
};
FirstContact first_contact(const ExportOptions& options, const CancelToken* cancel,
                           const QueryRetry& retry) {
  ClickHouseClient client(options.connection);
  if (cancel != nullptr) client.set_cancel_flag(&cancel->requested);
  client.set_query_retry(retry);
  FirstContact first;
  first.version = client.server_version();
  first.user = read_user_settings(client);
  return first;
}

// --worker K/N: keeps this worker's share of the planned tasks, and records the whole plan's
// size and digest for verify to check the shares against.
void take_share(const WorkerShare& share, RunResult& run) {
  std::vector<std::pair<std::string, uint64_t>> plan;
  for (const TaskResult& r : run.tasks) plan.emplace_back(r.task.dir, r.task.planned_rows);
  run.plan_tasks = plan.size();
  run.plan_digest = plan_digest(plan, run.fingerprint);
  for (const auto& [dir, rows] : plan) run.plan_dirs.insert(dir);
  std::vector<uint32_t> owner = assign_tasks(plan, share.count);
  std::vector<TaskResult> mine;
  uint64_t rows = 0, all_rows = 0;
  for (size_t i = 0; i < run.tasks.size(); ++i) {
    all_rows += run.tasks[i].task.planned_rows;
    if (owner[i] + 1 != share.index) continue;
    rows += run.tasks[i].task.planned_rows;
    mine.push_back(std::move(run.tasks[i]));
  }
  spdlog::info("{}: {} of the plan's {} task(s), {} of its {} rows", share.describe(), mine.size(),
               plan.size(), rows, all_rows);
  run.tasks = std::move(mine);
}

void write_schemas(ClickHouseClient& client, const ServerVersion& version,
                   const std::vector<TablePlan>& plans, Store& store, RunResult& run) {
  for (const TablePlan& plan : plans) {
    const TableRef& table = plan.spec.table;
    std::string path = table_dir(table.db, table.table) + "/schema.sql";
    store.put(path, schema_sql(client, version, table));
    run.schema_files.push_back(path);
  }
}

// The tasks left to export, largest first (so that the longest does not start last; ties keep
// the plan's order), or in the plan's order on stdout.
std::vector<size_t> export_queue(const ExportOptions& options, const RunResult& run) {
  std::vector<size_t> queue;
  for (size_t i = 0; i < run.tasks.size(); ++i) {
    if (!run.tasks[i].kept) queue.push_back(i);
  }
  if (!options.output.to_stdout()) {
    std::stable_sort(queue.begin(), queue.end(), [&](size_t a, size_t b) {
      return run.tasks[a].task.planned_rows > run.tasks[b].task.planned_rows;
    });
  }
  return queue;
}

// Tasks that never ran: why, for the manifest.
void mark_not_started(RunResult& run, const CancelToken* cancel, const std::string& stop_reason) {
  for (TaskResult& r : run.tasks) {
    if (r.status != TaskStatus::pending) continue;
    r.status = TaskStatus::failed;
    r.error = cancelled(cancel) ? "not started: interrupted"
                                : "not started: an earlier task failed: " + stop_reason;
    r.exit_code = cancelled(cancel) ? cancel->exit_code.load() : run.exit_code;
  }
}

std::string summary_line(const RunResult& run, const std::string& destination) {
  RunTotals totals = totals_of(run);
  char line[640];
  std::snprintf(line, sizeof line,
                "%s: %llu task(s), %llu failed; %llu rows, %llu file(s), %s CSV (%s on the wire, "
                "%s) -> %s in %.2f s (%.1f MB/s) into %s",
                totals.failed_tasks == 0 ? "export complete" : "export FAILED",
                static_cast<unsigned long long>(totals.tasks),
                static_cast<unsigned long long>(totals.failed_tasks),
                static_cast<unsigned long long>(totals.rows),
                static_cast<unsigned long long>(totals.files),
                format_bytes(totals.csv_bytes).c_str(), format_bytes(totals.wire_bytes).c_str(),
                run.wire.encoding == "identity" ? "uncompressed" : run.wire.encoding.c_str(),
                format_bytes(totals.compressed_bytes).c_str(), run.seconds,
                run.seconds > 0 ? static_cast<double>(totals.csv_bytes) / 1e6 / run.seconds : 0.0,
                destination.c_str());
  return line;
}

// Whether the server stops a query when its client closes the connection only if told to, and
// may be told (not a readonly user): then an interrupted export's queries stop on whichever
// server a load balancer sent them to, where a KILL QUERY might not reach.
bool can_cancel_on_close(const UserSettings& user) {
  std::string readonly = user.value("readonly");
  return user.values.contains("cancel_http_readonly_queries_on_client_close") &&
         (readonly.empty() || readonly == "0") &&
         user.value("cancel_http_readonly_queries_on_client_close") == "0";
}

}  // namespace

RunResult run_export(const ExportOptions& requested, const CancelToken* cancel) {
  ExportOptions options = requested;  // may gain a setting the user did not have to ask for
  const auto start = Clock::now();
  RunResult run;
  run.started_at = utc_now();
  if (options.tables.empty()) throw_usage("no table to export (use --table db.table)");
  // A template without {host} is refused before anything runs.
  if (!options.shard_url.empty()) shard_replica_url(options.shard_url, "h", 1);
  if (options.output.worker.shared() && options.output.to_stdout())
    throw_usage("--worker shares an export into one directory or bucket prefix, not --out -");
  if (options.output.format != "CSV" && options.output.format != "CSVWithNames") {
    throw_usage("--format must be CSV or CSVWithNames, not \"" + options.output.format + "\"");
  }
  QueryRetry query_retry{options.retry.retries, options.retry.first_delay, options.retry.max_delay};
  FirstContact first = first_contact(options, cancel, query_retry);
  const UserSettings& user = first.user;
  read_shards_in_order(options.connection, user);
  Worker probe(options, cancel);
  // Planning's queries meet the same load balancers and proxies as the tasks' do.
  probe.client.set_query_retry(query_retry);
  ServerVersion version = first.version;
  std::vector<TablePlan> plans = plan_run(options, probe, run, version);
  if (options.output.worker.shared()) take_share(options.output.worker, run);
  bool asked = std::any_of(
      options.connection.settings.begin(), options.connection.settings.end(),
      [](const auto& kv) { return kv.first == "cancel_http_readonly_queries_on_client_close"; });
  if (!asked && can_cancel_on_close(user))
    options.connection.settings.emplace_back("cancel_http_readonly_queries_on_client_close", "1");
  // Planning's few small answers come plain; the tasks' as settled here.
  run.wire = negotiate_wire_compression(options.connection, options.wire, user, query_retry);
  spdlog::info("wire compression: {}", run.wire.describe());
  options.connection.accept_encoding = run.wire.accept_encoding;
  options.connection.settings.insert(options.connection.settings.end(), run.wire.settings.begin(),
                                     run.wire.settings.end());

  std::unique_ptr<Store> store;     // none with --out -: no schema files next to a stream
  std::unique_ptr<StoreLock> lock;  // held until the run ends: one run per output
  if (!options.output.to_stdout()) {
    store = open_store(options.output.dir, options.output.s3_part_size);
    lock = store->lock(this_run_holder(run.started_at), options.output.break_lock,
                       options.output.worker.lock_name());
    prepare_output(options, run, *store);
    write_schemas(probe.client, version, plans, *store, run);
  }

  uint64_t total_rows = 0, total_bytes = 0;
  for (const TaskResult& r : run.tasks) {
    total_rows += r.task.planned_rows;
    total_bytes += r.task.uncompressed_bytes;
  }
  Progress progress(options.progress, run.tasks.size(), total_rows, total_bytes);
  for (const TaskResult& r : run.tasks) {
    if (!r.kept) continue;
    progress.add(r.csv_bytes, r.written_rows);
    progress.task_finished(r.task, true, r.written_rows, {}, "", true);
  }
  Run executor(options, cancel, run, progress, store.get());
  executor.start_recording();
  progress.start();
  executor.execute(export_queue(options, run));
  progress.stop();

  mark_not_started(run, cancel, executor.stop_reason());
  run.finished_at = utc_now();
  run.seconds = seconds_since(start);
  if (cancelled(cancel)) run.exit_code = cancel->exit_code.load();
  if (options.output.to_stdout() && run.exit_code != 0) poison_stdout();
  executor.finish_recording();
  spdlog::debug("progress recorded in {} bytes of manifest and journal",
                executor.bookkeeping_bytes());
  RunTotals totals = totals_of(run);
  progress.run_finished(run.exit_code, totals.rows, totals.failed_tasks);
  run.summary = summary_line(run, options.output.dir);
  return run;
}

}  // namespace chexport
