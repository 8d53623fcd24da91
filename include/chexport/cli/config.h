// The export configuration file (docs/flags-and-configuration.md "Configuration"): JSON, parsed
// with simdjson.
//
// load_config() fills an ExportOptions from a file; every error names the file, the JSON path and
// the problem ("export.json: tables[1].mode: expected \"all\" or \"partition\", got
// \"partiton\""), and unknown keys are errors. The old tool's key "split_filed" is accepted as
// "split_field" with a warning. Throws chexport::Error (category usage). Thread-safe (no state).
#pragma once

#include <string>

#include "chexport/run/exporter.h"

namespace chexport {

struct LoadedConfig {
  ExportOptions options;
  std::string password_env;       // "clickhouse.password_env", empty if not set
  std::string password_file;      // "clickhouse.password_file", empty if not set
  std::string key_password_file;  // "clickhouse.key_password_file", empty if not set
  std::string proxy_user_file;    // "clickhouse.proxy_user_file", empty if not set
  bool has_workers = false, has_dir = false;
};

LoadedConfig load_config(const std::string& path);

// Parses the same JSON from memory (`name` is used in messages).
LoadedConfig parse_config(const std::string& json, const std::string& name);

}  // namespace chexport
