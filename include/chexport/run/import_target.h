// The table an exported table is loaded into (docs/import.md "Target tables"): its name (the
// export's, or in --database), whether it exists or is created from the export's schema.sql
// (--create-tables), whether its columns are the manifest's, and whether its engine can take an
// exactly-once load (the MergeTree family, through REPLACE PARTITION).
//
// Every function talks to the target server through `client` and throws chexport::Error: usage
// for what the user must change (a missing table without --create-tables, other columns, an
// engine chexport cannot load exactly once), export_failed for the server's refusals.
#pragma once

#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/output/store.h"
#include "chexport/plan/columns.h"
#include "chexport/plan/table_ref.h"
#include "chexport/run/export_manifest.h"

namespace chexport {

struct TargetTable {
  TableRef source;              // as the export names it
  TableRef target;              // where its rows go
  std::vector<Column> columns;  // the manifest's, in file order
  std::string engine;           // the target's (system.tables.engine); empty until it exists
  bool exists = false;          // before this run
};

// Looks the target table up and checks it against the manifest. `database` (may be empty)
// replaces the export's database. A table that does not exist is created from its schema.sql
// when `create` (unless `dry_run`, which only says so), else refused.
TargetTable prepare_target(ClickHouseClient& client, Store& source, const ManifestTable& table,
                           const std::string& database, bool create, bool dry_run,
                           const std::string& server_timezone, bool datetime_text);

// The first difference between the manifest's columns and the target's, as one message naming
// the column, or empty when they are the same (names and types; order does not matter, the INSERT
// names its columns). A text DateTime column read in another zone on the target differs too.
std::string column_difference(const std::vector<Column>& exported,
                              const std::vector<Column>& target, bool datetime_text);

// schema.sql as the export wrote it, for `target`: its SET lines as settings and its CREATE
// statement naming `target` instead of `source`. Throws usage when the statement does not start
// with the CREATE it should.
struct SchemaScript {
  std::vector<std::pair<std::string, std::string>> settings;
  std::string create;
};
SchemaScript schema_for(std::string_view script, const TableRef& source, const TableRef& target);

}  // namespace chexport
