#include "chexport/plan/plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "chexport/common/sha256.h"
#include "chexport/common/utf8.h"
#include "chexport/output/layout.h"
#include "chexport/plan/distributed.h"

namespace chexport {

TableRef parse_table_ref(std::string_view text) {
  auto dot = text.find('.');
  TableRef ref;
  if (dot == std::string_view::npos) {
    ref = {"default", std::string(text)};
  } else {
    ref = {std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
  }
  if (ref.db.empty() || ref.table.empty() || ref.table.find('.') != std::string::npos) {
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
  std::string engine_full;
  std::string partition_key;
  std::string uuid;  // empty before 20.x, and for tables of Ordinary databases
};

// The table's engine, partition key and UUID, from system.tables (which shows every table the
// user may select from).
TableInfo table_info(ClickHouseClient& client, const ServerVersion& version,
                     const TableRef& table) {
  std::string uuid = version.at_least(20, 4) ? "toString(uuid)" : "''";
  auto rows = client.query_rows("SELECT engine, partition_key, " + uuid + ", engine_full FROM " +
                                    table.system_table("tables") +
                                    " WHERE database = " + quote_string(table.stored_db()) +
                                    " AND name = " + quote_string(table.stored_table()),
                                "looking up table " + table.display());
  if (rows.empty()) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "table " + table.display() + " does not exist on the server");
  }
  std::string id = rows[0].at(2);
  if (id == "00000000-0000-0000-0000-000000000000") id.clear();
  return TableInfo{rows[0].at(0), rows[0].at(3), rows[0].at(1), id};
}

// What system.parts says of one partition: its value as text, its size, and whether its part
// names start with "<id>_" (not so for tables of the old MergeTree(date, key, granularity) syntax,
// whose parts are named "<min date>_<max date>_...").
struct PartitionParts {
  std::string partition;
  uint64_t rows = 0, bytes_on_disk = 0, uncompressed_bytes = 0;
  bool old_names = false;
  std::string version;  // digest of the sorted names of its active parts
};
using PartsById = std::map<std::string, PartitionParts>;

// What the server knows of a table's partitions. From system.parts where the user may read it;
// else (a grant of SELECT on the table alone does not cover it on modern servers) from the
// table's own _part and _partition_id, with no text, sizes or old-syntax flag.
struct TableParts {
  bool from_system_parts = true;
  PartsById by_id;
  uint64_t rows() const;
  uint64_t uncompressed_bytes() const;
  std::string version() const;  // of the whole table
};

uint64_t TableParts::rows() const {
  uint64_t n = 0;
  for (const auto& [id, p] : by_id) n += p.rows;
  return n;
}

uint64_t TableParts::uncompressed_bytes() const {
  uint64_t n = 0;
  for (const auto& [id, p] : by_id) n += p.uncompressed_bytes;
  return n;
}

std::string TableParts::version() const {
  if (by_id.empty()) return "";  // nothing to tell a change by
  std::string all;
  for (const auto& [id, p] : by_id) all += id + ":" + p.version + ";";
  return Sha256::of(all).substr(0, 32);
}

TableParts read_parts(ClickHouseClient& client, const TableRef& table) {
  TableParts parts;
  // A lightweight UPDATE (25.7+) writes patch parts, whose partition_id is
  // "patch-<hash>-<id>": they belong to partition <id>'s data. A part's modification time joins
  // its name, so a table re-created with the same part names is not taken for the old one.
  const char* id = "replaceRegexpOne(partition_id, '^patch-[^-]*-', '')";
  const char* base = "NOT startsWith(partition_id, 'patch-')";
  try {
    for (const auto& row : client.query_rows(
             // hex: JSON answers turn bytes that are not UTF-8 into U+FFFD.
             std::string("SELECT hex(anyIf(partition, ") + base + ")), " + id +
                 " AS id, toString(sumIf(rows, " + base + ")), toString(sumIf(bytes_on_disk, " +
                 base + ")), toString(sumIf(data_uncompressed_bytes, " + base +
                 ")), toString(max(" + base +
                 " AND NOT startsWith(name, concat(partition_id, '_')))), "
                 "hex(MD5(arrayStringConcat(arraySort(groupArray(concat(name, '@', "
                 "toString(toUnixTimestamp(modification_time))))), ','))) "
                 "FROM " +
                 table.system_table("parts") +
                 " WHERE database = " + quote_string(table.stored_db()) +
                 " AND table = " + quote_string(table.stored_table()) + " AND active GROUP BY id",
             "reading the partitions of " + table.display() + " from system.parts")) {
      parts.by_id[row.at(1)] =
          PartitionParts{bytes_of_hex(row.at(0)), to_u64(row.at(2)), to_u64(row.at(3)),
                         to_u64(row.at(4)),       row.at(5) == "1",  row.at(6)};
    }
    return parts;
  } catch (const Error& e) {
    if (e.category() != ErrorCategory::auth) throw;
    spdlog::debug("{}", e.what());
  }
  // Without system.parts nothing tells whether a partition changed since an earlier run (the
  // table's _part misses patch parts and modification times): no version, so a resume exports
  // every task again rather than keep one that may be stale.
  parts.from_system_parts = false;
  return parts;
}

// Rows per partition id within the bounds, counted like validation counts them: after
// lightweight deletes and under row policies, system.parts' row counts are not the rows a
// SELECT returns.
std::map<std::string, uint64_t> count_by_partition(ClickHouseClient& client,
                                                   const TableSpec& spec) {
  std::map<std::string, uint64_t> counted;
  for (const auto& row :
       client.query_rows("SELECT _partition_id AS id, toString(count()) FROM " + spec.table.sql() +
                             where(spec.bounds()) + " GROUP BY id",
                         "counting the partitions of " + spec.table.display())) {
    counted[row.at(0)] = to_u64(row.at(1));
  }
  return counted;
}

// Selects one partition. Before 21.4 a part name prefix prunes (reference §7), except for tables
// of the old syntax, whose partition key is always toYYYYMM(date) and prunes by its value.
std::string select_partition(const ServerVersion& version, const TableInfo& info,
                             const std::string& id, const PartitionParts* parts) {
  if (id == "all") return "";  // an unpartitioned table
  bool numeric = parts != nullptr && !parts->partition.empty() &&
                 std::all_of(parts->partition.begin(), parts->partition.end(),
                             [](char c) { return c >= '0' && c <= '9'; });
  if (version.at_least(21, 4)) {
    // A whole-number partition (toYYYYMM(d), a number column), whose ID is its value: the key
    // prunes with its minmax index, sooner than the _partition_id filter does (26.7 with 4,000
    // partitions: 15 against 31 ms a query).
    if (numeric && parts->partition == id && !info.partition_key.empty())
      return "(" + info.partition_key + ") = " + id;
    return partition_predicate(version, id);
  }
  if (parts == nullptr || !parts->old_names) return partition_predicate(version, id);
  if (!numeric || info.partition_key.empty()) return "_partition_id = " + quote_string(id);
  return "(" + info.partition_key + ") = " + parts->partition;
}

// Whether the partition `select` picks is the NULL of a Nullable key (20.x and later allow one;
// 18.16 refuses it). system.parts prints it as the text of the string 'NULL' (or, on 26.7, as
// 'ᴺᵁᴸᴸ'), so only a row tells them apart.
bool null_partition(ClickHouseClient& client, const TableRef& table, const TableInfo& info,
                    const std::string& text, const std::string& select) {
  if (info.partition_key.empty()) return false;
  if (text != "NULL" && text != "\xE1\xB4\xBA\xE1\xB5\x81\xE1\xB4\xB8\xE1\xB4\xB8") return false;
  auto rows = client.query_rows("SELECT toString(isNull((" + info.partition_key + "))) FROM " +
                                    table.sql() + where(select) + " LIMIT 1",
                                "reading the NULL partition of " + table.display());
  return !rows.empty() && rows[0].at(0) == "1";
}

// The folder of a task's partition: readers take __HIVE_DEFAULT_PARTITION__ for NULL (hive_value
// escapes the string of that name).
std::string partition_folder(const Task& task, std::string_view id) {
  return task.partition_null ? "partition=" + std::string(hive_null)
                             : partition_dir(task.partition, id);
}

// Whether system.parts' row counts are what a SELECT of the whole table returns: before 19.x,
// which have neither lightweight deletes nor row policies, and so without bounds. Counting
// instead reads every part, twice (the partitions, and the table's count() the plan must add up
// to): 2.5 s each for 10,000 partitions on 18.16.
bool parts_count_the_rows(const ServerVersion& version, const TableSpec& spec,
                          const TableParts& parts) {
  return !version.at_least(19, 0) && spec.bounds().empty() && parts.from_system_parts &&
         spec.table.shard == nullptr;
}

// Rows per partition ID within the bounds, from system.parts where they are exact.
std::map<std::string, uint64_t> partition_counts(ClickHouseClient& client,
                                                 const ServerVersion& version,
                                                 const TableSpec& spec, const TableParts& parts) {
  if (!parts_count_the_rows(version, spec, parts)) return count_by_partition(client, spec);
  std::map<std::string, uint64_t> counted;
  for (const auto& [id, p] : parts.by_id) counted[id] = p.rows;
  return counted;
}

// One task per partition that has rows within the bounds. Without system.parts, the partitions
// are named by their id and have no size estimate.
std::vector<Task> partition_tasks(ClickHouseClient& client, const ServerVersion& version,
                                  const TableSpec& spec, const TableInfo& info,
                                  const TableParts& parts) {
  const TableRef& table = spec.table;
  if (!parts.from_system_parts) {
    spdlog::warn(
        "{}: system.parts may not be read: partitions come from the table itself and are "
        "named by their partition ID",
        table.display());
  }
  std::vector<Task> tasks;
  for (const auto& [id, rows] : partition_counts(client, version, spec, parts)) {
    if (rows == 0) continue;
    auto it = parts.by_id.find(id);
    const PartitionParts* p = it == parts.by_id.end() ? nullptr : &it->second;
    Task task;
    task.table = table;
    task.partition_id = id;
    task.partition = p != nullptr ? p->partition : id;
    task.planned_rows = rows;
    task.data_version = p != nullptr ? p->version : "";
    if (p != nullptr && p->rows > 0) {
      double share = static_cast<double>(rows) / static_cast<double>(p->rows);
      task.bytes_on_disk = static_cast<uint64_t>(static_cast<double>(p->bytes_on_disk) * share);
      task.uncompressed_bytes =
          static_cast<uint64_t>(static_cast<double>(p->uncompressed_bytes) * share);
    }
    std::string select = select_partition(version, info, id, p);
    if (null_partition(client, table, info, task.partition, select)) {
      task.partition = "NULL";
      task.partition_null = true;
    }
    task.predicate = and_predicates({select, spec.bounds()});
    task.dir = table_dir(table.db, table.table) + "/" + partition_folder(task, id);
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// What names a task's folder where its value cannot: its partition ID; for a partition_expr value,
// the Unix time of a DateTime, else the first 16 hex digits of the SHA-256 of its text.
std::string fallback_id(const Task& task) {
  return task.partition_id.empty() ? Sha256::of(task.partition).substr(0, 16) : task.partition_id;
}

// One task per value of a partition expression that is not the table's key.
std::vector<Task> expression_tasks(ClickHouseClient& client, const TableSpec& spec,
                                   uint64_t table_bytes, uint64_t table_rows) {
  const TableRef& table = spec.table;
  const std::string& expr = spec.partition_expr;
  std::string base_dir = table_dir(table.db, table.table);
  // A DateTime's text is ambiguous in the autumn hour of zones with daylight saving time: such
  // values are told apart, and selected, by their Unix time.
  auto type = client.query_rows(
      "SELECT toTypeName((" + expr + ")) FROM " + table.sql() + " LIMIT 1", "typing " + expr);
  std::string_view t = type.empty() ? std::string_view() : std::string_view(type[0].at(0));
  if (t.starts_with("Nullable(")) t = t.substr(9);
  bool unix_time = t == "DateTime" || t.starts_with("DateTime(");
  auto rows = client.query_rows(
      "SELECT hex(ifNull(toString(v), '')), isNull(v), toTypeName(v), toString(count()), " +
          std::string(unix_time ? "toString(toUnixTimestamp(v))" : "''") + " FROM (SELECT (" +
          expr + ") AS v FROM " + table.sql() + where(spec.bounds()) + ") GROUP BY v",
      "grouping " + table.display() + " by " + expr);
  std::vector<Task> tasks;
  for (const auto& row : rows) {
    Task task;
    task.table = table;
    bool is_null = row.at(1) == "1";
    std::string text = bytes_of_hex(row.at(0));
    task.partition = is_null ? "NULL" : text;
    task.partition_null = is_null;
    task.partition_id = is_null ? "" : row.at(4);
    task.planned_rows = to_u64(row.at(3));
    double share = table_rows == 0
                       ? 0
                       : static_cast<double>(task.planned_rows) / static_cast<double>(table_rows);
    task.uncompressed_bytes = static_cast<uint64_t>(static_cast<double>(table_bytes) * share);
    std::string value =
        unix_time ? "toDateTime(" + row.at(4) + ")" : literal(row.at(2), text, expr);
    std::string select = is_null ? "isNull(" + expr + ")" : "(" + expr + ") = " + value;
    task.predicate = and_predicates({select, spec.bounds()});
    task.dir = base_dir + "/" + partition_folder(task, fallback_id(task));
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// Two tasks must never share a directory, also on file systems that ignore case: a partition's
// text is not unique (a DateTime's in the autumn hour; values that differ only in case). Those
// that would share one are named by their partition ID instead (for partition_expr values, the
// Unix time of a DateTime, else a digest of the value), under the same key, so that readers see
// one partition column; the manifest maps the ID to the value.
void make_dirs_unique(std::vector<Task>& tasks) {
  std::map<std::string, size_t> seen;
  for (const Task& t : tasks) ++seen[fold_name_case(t.dir)];
  for (Task& t : tasks) {
    if (seen[fold_name_case(t.dir)] < 2) continue;
    std::string base = t.dir.substr(0, t.dir.rfind('/') + 1);
    t.dir = base + "partition=" + hive_value(fallback_id(t));
  }
}

// Throws a usage Error when two tasks of the plan still share a directory (case-folded): two
// tables whose names differ only in case, say.
void check_dirs_unique(const std::vector<TablePlan>& plans) {
  std::map<std::string, const Task*> seen;
  for (const TablePlan& plan : plans) {
    for (const Task& t : plan.tasks) {
      auto [it, fresh] = seen.emplace(fold_name_case(t.dir), &t);
      if (!fresh) {
        throw_usage("two tasks would write the same directory (" + it->second->dir + " and " +
                    t.dir +
                    ", alike when case is ignored): tables whose names differ only in case "
                    "must be exported separately, and a partition_expr must give values whose "
                    "text tells them apart");
      }
    }
  }
}

void check_tables_unique(const std::vector<TableSpec>& tables) {
  for (size_t i = 0; i < tables.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (tables[i].table.display() == tables[j].table.display()) {
        // Both would write the same directories.
        throw_usage("table " + tables[i].table.display() +
                    " is listed twice; list it once (its bounds can cover both ranges)");
      }
    }
  }
}

const Column* find_column(const std::vector<Column>& columns, const std::string& name) {
  for (const Column& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// The whole table within its bounds (mode all, or an engine without partitions).
Task whole_table_task(const TableSpec& spec, uint64_t rows, uint64_t table_rows,
                      uint64_t table_bytes) {
  Task task;
  task.table = spec.table;
  task.partition = spec.mode == TableMode::all ? "" : "tuple()";
  task.partition_id = "all";
  task.predicate = spec.bounds();
  task.planned_rows = rows;
  double share = table_rows == 0 ? 0 : static_cast<double>(rows) / static_cast<double>(table_rows);
  task.uncompressed_bytes = static_cast<uint64_t>(static_cast<double>(table_bytes) * share);
  task.dir = table_dir(spec.table.db, spec.table.table) + "/all";
  return task;
}

// The tasks of one table, before splitting. Mode all reads no system table but for sizes.
std::vector<Task> table_tasks(ClickHouseClient& client, const ServerVersion& version,
                              TablePlan& plan) {
  const TableSpec& spec = plan.spec;
  // Mode all reads system.tables only for the UUID, and only where it may.
  std::optional<TableInfo> info;
  try {
    info = table_info(client, version, spec.table);
  } catch (const Error& e) {
    if (spec.mode == TableMode::partition || e.category() != ErrorCategory::auth) throw;
  }
  bool merge_tree = !info || info->engine.find("MergeTree") != std::string::npos;
  TableParts parts;
  if (merge_tree) parts = read_parts(client, spec.table);
  if (info) plan.engine = info->engine;
  if (info) plan.uuid = info->uuid;
  uint64_t table_rows = parts.rows(), table_bytes = parts.uncompressed_bytes();
  bool by_expression = spec.mode == TableMode::partition && !spec.partition_expr.empty() &&
                       squeeze(spec.partition_expr) != squeeze(info->partition_key);
  bool by_key = spec.mode == TableMode::partition && merge_tree && !by_expression;
  // The rows the plan must add up to.
  plan.rows_in_bounds = by_key && parts_count_the_rows(version, spec, parts)
                            ? table_rows
                            : count_rows(client, spec.table, spec.bounds(),
                                         "counting rows of " + spec.table.display());
  std::vector<Task> tasks;
  if (by_expression) {
    tasks = expression_tasks(client, spec, table_bytes, table_rows);
  } else if (by_key) {
    return partition_tasks(client, version, spec, *info, parts);
  } else if (plan.rows_in_bounds > 0) {
    tasks = {whole_table_task(spec, plan.rows_in_bounds, table_rows, table_bytes)};
  }
  // Not a MergeTree: no parts, so no version; resume exports it again.
  std::string version_of_table = merge_tree ? parts.version() : "";
  for (Task& t : tasks) t.data_version = version_of_table;
  return tasks;
}

// Cuts the tasks over the limits into ranges of split_field (or notes that it cannot).
std::vector<Task> split_large_tasks(ClickHouseClient& client, const TablePlan& plan,
                                    const SplitOptions& split) {
  const TableSpec& spec = plan.spec;
  std::vector<Task> final_tasks;
  for (Task task : plan.tasks) {
    uint64_t limit = split.max_rows_per_task == 0 ? UINT64_MAX : split.max_rows_per_task;
    if (split.max_bytes_per_task != 0 && task.uncompressed_bytes > 0 && task.planned_rows > 0) {
      double row_bytes =
          static_cast<double>(task.uncompressed_bytes) / static_cast<double>(task.planned_rows);
      limit = std::min(
          limit,
          std::max<uint64_t>(
              1, static_cast<uint64_t>(static_cast<double>(split.max_bytes_per_task) / row_bytes)));
    }
    if (task.planned_rows <= limit) {
      final_tasks.push_back(std::move(task));
    } else if (spec.split_field.empty()) {
      task.note =
          "over the task limit (" + std::to_string(limit) + " rows) but no split_field is set";
      spdlog::warn("{} {}: {}", spec.table.display(), task.partition, task.note);
      final_tasks.push_back(std::move(task));
    } else {
      const Column* field = find_column(plan.columns, spec.split_field);
      for (Task& range : split_task(client, spec, task, field->type, limit))
        final_tasks.push_back(std::move(range));
    }
  }
  // One level for every task, so that all of a table's files sit at one depth.
  for (Task& t : final_tasks) {
    if (t.range.empty()) t.dir += "/" + std::string(whole_dir);
  }
  return final_tasks;
}

void warn_about_fidelity(ClickHouseClient& client, const TablePlan& plan,
                         const ColumnOptions& options) {
  std::set<std::string> zones;
  for (const Column& c : plan.columns) {
    for (std::string& z : datetime_zones(c.type, options.server_timezone)) zones.insert(z);
  }
  std::set<std::string> dst = zones_with_dst(client, zones);
  for (const std::string& w : fidelity_warnings(plan.spec.table, plan.columns, options, dst)) {
    spdlog::warn("{}", w);
  }
}

TablePlan plan_table(ClickHouseClient& client, const ServerVersion& version, const TableSpec& spec,
                     const SplitOptions& split, const ColumnOptions& column_options) {
  const TableRef& table = spec.table;
  TablePlan plan{spec, "", "", 0, {}, read_columns(client, table, column_options.server_timezone)};
  if (!spec.split_field.empty()) {
    const Column* field = find_column(plan.columns, spec.split_field);
    if (field == nullptr) {
      throw_usage("split_field " + spec.split_field + " is not a column of " + table.display());
    }
    check_split_field_type(spec.split_field, field->type);
  }
  warn_about_fidelity(client, plan, column_options);
  plan.tasks = table_tasks(client, version, plan);
  make_dirs_unique(plan.tasks);
  plan.tasks = split_large_tasks(client, plan, split);
  std::sort(plan.tasks.begin(), plan.tasks.end(),
            [](const Task& a, const Task& b) { return a.dir < b.dir; });
  auto columns = std::make_shared<const std::vector<Column>>(plan.columns);
  uint64_t sum = 0;
  for (Task& t : plan.tasks) {
    t.columns = columns;
    sum += t.planned_rows;
  }
  if (sum != plan.rows_in_bounds) {
    throw Error(ErrorKind::transient, ErrorCategory::validation,
                "plan for " + table.display() + " covers " + std::to_string(sum) +
                    " rows but count() within its bounds is " +
                    std::to_string(plan.rows_in_bounds) + " (is the table being written to?)");
  }
  return plan;
}

// The Distributed table's engine, or none for other tables (and where system.tables may not be
// read: then the table is planned as it is).
// (A table that is not there is left to planning, which names what is missing.)
std::optional<DistributedEngine> distributed_engine(ClickHouseClient& client,
                                                    const ServerVersion& version,
                                                    const TableRef& table, std::string* uuid) {
  try {
    TableInfo info = table_info(client, version, table);
    *uuid = info.uuid;
    return parse_distributed_engine(info.engine_full);
  } catch (const Error& e) {
    if (e.category() != ErrorCategory::auth && e.category() != ErrorCategory::export_failed) throw;
    return std::nullopt;
  }
}

// One shard planned like a table. readonly=1 forbids what reading a shard takes (table functions
// on 18.16, remote() on any): said as the access problem it is, with the way out.
TablePlan plan_shard(ClickHouseClient& client, const ServerVersion& version, const TableSpec& spec,
                     const SplitOptions& split, const ColumnOptions& column_options) {
  constexpr int readonly_code = 164;  // ClickHouse's READONLY
  try {
    return plan_table(client, version, spec, split, column_options);
  } catch (const Error& e) {
    if (e.server_code() != readonly_code) throw;
    throw Error(ErrorKind::permanent, ErrorCategory::auth,
                spec.table.display() + " is a Distributed table, whose shards chexport reads " +
                    "through remote(), which a readonly=1 user may not run (" + e.what() +
                    "); export as a user with readonly=2 or 0, or export each shard's local "
                    "table from one of its replicas")
        .with_server_code(e.server_code());
  }
}

// One plan of a Distributed table's shards: each shard planned like a table of its own (through
// remote()), its tasks under "shard=N/". Each shard's plan checks itself against its own count().
TablePlan plan_distributed(ClickHouseClient& client, const ServerVersion& version,
                           const TableSpec& spec, const DistributedEngine& engine,
                           const std::string& uuid, const SplitOptions& split,
                           const ColumnOptions& column_options) {
  TablePlan out{spec, "Distributed", uuid, 0, {}, {}};
  std::string base = table_dir(spec.table.db, spec.table.table) + "/";
  for (const auto& shard : read_shards(client, engine, spec.table)) {
    TableSpec shard_spec = spec;
    shard_spec.table.shard = shard;
    TablePlan p = plan_shard(client, version, shard_spec, split, column_options);
    if (out.columns.empty()) {
      out.columns = p.columns;
    } else if (layout(p.columns) != layout(out.columns)) {
      throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                  spec.table.display() + ": the columns of shard " + std::to_string(shard->num) +
                      " (" + layout(p.columns) + ") differ from those of the first shard (" +
                      layout(out.columns) + ")");
    }
    spdlog::info("{}: shard {} ({}): {} task(s), {} rows", spec.table.display(), shard->num,
                 shard->replicas.size() == 1 ? shard->replicas[0]
                                             : std::to_string(shard->replicas.size()) + " replicas",
                 p.tasks.size(), p.rows_in_bounds);
    uint32_t index = 0;
    for (Task& t : p.tasks) {
      t.shard_task_index = index++;
      t.dir = base + "shard=" + std::to_string(shard->num) + "/" + t.dir.substr(base.size());
      out.tasks.push_back(std::move(t));
    }
    out.rows_in_bounds += p.rows_in_bounds;
  }
  return out;
}

}  // namespace

std::vector<TablePlan> plan_export(ClickHouseClient& client, const ServerVersion& version,
                                   const std::vector<TableSpec>& tables, const SplitOptions& split,
                                   const ColumnOptions& column_options) {
  check_tables_unique(tables);
  std::vector<TablePlan> plans;
  for (const TableSpec& spec : tables) {
    std::string uuid;
    if (auto engine = distributed_engine(client, version, spec.table, &uuid)) {
      plans.push_back(
          plan_distributed(client, version, spec, *engine, uuid, split, column_options));
    } else {
      plans.push_back(plan_table(client, version, spec, split, column_options));
    }
  }
  check_dirs_unique(plans);
  return plans;
}

}  // namespace chexport
