#include "chexport/pipeline/content_decoder.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <random>

namespace chexport {
namespace {

// CSV-like text that compresses, long enough to fill the decoder's output buffer many times.
std::string sample(size_t rows) {
  std::string text;
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < rows; ++i) {
    text += std::to_string(i) + ",\"name " + std::to_string(rng() % 1000) + "\"," +
            std::to_string(rng()) + "\n";
  }
  return text;
}

std::string zstd_frame(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(cctx, out.data(), out.size(), text.data(), text.size());
  ZSTD_freeCCtx(cctx);
  out.resize(n);
  return out;
}

std::string lz4_frame(const std::string& text) {
  std::string out(LZ4F_compressFrameBound(text.size(), nullptr), '\0');
  out.resize(LZ4F_compressFrame(out.data(), out.size(), text.data(), text.size(), nullptr));
  return out;
}

std::string zlib_stream(const std::string& text, bool gzip) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string encode(ContentEncoding encoding, const std::string& text) {
  switch (encoding) {
    case ContentEncoding::zstd:
      return zstd_frame(text);
    case ContentEncoding::lz4:
      return lz4_frame(text);
    case ContentEncoding::gzip:
      return zlib_stream(text, true);
    case ContentEncoding::deflate:
      return zlib_stream(text, false);
    case ContentEncoding::identity:
      break;
  }
  return text;
}

// Pushes `body` into a decoder in pieces of `piece` bytes; returns what came out.
std::string decode(ContentEncoding encoding, const std::string& body, size_t piece) {
  auto decoder = make_content_decoder(encoding);
  StringSink out;
  for (size_t at = 0; at < body.size(); at += piece)
    decoder->decode(std::string_view(body).substr(at, piece), out);
  decoder->end();
  EXPECT_EQ(decoder->decoded_bytes(), out.text.size());
  return out.text;
}

class Decoder : public ::testing::TestWithParam<ContentEncoding> {};

TEST_P(Decoder, DecodesWhateverThePiecesAreAndConcatenatedFrames) {
  std::string text = sample(100000);  // about 4 MiB: many output buffers
  std::string body = encode(GetParam(), text);
  for (size_t piece : {size_t(1) << 20, size_t(65536), size_t(4093)})
    EXPECT_EQ(decode(GetParam(), body, piece), text) << piece;
  EXPECT_EQ(decode(GetParam(), encode(GetParam(), "a\n"), 1), "a\n");
  // Two frames (gzip: members) one after the other are one body.
  std::string second = sample(10);
  EXPECT_EQ(decode(GetParam(), body + encode(GetParam(), second), 65536), text + second);
}

// A frame that ends exactly where the decoder's 256 KiB buffer fills up ends there: no "truncated"
// for a result of k * 256 KiB.
TEST_P(Decoder, AFrameThatFillsTheBufferExactly) {
  for (size_t size : {size_t(256) << 10, size_t(512) << 10, (size_t(256) << 10) - 1}) {
    std::string text(size, 'a');
    EXPECT_EQ(decode(GetParam(), encode(GetParam(), text), 1 << 20), text) << size;
  }
}

// Bytes after a whole frame that are not another frame are damage, never dropped in silence.
TEST_P(Decoder, GarbageAfterAFrameIsAnError) {
  EXPECT_THROW(decode(GetParam(), encode(GetParam(), sample(100)) + "Code: 1", 1 << 20),
               DecodeError);
}

// What the sink throws (a full disk) comes out of decode() as it was.
TEST_P(Decoder, TheSinksErrorPassesThrough) {
  struct Failing final : ByteSink {
    void write(std::string_view) override { throw std::runtime_error("disk full"); }
    void finish() override {}
    void cancel() noexcept override {}
  } sink;
  auto decoder = make_content_decoder(GetParam());
  EXPECT_THROW(decoder->decode(encode(GetParam(), sample(100)), sink), std::runtime_error);
}

TEST_P(Decoder, ABodyThatStopsInsideAFrameIsTruncated) {
  std::string body = encode(GetParam(), sample(20000));
  for (size_t keep : {body.size() - 1, body.size() / 2, size_t(3)}) {
    try {
      decode(GetParam(), body.substr(0, keep), 1000);
      ADD_FAILURE() << "no error for " << keep << " of " << body.size() << " bytes";
    } catch (const DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
}

TEST_P(Decoder, AnEmptyBodyIsNoStream) {
  auto decoder = make_content_decoder(GetParam());
  try {
    decoder->end();
    FAIL() << "no error";
  } catch (const DecodeError& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string("empty ") + content_encoding_name(GetParam()) + " stream");
  }
}

INSTANTIATE_TEST_SUITE_P(All, Decoder,
                         ::testing::Values(ContentEncoding::zstd, ContentEncoding::lz4,
                                           ContentEncoding::gzip, ContentEncoding::deflate),
                         [](const auto& info) { return content_encoding_name(info.param); });

// zstd (with its checksum, as ClickHouse writes it), gzip (CRC-32) and zlib (Adler-32) notice
// damage anywhere. ClickHouse's lz4 frames carry no checksum: there only the CSV checks and the
// row counts can.
TEST(Decoder, DamageIsCorruptWhereTheFormatHasAChecksum) {
  for (ContentEncoding encoding :
       {ContentEncoding::zstd, ContentEncoding::gzip, ContentEncoding::deflate}) {
    std::string body = encode(encoding, sample(20000));
    for (size_t i = body.size() / 2; i < body.size() / 2 + 16; ++i) body[i] = ~body[i];
    EXPECT_THROW(decode(encoding, body, 4096), DecodeError) << content_encoding_name(encoding);
  }
  try {
    decode(ContentEncoding::zstd, "\x28\xb5\x2f\xfd garbage", 100);
    FAIL() << "no error";
  } catch (const DecodeError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("corrupt zstd stream: ")) << e.what();
  }
}

TEST(Decoder, NamesAndSniffing) {
  EXPECT_EQ(content_encoding_from_name("ZSTD"), ContentEncoding::zstd);
  EXPECT_EQ(content_encoding_from_name("x-gzip"), ContentEncoding::gzip);
  EXPECT_EQ(content_encoding_from_name(""), ContentEncoding::identity);
  EXPECT_EQ(content_encoding_from_name("br"), std::nullopt);
  EXPECT_EQ(content_encoding_from_name("gzip, zstd"), std::nullopt);
  EXPECT_EQ(make_content_decoder(ContentEncoding::identity), nullptr);
  // 18.16 gzips an error's body without a Content-Encoding header.
  EXPECT_EQ(sniff_content_encoding(zlib_stream("Code: 164", true)), ContentEncoding::gzip);
  EXPECT_EQ(sniff_content_encoding(zlib_stream("Code: 164", false)), ContentEncoding::deflate);
  EXPECT_EQ(sniff_content_encoding(zstd_frame("Code: 164")), ContentEncoding::zstd);
  EXPECT_EQ(sniff_content_encoding(lz4_frame("Code: 164")), ContentEncoding::lz4);
  EXPECT_EQ(sniff_content_encoding("Code: 164. DB::Exception"), ContentEncoding::identity);
  EXPECT_EQ(sniff_content_encoding("x"), ContentEncoding::identity);
}

}  // namespace
}  // namespace chexport
