#include "chexport/run/importer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <zstd.h>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/common/units.h"
#include "chexport/output/store.h"
#include "chexport/run/export_manifest.h"
#include "chexport/run/import_group.h"
#include "chexport/run/import_journal.h"
#include "chexport/run/import_target.h"

namespace chexport {
namespace {

using Clock = std::chrono::steady_clock;

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string text) : text_(std::move(text)) {}
  size_t read(char* buffer, size_t size) override {
    size_t n = std::min(size, text_.size() - used_);
    std::memcpy(buffer, text_.data() + used_, n);
    used_ += n;
    return n;
  }

 private:
  std::string text_;
  size_t used_ = 0;
};

std::vector<const ManifestTable*> select_tables(const ExportManifest& manifest,
                                                const ImportOptions& options) {
  std::vector<const ManifestTable*> out;
  if (options.tables.empty()) {
    for (const ManifestTable& t : manifest.tables) out.push_back(&t);
  }
  for (const TableRef& ref : options.tables) {
    const ManifestTable* t = manifest.find_table(ref.db, ref.table);
    if (t == nullptr) {
      std::string known;
      for (const ManifestTable& m : manifest.tables)
        known += (known.empty() ? "" : ", ") + m.db + "." + m.table;
      throw_usage("--table " + ref.display() + " is not in the export (it has " + known + ")");
    }
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);  // -t a -t a
  }
  if (!options.database.empty()) {
    std::set<std::string> databases;
    for (const ManifestTable* t : out) databases.insert(t->db);
    if (databases.size() > 1) {
      throw_usage("--database " + options.database +
                  " needs tables of one database; these are of " +
                  std::to_string(databases.size()) + ": pick them with --table");
    }
  }
  return out;
}

// The settings an import needs, those of them the server has: the manifest's columns include
// MATERIALIZED ones; a CSVWithNames header is not read for names (26.7 names a tuple's elements
// "t.1", "t.2"); 18.16's old-syntax MergeTree tables (`MergeTree(d, (k), 8192)`) are created, and
// copied into staging tables, on modern servers only with allow_deprecated_syntax_for_merge_tree;
// 18.16 creates LowCardinality columns only with allow_experimental_low_cardinality_type (which
// modern servers no longer know); staging tables are dropped whatever their size where the limit
// is a setting (26.7; 18.16 has it only in the server's configuration); and a Replacing or
// Collapsing table gets the rows of the files as they are, not merged within each INSERT block
// (optimize_on_insert, modern servers), so that the staging count is the manifest's.
ConnectionOptions with_import_settings(ClickHouseClient& client, ConnectionOptions connection) {
  const std::pair<const char*, const char*> wanted[] = {
      {"insert_allow_materialized_columns", "1"},
      {"input_format_with_names_use_header", "0"},
      {"allow_deprecated_syntax_for_merge_tree", "1"},
      {"allow_experimental_low_cardinality_type", "1"},
      {"max_table_size_to_drop", "0"},
      {"optimize_on_insert", "0"}};
  std::string names;
  for (const auto& [name, value] : wanted)
    names += (names.empty() ? "" : ", ") + quote_string(name);
  auto known = client.query_rows("SELECT name FROM system.settings WHERE name IN (" + names + ")",
                                 "reading the target's settings");
  for (const auto& row : known) {
    for (const auto& [name, value] : wanted) {
      if (row.at(0) != name) continue;
      std::erase_if(connection.settings, [&](const auto& kv) { return kv.first == name; });
      connection.settings.emplace_back(name, value);
    }
  }
  return connection;
}

// Whether the server reads a request body sent with Content-Encoding: zstd (26.7 does, 18.16
// answers error 89): one empty compressed body after a SELECT 1.
bool server_reads_zstd(ClickHouseClient& client, SendCompression wanted) {
  if (wanted == SendCompression::none) return false;
  std::string empty_frame(ZSTD_compressBound(0), '\0');
  empty_frame.resize(ZSTD_compress(empty_frame.data(), empty_frame.size(), "", 0, 1));
  StringSource body(empty_frame);
  try {
    client.insert("SELECT 1 FORMAT TSV", body, "zstd", "asking whether the server reads zstd");
    return true;
  } catch (const Error& e) {
    if (e.server_code() != 89) throw;  // UNKNOWN_COMPRESSION_METHOD
    if (wanted == SendCompression::zstd) {
      throw_usage("--wire-compression zstd: the server does not read zstd request bodies (" +
                  std::string(e.what()) + "); use auto or none");
    }
    return false;
  }
}

