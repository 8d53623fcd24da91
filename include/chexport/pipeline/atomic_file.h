// A file that appears under its final name only when committed (like mold's output-file-unix.cc
// and LLVM's ToolOutputFile).
//
// The constructor creates "<dir>/.<name>.chexport-tmp.<pid>.<random>" next to the target (same
// file system, so the rename is atomic; a name left by a killed run is skipped, like mkstemp).
// write() appends (write-all loop, EINTR retried); finish() fsyncs and closes, the data staying
// under the temp name; commit() renames it to the final name (and may be called only after
// finish()). With Existing::refuse, commit() fails instead of replacing a file that already has
// the final name (data files: two tasks or runs must never overwrite each other silently).
// cancel() and the destructor of an uncommitted file close and unlink the temp file.
// Failures throw chexport::Error (category io) naming the path and errno; ENOSPC / EDQUOT / EFBIG
// say "disk full". Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "chexport/common/byte_sink.h"

namespace chexport {

enum class Existing { replace, refuse };

class AtomicFile final : public OutputFile {
 public:
  explicit AtomicFile(std::string final_path, Existing existing = Existing::replace);
  ~AtomicFile() override;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view data) override;
  void finish() override;
  void cancel() noexcept override;
  void commit() override;  // rename, then fsync the directory
  void uncommit() noexcept override;
  const std::string& name() const noexcept override { return final_path_; }

  const std::string& final_path() const noexcept { return final_path_; }
  const std::string& temp_path() const noexcept { return temp_path_; }

  // The marker every temp name contains, for cleaning up after a killed run.
  static constexpr std::string_view temp_marker = ".chexport-tmp.";

 private:
  std::string final_path_;
  Existing existing_ = Existing::replace;
  std::string temp_path_;
  static constexpr uint64_t writeback_step = 8 << 20;
  int fd_ = -1;
  uint64_t written_ = 0;
  uint64_t flushed_ = 0;  // bytes whose writeback has been started
  bool finished_ = false;
  bool committed_ = false;  // nothing left for cancel() to clean up
  bool renamed_ = false;    // the file is under its final name
};

// fsyncs a directory, so that renames and creations in it survive a crash.
void sync_directory(const std::string& path);

// Writes `content` to `path` atomically (temp file, fsync, rename, fsync of the directory).
void write_file_atomically(const std::string& path, std::string_view content);

// mkdir -p; throws chexport::Error on failure.
void make_directories(const std::string& path);

}  // namespace chexport
