// Loading one group of an export into its target exactly once (docs/import.md "Exactly once").
//
// A group is every file of one partition directory of one table (a whole partition, all its
// split ranges together; the whole table in mode all). It is loaded into a staging table of its
// own, `_chexport_staging_<16 hex>` next to the target, created AS the target with merges
// stopped; its row count is checked against the manifest; then every target partition it holds
// is moved into the target with ALTER TABLE ... REPLACE PARTITION ID ... FROM (atomic per
// partition on both 18.16 and 26.7), and the target's rows in those partitions are checked.
// Whatever fails before the REPLACE leaves the target as it was; an attempt starts by dropping
// the staging table a failed one left, and REPLACE gives the same result when repeated, so a
// retried, resumed or interrupted load never duplicates or loses rows.
//
// load_group() throws chexport::Error: what the server or the files threw, validation for counts
// that disagree, usage for two groups that fall into one target partition.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/output/store.h"
#include "chexport/run/export_manifest.h"
#include "chexport/run/import_journal.h"
#include "chexport/run/import_target.h"

namespace chexport {

struct ImportGroup {
  const TargetTable* table = nullptr;
  std::string dir;                  // the partition's directory in the export
  std::vector<ManifestFile> files;  // in the export's order
  uint64_t rows = 0;                // the manifest's
  uint64_t bytes = 0;               // the files' sizes
  std::string files_digest;         // SHA-256 over the files' paths and SHA-256s
  std::string key() const;          // "<target db.table>/<dir>": the journal's name for it
  TableRef staging() const;         // its staging table
};

// The directory a task's group is named by: its partition's, above its "whole" or range level.
std::string group_dir(const std::string& task_dir);

// Groups the done tasks of `table` by partition directory. Throws usage for a task that is not
// done or a file that was handed off (neither can be loaded whole).
std::vector<ImportGroup> group_tasks(const ExportManifest& manifest, const TargetTable& table);

struct LoadSettings {
  std::string format;      // CSV | CSVWithNames
  bool send_zstd = false;  // pass .zst files on as they are, Content-Encoding: zstd
};

struct GroupLoad {
  std::map<std::string, uint64_t> partitions;  // target partition ID -> rows
  uint64_t sent_bytes = 0;
  bool sent_zstd = false;      // some file went as it is, Content-Encoding: zstd
  size_t uncovered_parts = 0;  // see uncovered_replaced_parts()
};

// Whether merges of this engine take rows away (every MergeTree but the plain one): its staging
// table's merges are stopped, and the target may hold fewer rows than were loaded.
bool merges_rows_away(const std::string& engine);

// Whether the target still holds the rows loaded into these partitions: exactly, or, for an
// engine whose merges take rows away, no more.
bool rows_as_loaded(const std::map<std::string, uint64_t>& loaded,
                    const std::map<std::string, uint64_t>& now, bool merges_rows);

// The parts of these partitions that REPLACE PARTITION made inactive and that no active part
// covers. 26.7 covers a replaced range with an empty part; 18.16 does not, and a server killed
// before it deletes them (old_parts_lifetime, 8 minutes by default) loads them again as active.
size_t uncovered_replaced_parts(ClickHouseClient& client, const TableRef& table,
                                const std::vector<std::string>& ids);

// The INSERT of a group's files into its staging table, naming the manifest's columns.
std::string insert_sql(const TableRef& staging, const std::vector<Column>& columns,
                       const std::string& format);

// One attempt. `on_file(rows, bytes)` is called after each file the server took.
GroupLoad load_group(ClickHouseClient& client, Store& source, const ImportGroup& group,
                     const LoadSettings& settings, ImportJournal& journal,
                     const std::function<void(uint64_t, uint64_t)>& on_file);

// The target's rows in these partitions (active parts), by partition ID.
std::map<std::string, uint64_t> target_partition_rows(ClickHouseClient& client,
                                                      const TableRef& table,
                                                      const std::vector<std::string>& ids);

// Drops a group's staging table; best effort, never throws.
void drop_staging(ClickHouseClient& client, const ImportGroup& group) noexcept;

}  // namespace chexport
