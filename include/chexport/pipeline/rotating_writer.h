// Turns one CSV stream into a sequence of files, each cut at a record boundary.
//
// write() scans the stream for record boundaries and pushes the bytes, without copying them,
// through the optional zstd encoder into the current AtomicFile. A new file starts when the
// current one reached max_rows records, or max_csv_bytes of CSV, or (approximately, as far as zstd
// has produced output) max_compressed_bytes: the file then ends at the first record boundary at or
// after the limit. Each compressed file is exactly one zstd frame. With `has_header` (CSVWithNames)
// the stream's first record is the header: it is repeated at the top of every file and not counted
// as a row. Files are opened lazily, so an empty stream produces no file.
//
// finish() completes and fsyncs the last file, everything still under temp names; commit() then
// renames all files to their final names and fsyncs the directory; if a rename fails, the files
// already renamed are removed again, so a task's files appear all together or not at all. cancel()
// (and the destructor, unless committed) removes every temp file. Throws chexport::Error (I/O,
// zstd). Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chexport/common/byte_sink.h"
#include "chexport/common/sha256.h"
#include "chexport/pipeline/atomic_file.h"
#include "chexport/pipeline/csv_scanner.h"
#include "chexport/pipeline/zstd_encoder.h"

namespace chexport {

struct RotationLimits {
  uint64_t max_rows = 100'000'000;  // 0 = no limit
  uint64_t max_csv_bytes = 0;       // 0 = no limit
  uint64_t max_compressed_bytes = 0;
};

struct WrittenFile {
  std::string path;  // final path (OutputFile::name())
  uint64_t rows = 0;
  uint64_t csv_bytes = 0;         // uncompressed, header included
  uint64_t compressed_bytes = 0;  // size of the file
  std::string sha256;             // of the file's bytes
  bool handed_off = false;        // removed after --on-file succeeded (--delete-after-hook)
  std::string etag;               // S3: the object's ETag (OutputFile::stored_etag())
  std::string s3_checksum;        // S3: the SHA-256 it keeps (OutputFile::stored_checksum())
};

// Opens the i-th (0-based) output file of a task.
using FileOpener = std::function<std::unique_ptr<OutputFile>(size_t)>;

// Opens AtomicFiles named by `path_for(i)`.
FileOpener local_files(std::function<std::string(size_t)> path_for);

class RotatingWriter final : public ByteSink {
 public:
  // `encoder` may be null (no compression) and is borrowed: it must outlive the writer.
  RotatingWriter(FileOpener open, RotationLimits limits, ZstdEncoder* encoder, bool has_header);
  // The same with local files named by `path_for(i)`.
  RotatingWriter(std::function<std::string(size_t)> path_for, RotationLimits limits,
                 ZstdEncoder* encoder, bool has_header)
      : RotatingWriter(local_files(std::move(path_for)), limits, encoder, has_header) {}
  ~RotatingWriter() override;

  void write(std::string_view data) override;
  void finish() override;
  void cancel() noexcept override;
  void commit();

  const std::vector<WrittenFile>& files() const noexcept { return files_; }
  uint64_t rows() const noexcept;  // data rows seen (header excluded)
  uint64_t csv_bytes() const noexcept { return scanner_.bytes(); }
  const CsvScanner& scanner() const noexcept { return scanner_; }
  const StreamTail& tail() const noexcept { return tail_; }

 private:
  // Hashes and counts what reaches the current file.
  class FileSink final : public ByteSink {
   public:
    void write(std::string_view data) override;
    void finish() override {}
    void cancel() noexcept override {}
    OutputFile* file = nullptr;
    Sha256 sha;
    uint64_t bytes = 0;
  };

  void open_next();
  void close_current();
  void emit(std::string_view data);
  bool bytes_limit_reached() const noexcept;

  FileOpener open_;
  RotationLimits limits_;
  ZstdEncoder* encoder_;
  bool has_header_;
  bool header_done_ = false;
  std::string header_;

  CsvScanner scanner_;
  StreamTail tail_;
  FileSink sink_;
  std::unique_ptr<OutputFile> current_;
  uint64_t current_rows_ = 0;
  uint64_t current_csv_bytes_ = 0;
  bool rotate_at_next_boundary_ = false;

  std::vector<std::unique_ptr<OutputFile>> finished_;
  std::vector<WrittenFile> files_;
};

}  // namespace chexport