// A group an earlier run loaded, whose rows the target still holds.
bool already_loaded(ClickHouseClient& client, const ImportGroup& group,
                    const std::optional<JournalEntry>& entry) {
  if (!entry || entry->files_digest != group.files_digest || entry->rows != group.rows)
    return false;
  std::vector<std::string> ids;
  for (const auto& [id, rows] : entry->partitions) ids.push_back(id);
  return rows_as_loaded(entry->partitions, target_partition_rows(client, group.table->target, ids),
                        merges_rows_away(group.table->engine));
}

Task progress_task(const ImportGroup& group) {
  Task t;
  t.table = group.table->target;
  t.partition = group.dir;
  t.dir = group.dir;
  t.planned_rows = group.rows;
  return t;
}

struct Plan {
  std::vector<TargetTable> tables;
  std::vector<ImportGroup> groups;  // to load
  uint64_t kept = 0;                // groups an earlier run loaded
};

class Loader {
 public:
  Loader(const ImportOptions& options, const ConnectionOptions& connection, const Plan& plan,
         LoadSettings settings, ImportJournal& journal, Progress& progress,
         const CancelToken* cancel)
      : options_(options),
        connection_(connection),
        plan_(plan),
        settings_(std::move(settings)),
        journal_(journal),
        progress_(progress),
        cancel_(cancel) {}

  void run(ImportResult& result) {
    size_t n = std::min<size_t>(static_cast<size_t>(options_.workers), plan_.groups.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) threads.emplace_back([this] { work(); });
    for (auto& t : threads) t.join();
    result.loaded = loaded_;
    result.failed = failed_;
    result.rows = rows_;
    result.bytes = bytes_;
    result.exit_code = exit_code_;
    result.sent_zstd = sent_zstd_;
    result.uncovered_parts = uncovered_parts_;
  }

 private:
  bool cancelled() const { return cancel_ != nullptr && cancel_->requested.load(); }
  bool should_stop() {
    std::lock_guard lock(mutex_);
    return cancelled() || stop_;
  }

  void work() {
    try {
      ClickHouseClient client(connection_);
      if (cancel_ != nullptr) client.set_cancel_flag(&cancel_->requested);
      std::unique_ptr<Store> source = open_store(options_.source);
      while (!should_stop()) {
        size_t i = next_.fetch_add(1);
        if (i >= plan_.groups.size()) return;
        load(client, *source, plan_.groups[i]);
      }
    } catch (const std::exception& e) {
      // Not a group's failure (the worker could not open its connection or store): the run stops.
      spdlog::error("{}", e.what());
      std::lock_guard lock(mutex_);
      if (exit_code_ == 0) {
        auto* error = dynamic_cast<const Error*>(&e);
        exit_code_ = error != nullptr ? exit_code_for(error->category()) : exit_code::internal;
      }
      stop_ = true;
    }
  }

