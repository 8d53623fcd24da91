// Compression on the wire: which method the server compresses its responses with, at what level,
// and whether this user may ask for it (reference/clickhouse-http.md §3 and §4).
//
// The server compresses a response when `enable_http_compression` is 1 (the default from 25.10)
// and the request's Accept-Encoding names a method it has: 18.16 has gzip and deflate; modern
// servers also zstd, lz4, br. `http_zlib_compression_level` sets the level of every method. A
// readonly=1 user may change neither setting (error 164), so negotiate() looks at the user's
// settings first and asks only for what may be had, then sends one small probe query and keeps
// the method the server answered with. Throws chexport::Error.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"

namespace chexport {

enum class WireMethod { automatic, zstd, lz4, gzip, deflate, none };

// "auto", "zstd", "lz4", "gzip", "deflate", "none"; nullopt for anything else.
std::optional<WireMethod> wire_method_from_name(std::string_view name);
const char* wire_method_name(WireMethod method) noexcept;

struct WireCompression {
  WireMethod method = WireMethod::automatic;
  std::optional<int> level;  // none: the fastest, 1
};

// Throws a usage Error when `level` is outside what `method` takes (zlib: 1-9, zstd: 1-22,
// lz4: 1-12; auto: 1-9, which every method takes).
void check_wire_level(WireMethod method, int level);

// What was settled, for the run's messages and manifest.
struct WireChoice {
  std::string accept_encoding = "identity";                   // the request header
  std::vector<std::pair<std::string, std::string>> settings;  // to send with every query
  std::string encoding = "identity";                          // what the probe came back with
  std::optional<int> level;      // the level the server compresses at, when known
  std::string reason;            // why there is no compression, when there is none
  std::string describe() const;  // "zstd, level 1" or "none (<reason>)"
};

// Settles `wanted` with the server `connection` points at, for a user with the settings `user`
// (read_user_settings()). An explicit method or level that this user cannot have on this server
// is a usage Error that says why; `auto` then falls back to no compression, with the reason in
// WireChoice::reason. Server errors other than refusals (the server cannot be reached, bad
// credentials) are thrown as they are.
WireChoice negotiate_wire_compression(const ConnectionOptions& connection,
                                      const WireCompression& wanted, const UserSettings& user,
                                      const QueryRetry& retry);

}  // namespace chexport
