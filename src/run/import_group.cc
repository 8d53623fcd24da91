#include "chexport/run/import_group.h"

#include <spdlog/spdlog.h>

#include <map>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/output/layout.h"
#include "chexport/run/import_file.h"

namespace chexport {
namespace {

std::string in_list(const std::vector<std::string>& ids) {
  std::string list;
  for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + quote_string(id);
  return list;
}

std::map<std::string, uint64_t> partition_rows(ClickHouseClient& client, const TableRef& table,
                                               const std::string& filter, const std::string& what) {
  auto rows = client.query_rows(
      "SELECT partition_id, toString(sum(rows)) FROM system.parts WHERE database = " +
          quote_string(table.db) + " AND table = " + quote_string(table.table) + " AND active" +
          filter + " GROUP BY partition_id",
      what);
  std::map<std::string, uint64_t> out;
  for (const auto& r : rows) out[r.at(0)] = std::stoull(r.at(1));
  return out;
}

uint64_t sum_of(const std::map<std::string, uint64_t>& partitions) {
  uint64_t n = 0;
  for (const auto& [id, rows] : partitions) n += rows;
  return n;
}

}  // namespace

std::string group_dir(const std::string& task_dir) {
  auto slash = task_dir.rfind('/');
  if (slash == std::string::npos) return task_dir;
  std::string_view last = std::string_view(task_dir).substr(slash + 1);
  // Exports before the Hive layout have no "whole" level; their partition folders never end so.
  if (last.starts_with("range-") || last == whole_dir) return task_dir.substr(0, slash);
  return task_dir;
}

std::string ImportGroup::key() const {
  return table->target.display() + "/" + dir;
}

TableRef ImportGroup::staging() const {
  return TableRef{table->target.db, "_chexport_staging_" + Sha256::of(key()).substr(0, 16)};
}

std::vector<ImportGroup> group_tasks(const ExportManifest& manifest, const TargetTable& table) {
  std::vector<ImportGroup> groups;
  std::map<std::string, size_t> index;
  for (const ManifestTask& task : manifest.tasks) {
    if (task.db != table.source.db || task.table != table.source.table) continue;
    if (task.status != "done") {
      throw_usage("task " + task.dir + " of the export is " + task.status +
                  (task.error.empty() ? std::string() : " (" + task.error + ")") +
                  ": finish the export first (running it again resumes it)");
    }
    std::string dir = group_dir(task.dir);
    auto [it, added] = index.emplace(dir, groups.size());
    if (added) {
      ImportGroup g;
      g.table = &table;
      g.dir = dir;
      groups.push_back(std::move(g));
    }
    ImportGroup& g = groups[it->second];
    for (const ManifestFile& f : task.files) {
      if (f.handed_off) {
        throw_usage("cannot load " + f.path +
                    ": --delete-after-hook removed it after its --on-file command");
      }
      g.files.push_back(f);
      g.rows += f.rows;
      g.bytes += f.compressed_bytes;
    }
  }
  for (ImportGroup& g : groups) {
    Sha256 digest;
    for (const ManifestFile& f : g.files) digest.update(f.path + " " + f.sha256 + "\n");
    g.files_digest = digest.hex_digest();
  }
  return groups;
}

std::string insert_sql(const TableRef& staging, const std::vector<Column>& columns,
                       const std::string& format) {
  std::string names;
  for (const Column& c : columns) names += (names.empty() ? "" : ", ") + quote_identifier(c.name);
  return "INSERT INTO " + staging.sql() + " (" + names + ") FORMAT " + format;
}

std::map<std::string, uint64_t> target_partition_rows(ClickHouseClient& client,
                                                      const TableRef& table,
                                                      const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  return partition_rows(client, table, " AND partition_id IN (" + in_list(ids) + ")",
                        "counting the rows of " + table.display());
}

void drop_staging(ClickHouseClient& client, const ImportGroup& group) noexcept {
  try {
    client.query("DROP TABLE IF EXISTS " + group.staging().sql(),
                 "dropping " + group.staging().display());
  } catch (const std::exception& e) {
    spdlog::warn("could not drop the staging table {}: {}", group.staging().display(), e.what());
  }
}

bool merges_rows_away(const std::string& engine) {
  return engine != "MergeTree";
}

size_t uncovered_replaced_parts(ClickHouseClient& client, const TableRef& table,
                                const std::vector<std::string>& ids) {
  if (ids.empty()) return 0;
  auto parts = client.query_rows(
      "SELECT partition_id, toString(min_block_number), toString(max_block_number), "
      "toString(active) FROM system.parts WHERE database = " +
          quote_string(table.db) + " AND table = " + quote_string(table.table) +
          " AND partition_id IN (" + in_list(ids) + ")",
      "reading the parts of " + table.display());
  size_t uncovered = 0;
  for (const auto& old : parts) {
    if (old.at(3) == "1") continue;
    bool covered = false;
    for (const auto& part : parts) {
      covered = covered || (part.at(3) == "1" && part.at(0) == old.at(0) &&
                            std::stoll(part.at(1)) <= std::stoll(old.at(1)) &&
                            std::stoll(part.at(2)) >= std::stoll(old.at(2)));
    }
    if (!covered) ++uncovered;
  }
  return uncovered;
}

bool rows_as_loaded(const std::map<std::string, uint64_t>& loaded,
                    const std::map<std::string, uint64_t>& now, bool merges_rows) {
  for (const auto& [id, rows] : loaded) {
    auto it = now.find(id);
    uint64_t there = it == now.end() ? 0 : it->second;
    if (merges_rows ? there > rows : there != rows) return false;
  }
  return true;
}

namespace {

// Sends one file; when the server refuses it before the file was read to its end, the rest is
// read and checked, so that a damaged file is reported as such (exit 4), not as the server's
// complaint about its bytes.
void send_file(ClickHouseClient& client, Store& source, const ManifestFile& f,
               const std::string& sql, bool passthrough, const std::string& what) {
  ExportFileSource body(source, f, f.path.ends_with(".zst") && !passthrough);
  try {
    client.insert(sql, body, passthrough ? "zstd" : "", what + ": " + f.path);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::cancelled) body.check_rest();
    throw;
  }
}

// The staging table after its partitions were moved: a leftover only costs disk space, the
// target is loaded. 18.16 refuses to drop a table over max_table_size_to_drop (50 GB).
void drop_loaded_staging(ClickHouseClient& client, const TableRef& staging,
                         const std::string& what) {
  try {
    client.query("DROP TABLE IF EXISTS " + staging.sql(), what);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    spdlog::warn(
        "{}: loaded, but the staging table {} could not be dropped ({}); drop it yourself (a "
        "table over the server's max_table_size_to_drop needs its force_drop_table flag file)",
        what, staging.display(), e.what());
  }
}

}  // namespace

