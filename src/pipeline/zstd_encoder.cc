#include "chexport/pipeline/zstd_encoder.h"

#include <zstd.h>

#include <string>
#include <vector>

#include "chexport/common/error.h"

namespace chexport {
namespace {

void check(size_t code, const char* what) {
  if (ZSTD_isError(code)) throw_io(std::string("zstd ") + what + ": " + ZSTD_getErrorName(code));
}

}  // namespace

struct ZstdEncoder::Context {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> out = std::vector<char>(ZSTD_CStreamOutSize());
  ~Context() { ZSTD_freeCCtx(cctx); }
};

ZstdEncoder::ZstdEncoder(int level) : ctx_(std::make_unique<Context>()), level_(level) {
  if (ctx_->cctx == nullptr) throw_io("zstd: cannot create a compression context");
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
    throw_usage("zstd level " + std::to_string(level) + " is out of range (" +
                std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()) + ")");
  }
  check(ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_compressionLevel, level), "level");
  check(ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_checksumFlag, 1), "checksum flag");
}

ZstdEncoder::~ZstdEncoder() = default;

void ZstdEncoder::flush(ByteSink& target) {
  if (used_ == 0) return;
  target.write(std::string_view(ctx_->out.data(), used_));
  used_ = 0;
}

void ZstdEncoder::compress(std::string_view data, ByteSink& target) {
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer out{ctx_->out.data() + used_, ctx_->out.size() - used_, 0};
    check(ZSTD_compressStream2(ctx_->cctx, &out, &in, ZSTD_e_continue), "compress");
    used_ += out.pos;
    if (used_ == ctx_->out.size()) flush(target);
  }
}

void ZstdEncoder::end_frame(ByteSink& target) {
  ZSTD_inBuffer in{nullptr, 0, 0};
  size_t remaining = 0;
  do {
    if (used_ == ctx_->out.size()) flush(target);
    ZSTD_outBuffer out{ctx_->out.data() + used_, ctx_->out.size() - used_, 0};
    remaining = ZSTD_compressStream2(ctx_->cctx, &out, &in, ZSTD_e_end);
    check(remaining, "end frame");
    used_ += out.pos;
  } while (remaining != 0);
  flush(target);
}

void ZstdEncoder::reset() noexcept {
  ZSTD_CCtx_reset(ctx_->cctx, ZSTD_reset_session_only);
  used_ = 0;
}

}  // namespace chexport
