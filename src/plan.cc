#include "chexport/plan.h"

#include <algorithm>

#include "chexport/layout.h"

namespace chexport {

std::string TableRef::sql() const {
  return quote_identifier(db) + "." + quote_identifier(table);
}

TableRef parse_table_ref(std::string_view text) {
  auto dot = text.find('.');
  TableRef ref;
  if (dot == std::string_view::npos) {
    ref = {"default", std::string(text)};
  } else {
    ref = {std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
  }
  if (ref.db.empty() || ref.table.empty()) {
    throw_usage("table \"" + std::string(text) + "\" is not of the form db.table");
  }
  return ref;
}

std::string partition_predicate(const ServerVersion& version, std::string_view partition_id) {
  if (version.at_least(21, 4)) return "_partition_id = " + quote_string(partition_id);
  return "startsWith(_part, " + quote_string(std::string(partition_id) + "_") + ")";
}

namespace {

uint64_t to_u64(const std::string& text) {
  return std::stoull(text);
}

}  // namespace

TablePlan plan_table(ClickHouseClient& client, const ServerVersion& version,
                     const TableRef& table) {
  TablePlan plan{table, "", {}};
  auto engines = client.query_rows(
      "SELECT engine FROM system.tables WHERE database = " + quote_string(table.db) +
          " AND name = " + quote_string(table.table),
      "looking up table " + table.display());
  if (engines.empty()) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "table " + table.display() + " does not exist on the server");
  }
  plan.engine = engines[0].at(0);
  std::string base_dir = table_dir(table.db, table.table);

  if (plan.engine.find("MergeTree") == std::string::npos) {
    // No parts to read: one task over the whole table, counted directly.
    auto count = client.query_rows("SELECT toString(count()) FROM " + table.sql(),
                                   "counting rows of " + table.display());
    Task task{table, "tuple()", "all", "", to_u64(count.at(0).at(0)), 0, 0, base_dir + "/all"};
    plan.tasks.push_back(std::move(task));
    return plan;
  }

  auto parts = client.query_rows(
      "SELECT partition, partition_id, toString(sum(rows)), toString(sum(bytes_on_disk)), "
      "toString(sum(data_uncompressed_bytes)) FROM system.parts WHERE database = " +
          quote_string(table.db) + " AND table = " + quote_string(table.table) +
          " AND active GROUP BY partition, partition_id",
      "reading the partitions of " + table.display() + " from system.parts");
  for (const auto& row : parts) {
    Task task;
    task.table = table;
    task.partition = row.at(0);
    task.partition_id = row.at(1);
    task.predicate =
        task.partition_id == "all" ? "" : partition_predicate(version, task.partition_id);
    task.planned_rows = to_u64(row.at(2));
    task.bytes_on_disk = to_u64(row.at(3));
    task.uncompressed_bytes = to_u64(row.at(4));
    task.dir = base_dir + "/" + partition_dir(task.partition, task.partition_id);
    plan.tasks.push_back(std::move(task));
  }
  std::sort(plan.tasks.begin(), plan.tasks.end(),
            [](const Task& a, const Task& b) { return a.dir < b.dir; });
  return plan;
}

}  // namespace chexport
