#include "chexport/run/import_target.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <map>

#include "chexport/common/error.h"

namespace chexport {
namespace {

// How ClickHouse prints a name in SHOW CREATE: bare when it is a plain identifier.
std::string back_quote_if_needed(const std::string& name) {
  bool plain = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
  for (char c : name) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  return plain ? name : quote_identifier(name);
}

std::string target_engine(ClickHouseClient& client, const TableRef& table) {
  auto rows = client.query_rows(
      "SELECT engine FROM system.tables WHERE database = " + quote_string(table.db) +
          " AND name = " + quote_string(table.table),
      "looking up " + table.display() + " on the target");
  return rows.empty() ? std::string() : rows.at(0).at(0);
}

// REPLACE PARTITION ... FROM is what makes a load exactly once; a replicated table's staging
// copy would join its replication (the same ZooKeeper path).
void check_engine(const TableRef& table, const std::string& engine) {
  if (!engine.ends_with("MergeTree") || engine.starts_with("Replicated") ||
      engine.starts_with("Shared")) {
    throw_usage("cannot load " + table.display() + " exactly once: its engine is " + engine +
                "; chexport import loads tables of the (not replicated) MergeTree family, "
                "through a staging table and ALTER TABLE ... REPLACE PARTITION");
  }
}

SchemaScript read_schema(Store& source, const ManifestTable& table, const TableRef& target) {
  if (table.schema.empty())
    throw_usage("cannot create " + target.display() + ": the export has no schema.sql for it");
  StringSink script;
  if (!source.read(table.schema, script))
    throw_usage("cannot create " + target.display() + ": " + source.describe(table.schema) +
                " is missing");
  return schema_for(script.text, TableRef{table.db, table.table}, target);
}

// "ReplicatedMergeTree" of "... ENGINE = ReplicatedMergeTree('/path', '{replica}') ...".
std::string engine_of(const std::string& create) {
  auto at = create.find("ENGINE = ");
  if (at == std::string::npos) return "";
  size_t start = at + 9, end = start;
  while (end < create.size() &&
         (std::isalnum(static_cast<unsigned char>(create[end])) || create[end] == '_'))
    ++end;
  return create.substr(start, end - start);
}

void create_table(ClickHouseClient& client, Store& source, const ManifestTable& table,
                  const SchemaScript& schema, const TableRef& target) {
  client.query("CREATE DATABASE IF NOT EXISTS " + quote_identifier(target.db),
               "creating database " + target.db);
  ConnectionOptions options = client.options();
  // The script's SET lines are for the server it came from: 18.16's
  // allow_experimental_low_cardinality_type is an unknown setting, an error, on modern servers.
  for (const auto& setting : schema.settings) {
    auto known = client.query_rows(
        "SELECT name FROM system.settings WHERE name = " + quote_string(setting.first),
        "reading the target's settings");
    if (known.empty()) continue;
    std::erase_if(options.settings, [&](const auto& kv) { return kv.first == setting.first; });
    options.settings.push_back(setting);
  }
  ClickHouseClient creator(options);
  creator.query(schema.create, "creating " + target.display() + " from " + table.schema);
  spdlog::info("created {} from {}", target.display(), source.describe(table.schema));
}

}  // namespace

SchemaScript schema_for(std::string_view script, const TableRef& source, const TableRef& target) {
  SchemaScript out;
  std::string_view rest = script;
  // The export's script: SET lines for the types it needs, then one CREATE statement ending in ;.
  while (rest.starts_with("SET ")) {
    size_t end = rest.find(";\n");
    if (end == std::string_view::npos) break;
    std::string_view assignment = rest.substr(4, end - 4);
    size_t eq = assignment.find('=');
    if (eq != std::string_view::npos) {
      auto trim = [](std::string_view s) {
        while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
        while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
        return std::string(s);
      };
      out.settings.emplace_back(trim(assignment.substr(0, eq)), trim(assignment.substr(eq + 1)));
    }
    rest.remove_prefix(end + 2);
  }
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == ';' || rest.back() == ' '))
    rest.remove_suffix(1);
  const std::string head = "CREATE TABLE ";
  for (const std::string& db : {back_quote_if_needed(source.db), quote_identifier(source.db)}) {
    for (const std::string& t :
         {back_quote_if_needed(source.table), quote_identifier(source.table)}) {
      std::string name = head + db + "." + t;
      if (rest.starts_with(name)) {
        out.create = head + target.sql() + std::string(rest.substr(name.size()));
        return out;
      }
    }
  }
  throw_usage("the export's schema of " + source.display() + " is not a CREATE TABLE " +
              source.display() + " statement: cannot create the table from it");
}

std::string column_difference(const std::vector<Column>& exported,
                              const std::vector<Column>& target, bool datetime_text) {
  std::map<std::string, const Column*> theirs;
  for (const Column& c : target) theirs[c.name] = &c;
  for (const Column& c : exported) {
    auto it = theirs.find(c.name);
    if (it == theirs.end()) return "column " + c.name + " (" + c.type + ") is not in the target";
    const Column& t = *it->second;
    if (t.type != c.type)
      return "column " + c.name + " is " + t.type + " in the target, " + c.type + " in the export";
    if (datetime_text && !c.timezone.empty() && !t.timezone.empty() && c.timezone != t.timezone) {
      return "column " + c.name + " was exported as text in time zone " + c.timezone +
             " and the target reads it in " + t.timezone +
             " (export with --datetime-format unix, or give the column its zone)";
    }
    theirs.erase(it);
  }
  if (!theirs.empty()) {
    const Column& extra = *theirs.begin()->second;
    return "column " + extra.name + " (" + extra.type + ") of the target is not in the export";
  }
  return "";
}

TargetTable prepare_target(ClickHouseClient& client, Store& source, const ManifestTable& table,
                           const std::string& database, bool create, bool dry_run,
                           const std::string& server_timezone, bool datetime_text) {
  TargetTable t;
  t.source = TableRef{table.db, table.table};
  t.target = TableRef{database.empty() ? table.db : database, table.table};
  t.columns = table.columns;
  t.engine = target_engine(client, t.target);
  t.exists = !t.engine.empty();
  if (!t.exists) {
    if (!create) {
      throw_usage("table " + t.target.display() +
                  " does not exist on the target: create it, or give --create-tables to run the "
                  "export's schema.sql");
    }
    // Refused before it is created: a replicated table would join its source's replication.
    SchemaScript schema = read_schema(source, table, t.target);
    check_engine(t.target, engine_of(schema.create));
    if (dry_run) return t;
    create_table(client, source, table, schema, t.target);
    t.engine = target_engine(client, t.target);
  }
  check_engine(t.target, t.engine);
  std::string difference =
      column_difference(t.columns, read_columns(client, t.target, server_timezone), datetime_text);
  if (!difference.empty()) {
    throw_usage("cannot load " + t.source.display() + " into " + t.target.display() + ": " +
                difference);
  }
  return t;
}

}  // namespace chexport
