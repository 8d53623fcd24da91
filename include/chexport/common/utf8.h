// UTF-8 validation, for text that must stay valid UTF-8 (JSON) or ASCII-safe (SQL literals)
// whatever bytes the server or the data hand us; and ASCII case folding, for names that compare
// without case (HTTP header values, directory names on case-insensitive file systems).
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace chexport {

// `text` with A-Z folded to a-z; every other byte as it is.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The length of the well-formed UTF-8 sequence that starts at `text[at]` (1 for ASCII), or 0
// when the bytes there are not one (a stray continuation byte, a truncated, overlong or surrogate
// sequence, or a code point above U+10FFFF).
inline size_t utf8_sequence_length(std::string_view text, size_t at) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char c = byte(at);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || at + n > text.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(at + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
  if (c == 0xED && c1 >= 0xA0) return 0;  // UTF-16 surrogates
  if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xF4 && c1 >= 0x90) return 0;  // above U+10FFFF
  return n;
}

// Whether every byte of `text` belongs to a well-formed UTF-8 sequence.
inline bool is_utf8(std::string_view text) noexcept {
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace chexport
