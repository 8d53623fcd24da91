#include "chexport/pipeline/content_decoder.h"

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>

#include "chexport/common/utf8.h"

namespace chexport {
namespace {

constexpr size_t output_capacity = 256 * 1024;

// The buffer every decoder decodes into, and its hand-over to the sink.
class BufferedDecoder : public ContentDecoder {
 protected:
  BufferedDecoder() : buffer_(std::make_unique<char[]>(output_capacity)) {}
  void push(size_t produced, ByteSink& out) {
    if (produced == 0) return;
    decoded_bytes_ += produced;
    out.write(std::string_view(buffer_.get(), produced));
  }
  std::unique_ptr<char[]> buffer_;
  bool seen_input_ = false;
};

class ZstdDecoder final : public BufferedDecoder {
 public:
  ZstdDecoder() : context_(ZSTD_createDCtx()) {
    if (context_ == nullptr) throw std::bad_alloc();
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(context_); }
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;

  void decode(std::string_view input, ByteSink& out) override {
    if (input.empty()) return;
    seen_input_ = true;
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    for (;;) {
      ZSTD_outBuffer o{buffer_.get(), output_capacity, 0};
      size_t r = ZSTD_decompressStream(context_, &o, &in);
      if (ZSTD_isError(r)) {
        throw DecodeError(std::string("corrupt zstd stream: ") + ZSTD_getErrorName(r));
      }
      frame_open_ = r != 0;
      push(o.pos, out);
      // A full buffer may leave decoded bytes inside the context: go round until it is not full,
      // unless the frame has just ended (another call would read "no input" as a new frame).
      if (in.pos == in.size && (o.pos < o.size || !frame_open_)) return;
    }
  }
  void end() override {
    if (!seen_input_) throw DecodeError("empty zstd stream");
    if (frame_open_) throw DecodeError("the zstd stream ends inside a frame (truncated)");
  }

 private:
  ZSTD_DCtx* context_;
  bool frame_open_ = true;
};

class Lz4Decoder final : public BufferedDecoder {
 public:
  Lz4Decoder() {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&context_, LZ4F_VERSION)))
      throw std::bad_alloc();
  }
  ~Lz4Decoder() override { LZ4F_freeDecompressionContext(context_); }
  Lz4Decoder(const Lz4Decoder&) = delete;
  Lz4Decoder& operator=(const Lz4Decoder&) = delete;

  void decode(std::string_view input, ByteSink& out) override {
    if (input.empty()) return;
    seen_input_ = true;
    const char* next = input.data();
    size_t left = input.size();
    for (;;) {
      size_t produced = output_capacity, consumed = left;
      size_t r = LZ4F_decompress(context_, buffer_.get(), &produced, next, &consumed, nullptr);
      if (LZ4F_isError(r)) {
        throw DecodeError(std::string("corrupt lz4 stream: ") + LZ4F_getErrorName(r));
      }
      frame_open_ = r != 0;
      next += consumed;
      left -= consumed;
      push(produced, out);
      if (left == 0 && (produced < output_capacity || !frame_open_)) return;
    }
  }
  void end() override {
    if (!seen_input_) throw DecodeError("empty lz4 stream");
    if (frame_open_) throw DecodeError("the lz4 stream ends inside a frame (truncated)");
  }

 private:
  LZ4F_dctx* context_ = nullptr;
  bool frame_open_ = true;
};

// gzip (RFC 1952) or, for "deflate", the zlib format (RFC 1950) that ClickHouse sends.
class ZlibDecoder final : public BufferedDecoder {
 public:
  explicit ZlibDecoder(bool gzip) : name_(gzip ? "gzip" : "deflate") {
    if (inflateInit2(&stream_, gzip ? 15 + 16 : 15) != Z_OK) throw std::bad_alloc();
  }
  ~ZlibDecoder() override { inflateEnd(&stream_); }
  ZlibDecoder(const ZlibDecoder&) = delete;
  ZlibDecoder& operator=(const ZlibDecoder&) = delete;

