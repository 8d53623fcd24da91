// Which columns an export holds, how the export query selects them, and what CSV cannot carry.
//
// `SELECT *` leaves out MATERIALIZED columns and follows the table's layout of the moment, so
// every task selects an explicit, quoted column list read once at planning: ordinary, DEFAULT and
// MATERIALIZED columns, in table order; not ALIAS (computed on read) nor EPHEMERAL (never
// stored). The list is the layout of every file of the table; resume compares it, and each task
// checks after its stream that the table still has it (docs/columns.md "Columns").
//
// read_columns() and check_layout_unchanged() throw chexport::Error; the rest are pure.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/plan/table_ref.h"

namespace chexport {

// How DateTime and DateTime64 columns are written: as ClickHouse prints them (local time in the
// column's zone), or as Unix time (seconds, with the DateTime64 fraction), which re-imports
// exactly whatever the zone.
enum class DateTimeFormat { text, unix };
const char* to_string(DateTimeFormat format) noexcept;
// "text" or "unix"; throws a usage Error naming `what` (the flag or config key) otherwise.
DateTimeFormat parse_datetime_format(std::string_view text, const std::string& what);

struct Column {
  std::string name;
  std::string type;          // as the server prints it, e.g. Nullable(DateTime('Europe/Berlin'))
  std::string default_kind;  // "" (ordinary), DEFAULT or MATERIALIZED
  std::string timezone;      // a top-level DateTime(64) column's zone (its own or the server's)
};

struct ColumnOptions {
  DateTimeFormat datetime_format = DateTimeFormat::text;
  bool header = false;          // CSVWithNames
  std::string server_timezone;  // SELECT timezone()
};

// The table's exported columns, from DESCRIBE TABLE (which needs no grant beyond SELECT on the
// table). Throws export_failed "table ... does not exist on the server" for an unknown table.
std::vector<Column> read_columns(ClickHouseClient& client, const TableRef& table,
                                 const std::string& server_timezone);

// The export query of one task: `columns` of `table` where `predicate` (may be empty). With
// DateTimeFormat::unix, top-level DateTime columns become toUnixTimestamp(c) and DateTime64(S)
// ones CAST(c AS Decimal64(S)), under their own names; the predicate then stays in a subquery so
// that it sees the columns, not the converted values. With a `tag` expression, it comes first
// (as `__chexport_task`) and orders the rows.
std::string export_query(const TableRef& table, const std::vector<Column>& columns,
                         DateTimeFormat datetime_format, const std::string& predicate,
                         const std::string& format, const std::string& tag = "");

// "`a` UInt8, `b` DateTime MATERIALIZED": the layout of a table's files.
std::string layout(const std::vector<Column>& columns);

// Throws a permanent validation Error when the table's columns are no longer `columns` (an ALTER
// during the run): its files would not match the others.
void check_layout_unchanged(ClickHouseClient& client, const TableRef& table,
                            const std::vector<Column>& columns, const std::string& what);

// Every time zone a DateTime(64) in `type` is shown in (nested ones too); `server_timezone` for
// those without their own.
std::vector<std::string> datetime_zones(std::string_view type, const std::string& server_timezone);

// Which of `zones` observe daylight saving time (their UTC offset differs between January and
// July in 1990, 2010 or 2024), asked of the server, whose zone database is the one that counts.
// Empty when the server cannot say (logged at debug level); never throws but for cancellation.
std::set<std::string> zones_with_dst(ClickHouseClient& client, const std::set<std::string>& zones);

// One line per column whose values CSV will not carry exactly with these options: DateTime in a
// zone with daylight saving time (the repeated autumn hour prints the same text twice), Dynamic
// and Variant (types guessed again on import), tuples with CSVWithNames (an import by name drops
// their elements).
std::vector<std::string> fidelity_warnings(const TableRef& table,
                                           const std::vector<Column>& columns,
                                           const ColumnOptions& options,
                                           const std::set<std::string>& dst_zones);

}  // namespace chexport
