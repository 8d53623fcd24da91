#include "chexport/run/import_file.h"

#include "chexport/common/error.h"

namespace chexport {

ExportFileSource::ExportFileSource(Store& store, const ManifestFile& file, bool decompress)
    : name_(store.describe(file.path)), file_(file) {
  if (decompress) {
    dctx_.reset(ZSTD_createDCtx());
    if (dctx_ == nullptr) throw std::bad_alloc();
    raw_.resize(ZSTD_DStreamInSize());
  }
  std::string path = file.path, name = name_;
  pipe_ = std::make_unique<BytePipe>([&store, path, name](ByteSink& sink) {
    if (!store.read(path, sink))
      throw_validation("missing: " + name + " is in the manifest but not in the export");
  });
}

ExportFileSource::~ExportFileSource() = default;

void ExportFileSource::check_rest() {
  if (checked_) return;
  if (raw_.empty()) raw_.resize(256 * 1024);
  while (size_t n = pipe_->read(raw_.data(), raw_.size())) take(raw_.data(), n);
  check_whole();
}

void ExportFileSource::corrupted(const std::string& what) {
  throw_validation("corrupted: " + name_ + " " + what + "; nothing of its partition was loaded");
}

void ExportFileSource::take(const char* data, size_t n) {
  size_ += n;
  sha_.update(std::string_view(data, n));
  if (size_ > file_.compressed_bytes)
    corrupted("is larger than the manifest's " + std::to_string(file_.compressed_bytes) + " bytes");
}

void ExportFileSource::check_whole() {
  if (checked_) return;
  checked_ = true;
  if (size_ != file_.compressed_bytes) {
    corrupted("has " + std::to_string(size_) + " bytes, the manifest says " +
              std::to_string(file_.compressed_bytes));
  }
  if (sha_.hex_digest() != file_.sha256) corrupted("does not match its SHA-256 in the manifest");
}

size_t ExportFileSource::read(char* buffer, size_t size) {
  if (dctx_ != nullptr) return read_compressed(buffer, size);
  // As it is: straight into libcurl's buffer, hashed there.
  size_t n = pipe_->read(buffer, size);
  take(buffer, n);
  if (n == 0) check_whole();
  return n;
}

size_t ExportFileSource::read_compressed(char* buffer, size_t size) {
  ZSTD_outBuffer out{buffer, size, 0};
  while (out.pos == 0) {
    if (in_.pos == in_.size && !input_ended_) {
      size_t n = pipe_->read(raw_.data(), raw_.size());
      take(raw_.data(), n);
      input_ended_ = n == 0;
      in_ = ZSTD_inBuffer{raw_.data(), n, 0};
      if (input_ended_) check_whole();  // before the last decoded bytes leave
    }
    const size_t consumed_before = in_.pos;
    size_t hint = ZSTD_decompressStream(dctx_.get(), &out, &in_);
    if (ZSTD_isError(hint))
      corrupted(std::string("is not valid zstd (") + ZSTD_getErrorName(hint) + ")");
    // A call that neither read nor wrote anything says only what the next frame would need.
    if (in_.pos != consumed_before || out.pos != 0) frame_left_ = hint;
    if (out.pos == 0 && input_ended_ && in_.pos == in_.size) {
      if (frame_left_ != 0) corrupted("is a truncated zstd frame");
      return 0;
    }
  }
  return out.pos;
}

}  // namespace chexport
