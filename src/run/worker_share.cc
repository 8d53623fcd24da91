#include "chexport/run/worker_share.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"

namespace chexport {

std::string WorkerShare::describe() const {
  return "worker " + std::to_string(index) + " of " + std::to_string(count);
}

std::string WorkerShare::manifest_name() const {
  if (!shared()) return "manifest.json";
  return "manifest.worker-" + std::to_string(index) + "-of-" + std::to_string(count) + ".json";
}

std::string WorkerShare::lock_name() const {
  if (!shared()) return ".chexport.lock";
  return ".chexport.worker-" + std::to_string(index) + "-of-" + std::to_string(count) + ".lock";
}

namespace {

// A whole decimal number in [1, 100000], or none.
std::optional<uint32_t> small_number(std::string_view text) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > 100000)
    return std::nullopt;
  return n;
}

}  // namespace

WorkerShare parse_worker_share(std::string_view text, const char* job_index) {
  auto slash = text.find('/');
  std::string usage = "--worker \"" + std::string(text) + "\": ";
  if (slash == std::string_view::npos)
    throw_usage(usage + "expected K/N (this host's share K of N, from 1) or auto/N");
  auto count = small_number(text.substr(slash + 1));
  if (!count) throw_usage(usage + "N must be a whole number from 1");
  std::string_view k = text.substr(0, slash);
  WorkerShare share{0, *count};
  if (k == "auto") {
    if (job_index == nullptr || *job_index == '\0')
      throw_usage(usage +
                  "auto takes K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's), "
                  "which is not set");
    std::string_view j(job_index);
    uint32_t zero_based = 0;
    auto [end, ec] = std::from_chars(j.data(), j.data() + j.size(), zero_based);
    if (ec != std::errc() || end != j.data() + j.size() || zero_based >= 100000)
      throw_usage(usage + "JOB_COMPLETION_INDEX is \"" + std::string(j) + "\", not an index");
    share.index = zero_based + 1;
  } else {
    auto index = small_number(k);
    if (!index) throw_usage(usage + "K must be a whole number from 1, or auto");
    share.index = *index;
  }
  if (share.index > share.count) {
    throw_usage(usage + "K is " + std::to_string(share.index) + ", more than N (" +
                std::to_string(share.count) + ")");
  }
  return share;
}

std::optional<WorkerShare> parse_manifest_part_name(std::string_view name) {
  const std::string_view head = "manifest.worker-", tail = ".json";
  if (!name.starts_with(head) || !name.ends_with(tail)) return std::nullopt;
  std::string_view middle = name.substr(head.size(), name.size() - head.size() - tail.size());
  auto of = middle.find("-of-");
  if (of == std::string_view::npos) return std::nullopt;
  auto index = small_number(middle.substr(0, of));
  auto count = small_number(middle.substr(of + 4));
  if (!index || !count || *index > *count) return std::nullopt;
  return WorkerShare{*index, *count};
}

std::vector<uint32_t> assign_tasks(const std::vector<std::pair<std::string, uint64_t>>& tasks,
                                   uint32_t workers) {
  std::vector<size_t> order(tasks.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (tasks[a].second != tasks[b].second) return tasks[a].second > tasks[b].second;
    return tasks[a].first < tasks[b].first;
  });
  std::vector<uint64_t> load(workers, 0);
  std::vector<uint32_t> worker(tasks.size(), 0);
  for (size_t i : order) {
    uint32_t least =
        static_cast<uint32_t>(std::min_element(load.begin(), load.end()) - load.begin());
    worker[i] = least;
    // A task of no rows still counts, so that many empty ones spread too.
    load[least] += std::max<uint64_t>(tasks[i].second, 1);
  }
  return worker;
}

std::string plan_digest(std::vector<std::pair<std::string, uint64_t>> tasks,
                        const std::map<std::string, std::string>& fingerprint) {
  std::sort(tasks.begin(), tasks.end());
  Sha256 sha;
  for (const auto& [name, value] : fingerprint) {
    std::string line = name + "=" + value + "\n";
    sha.update(line);
  }
  for (const auto& [dir, rows] : tasks) {
    std::string line = dir + "\t" + std::to_string(rows) + "\n";
    sha.update(line);
  }
  return sha.hex_digest().substr(0, 32);
}

}  // namespace chexport
