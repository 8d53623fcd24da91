#include "chexport/plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

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

std::string and_predicates(const std::vector<std::string>& parts) {
  std::vector<std::string> present;
  for (const auto& p : parts) {
    if (!p.empty()) present.push_back(p);
  }
  if (present.size() == 1) return present[0];
  std::string out;
  for (const auto& p : present) out += (out.empty() ? "(" : " AND (") + p + ")";
  return out;
}

std::string TableSpec::bounds() const {
  return and_predicates({lower_condition, upper_condition});
}

std::string partition_predicate(const ServerVersion& version, std::string_view partition_id) {
  if (version.at_least(21, 4)) return "_partition_id = " + quote_string(partition_id);
  return "startsWith(_part, " + quote_string(std::string(partition_id) + "_") + ")";
}

namespace {

uint64_t to_u64(const std::string& text) {
  return text == "\\N" ? 0 : std::stoull(text);
}

std::string where(const std::string& predicate) {
  return predicate.empty() ? std::string() : " WHERE " + predicate;
}

uint64_t count_rows(ClickHouseClient& client, const TableRef& table, const std::string& predicate,
                    const std::string& what) {
  auto rows =
      client.query_rows("SELECT toString(count()) FROM " + table.sql() + where(predicate), what);
  return to_u64(rows.at(0).at(0));
}

// Whitespace-free text, for comparing expressions as the user and the server write them.
std::string squeeze(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '`') out.push_back(c);
  }
  return out;
}

std::string strip_nullable(std::string type) {
  if (type.starts_with("Nullable(") && type.ends_with(")")) return type.substr(9, type.size() - 10);
  return type;
}

// The literal of a value of `type` whose text (toString) is `text`.
std::string literal(const std::string& type, const std::string& text, const std::string& expr) {
  std::string t = strip_nullable(type);
  static const char* numeric[] = {"UInt8", "UInt16", "UInt32", "UInt64",
                                  "Int8",  "Int16",  "Int32",  "Int64"};
  for (const char* n : numeric) {
    if (t == n) return text;
  }
  if (t == "String" || t.starts_with("FixedString(")) return quote_string(text);
  if (t.starts_with("DateTime")) {
    // CAST('...' AS DateTime('tz')) reads the text in the server's zone on old servers; the
    // text is in the column's zone, so parse it there.
    auto q = t.find('\'');
    std::string tz = q == std::string::npos ? "" : ", " + t.substr(q, t.rfind('\'') - q + 1);
    if (t.starts_with("DateTime64(")) {
      std::string scale = t.substr(11, t.find_first_of(",)") - 11);
      return "toDateTime64(" + quote_string(text) + ", " + scale + tz + ")";
    }
    return "toDateTime(" + quote_string(text) + tz + ")";
  }
  if (t == "Date" || t.starts_with("Enum") || t == "UUID" || t.starts_with("Float") ||
      t.starts_with("Decimal")) {
    return "CAST(" + quote_string(text) + " AS " + t + ")";
  }
  throw_usage("partition_expr " + expr + " has type " + type +
              ", which chexport cannot turn into a literal; use the table's own partition key "
              "(omit partition_expr) or an expression of a number, string or date type");
}

struct TableInfo {
  std::string engine;
  std::string partition_key;
  std::map<std::string, std::string> column_types;
};

TableInfo table_info(ClickHouseClient& client, const TableRef& table) {
  auto rows = client.query_rows(
      "SELECT engine, partition_key FROM system.tables WHERE database = " + quote_string(table.db) +
          " AND name = " + quote_string(table.table),
      "looking up table " + table.display());
  if (rows.empty()) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "table " + table.display() + " does not exist on the server");
  }
  TableInfo info{rows[0].at(0), rows[0].at(1), {}};
  for (const auto& c : client.query_rows(
           "SELECT name, type FROM system.columns WHERE database = " + quote_string(table.db) +
               " AND table = " + quote_string(table.table),
           "reading the columns of " + table.display())) {
    info.column_types[c.at(0)] = c.at(1);
  }
  return info;
}

