#include "chexport/clickhouse/wire_compression.h"

#include <cstdlib>

#include "chexport/common/error.h"
#include "chexport/pipeline/content_decoder.h"

namespace chexport {
namespace {

// The value of a setting the user gave (--setting, the URL, the config), if any.
std::optional<std::string> user_sets(const ConnectionOptions& connection, std::string_view name) {
  for (const auto& [key, value] : connection.settings) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// What the probe found: the Content-Encoding the server answered with ("" when it came plain), or
// why the server would not compress.
struct ProbeResult {
  std::string encoding;
  std::string refusal;
  int code = 0;  // the server's error code behind a refusal
};

// Runs SELECT 1 with `options`, retried like planning's queries. A refusal is the server's no (a
// setting it will not take, a level it cannot compress at: a permanent error) or an answer that
// does not decode; anything else (unreachable, a 502 after every retry) is thrown as it is.
ProbeResult probe(const ConnectionOptions& options, const QueryRetry& retry) {
  ClickHouseClient client(options);
  client.set_query_retry(retry);
  ResponseInfo info;
  try {
    if (client.query("SELECT 1 FORMAT TSV", "asking the server to compress its answers", &info) !=
        "1\n") {
      return {"", "its compressed answer to SELECT 1 decodes to something else", 0};
    }
  } catch (const Error& e) {
    if (info.decode_error.empty() && (e.server_code() == 0 || e.transient())) throw;
    return {"", std::string("the server refused: ") + e.what(), e.server_code()};
  }
  auto encoding = content_encoding_from_name(info.content_encoding);
  return {encoding && *encoding != ContentEncoding::identity ? info.content_encoding : "", "", 0};
}

// The methods the server compresses with, for the message that says it lacks one.
std::string offered(ConnectionOptions options) {
  std::string list;
  for (const char* method : {"zstd", "lz4", "gzip", "deflate"}) {
    options.accept_encoding = method;
    try {
      if (!probe(options, {}).encoding.empty())
        list += (list.empty() ? "" : ", ") + std::string(method);
    } catch (const Error&) {
    }
  }
  return list.empty() ? "none" : list;
}

// The settings that ask for compression, for a user who may change settings; the user's own
// http_zlib_compression_level wins over the default level.
void ask_by_settings(const ConnectionOptions& connection, const WireCompression& wanted,
                     WireChoice& choice) {
  choice.level = wanted.level.value_or(1);
  if (!user_sets(connection, "enable_http_compression"))
    choice.settings.emplace_back("enable_http_compression", "1");
  if (auto own = user_sets(connection, "http_zlib_compression_level")) {
    if (wanted.level && std::to_string(*wanted.level) != *own) {
      throw_usage("--wire-level " + std::to_string(*wanted.level) +
                  " and --setting http_zlib_compression_level=" + *own + " disagree");
    }
    choice.level = std::atoi(own->c_str());
  } else {
    choice.settings.emplace_back("http_zlib_compression_level", std::to_string(*choice.level));
  }
}

// A user who may not change settings gets what the server does by default, at its level.
void ask_without_settings(const WireCompression& wanted, const std::string& server_level,
                          WireChoice& choice) {
  choice.settings.clear();
  choice.level.reset();
  if (wanted.level && std::to_string(*wanted.level) != server_level) {
    throw_usage("--wire-level " + std::to_string(*wanted.level) +
                ": the user may not change settings (readonly=1), and the server compresses at "
                "level " +
                (server_level.empty() ? std::string("of its own") : server_level) +
                " (http_zlib_compression_level)");
  }
  if (!server_level.empty()) choice.level = std::atoi(server_level.c_str());
}

}  // namespace

std::optional<WireMethod> wire_method_from_name(std::string_view name) {
  for (WireMethod m : {WireMethod::automatic, WireMethod::zstd, WireMethod::lz4, WireMethod::gzip,
                       WireMethod::deflate, WireMethod::none}) {
    if (name == wire_method_name(m)) return m;
  }
  return std::nullopt;
}

const char* wire_method_name(WireMethod method) noexcept {
  switch (method) {
    case WireMethod::automatic:
      return "auto";
    case WireMethod::zstd:
      return "zstd";
    case WireMethod::lz4:
      return "lz4";
    case WireMethod::gzip:
      return "gzip";
    case WireMethod::deflate:
      return "deflate";
    case WireMethod::none:
      break;
  }
  return "none";
}

void check_wire_level(WireMethod method, int level) {
  int max = 9;  // zlib's range; auto may end up with gzip
  if (method == WireMethod::zstd) max = 22;
  if (method == WireMethod::lz4) max = 12;
  if (level < 1 || level > max) {
    throw_usage("--wire-level (clickhouse.wire_level) must be between 1 and " +
                std::to_string(max) + " for " + wire_method_name(method) + ", not " +
                std::to_string(level));
  }
}

std::string WireChoice::describe() const {
  if (encoding == "identity") return "none (" + reason + ")";
  return encoding + (level ? ", level " + std::to_string(*level) : std::string());
}

WireChoice negotiate_wire_compression(const ConnectionOptions& connection,
                                      const WireCompression& wanted, const UserSettings& user,
                                      const QueryRetry& retry) {
  WireChoice choice;
  if (wanted.method == WireMethod::none) {
    choice.reason = "--wire-compression none";
    return choice;
  }
  const bool insist = wanted.method != WireMethod::automatic;
  // `auto` does without; an explicit method does not.
  auto without = [&](const std::string& why) {
    if (insist) {
      throw_usage(std::string("--wire-compression ") + wire_method_name(wanted.method) + ": " +
                  why + "; use --wire-compression auto or none");
    }
    choice = WireChoice{};
    choice.reason = why;
    return choice;
  };
  if (user_sets(connection, "enable_http_compression") == "0")
    return without("--setting enable_http_compression=0 turns it off");
  if (user.may_change()) {
    ask_by_settings(connection, wanted, choice);
  } else if (user.value("enable_http_compression") != "1") {
    return without(
        "the user may not change settings (readonly=1) and the server does not compress "
        "responses for it (enable_http_compression=0)");
  } else {
    ask_without_settings(wanted, user.value("http_zlib_compression_level"), choice);
  }
  choice.accept_encoding = insist ? wire_method_name(wanted.method) : "zstd, gzip, deflate";

  ConnectionOptions options = connection;
  options.accept_encoding = choice.accept_encoding;
  options.settings.insert(options.settings.end(), choice.settings.begin(), choice.settings.end());
  ProbeResult found = probe(options, retry);
  if (found.code == 164 && !choice.settings.empty()) {
    // readonly after all (system.settings could not be read): what the server does by default.
    ask_without_settings(wanted, "", choice);
    options.settings = connection.settings;
    found = probe(options, retry);
  }
  if (!found.refusal.empty()) return without(found.refusal);
  if (found.encoding.empty()) {
    if (insist) {
      return without("the server answers without it: it compresses with " + offered(options) +
                     " only");
    }
    return without("the server answered without compression");
  }
  choice.encoding = found.encoding;
  return choice;
}

}  // namespace chexport
