// Where an export lives: a local directory or an S3 bucket prefix. Everything that reads or writes
// an export (the exporter, resume, verify) goes through this interface, so both behave the same.
//
// Paths are relative to the export's root ("db/table/partition=1/whole/part-000000.csv.zst"). Files
// made by create() are invisible until committed: a temp file renamed on commit locally, a
// multipart upload completed on commit on S3 (parts are uploaded as the bytes come, so memory
// stays at one part per open file; a file smaller than one part is sent with one PUT on commit).
// A Store is used by one thread at a time (the S3 one owns a connection): open one per worker.
// Failures throw chexport::Error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/common/byte_sink.h"

namespace chexport {

struct StoredFile {
  std::string path;  // relative
  uint64_t size = 0;
};

// What a store says of a file without reading it.
struct FileHead {
  uint64_t size = 0;
  std::string etag;      // S3's ETag (s3_etag()); empty for a local file
  std::string checksum;  // the SHA-256 checksum S3 keeps ("base64-N"); empty where none
  // Whether the HEAD asked for the checksum (not with --s3-checksum none): only then does an
  // empty one mean the object has none.
  bool checksum_asked = false;
};

// The lock that makes one run at a time the owner of an output (docs/resume-and-validation.md "One
// run per output"), kept in the output's root under this name.
inline constexpr const char* lock_file_name = ".chexport.lock";

// Who holds an output: written into its lock, named to a run that is refused.
struct LockHolder {
  std::string run_id;  // "run-<16 hex>", new for every run
  std::string host;    // gethostname()
  long pid = 0;
  std::string started_at;   // UTC, ISO 8601
  double refreshed_at = 0;  // Unix time of the holder's last sign of life (S3)
  std::string json() const;
  std::string describe() const;                    // "run R (pid P on host H, started T)"
  static LockHolder parse(std::string_view json);  // fields it cannot read stay empty
};
LockHolder this_run_holder(const std::string& started_at);

// Held for as long as the object lives; the destructor releases it and never throws.
class StoreLock {
 public:
  virtual ~StoreLock() = default;
};

// How long an S3 lock may go without a refresh before --break-lock may take it (its holder
// refreshes it every lock_refresh_seconds).
inline constexpr double lock_refresh_seconds = 60;
inline constexpr double lock_stale_seconds = 600;

class Store {
 public:
  virtual ~Store() = default;
  // For messages: the local path or the s3:// URL of `relative`.
  virtual std::string describe(std::string_view relative) const = 0;
  virtual std::unique_ptr<OutputFile> create(const std::string& relative) = 0;
  // A small file (manifest, schema), replaced atomically.
  virtual void put(const std::string& relative, std::string_view content) = 0;
  // Streams a file into `sink`; false when it does not exist.
  virtual bool read(const std::string& relative, ByteSink& sink) = 0;
  // The file's size (and ETag), without its bytes: a stat(), or an S3 HEAD. None when absent.
  virtual std::optional<FileHead> head(const std::string& relative) = 0;
  // The files directly in `dir` (not below it).
  virtual std::vector<StoredFile> list(const std::string& dir) = 0;
  virtual void remove(const std::string& relative) = 0;
  virtual void remove_tree(const std::string& dir) = 0;
  // Every file below the root, recursively (relative paths, sorted).
  virtual std::vector<StoredFile> list_all() = 0;
  // Removes what a killed run left below `dirs` (this export's table directories), or with
  // Depth::directly_in only directly in them: temp files, or chexport's unfinished multipart
  // uploads. Returns how many.
  enum class Depth { below, directly_in };
  virtual size_t clean_leftovers(const std::vector<std::string>& dirs,
                                 Depth depth = Depth::below) = 0;
  // Makes the folders of tasks, or throws Error (usage) where the file system took one of them
  // for a folder spelled otherwise (it ignores case or Unicode normalization, as macOS and
  // Windows do): two tasks would share their files, and exporting one again would remove the
  // other's. Object stores compare keys byte for byte: nothing to check. With `create` false, only
  // checks the folders that exist (before a --fresh share removes anything).
  virtual void make_task_dirs(const std::vector<std::string>& dirs, bool create = true) {
    (void)dirs;
    (void)create;
  }
  // Takes the output's lock, or throws Error (category locked) naming its holder. A local lock is
  // an flock(): it frees itself when its process ends. An S3 lock is an object created only if
  // absent; `break_lock` removes one that was not refreshed for lock_stale_seconds.
  // `name` is the lock's file or object (a --worker share has its own, worker_share.h).
  virtual std::unique_ptr<StoreLock> lock(const LockHolder& me, bool break_lock,
                                          const std::string& name = lock_file_name) = 0;
  virtual bool is_local() const = 0;
};

// A directory, or "s3://bucket/prefix" (credentials from the AWS_* variables; parts of
// `part_size` bytes, at least 5 MiB).
std::unique_ptr<Store> open_store(const std::string& location, uint64_t part_size = 8 << 20);

}  // namespace chexport
