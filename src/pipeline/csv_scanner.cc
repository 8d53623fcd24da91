#include "chexport/pipeline/csv_scanner.h"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chexport {
namespace {

struct Masks {
  uint64_t quotes;
  uint64_t newlines;
};

inline Masks masks_of(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i newline = _mm_set1_epi8('\n');
  uint64_t q = 0;
  uint64_t n = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    q |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote))))
         << (16 * i);
    n |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline))))
         << (16 * i);
  }
  return {q, n};
#else
  uint64_t q = 0;
  uint64_t n = 0;
  for (int i = 0; i < 64; ++i) {
    q |= static_cast<uint64_t>(p[i] == '"') << i;
    n |= static_cast<uint64_t>(p[i] == '\n') << i;
  }
  return {q, n};
#endif
}

// Bit i of the result is the XOR of bits 0..i of x: "inside quotes after byte i".
inline uint64_t prefix_xor(uint64_t x) noexcept {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// Without -mpopcnt, std::popcount is a libgcc call; record ends are sparse (a few per block), so
// clearing the lowest bit in a loop is cheaper than that call.
inline uint64_t count_bits(uint64_t x) noexcept {
#if defined(__POPCNT__)
  return static_cast<uint64_t>(std::popcount(x));
#else
  uint64_t n = 0;
  for (; x != 0; x &= x - 1) ++n;
  return n;
#endif
}

// Position of the k-th (0-based) set bit of x; x has more than k set bits.
inline int nth_set_bit(uint64_t x, uint64_t k) noexcept {
  for (; k > 0; --k) x &= x - 1;
  return std::countr_zero(x);
}

}  // namespace

CsvScanner::Result CsvScanner::scan(std::string_view data, uint64_t record_limit) noexcept {
  Result result;
  const char* p = data.data();
  size_t n = data.size();
  size_t pos = 0;
  char tail[64];
  while (pos < n && result.records < record_limit) {
    size_t len = n - pos;
    const char* block = p + pos;
    uint64_t valid = ~uint64_t{0};
    if (len < 64) {
      // Pad the last partial block with bytes that are neither '"' nor '\n'.
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, block, len);
      block = tail;
      valid = (uint64_t{1} << len) - 1;
    } else {
      len = 64;
    }
    Masks m = masks_of(block);
    uint64_t inside = prefix_xor(m.quotes) ^ in_quotes_;
    uint64_t ends = m.newlines & ~inside & valid;
    uint64_t found = count_bits(ends);
    uint64_t wanted = record_limit - result.records;
    if (found >= wanted) {
      // Stop right after the wanted terminator: keep only the ends up to it.
      int stop = nth_set_bit(ends, wanted - 1);
      ends &= (stop == 63) ? ~uint64_t{0} : ((uint64_t{2} << stop) - 1);
      found = wanted;
      len = static_cast<size_t>(stop) + 1;
      in_quotes_ = 0;  // a record end is outside quotes by definition
    } else {
      in_quotes_ = (len == 64) ? (0 - (inside >> 63)) : (0 - ((inside >> (len - 1)) & 1));
    }
    if (found > 0) {
      uint64_t base = bytes_ + pos;
      int last = 63 - std::countl_zero(ends);
      if (found >= 2) {
        uint64_t rest = ends & ~(uint64_t{1} << last);
        prev_end_ = base + static_cast<uint64_t>(63 - std::countl_zero(rest)) + 1;
      } else {
        prev_end_ = last_end_;
      }
      last_end_ = base + static_cast<uint64_t>(last) + 1;
      result.records += found;
    }
    pos += len;
  }
  result.consumed = pos;
  bytes_ += pos;
  records_ += result.records;
  return result;
}

}  // namespace chexport

namespace chexport {

void StreamTail::append(std::string_view chunk) {
  if (chunk.size() >= capacity) {
    buffer_.assign(chunk.substr(chunk.size() - capacity));
    return;
  }
  if (buffer_.size() + chunk.size() > 2 * capacity) buffer_.erase(0, buffer_.size() - capacity);
  buffer_.append(chunk);
}

std::string_view StreamTail::bytes() const noexcept {
  std::string_view all = buffer_;
  return all.size() > capacity ? all.substr(all.size() - capacity) : all;
}

uint64_t StreamTail::records_from(size_t offset, bool ends_in_quotes) const noexcept {
  std::string_view tail = bytes();
  bool quoted = ends_in_quotes;  // the state just after byte i
  uint64_t records = 0;
  for (size_t i = tail.size(); i-- > offset;) {
    if (tail[i] == '"') {
      quoted = !quoted;
    } else if (tail[i] == '\n' && !quoted) {
      ++records;
    }
  }
  return records;
}

std::optional<StreamTail::Found> StreamTail::find_server_error(
    bool ends_in_quotes, std::string_view exception_tag) const {
  std::string_view tail = bytes();
  if (!exception_tag.empty()) {
    std::string opening = "__exception__\r\n" + std::string(exception_tag) + "\r\n";
    size_t at = tail.rfind(opening);
    if (at == std::string_view::npos) return std::nullopt;
    // The "\r\n" before the marker belongs to the block too; the scanner may have counted it.
    size_t start = at >= 2 && tail.substr(at - 2, 2) == "\r\n" ? at - 2 : at;
    return Found{tail.substr(at + opening.size()), records_from(start, ends_in_quotes)};
  }
  auto is_marker = [&](size_t i) {
    std::string_view rest = tail.substr(i);
    return (rest.starts_with("Code: ") && rest.size() > 6 && rest[6] >= '0' && rest[6] <= '9') ||
           rest.starts_with("__exception__");
  };
  // Walk backwards: `quoted` is the state just before byte i.
  bool quoted = ends_in_quotes;
  std::optional<size_t> earliest;
  for (size_t i = tail.size(); i-- > 0;) {
    char c = tail[i];
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c == 'C' || c == '_') && is_marker(i)) earliest = i;
  }
  if (!earliest) return std::nullopt;
  return Found{tail.substr(*earliest), records_from(*earliest, ends_in_quotes)};
}

}  // namespace chexport
