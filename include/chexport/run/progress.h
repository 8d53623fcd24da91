// Progress of a run on stderr (docs/resume-and-validation.md "Progress"):
// - bar: one line redrawn in place every 200 ms (tasks, rows and bytes against the plan, rate,
//   ETA, retries), for a terminal;
// - json: one JSON object per line per event (task_started, retry, file_finished, task_finished,
//   run_finished), and a progress event every second while the run goes on, for scripts;
// - none.
// Thread-safe: workers call the event methods and add() concurrently; add() is two relaxed atomic
// additions (it runs once per received chunk). start()/stop() run the redraw thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "chexport/pipeline/rotating_writer.h"
#include "chexport/plan/plan.h"

namespace chexport {

enum class ProgressMode { none, bar, json };

// True while a bar is drawn on stderr: a log line must clear it first (the log sink does).
extern std::atomic<bool> progress_bar_shown;

class Progress {
 public:
  Progress(ProgressMode mode, uint64_t tasks, uint64_t rows, uint64_t bytes);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void start();
  void stop();

  void add(uint64_t bytes, uint64_t rows) noexcept {
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
    rows_.fetch_add(rows, std::memory_order_relaxed);
  }
  // A failed attempt's rows and bytes no longer count.
  void take_back(uint64_t bytes, uint64_t rows) noexcept {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    rows_.fetch_sub(rows, std::memory_order_relaxed);
  }

  void task_started(const Task& task, const std::string& query_id, int attempt);
  void retry(const Task& task, int attempt, double delay_seconds, const std::string& error);
  void task_finished(const Task& task, bool ok, uint64_t rows,
                     const std::vector<WrittenFile>& files, const std::string& error, bool skipped);
  void run_finished(int exit_code, uint64_t rows, uint64_t failed_tasks);

  // Writes a log line without tearing the bar.
  void clear_line();

 private:
  void emit(const std::string& json_line);
  void write_progress_event();
  void draw();

  ProgressMode mode_;
  uint64_t total_tasks_, total_rows_, total_bytes_;
  std::atomic<uint64_t> bytes_{0}, rows_{0}, done_tasks_{0}, retries_{0};
  std::chrono::steady_clock::time_point start_time_ = std::chrono::steady_clock::now();
  std::mutex mutex_;  // stderr and the redraw thread
  std::condition_variable wake_;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace chexport
