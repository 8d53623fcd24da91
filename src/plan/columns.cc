#include "chexport/plan/columns.h"

#include <spdlog/spdlog.h>

#include <cctype>

#include "chexport/common/error.h"

namespace chexport {
namespace {

// Nullable(...) and LowCardinality(...) change neither how a value prints nor how it converts.
std::string_view unwrap(std::string_view type) {
  for (bool again = true; again;) {
    again = false;
    for (std::string_view wrapper : {"Nullable(", "LowCardinality("}) {
      if (type.starts_with(wrapper) && type.ends_with(")")) {
        type = type.substr(wrapper.size(), type.size() - wrapper.size() - 1);
        again = true;
      }
    }
  }
  return type;
}

// The quoted argument in "DateTime('Zone')" or "DateTime64(3, 'Zone')" starting at `open` (the
// '('), or empty; `end` is set past the closing ')'.
std::string zone_argument(std::string_view type, size_t open, size_t& end) {
  std::string zone;
  size_t i = open + 1;
  for (; i < type.size() && type[i] != ')'; ++i) {
    if (type[i] != '\'') continue;
    size_t close = type.find('\'', i + 1);
    if (close == std::string_view::npos) break;
    zone = std::string(type.substr(i + 1, close - i - 1));
    i = close;
  }
  end = i + 1;
  return zone;
}

bool is_identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The DateTime64 scale of a top-level type, e.g. "3" for DateTime64(3, 'UTC').
std::string scale_of(std::string_view type) {
  std::string_view args = type.substr(11);  // after "DateTime64("
  return std::string(args.substr(0, args.find_first_of(",)")));
}

// How a column appears in the SELECT list of DateTimeFormat::unix.
std::string unix_expression(const Column& c) {
  std::string name = quote_identifier(c.name);
  std::string_view t = unwrap(c.type);
  bool nullable = std::string_view(c.type).starts_with("Nullable(");
  if (t.starts_with("DateTime64(")) {
    std::string decimal = "Decimal64(" + scale_of(t) + ")";
    if (nullable) decimal = "Nullable(" + decimal + ")";
    return "CAST(" + name + " AS " + decimal + ") AS " + name;
  }
  if (t == "DateTime" || t.starts_with("DateTime(")) {
    return "toUnixTimestamp(" + name + ") AS " + name;
  }
  return name;
}

bool contains_type(std::string_view type, std::string_view name) {
  for (size_t at = type.find(name); at != std::string_view::npos; at = type.find(name, at + 1)) {
    if (at == 0 || !is_identifier_char(type[at - 1])) return true;
  }
  return false;
}

}  // namespace

const char* to_string(DateTimeFormat format) noexcept {
  return format == DateTimeFormat::unix ? "unix" : "text";
}

DateTimeFormat parse_datetime_format(std::string_view text, const std::string& what) {
  if (text == "text") return DateTimeFormat::text;
  if (text == "unix") return DateTimeFormat::unix;
  throw_usage(what + " must be text or unix, not \"" + std::string(text) + "\"");
}

std::vector<std::string> datetime_zones(std::string_view type, const std::string& server_timezone) {
  std::vector<std::string> zones;
  for (size_t i = 0; i < type.size(); ++i) {
    if (type[i] == '\'') {  // an Enum's or a zone's text: not a type name
      size_t close = type.find('\'', i + 1);
      if (close == std::string_view::npos) break;
      i = close;
      continue;
    }
    if (!type.substr(i).starts_with("DateTime") || (i > 0 && is_identifier_char(type[i - 1])))
      continue;
    size_t after = i + 8;
    if (type.substr(after).starts_with("64")) after += 2;
    if (after < type.size() && is_identifier_char(type[after])) continue;  // e.g. DateTimeX
    std::string zone;
    size_t end = after;
    if (after < type.size() && type[after] == '(') zone = zone_argument(type, after, end);
    zones.push_back(zone.empty() ? server_timezone : zone);
    i = end - 1;
  }
  return zones;
}

std::vector<Column> read_columns(ClickHouseClient& client, const TableRef& table,
                                 const std::string& server_timezone) {
  std::vector<std::vector<std::string>> rows;
  try {
    rows = client.query_rows("DESCRIBE TABLE " + table.sql(),
                             "reading the columns of " + table.display());
  } catch (const Error& e) {
    if (e.server_code() == 81) {  // UNKNOWN_DATABASE
      throw Error(
          ErrorKind::permanent, ErrorCategory::export_failed,
          "database " + table.db + " does not exist on the server (table " + table.display() + ")");
    }
    if (e.server_code() == 60) {  // UNKNOWN_TABLE
      throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                  "table " + table.display() + " does not exist on the server");
    }
    throw;
  }
  std::vector<Column> columns;
  for (const auto& row : rows) {
    // name, type, default_type, default_expression, comment, codec, ttl[, is_subcolumn]
    if (row.size() < 3) {
      throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                  "DESCRIBE TABLE " + table.display() +
                      " gives no default kinds (describe_compact_output=1 in the user's "
                      "profile?): set it to 0 for this user");
    }
    if (row.size() >= 8 && row[7] == "1") continue;  // describe_include_subcolumns=1
    const std::string& kind = row.at(2);
    if (kind == "ALIAS" || kind == "EPHEMERAL") continue;
    Column c{row.at(0), row.at(1), kind, {}};
    std::string_view t = unwrap(c.type);
    if (t.starts_with("DateTime")) c.timezone = datetime_zones(t, server_timezone).at(0);
    columns.push_back(std::move(c));
  }
  if (columns.empty()) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "table " + table.display() + " has no column to export");
  }
  return columns;
}

