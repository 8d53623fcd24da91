#include "chexport/common/units.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <string>

#include "chexport/common/error.h"

namespace chexport {

uint64_t parse_size(std::string_view text, std::string_view what) {
  auto bad = [&]() {
    throw_usage(std::string(what) + ": \"" + std::string(text) +
                "\" is not a size (examples: 1000000, 512KiB, 100MiB, 1GiB)");
  };
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) bad();
  std::string unit;
  for (const char* p = end; p != text.data() + text.size(); ++p) {
    if (*p != ' ') unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*p))));
  }
  uint64_t scale = 1;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kib")
    scale = 1ULL << 10;
  else if (unit == "m" || unit == "mib")
    scale = 1ULL << 20;
  else if (unit == "g" || unit == "gib")
    scale = 1ULL << 30;
  else if (unit == "t" || unit == "tib")
    scale = 1ULL << 40;
  else if (unit == "kb")
    scale = 1000ULL;
  else if (unit == "mb")
    scale = 1000ULL * 1000;
  else if (unit == "gb")
    scale = 1000ULL * 1000 * 1000;
  else if (unit == "tb")
    scale = 1000ULL * 1000 * 1000 * 1000;
  else
    bad();
  if (number > UINT64_MAX / scale) bad();
  return number * scale;
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace chexport
