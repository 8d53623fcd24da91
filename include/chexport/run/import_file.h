// One file of an export as the body of an INSERT (docs/import.md "How files are sent").
//
// The file is read from the store on a thread of its own (BytePipe: memory stays at the pipe's
// few MiB plus one zstd window), hashed and measured as it goes, and either decompressed here
// (zstd, frame checksum verified) or passed on as it is to a server told "Content-Encoding: zstd".
// When the file has been read, before read() signals the body's end (a chunked body without its
// end is no INSERT), its size and SHA-256 must be the manifest's and a compressed file must have
// ended at its frame's end; otherwise read() throws a validation Error and libcurl abandons the
// INSERT (so the server never sees a complete body). A missing file throws the same way. Not
// thread-safe.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chexport/common/byte_sink.h"
#include "chexport/common/sha256.h"
#include "chexport/output/store.h"
#include "chexport/pipeline/byte_pipe.h"
#include "chexport/run/export_manifest.h"

namespace chexport {

class ExportFileSource final : public ByteSource {
 public:
  ExportFileSource(Store& store, const ManifestFile& file, bool decompress);
  ~ExportFileSource() override;
  ExportFileSource(const ExportFileSource&) = delete;
  ExportFileSource& operator=(const ExportFileSource&) = delete;

  size_t read(char* buffer, size_t size) override;
  // After the server refused the body: reads what is left of the file and checks it as read()
  // would at its end (throws the same validation Error for a damaged or missing file).
  void check_rest();

 private:
  size_t read_compressed(char* buffer, size_t size);
  void take(const char* data, size_t n);  // n more bytes of the file: measured and hashed
  void check_whole();                     // at the file's end: its size and SHA-256
  [[noreturn]] void corrupted(const std::string& what);

  std::string name_;  // for messages: where the file is
  ManifestFile file_;
  struct FreeDCtx {
    void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
  };
  std::unique_ptr<ZSTD_DCtx, FreeDCtx> dctx_;  // when decompressing
  std::vector<char> raw_;  // compressed input (decompressing), or what check_rest() reads
  ZSTD_inBuffer in_{nullptr, 0, 0};
  size_t frame_left_ = 1;  // ZSTD_decompressStream's last hint: 0 at a frame's end
  bool input_ended_ = false;
  bool checked_ = false;
  uint64_t size_ = 0;
  Sha256 sha_;
  std::unique_ptr<BytePipe> pipe_;  // last: its thread stops before the members above go
};

}  // namespace chexport
