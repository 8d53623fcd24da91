// How `chexport plan` shows a plan: a readable table, or JSON for scripts (docs/planning.md
// "chexport plan"). Pure functions; never throw but for allocation.
#pragma once

#include <string>
#include <vector>

#include "chexport/common/json_writer.h"
#include "chexport/plan/plan.h"

namespace chexport {

std::string plan_text(const std::vector<TablePlan>& plans);

// A task's planning fields (partition, partition_id, range, predicate, dir, planned_rows,
// data_version, note),
// as both `plan --json` and manifest.json write them.
void write_task_fields(JsonWriter& j, const Task& t);
// A table's columns: [{"name", "type", "default_kind", "timezone" (DateTime columns)}].
void write_columns(JsonWriter& j, const std::vector<Column>& columns);
std::string plan_json(const std::vector<TablePlan>& plans);

}  // namespace chexport
