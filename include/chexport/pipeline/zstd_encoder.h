// Streaming zstd compression into a downstream ByteSink, one frame at a time.
//
// Owns a ZSTD_CCtx and one output buffer (ZSTD_CStreamOutSize()), both reused across frames and
// tasks (like zstd's FIO_createCResources): create one per worker. Frames carry the content
// checksum. compress() pushes compressed bytes downstream whenever the buffer fills;
// end_frame() completes the frame and pushes everything; reset() drops a frame after an error.
// Throws chexport::Error on zstd errors; downstream errors propagate. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "chexport/common/byte_sink.h"

namespace chexport {

class ZstdEncoder {
 public:
  explicit ZstdEncoder(int level);
  ~ZstdEncoder();
  ZstdEncoder(const ZstdEncoder&) = delete;
  ZstdEncoder& operator=(const ZstdEncoder&) = delete;

  void compress(std::string_view data, ByteSink& target);
  void end_frame(ByteSink& target);
  void reset() noexcept;

  // Compressed bytes produced but not yet pushed downstream.
  uint64_t buffered() const noexcept { return used_; }
  int level() const noexcept { return level_; }

 private:
  void flush(ByteSink& target);

  struct Context;
  std::unique_ptr<Context> ctx_;
  int level_;
  size_t used_ = 0;
};

}  // namespace chexport
