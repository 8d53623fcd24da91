// Streaming decompression of an HTTP response body (its Content-Encoding), in the receiving
// thread: libcurl's write callback -> ContentDecoder -> the CSV scanner and the writer.
//
// chexport decodes the body itself rather than letting libcurl do it: libcurl has no lz4, and it
// accepts a body that stops in the middle of a compressed frame, which must fail the task (18.16
// answers 200 with an empty "gzip" body when it cannot compress). Every decoder pushes what it
// has decoded before decode() returns, so a body cut by the network leaves the sink with every
// byte that could be decoded (the server's error message, if it sent one).
//
// Memory is bounded: one 256 KiB output buffer plus the codec's state (zstd: the frame's window,
// at most 128 MiB for a hostile stream, 1-8 MiB at the levels servers use; lz4: one block, at
// most 4 MiB; zlib: 32 KiB). Not thread-safe: one per transfer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chexport/common/byte_sink.h"

namespace chexport {

enum class ContentEncoding { identity, zstd, lz4, gzip, deflate };

// The encoding a Content-Encoding header value names ("zstd", "gzip", "x-gzip", "deflate", "lz4",
// "identity"; case-insensitive), or none for anything else (br, a list of several).
std::optional<ContentEncoding> content_encoding_from_name(std::string_view name);
const char* content_encoding_name(ContentEncoding encoding) noexcept;

// What a decoder throws for a body that is not a valid stream of its encoding: a DecodeError is
// a plain std::runtime_error; the HTTP layer turns it into a chexport::Error with its context.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ContentDecoder {
 public:
  virtual ~ContentDecoder() = default;
  // Decodes `input` and pushes every byte it yields into `out` before returning. Throws
  // DecodeError on corrupt input, and whatever `out` throws.
  virtual void decode(std::string_view input, ByteSink& out) = 0;
  // The body has ended: throws DecodeError unless it ended exactly at the end of a frame (an
  // empty body is not a stream either). Does not finish `out`.
  virtual void end() = 0;
  uint64_t decoded_bytes() const noexcept { return decoded_bytes_; }

 protected:
  uint64_t decoded_bytes_ = 0;
};

// A decoder for `encoding`; none for identity.
std::unique_ptr<ContentDecoder> make_content_decoder(ContentEncoding encoding);

// The encoding a body's first bytes show (gzip's 1f 8b, zstd's 28 b5 2f fd, a zlib header), for
// error bodies that 18.16 compresses without saying so; identity when they show none.
ContentEncoding sniff_content_encoding(std::string_view head) noexcept;

}  // namespace chexport
