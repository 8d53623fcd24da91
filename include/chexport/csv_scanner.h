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

// Keeps the first bytes of the last complete record of a stream without copying the stream: after
// each chunk has been scanned, it copies at most `capacity` bytes of the record that is still open
// and of the one that ended last. Used to check a stream's tail for an appended error message.
class LastRecordTracker {
 public:
  static constexpr size_t capacity = 4096;
  // `chunk` is the data just scanned by `scanner`, which began at stream offset `chunk_start`.
  void after_scan(std::string_view chunk, uint64_t chunk_start, const CsvScanner& scanner);
  // Up to `capacity` leading bytes of the last complete record (with its terminator if short).
  std::string_view last_record() const noexcept { return last_; }
  // Up to `capacity` leading bytes of the record still open at the end of the stream, if any.
  std::string_view open_record() const noexcept { return open_; }

 private:
  static void append_capped(std::string& to, std::string_view from);
  std::string last_;
  std::string open_;
};

// Looks for a ClickHouse error message in the last record of a stream (reference §1): text
// outside quotes that starts with "Code: <digit>" or contains "__exception__". Real CSV from
// ClickHouse never has either outside quotes. Returns the message (trimmed) or an empty view.
std::string_view find_server_error(std::string_view last_record) noexcept;

}  // namespace chexport
