#include "chexport/run/progress.h"

#include <cstdio>

#include "chexport/common/json_writer.h"
#include "chexport/common/units.h"

namespace chexport {
namespace {

std::string task_fields(const Task& t) {
  return "\"table\":" + json_escape(t.table.display()) +
         ",\"partition\":" + json_escape(t.partition) + ",\"range\":" + json_escape(t.range) +
         ",\"dir\":" + json_escape(t.dir);
}

}  // namespace

Progress::Progress(ProgressMode mode, uint64_t tasks, uint64_t rows, uint64_t bytes)
    : mode_(mode), total_tasks_(tasks), total_rows_(rows), total_bytes_(bytes) {}

Progress::~Progress() {
  stop();
}

std::atomic<bool> progress_bar_shown{false};

void Progress::start() {
  if (mode_ == ProgressMode::none || running_) return;
  running_ = true;
  if (mode_ == ProgressMode::bar) progress_bar_shown.store(true);
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    // The bar is redrawn 5 times a second; scripts get a progress event every second, so that
    // a long task is seen to move.
    auto period = std::chrono::milliseconds(mode_ == ProgressMode::bar ? 200 : 1000);
    while (running_) {
      if (mode_ == ProgressMode::bar) {
        draw();
        wake_.wait_for(lock, period);
      } else if (!wake_.wait_for(lock, period, [this] { return !running_; })) {
        write_progress_event();
      }
    }
  });
}

void Progress::write_progress_event() {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
  char line[256];
  std::snprintf(line, sizeof line,
                "{\"event\":\"progress\",\"tasks_done\":%llu,\"tasks\":%llu,\"rows\":%llu,"
                "\"planned_rows\":%llu,\"csv_bytes\":%llu,\"seconds\":%.1f}\n",
                static_cast<unsigned long long>(done_tasks_.load()),
                static_cast<unsigned long long>(total_tasks_),
                static_cast<unsigned long long>(rows_.load(std::memory_order_relaxed)),
                static_cast<unsigned long long>(total_rows_),
                static_cast<unsigned long long>(bytes_.load(std::memory_order_relaxed)), seconds);
  std::fputs(line, stderr);  // the caller holds mutex_
  std::fflush(stderr);
}

void Progress::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  wake_.notify_all();
  thread_.join();
  if (mode_ == ProgressMode::bar) {
    progress_bar_shown.store(false);
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
  }
}

void Progress::clear_line() {
  if (mode_ != ProgressMode::bar) return;
  std::lock_guard lock(mutex_);
  std::fputs("\r\x1b[K", stderr);
}

void Progress::draw() {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
  uint64_t rows = rows_.load(std::memory_order_relaxed);
  uint64_t bytes = bytes_.load(std::memory_order_relaxed);
  double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  double fraction = total_rows_ ? static_cast<double>(rows) / static_cast<double>(total_rows_) : 0;
  char eta[32] = "--";
  if (fraction > 0.01 && fraction < 1)
    std::snprintf(eta, sizeof eta, "%.0fs", seconds * (1 - fraction) / fraction);
  std::fprintf(stderr,
               "\r\x1b[K%llu/%llu tasks  %llu/%llu rows (%.0f%%)  %s/s  ETA %s  retries %llu",
               static_cast<unsigned long long>(done_tasks_.load()),
               static_cast<unsigned long long>(total_tasks_), static_cast<unsigned long long>(rows),
               static_cast<unsigned long long>(total_rows_), fraction * 100,
               format_bytes(static_cast<uint64_t>(rate)).c_str(), eta,
               static_cast<unsigned long long>(retries_.load()));
  std::fflush(stderr);
}

void Progress::emit(const std::string& json_line) {
  if (mode_ != ProgressMode::json) return;
  std::lock_guard lock(mutex_);
  std::fputs(json_line.c_str(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void Progress::task_started(const Task& task, const std::string& query_id, int attempt) {
  emit("{\"event\":\"task_started\"," + task_fields(task) +
       ",\"query_id\":" + json_escape(query_id) + ",\"attempt\":" + std::to_string(attempt) +
       ",\"expected_rows\":" + std::to_string(task.planned_rows) + "}");
}

void Progress::retry(const Task& task, int attempt, double delay_seconds,
                     const std::string& error) {
  retries_.fetch_add(1);
  char delay[32];
  std::snprintf(delay, sizeof delay, "%.3f", delay_seconds);
  emit("{\"event\":\"retry\"," + task_fields(task) + ",\"attempt\":" + std::to_string(attempt) +
       ",\"delay_seconds\":" + delay + ",\"error\":" + json_escape(error) + "}");
}

void Progress::task_finished(const Task& task, bool ok, uint64_t rows,
                             const std::vector<WrittenFile>& files, const std::string& error,
                             bool skipped) {
  done_tasks_.fetch_add(1);
  for (const WrittenFile& f : files) {
    emit("{\"event\":\"file_finished\"," + task_fields(task) + ",\"path\":" + json_escape(f.path) +
         ",\"rows\":" + std::to_string(f.rows) + ",\"csv_bytes\":" + std::to_string(f.csv_bytes) +
         ",\"compressed_bytes\":" + std::to_string(f.compressed_bytes) +
         ",\"sha256\":" + json_escape(f.sha256) + "}");
  }
  emit("{\"event\":\"task_finished\"," + task_fields(task) + ",\"status\":" +
       json_escape(ok ? "done" : "failed") + ",\"skipped\":" + (skipped ? "true" : "false") +
       ",\"rows\":" + std::to_string(rows) + (ok ? "" : ",\"error\":" + json_escape(error)) + "}");
}

void Progress::run_finished(int exit_code, uint64_t rows, uint64_t failed_tasks) {
  emit("{\"event\":\"run_finished\",\"exit_code\":" + std::to_string(exit_code) +
       ",\"rows\":" + std::to_string(rows) + ",\"failed_tasks\":" + std::to_string(failed_tasks) +
       ",\"tasks\":" + std::to_string(total_tasks_) + "}");
}

}  // namespace chexport