GroupLoad load_group(ClickHouseClient& client, Store& source, const ImportGroup& group,
                     const LoadSettings& settings, ImportJournal& journal,
                     const std::function<void(uint64_t, uint64_t)>& on_file) {
  const TableRef staging = group.staging(), &target = group.table->target;
  const std::string what = "loading " + group.dir + " into " + target.display();
  const bool merges_rows = merges_rows_away(group.table->engine);
  client.query("DROP TABLE IF EXISTS " + staging.sql(), what);
  client.query("CREATE TABLE " + staging.sql() + " AS " + target.sql(), what);
  if (merges_rows) {
    // A Replacing, Collapsing or Summing merge would change the count before it is checked.
    try {
      client.query("SYSTEM STOP MERGES " + staging.sql(), what);
    } catch (const Error& e) {
      if (e.category() == ErrorCategory::connection || e.kind() == ErrorKind::cancelled) throw;
      spdlog::debug("{}: merges go on in the staging table: {}", what, e.what());
    }
  }
  GroupLoad load;
  const std::string sql = insert_sql(staging, group.table->columns, settings.format);
  for (const ManifestFile& f : group.files) {
    send_file(client, source, f, sql, settings.send_zstd && f.path.ends_with(".zst"), what);
    load.sent_bytes += f.compressed_bytes;
    load.sent_zstd = load.sent_zstd || (settings.send_zstd && f.path.ends_with(".zst"));
    on_file(f.rows, f.compressed_bytes);
  }
  load.partitions = partition_rows(client, staging, "", what);
  if (uint64_t staged = sum_of(load.partitions); staged != group.rows) {
    throw_validation(what + ": the staging table holds " + std::to_string(staged) +
                     " rows, the manifest says " + std::to_string(group.rows));
  }
  if (std::string conflict = journal.claim(target.display(), group.key(), load.partitions);
      !conflict.empty()) {
    throw_usage(what + ": " + conflict +
                ": the target's partition key groups rows differently than the export's tasks "
                "(export by the table's own partition key, or in mode all)");
  }
  std::vector<std::string> ids;
  for (const auto& [id, rows] : load.partitions) {
    client.query("ALTER TABLE " + target.sql() + " REPLACE PARTITION ID " + quote_string(id) +
                     " FROM " + staging.sql(),
                 what);
    ids.push_back(id);
  }
  // Merges on the target may take rows away (Replacing, Collapsing...), never add them.
  auto now = target_partition_rows(client, target, ids);
  if (!rows_as_loaded(load.partitions, now, merges_rows)) {
    for (const auto& [id, rows] : load.partitions) {
      if (now[id] == rows) continue;
      throw_validation(what + ": partition ID " + id + " of " + target.display() + " holds " +
                       std::to_string(now[id]) + " rows after the load, " + std::to_string(rows) +
                       " were staged");
    }
  }
  load.uncovered_parts = uncovered_replaced_parts(client, target, ids);
  drop_loaded_staging(client, staging, what);
  journal.record(group.key(), JournalEntry{load.partitions, group.rows, group.files_digest});
  return load;
}

}  // namespace chexport
