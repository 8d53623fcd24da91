// Parsing of user-given quantities. Throws a usage chexport::Error naming `what` on bad input.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace chexport {

// "1048576", "512KiB", "100MiB", "1GiB", "2TiB" (binary), "1KB"/"1MB"/"1GB" (decimal), "1K/M/G"
// (binary); case-insensitive units, optional space before the unit.
uint64_t parse_size(std::string_view text, std::string_view what);

// "0 B", "512 B", "1.5 KiB", "257.2 MiB", ... for messages.
std::string format_bytes(uint64_t bytes);

// Seconds from `start` to now, for durations in messages and manifests.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace chexport