// One task per partition, from system.parts (counted within the bounds when there are bounds).
std::vector<Task> partition_tasks(ClickHouseClient& client, const ServerVersion& version,
                                  const TableSpec& spec) {
  const TableRef& table = spec.table;
  std::string base_dir = table_dir(table.db, table.table);
  auto parts = client.query_rows(
      "SELECT partition, partition_id, toString(sum(rows)), toString(sum(bytes_on_disk)), "
      "toString(sum(data_uncompressed_bytes)) FROM system.parts WHERE database = " +
          quote_string(table.db) + " AND table = " + quote_string(table.table) +
          " AND active GROUP BY partition, partition_id",
      "reading the partitions of " + table.display() + " from system.parts");
  std::map<std::string, uint64_t> counted;  // partition id -> rows within the bounds
  std::string bounds = spec.bounds();
  if (!bounds.empty()) {
    // Part names start with "<partition_id>_"; ids never contain '_'.
    std::string id_expr =
        version.at_least(21, 4) ? "_partition_id" : "substring(_part, 1, position(_part, '_') - 1)";
    for (const auto& row : client.query_rows(
             "SELECT " + id_expr + " AS id, toString(count()) FROM " + table.sql() + where(bounds) +
                 " GROUP BY id",
             "counting the partitions of " + table.display() + " within the bounds")) {
      counted[row.at(0)] = to_u64(row.at(1));
    }
  }
  std::vector<Task> tasks;
  for (const auto& row : parts) {
    Task task;
    task.table = table;
    task.partition = row.at(0);
    task.partition_id = row.at(1);
    uint64_t part_rows = to_u64(row.at(2));
    task.planned_rows = bounds.empty() ? part_rows : counted[task.partition_id];
    if (task.planned_rows == 0) continue;  // nothing within the bounds
    double share = part_rows == 0
                       ? 0
                       : static_cast<double>(task.planned_rows) / static_cast<double>(part_rows);
    task.bytes_on_disk = static_cast<uint64_t>(static_cast<double>(to_u64(row.at(3))) * share);
    task.uncompressed_bytes = static_cast<uint64_t>(static_cast<double>(to_u64(row.at(4))) * share);
    task.predicate = and_predicates(
        {task.partition_id == "all" ? "" : partition_predicate(version, task.partition_id),
         bounds});
    task.dir = base_dir + "/" + partition_dir(task.partition, task.partition_id);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// One task per value of a partition expression that is not the table's key.
std::vector<Task> expression_tasks(ClickHouseClient& client, const TableSpec& spec,
                                   uint64_t table_bytes, uint64_t table_rows) {
  const TableRef& table = spec.table;
  const std::string& expr = spec.partition_expr;
  std::string base_dir = table_dir(table.db, table.table);
  auto rows = client.query_rows(
      "SELECT toString(v), isNull(v), toTypeName(v), toString(count()) FROM (SELECT (" + expr +
          ") AS v FROM " + table.sql() + where(spec.bounds()) + ") GROUP BY v",
      "grouping " + table.display() + " by " + expr);
  std::vector<Task> tasks;
  for (const auto& row : rows) {
    Task task;
    task.table = table;
    bool is_null = row.at(1) == "1";
    task.partition = is_null ? "NULL" : row.at(0);
    task.planned_rows = to_u64(row.at(3));
    double share = table_rows == 0
                       ? 0
                       : static_cast<double>(task.planned_rows) / static_cast<double>(table_rows);
    task.uncompressed_bytes = static_cast<uint64_t>(static_cast<double>(table_bytes) * share);
    std::string select = is_null ? "isNull(" + expr + ")"
                                 : "(" + expr + ") = " + literal(row.at(2), row.at(0), expr);
    task.predicate = and_predicates({select, spec.bounds()});
    // "%NULL" is not a %XX escape, so no value's encoded name can be it.
    task.dir =
        base_dir + "/" + (is_null ? "partition=%NULL" : "partition=" + encode_name(task.partition));
    tasks.push_back(std::move(task));
  }
  return tasks;
}

}  // namespace

std::vector<TablePlan> plan_export(ClickHouseClient& client, const ServerVersion& version,
                                   const std::vector<TableSpec>& tables,
                                   const SplitOptions& split) {
  std::vector<TablePlan> plans;
  for (size_t i = 0; i < tables.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (tables[i].table.display() == tables[j].table.display()) {
        // Both would write the same directories.
        throw_usage("table " + tables[i].table.display() +
                    " is listed twice; list it once (its bounds can "
                    "cover both ranges)");
      }
    }
  }
  for (const TableSpec& spec : tables) {
    const TableRef& table = spec.table;
    TableInfo info = table_info(client, table);
    if (!spec.split_field.empty()) {
      auto type = info.column_types.find(spec.split_field);
      if (type == info.column_types.end()) {
        throw_usage("split_field " + spec.split_field + " is not a column of " + table.display());
      }
      check_split_field_type(spec.split_field, type->second);
    }
    TablePlan plan{spec, info.engine, 0, {}};
    bool merge_tree = info.engine.find("MergeTree") != std::string::npos;
    std::string bounds = spec.bounds();
    plan.rows_in_bounds = count_rows(client, table, bounds, "counting rows of " + table.display());

    uint64_t table_bytes = 0, table_rows = 0;
    if (merge_tree) {
      auto sizes = client.query_rows(
          "SELECT toString(sum(rows)), toString(sum(data_uncompressed_bytes)) FROM system.parts "
          "WHERE database = " +
              quote_string(table.db) + " AND table = " + quote_string(table.table) + " AND active",
          "reading the size of " + table.display());
      table_rows = to_u64(sizes.at(0).at(0));
      table_bytes = to_u64(sizes.at(0).at(1));
    }

    bool own_key =
        spec.partition_expr.empty() || squeeze(spec.partition_expr) == squeeze(info.partition_key);
    if (spec.mode == TableMode::partition && !own_key) {
      plan.tasks = expression_tasks(client, spec, table_bytes, table_rows);
    } else if (spec.mode == TableMode::partition && merge_tree) {
      plan.tasks = partition_tasks(client, version, spec);
    } else if (plan.rows_in_bounds > 0) {
      // Mode all, or an engine without parts: the whole table within the bounds.
      Task task;
      task.table = table;
      task.partition = spec.mode == TableMode::all ? "" : "tuple()";
      task.partition_id = "all";
      task.predicate = bounds;
      task.planned_rows = plan.rows_in_bounds;
      double share = table_rows == 0
                         ? 0
                         : static_cast<double>(task.planned_rows) / static_cast<double>(table_rows);
      task.uncompressed_bytes = static_cast<uint64_t>(static_cast<double>(table_bytes) * share);
      task.dir = table_dir(table.db, table.table) + "/all";
      plan.tasks.push_back(std::move(task));
    }

    // Split what is too large.
    std::vector<Task> final_tasks;
    for (Task& task : plan.tasks) {
      uint64_t limit = split.max_rows_per_task == 0 ? UINT64_MAX : split.max_rows_per_task;
      if (split.max_bytes_per_task != 0 && task.uncompressed_bytes > 0 && task.planned_rows > 0) {
        double row_bytes =
            static_cast<double>(task.uncompressed_bytes) / static_cast<double>(task.planned_rows);
        limit = std::min(
            limit,
            std::max<uint64_t>(1, static_cast<uint64_t>(
                                      static_cast<double>(split.max_bytes_per_task) / row_bytes)));
      }
      if (task.planned_rows <= limit) {
        final_tasks.push_back(std::move(task));
        continue;
      }
      if (spec.split_field.empty()) {
        task.note =
            "over the task limit (" + std::to_string(limit) + " rows) but no split_field is set";
        spdlog::warn("{} {}: {}", table.display(), task.partition, task.note);
        final_tasks.push_back(std::move(task));
        continue;
      }
      auto type = info.column_types.find(spec.split_field);
      for (Task& range : split_task(client, spec, task, type->second, limit))
        final_tasks.push_back(std::move(range));
    }
    plan.tasks = std::move(final_tasks);
    std::sort(plan.tasks.begin(), plan.tasks.end(),
              [](const Task& a, const Task& b) { return a.dir < b.dir; });

    uint64_t sum = 0;
    for (const Task& t : plan.tasks) sum += t.planned_rows;
    if (sum != plan.rows_in_bounds) {
      throw Error(ErrorKind::transient, ErrorCategory::validation,
                  "plan for " + table.display() + " covers " + std::to_string(sum) +
                      " rows but count() within its bounds is " +
                      std::to_string(plan.rows_in_bounds) + " (is the table being written to?)");
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace chexport