  void load(ClickHouseClient& client, Store& source, const ImportGroup& group) {
    const Task task = progress_task(group);
    const auto start = Clock::now();
    for (int attempt = 1;; ++attempt) {
      uint64_t rows = 0, bytes = 0;
      progress_.task_started(task, "", attempt);
      std::optional<Error> failure;
      try {
        GroupLoad load =
            load_group(client, source, group, settings_, journal_, [&](uint64_t r, uint64_t b) {
              rows += r;
              bytes += b;
              progress_.add(b, r);
            });
        spdlog::info("{} -> {}: {} rows in {} file(s), {} ({:.2f} s{})", group.dir,
                     group.table->target.display(), group.rows, group.files.size(),
                     format_bytes(group.bytes), seconds_since(start),
                     attempt > 1 ? ", attempt " + std::to_string(attempt) : std::string());
        progress_.task_finished(task, true, group.rows, {}, "", false);
        std::lock_guard lock(mutex_);
        ++loaded_;
        rows_ += group.rows;
        bytes_ += group.bytes;
        sent_zstd_ = sent_zstd_ || load.sent_zstd;
        uncovered_parts_ += load.uncovered_parts;
        return;
      } catch (const Error& e) {
        failure = e;
      } catch (const std::exception& e) {
        failure = Error(ErrorKind::permanent, ErrorCategory::export_failed,
                        "loading " + group.dir + ": " + e.what());
      }
      progress_.take_back(bytes, rows);
      const Error& e = *failure;
      if (cancelled() || e.category() == ErrorCategory::cancelled) {
        clean_up(group);
        return fail(task, e, /*quiet=*/true);
      }
      if (!e.transient() || attempt > options_.retry.retries || should_stop()) {
        clean_up(group);
        return fail(task, e, false);
      }
      double delay = retry_delay(options_.retry, attempt, e);
      spdlog::warn("{} (attempt {} of {}; retrying in {:.1f} s)", e.what(), attempt,
                   options_.retry.retries + 1, delay);
      progress_.retry(task, attempt, delay, e.what());
      auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(delay));
      while (Clock::now() < until && !should_stop())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (should_stop()) {  // another worker's failure stopped the run while this one waited
        clean_up(group);
        return fail(task, e, cancelled());
      }
    }
  }

  // A fresh connection: the worker's is cancelled with the run.
  void clean_up(const ImportGroup& group) noexcept {
    try {
      ClickHouseClient cleaner(connection_);
      drop_staging(cleaner, group);
    } catch (...) {
    }
  }

  void fail(const Task& task, const Error& e, bool quiet) {
    if (!quiet) spdlog::error("{}", e.what());
    progress_.task_finished(task, false, 0, {}, e.what(), false);
    std::lock_guard lock(mutex_);
    ++failed_;
    if (exit_code_ == 0) exit_code_ = exit_code_for(e.category());
    // A usage error (two groups in one target partition) would hit the next groups too.
    if (stops_the_run(e.category()) || e.category() == ErrorCategory::usage) stop_ = true;
  }

  const ImportOptions& options_;
  const ConnectionOptions& connection_;
  const Plan& plan_;
  const LoadSettings settings_;
  ImportJournal& journal_;
  Progress& progress_;
  const CancelToken* cancel_;
  std::atomic<size_t> next_{0};
  std::mutex mutex_;
  bool stop_ = false;
  uint64_t loaded_ = 0, failed_ = 0, rows_ = 0, bytes_ = 0;
  size_t uncovered_parts_ = 0;
  bool sent_zstd_ = false;
  int exit_code_ = 0;
};

Plan make_plan(ClickHouseClient& client, Store& source, const ExportManifest& manifest,
               const ImportOptions& options, ImportJournal& journal) {
  Plan plan;
  std::string timezone = client.server_timezone();
  bool text = manifest.datetime_format != "unix";
  auto selected = select_tables(manifest, options);
  plan.tables.reserve(selected.size());  // groups point into it
  for (const ManifestTable* t : selected) {
    plan.tables.push_back(prepare_target(client, source, *t, options.database,
                                         options.create_tables, options.dry_run, timezone, text));
  }
  for (const TargetTable& table : plan.tables) {
    for (ImportGroup& g : group_tasks(manifest, table)) {
      if (g.files.empty()) continue;  // no rows: nothing to load, nothing to replace
      auto entry = journal.find(g.key());
      if (table.exists && already_loaded(client, g, entry)) {
        journal.claim(table.target.display(), g.key(), entry->partitions);
        ++plan.kept;
        spdlog::debug("{}: loaded by an earlier run, kept", g.key());
        continue;
      }
      plan.groups.push_back(std::move(g));
    }
  }
  // Largest first: a big partition started last would leave the other workers idle.
  std::stable_sort(plan.groups.begin(), plan.groups.end(),
                   [](const ImportGroup& a, const ImportGroup& b) { return a.bytes > b.bytes; });
  return plan;
}

