// Lenient field access for reading chexport's own manifests with simdjson: a missing or
// mistyped field reads as empty / 0 / false, and the caller's checks (sizes, SHA-256, rows)
// catch what that hides.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>

namespace chexport {

inline std::string json_text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

inline uint64_t json_number(simdjson::dom::element e, const char* key) {
  uint64_t v = 0;
  return e[key].get_uint64().get(v) == simdjson::SUCCESS ? v : 0;
}

inline bool json_flag(simdjson::dom::element e, const char* key) {
  bool v = false;
  return e[key].get_bool().get(v) == simdjson::SUCCESS && v;
}

}  // namespace chexport
