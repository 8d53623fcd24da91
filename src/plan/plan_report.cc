#include "chexport/plan/plan_report.h"

#include <algorithm>

#include "chexport/common/json_writer.h"
#include "chexport/common/sha256.h"
#include "chexport/common/units.h"
#include "chexport/common/utf8.h"

namespace chexport {
namespace {

std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

const char* mode_name(TableMode mode) {
  return mode == TableMode::all ? "all" : "partition";
}

}  // namespace

std::string plan_text(const std::vector<TablePlan>& plans) {
  std::vector<std::vector<std::string>> rows = {
      {"#", "table", "partition", "range", "rows", "stored", "dir", "note"}};
  size_t n = 0;
  uint64_t total_rows = 0, total_bytes = 0;
  for (const TablePlan& plan : plans) {
    for (const Task& t : plan.tasks) {
      rows.push_back({std::to_string(++n), t.table.display(),
                      t.partition.empty() ? "-" : t.partition, t.range.empty() ? "-" : t.range,
                      with_commas(t.planned_rows), format_bytes(t.uncompressed_bytes), t.dir,
                      t.note});
      total_rows += t.planned_rows;
      total_bytes += t.uncompressed_bytes;
    }
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      bool right = c == 0 || c == 4 || c == 5;
      std::string pad(width[c] - r[c].size(), ' ');
      line += (c ? "  " : "") + (right ? pad + r[c] : r[c] + (c + 1 < r.size() ? pad : ""));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  out += "\n" + std::to_string(n) + " task(s), " + with_commas(total_rows) + " rows, about " +
         format_bytes(total_bytes) + " uncompressed as stored (CSV is larger)\n";
  for (const TablePlan& plan : plans) {
    out += "  " + plan.spec.table.display() + ": mode " + mode_name(plan.spec.mode) + ", " +
           std::to_string(plan.tasks.size()) + " task(s), " + with_commas(plan.rows_in_bounds) +
           " rows within its bounds" +
           (plan.spec.bounds().empty() ? "" : " (" + plan.spec.bounds() + ")") + "\n";
  }
  return out;
}

void write_task_fields(JsonWriter& j, const Task& t) {
  j.field("partition", t.partition);
  // JSON holds text: a value that is not UTF-8 is written with U+FFFD there, and exactly here.
  if (!is_utf8(t.partition)) j.field("partition_hex", hex_of(t.partition));
  j.field("partition_id", t.partition_id)
      .field("partition_null", t.partition_null)
      .field("range", t.range)
      .field("predicate", t.predicate)
      .field("dir", t.dir)
      .field("planned_rows", t.planned_rows)
      .field("data_version", t.data_version)
      .field("note", t.note);
  if (const ShardSource* s = t.table.shard.get()) {
    // Without the credentials: a reader adds its own (distributed.h).
    j.key("shard").begin_object().field("num", static_cast<uint64_t>(s->num));
    j.field("cluster", s->cluster).field("db", s->local_db).field("table", s->local_table);
    j.key("replicas").begin_array();
    for (const std::string& r : s->replicas) j.value(r);
    j.end_array().key("hosts").begin_array();
    for (const std::string& h : s->hosts) j.value(h);
    j.end_array().end_object();
  }
}

void write_columns(JsonWriter& j, const std::vector<Column>& columns) {
  j.key("columns").begin_array();
  for (const Column& c : columns) {
    j.begin_object().field("name", c.name).field("type", c.type);
    j.field("default_kind", c.default_kind);
    if (!c.timezone.empty()) j.field("timezone", c.timezone);
    j.end_object();
  }
  j.end_array();
}

std::string plan_json(const std::vector<TablePlan>& plans) {
  JsonWriter j;
  j.begin_object().key("tables").begin_array();
  for (const TablePlan& plan : plans) {
    const TableSpec& s = plan.spec;
    j.begin_object()
        .field("db", s.table.db)
        .field("table", s.table.table)
        .field("engine", plan.engine)
        .field("mode", mode_name(s.mode))
        .field("partition_expr", s.partition_expr)
        .field("bounds", s.bounds())
        .field("split_field", s.split_field)
        .field("rows_in_bounds", plan.rows_in_bounds);
    write_columns(j, plan.columns);
    j.key("tasks").begin_array();
    for (const Task& t : plan.tasks) {
      j.begin_object();
      write_task_fields(j, t);
      j.field("uncompressed_bytes", t.uncompressed_bytes).end_object();
    }
    j.end_array().end_object();
  }
  j.end_array().end_object();
  return j.str();
}

}  // namespace chexport
