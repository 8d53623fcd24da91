#include "chexport/run/verify_content.h"

#include <map>

#include "chexport/plan/plan.h"
#include "chexport/run/import_group.h"
#include "chexport/run/import_journal.h"

namespace chexport {
namespace {

struct Hashes {
  uint64_t rows = 0;
  std::vector<uint64_t> columns;  // wrapping sums, one per column
  void add(const std::vector<std::string>& row) {
    rows += std::stoull(row.at(0));
    columns.resize(row.size() - 1, 0);
    for (size_t i = 1; i < row.size(); ++i) columns[i - 1] += std::stoull(row[i]);
  }
};

std::string hash_query(const std::vector<Column>& columns, const TableRef& table,
                       const std::string& where) {
  std::string sql = "SELECT toString(count())";
  for (const Column& c : columns)
    sql += ", toString(sum(ifNull(cityHash64(" + quote_identifier(c.name) + "), 1)))";
  return sql + " FROM " + table.sql() + (where.empty() ? "" : " WHERE " + where);
}

Hashes ask(ClickHouseClient& client, const std::string& sql, const std::string& what) {
  Hashes h;
  h.add(client.query_rows(sql, what).at(0));
  return h;
}

void compare(const Hashes& source, const Hashes& target, const std::string& group,
             const std::vector<Column>& columns, std::vector<std::string>& problems) {
  if (source.rows != target.rows) {
    problems.push_back("content differs: " + group + " has " + std::to_string(source.rows) +
                       " rows on the source, " + std::to_string(target.rows) + " on the target");
    return;
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (source.columns.at(i) != target.columns.at(i)) {
      problems.push_back("content differs: " + group + " column " + columns[i].name + " (hash " +
                         std::to_string(source.columns[i]) + " on the source, " +
                         std::to_string(target.columns[i]) + " on the target)");
    }
  }
}

}  // namespace

size_t compare_content(Store& export_store, const ExportManifest& manifest,
                       ClickHouseClient& source, const ContentTarget& target,
                       std::vector<std::string>& problems) {
  ImportJournal journal(open_store(export_store.describe("")), target.journal,
                        journal_key(target.url, target.database), target.url);
  journal.load();
  ServerVersion version = target.client->server_version();
  size_t compared = 0;
  for (const ManifestTable& table : manifest.tables) {
    TableRef into{target.database.empty() ? table.db : target.database, table.table};
    std::map<std::string, Hashes> groups;
    for (const ManifestTask& task : manifest.tasks) {
      if (task.db != table.db || task.table != table.table || task.status != "done") continue;
      Hashes h =
          ask(source, hash_query(table.columns, task.source(source.options()), task.predicate),
              "hashing " + task.dir + " on the source");
      Hashes& g = groups[group_dir(task.dir)];
      g.rows += h.rows;
      g.columns.resize(h.columns.size(), 0);
      for (size_t i = 0; i < h.columns.size(); ++i) g.columns[i] += h.columns[i];
    }
    for (const auto& [dir, hashes] : groups) {
      std::string key = into.display() + "/" + dir;
      auto entry = journal.find(key);
      if (!entry) {
        if (hashes.rows != 0)
          problems.push_back("not imported: " + dir + " (no entry in " + journal.describe() + ")");
        continue;
      }
      std::string where;
      for (const auto& [id, rows] : entry->partitions)
        where += (where.empty() ? "" : " OR ") + ("(" + partition_predicate(version, id) + ")");
      Hashes there = where.empty() ? Hashes{0, std::vector<uint64_t>(table.columns.size(), 0)}
                                   : ask(*target.client, hash_query(table.columns, into, where),
                                         "hashing " + key + " on the target");
      compare(hashes, there, dir + " -> " + into.display(), table.columns, problems);
      ++compared;
    }
  }
  return compared;
}

}  // namespace chexport