  void decode(std::string_view input, ByteSink& out) override {
    if (input.empty()) return;
    seen_input_ = true;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    for (;;) {
      if (ended_ && stream_.avail_in > 0) {  // another member follows (concatenated gzip)
        inflateReset(&stream_);
        ended_ = false;
      }
      stream_.next_out = reinterpret_cast<Bytef*>(buffer_.get());
      stream_.avail_out = static_cast<uInt>(output_capacity);
      int r = inflate(&stream_, Z_NO_FLUSH);
      push(output_capacity - stream_.avail_out, out);
      if (r == Z_STREAM_END) {
        ended_ = true;
        if (stream_.avail_in == 0) return;
        continue;
      }
      if (r != Z_OK && r != Z_BUF_ERROR) {
        throw DecodeError(
            "corrupt " + name_ + " stream: " +
            (stream_.msg != nullptr ? stream_.msg : "zlib error " + std::to_string(r)));
      }
      if (stream_.avail_in == 0 && stream_.avail_out > 0) return;
    }
  }
  void end() override {
    if (!seen_input_) throw DecodeError("empty " + name_ + " stream");
    if (!ended_) throw DecodeError("the " + name_ + " stream ends before its end (truncated)");
  }

 private:
  std::string name_;
  z_stream stream_{};
  bool ended_ = false;
};

}  // namespace

std::optional<ContentEncoding> content_encoding_from_name(std::string_view name) {
  std::string n = ascii_lower(name);
  if (n == "identity" || n.empty()) return ContentEncoding::identity;
  if (n == "zstd") return ContentEncoding::zstd;
  if (n == "lz4") return ContentEncoding::lz4;
  if (n == "gzip" || n == "x-gzip") return ContentEncoding::gzip;
  if (n == "deflate") return ContentEncoding::deflate;
  return std::nullopt;
}

const char* content_encoding_name(ContentEncoding encoding) noexcept {
  switch (encoding) {
    case ContentEncoding::zstd:
      return "zstd";
    case ContentEncoding::lz4:
      return "lz4";
    case ContentEncoding::gzip:
      return "gzip";
    case ContentEncoding::deflate:
      return "deflate";
    case ContentEncoding::identity:
      break;
  }
  return "identity";
}

std::unique_ptr<ContentDecoder> make_content_decoder(ContentEncoding encoding) {
  switch (encoding) {
    case ContentEncoding::zstd:
      return std::make_unique<ZstdDecoder>();
    case ContentEncoding::lz4:
      return std::make_unique<Lz4Decoder>();
    case ContentEncoding::gzip:
      return std::make_unique<ZlibDecoder>(true);
    case ContentEncoding::deflate:
      return std::make_unique<ZlibDecoder>(false);
    case ContentEncoding::identity:
      break;
  }
  return nullptr;
}

ContentEncoding sniff_content_encoding(std::string_view head) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 2 && byte(0) == 0x1f && byte(1) == 0x8b) return ContentEncoding::gzip;
  if (head.size() >= 4 && byte(0) == 0x28 && byte(1) == 0xb5 && byte(2) == 0x2f && byte(3) == 0xfd)
    return ContentEncoding::zstd;
  if (head.size() >= 4 && byte(0) == 0x04 && byte(1) == 0x22 && byte(2) == 0x4d && byte(3) == 0x18)
    return ContentEncoding::lz4;
  // A zlib header: CM 8, a window of at most 32 KiB, and a check value that makes it a multiple
  // of 31. Text starting with "x" passes one time in 31; ClickHouse's messages start "Code:".
  if (head.size() >= 2 && byte(0) == 0x78 && (byte(0) * 256 + byte(1)) % 31 == 0)
    return ContentEncoding::deflate;
  return ContentEncoding::identity;
}

}  // namespace chexport
