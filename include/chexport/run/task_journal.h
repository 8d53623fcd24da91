// Progress of an export at a flat cost per task (docs/resume-and-validation.md "Thousands of
// tasks"): manifest.json is written when a run starts and when it ends; in between, each finished
// task is appended as one line to a journal beside it ("manifest.journal"), made durable before
// the task counts as done (a batch of tasks checked together by one write). A crash loses at most
// the tasks in flight. Readers (resume, verify, import) see the manifest with the journal's tasks
// in place of its own.
//
// The journal is for a local directory; an S3 output has no appends, and gets the whole manifest
// at most every manifest_interval_seconds instead (exporter.cc).
#pragma once

#include <string>
#include <vector>

#include "chexport/output/store.h"

namespace chexport {

// "manifest.json" -> "manifest.journal"; a --worker part's likewise.
std::string journal_name(const std::string& manifest_name);

// How often an output without a journal (S3, --manifest FILE) gets the whole manifest during a
// run, at most.
inline constexpr double manifest_interval_seconds = 30;

// An append-only file of one JSON task per line. Not thread-safe: the run records under its lock.
class TaskJournal {
 public:
  // Creates `path`, or empties an earlier one (whose tasks the manifest just written holds).
  // Throws an io Error.
  explicit TaskJournal(std::string path);
  ~TaskJournal();  // closes; never throws
  TaskJournal(const TaskJournal&) = delete;
  TaskJournal& operator=(const TaskJournal&) = delete;

  // Appends each of `lines` and a newline, by one write, and waits until they are on disk (one
  // fdatasync for all: a batch of tasks costs one wait). A crash mid-write cuts the last line
  // only, which the reader leaves out. Throws an io Error (disk full).
  void append(const std::vector<std::string>& lines);
  // Closes and deletes the file (once the manifest holds every task); never throws.
  void remove() noexcept;
  uint64_t bytes() const noexcept { return bytes_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
};

// The manifest `name` in `store`, with the tasks of its journal, if any, in place of the
// manifest's own of the same "dir" (the journal's last line for a task wins; an unreadable last
// line, cut by a crash, is left out). False when there is no manifest. Throws a usage Error when
// the manifest is not JSON.
bool read_manifest_text(Store& store, const std::string& name, std::string& text);

}  // namespace chexport