void print_dry_run(const Plan& plan, const ImportJournal& journal, bool send_zstd) {
  for (const TargetTable& t : plan.tables) {
    if (!t.exists) std::cout << "create " << t.target.display() << " from its schema.sql\n";
  }
  for (const ImportGroup& g : plan.groups) {
    std::cout << "load " << g.dir << " (" << g.files.size() << " file(s), " << g.rows << " rows, "
              << format_bytes(g.bytes) << (send_zstd ? " sent as zstd" : "") << ") into "
              << g.table->target.display() << " through " << g.staging().display()
              << " and REPLACE PARTITION\n";
  }
  std::cout << plan.groups.size() << " group(s) to load, " << plan.kept
            << " loaded by an earlier run (journal " << journal.describe() << ")\n";
}

}  // namespace

ImportResult run_import(const ImportOptions& options, const CancelToken* cancel) {
  const auto start = Clock::now();
  std::unique_ptr<Store> source = open_store(options.source);
  ExportManifest manifest = read_export_manifest(*source);
  if (!manifest.problems.empty()) {
    throw_usage(options.source + " is not a whole export: " + manifest.problems[0] +
                (manifest.problems.size() > 1
                     ? " (and " + std::to_string(manifest.problems.size() - 1) +
                           " more; see chexport verify)"
                     : ""));
  }
  ClickHouseClient probe(options.connection);
  if (cancel != nullptr) probe.set_cancel_flag(&cancel->requested);
  probe.set_query_retry(
      {options.retry.retries, options.retry.first_delay, options.retry.max_delay});
  ServerVersion version = probe.server_version();
  spdlog::info("importing {} (exported from {}) into ClickHouse {} at {}", options.source,
               manifest.server_url, version.text, options.connection.url);
  const ConnectionOptions connection = with_import_settings(probe, options.connection);
  ClickHouseClient admin(connection);
  if (cancel != nullptr) admin.set_cancel_flag(&cancel->requested);
  admin.set_query_retry(
      {options.retry.retries, options.retry.first_delay, options.retry.max_delay});
  ImportJournal journal(open_store(options.source), options.journal,
                        journal_key(options.connection.url, options.database),
                        options.connection.url);
  journal.load();
  Plan plan = make_plan(admin, *source, manifest, options, journal);
  bool send_zstd = server_reads_zstd(admin, options.send);
  ImportResult result;
  result.groups = plan.groups.size() + plan.kept;
  result.kept = plan.kept;
  if (options.dry_run) {
    print_dry_run(plan, journal, send_zstd);
    result.summary = "dry run: nothing was changed";
    return result;
  }
  uint64_t rows = 0, bytes = 0;
  for (const ImportGroup& g : plan.groups) {
    rows += g.rows;
    bytes += g.bytes;
  }
  Progress progress(options.progress, plan.groups.size(), rows, bytes);
  progress.start();
  Loader loader(options, connection, plan, LoadSettings{manifest.format, send_zstd}, journal,
                progress, cancel);
  loader.run(result);
  progress.run_finished(result.exit_code, result.rows, result.failed);
  progress.stop();
  double seconds = seconds_since(start);
  result.summary = "imported " + std::to_string(result.loaded) + " of " +
                   std::to_string(plan.groups.size()) + " group(s), " +
                   std::to_string(result.rows) + " rows (" + format_bytes(result.bytes) +
                   (result.sent_zstd ? " sent as zstd" : " sent as CSV") + ") into " +
                   options.connection.url + " in " + fmt::format("{:.2f}", seconds) + " s";
  if (plan.kept > 0)
    result.summary += "; " + std::to_string(plan.kept) + " loaded by an earlier run, kept";
  if (result.failed > 0) result.summary += "; " + std::to_string(result.failed) + " failed";
  if (result.uncovered_parts > 0) {
    spdlog::warn(
        "the target keeps {} replaced part(s) on disk until its old_parts_lifetime (8 minutes by "
        "default) and would load them again if it were killed before: after such a crash, run "
        "this import again (it recounts every partition and reloads what differs)",
        result.uncovered_parts);
  }
  return result;
}

}  // namespace chexport
