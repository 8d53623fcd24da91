// One export shared by N hosts (--worker K/N, docs/clusters.md "Many hosts, one export"): each
// runs the same command, plans the same tasks, and exports only its share of them into the same
// directory or bucket prefix, with a manifest part and a lock of its own. verify and import join
// the parts (export_manifest.h).
//
// The shares are disjoint and balanced by planned rows: tasks, largest first (ties by directory),
// each to the worker with the fewest rows so far (ties to the lowest index). Every worker computes
// the same shares from the same plan; a plan digest in each part shows when they did not.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chexport {

struct WorkerShare {
  uint32_t index = 0;  // 1-based; 0 when the export is not shared
  uint32_t count = 0;
  bool shared() const { return count > 0; }
  std::string describe() const;       // "worker 2 of 3"
  std::string manifest_name() const;  // "manifest.json", or "manifest.worker-2-of-3.json"
  std::string lock_name() const;      // ".chexport.lock", or ".chexport.worker-2-of-3.lock"
};

// "K/N" (1 <= K <= N), or "auto/N": K is `job_index` (a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX, 0-based) + 1. Throws a usage Error naming what is wrong.
WorkerShare parse_worker_share(std::string_view text, const char* job_index);

// A manifest part's name as manifest_name() writes it, read back; none for other names.
std::optional<WorkerShare> parse_manifest_part_name(std::string_view name);

// The 0-based worker of each task, given each task's planned rows and directory (in plan order).
std::vector<uint32_t> assign_tasks(const std::vector<std::pair<std::string, uint64_t>>& tasks,
                                   uint32_t workers);

// A digest of a plan's tasks (directory and planned rows, in any order) and of what shapes the
// files (the export's fingerprint: format, compression, columns, ...): equal for equal plans.
std::string plan_digest(std::vector<std::pair<std::string, uint64_t>> tasks,
                        const std::map<std::string, std::string>& fingerprint);

}  // namespace chexport
