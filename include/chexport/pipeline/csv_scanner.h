// Finds record boundaries in ClickHouse's CSV output as it streams by, chunk by chunk.
//
// ClickHouse always quotes strings (and every other text-like type) and doubles embedded quotes,
// so a '\n' ends a record exactly when an even number of '"' precede it in the stream. The only
// state carried across chunks is that parity (a chunk may end between the two '"' of an escaped
// quote, or between '\r' and '\n': neither needs more state). "\r\n" endings end at the '\n'.
//
// The scanner works on 64-byte blocks: equality masks for '"' and '\n', a prefix-XOR of the quote
// mask gives the in-quotes mask, and newline & ~in_quotes are the record ends.
//
// Not thread-safe; cheap to copy; never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chexport {

class CsvScanner {
 public:
  struct Result {
    size_t consumed = 0;   // bytes of the input that were scanned
    uint64_t records = 0;  // record terminators found in those bytes
  };

  // Scans `data` and stops right after the `record_limit`-th record terminator (record_limit > 0),
  // or at the end of `data`. When it stops early, `consumed` ends exactly at a record boundary.
  Result scan(std::string_view data, uint64_t record_limit = UINT64_MAX) noexcept;

  // True when everything scanned so far ends at a record boundary (also before any input).
  bool at_record_boundary() const noexcept { return bytes_ == last_end_; }
  bool in_quotes() const noexcept { return in_quotes_ != 0; }

  uint64_t records() const noexcept { return records_; }
  uint64_t bytes() const noexcept { return bytes_; }
  // Stream offsets (from the first byte ever scanned) of the last complete record:
  // [previous_record_end(), last_record_end()). Both are 0 before the first terminator.
  uint64_t last_record_end() const noexcept { return last_end_; }
  uint64_t previous_record_end() const noexcept { return prev_end_; }

 private:
  uint64_t in_quotes_ = 0;  // 0 or ~0: carried into the next block's prefix-XOR
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
  uint64_t last_end_ = 0;
  uint64_t prev_end_ = 0;
};

// The last bytes of a stream, kept to look for an error message that the server appended after it
// had already answered 200 (reference §1, check 4). Copies at most `capacity` bytes per chunk, so
// with libcurl's large receive buffers it costs a few percent of a memcpy of the stream. The
// capacity holds a whole modern error block (a message of up to 16 KiB and its framing).
class StreamTail {
 public:
  static constexpr size_t capacity = 20 * 1024;

  void append(std::string_view chunk);
  std::string_view bytes() const noexcept;

  struct Found {
    std::string_view text;     // from the start of the message to the end of the stream
    uint64_t records_in_text;  // record terminators inside `text` (counted as rows by mistake)
  };
  // The server's error at the end of the stream, if any. `ends_in_quotes` is the scanner's state
  // at the end of the stream: quote parity is symmetric, so the state at any position follows
  // from the quotes between it and the end.
  //
  // With an `exception_tag` (the X-ClickHouse-Exception-Tag header, 25.11+), only the block
  // "\r\n__exception__\r\n<tag>\r\n<message>..." counts, wherever the quotes stand: the tag is
  // random per query, so data cannot forge it, and a row cut inside a quoted field cannot hide it.
  // Without a tag: the earliest text outside quotes that starts with "Code: <digit>" (18.16
  // appends plain text) or "__exception__" (25.1-25.10); real CSV from ClickHouse never has either
  // marker outside quotes.
  std::optional<Found> find_server_error(bool ends_in_quotes,
                                         std::string_view exception_tag = {}) const;

 private:
  // Record terminators the scanner counted from `offset` to the end.
  uint64_t records_from(size_t offset, bool ends_in_quotes) const noexcept;

  std::string buffer_;  // holds up to 2 * capacity; the last `capacity` bytes count
};

}  // namespace chexport