std::string export_query(const TableRef& table, const std::vector<Column>& columns,
                         DateTimeFormat datetime_format, const std::string& predicate,
                         const std::string& format, const std::string& tag) {
  std::string names = tag.empty() ? "" : tag + " AS __chexport_task";
  std::string converted = tag.empty() ? "" : "__chexport_task";
  bool converts = false;
  for (const Column& c : columns) {
    std::string plain = quote_identifier(c.name);
    std::string expression = datetime_format == DateTimeFormat::unix ? unix_expression(c) : plain;
    converts = converts || expression != plain;
    names += (names.empty() ? "" : ", ") + plain;
    converted += (converted.empty() ? "" : ", ") + expression;
  }
  std::string where = predicate.empty() ? std::string() : " WHERE " + predicate;
  std::string from = table.sql() + where;
  if (converts) from = "(SELECT " + names + " FROM " + from + ")";
  std::string order = tag.empty() ? "" : " ORDER BY __chexport_task";
  return "SELECT " + (converts ? converted : names) + " FROM " + from + order + " FORMAT " + format;
}

std::string layout(const std::vector<Column>& columns) {
  std::string out;
  for (const Column& c : columns) {
    out += (out.empty() ? "" : ", ") + quote_identifier(c.name) + " " + c.type;
    if (c.default_kind == "MATERIALIZED") out += " MATERIALIZED";
  }
  return out;
}

void check_layout_unchanged(ClickHouseClient& client, const TableRef& table,
                            const std::vector<Column>& columns, const std::string& what) {
  std::string before = layout(columns);
  std::string now = layout(read_columns(client, table, ""));  // zones are not in the layout
  if (now != before) {
    throw_validation(what + ": the columns of " + table.display() +
                     " changed during the export (from " + before + " to " + now +
                     "); its files would not match the others: export again with --fresh");
  }
}

std::set<std::string> zones_with_dst(ClickHouseClient& client, const std::set<std::string>& zones) {
  if (zones.empty()) return {};
  // Per zone, whether July minus January in local time differs from the same in UTC (whose
  // difference is the plain number of seconds between the two dates).
  std::string sql = "SELECT ";
  size_t n = 0;
  for (const std::string& zone : zones) {
    std::string z = quote_string(zone), checks;
    for (const char* year : {"1990", "2010", "2024"}) {
      auto at = [&](const char* month, const std::string& tz) {
        return "toUnixTimestamp(toDateTime('" + std::string(year) + "-" + month +
               "-15 12:00:00', " + tz + "))";
      };
      checks += std::string(checks.empty() ? "" : " OR ") + "(" + at("07", z) + " - " +
                at("01", z) + " != " + at("07", "'UTC'") + " - " + at("01", "'UTC'") + ")";
    }
    sql += std::string(n++ == 0 ? "" : ", ") + "toUInt8(" + checks + ")";
  }
  std::set<std::string> with_dst;
  try {
    auto row = client.query_rows(sql, "asking the server which time zones have daylight saving");
    size_t i = 0;
    for (const std::string& zone : zones) {
      if (row.at(0).at(i++) == "1") with_dst.insert(zone);
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    spdlog::debug("cannot tell which time zones have daylight saving time: {}", e.what());
  }
  return with_dst;
}

std::vector<std::string> fidelity_warnings(const TableRef& table,
                                           const std::vector<Column>& columns,
                                           const ColumnOptions& options,
                                           const std::set<std::string>& dst_zones) {
  std::vector<std::string> warnings;
  for (const Column& c : columns) {
    std::string what = table.display() + ": column " + quote_identifier(c.name) + " " + c.type;
    bool converted = options.datetime_format == DateTimeFormat::unix && !c.timezone.empty();
    for (const std::string& zone : datetime_zones(c.type, options.server_timezone)) {
      if (converted || !dst_zones.count(zone)) continue;
      warnings.push_back(what + ": the zone " + zone +
                         " has daylight saving time, and CSV prints the repeated autumn hour's "
                         "times alike, so half of them re-import an hour off; " +
                         (c.timezone.empty() ? "convert the column to Unix time in a view"
                                             : "--datetime-format unix writes exact Unix time"));
      break;
    }
    if (contains_type(c.type, "Dynamic") || contains_type(c.type, "Variant")) {
      warnings.push_back(what +
                         ": CSV carries no value types, so an import guesses them again "
                         "(0 of UInt64 comes back Int64, 2 in a Variant with Array may come back "
                         "[2])");
    }
    if (options.header && (contains_type(c.type, "Tuple") || unwrap(c.type) == "Point")) {
      warnings.push_back(what + ": the CSVWithNames header names its elements (" + c.name + ".1, " +
                         c.name +
                         ".2, ...), which an import by name drops without a word; import with "
                         "input_format_with_names_use_header=0");
    }
  }
  return warnings;
}

}  // namespace chexport
