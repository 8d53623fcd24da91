// How `chexport plan` shows a plan: a readable table, or JSON for scripts (README "chexport plan").
// Pure functions; never throw but for allocation.
#pragma once

#include <string>
#include <vector>

#include "chexport/plan.h"

namespace chexport {

std::string plan_text(const std::vector<TablePlan>& plans);
std::string plan_json(const std::vector<TablePlan>& plans);

}  // namespace chexport
