#include "chexport/cli/config.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "chexport/common/error.h"
#include "chexport/common/units.h"

namespace chexport {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

const char* type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "something else";
}

// Walks one document, keeping the file name for messages.
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw_usage(name_ + ": " + path + ": " + problem);
  }

  std::string string(element e, const std::string& path) const {
    std::string_view v;
    if (e.get_string().get(v) != simdjson::SUCCESS) {
      fail(path, std::string("expected a string, got ") + type_name(e.type()));
    }
    return std::string(v);
  }

  uint64_t count(element e, const std::string& path) const {
    uint64_t v;
    if (e.get_uint64().get(v) != simdjson::SUCCESS) {
      fail(path, std::string("expected a whole number >= 0, got ") + type_name(e.type()));
    }
    return v;
  }

  int integer(element e, const std::string& path) const {
    int64_t v;
    if (e.get_int64().get(v) != simdjson::SUCCESS || v < -1000000 || v > 1000000) {
      fail(path, std::string("expected a whole number, got ") + type_name(e.type()));
    }
    return static_cast<int>(v);
  }

  // A size: a number of bytes or a string with a unit ("1GiB").
  uint64_t size(element e, const std::string& path) const {
    if (e.is_string()) {
      try {
        return parse_size(std::string_view(e.get_string().value_unsafe()), path);
      } catch (const Error& err) {
        throw_usage(name_ + ": " + err.what());
      }
    }
    return count(e, path);
  }

  // A setting value: string, number or boolean, sent as text.
  std::string scalar(element e, const std::string& path) const {
    switch (e.type()) {
      case element_type::STRING:
        return std::string(std::string_view(e.get_string().value_unsafe()));
      case element_type::INT64:
        return std::to_string(e.get_int64().value_unsafe());
      case element_type::UINT64:
        return std::to_string(e.get_uint64().value_unsafe());
      case element_type::BOOL:
        return e.get_bool().value_unsafe() ? "1" : "0";
      case element_type::DOUBLE: {
        std::ostringstream s;
        s << e.get_double().value_unsafe();
        return s.str();
      }
      default:
        fail(path, std::string("expected a string, number or boolean, got ") + type_name(e.type()));
    }
  }

  // Calls handlers[key] for each key of the object at `path`; unknown keys are errors.
  void object(element e, const std::string& path,
              const std::map<std::string, std::function<void(element, const std::string&)>>&
                  handlers) const {
    simdjson::dom::object obj;
    if (e.get_object().get(obj) != simdjson::SUCCESS) {
      fail(path, std::string("expected an object, got ") + type_name(e.type()));
    }
    for (auto field : obj) {
      std::string key(field.key);
      std::string child = path.empty() ? key : path + "." + key;
      auto it = handlers.find(key);
      if (it == handlers.end()) {
        std::string known;
        for (const auto& [k, _] : handlers) known += (known.empty() ? "" : ", ") + k;
        fail(child, "unknown key (known here: " + known + ")");
      }
      it->second(field.value, child);
    }
  }

 private:
  std::string name_;
};

// "clickhouse": the connection.
void read_clickhouse(Reader& r, element e, const std::string& p, LoadedConfig& config) {
  ConnectionOptions& c = config.options.connection;
  auto text = [&](std::string& to) {
    return [&r, &to](element v, const std::string& q) { to = r.string(v, q); };
  };
  r.object(e, p,
           {
               {"url", text(c.url)},
               {"shard_url", text(config.options.shard_url)},
               {"user", text(c.user)},
               {"password_env", text(config.password_env)},
               {"password_file", text(config.password_file)},
               {"cacert", text(c.cacert)},
               {"capath", text(c.capath)},
               {"cert", text(c.cert)},
               {"key", text(c.key)},
               {"key_password_file", text(config.key_password_file)},
               {"proxy", text(c.proxy)},
               {"noproxy", text(c.noproxy)},
               {"proxy_user_file", text(config.proxy_user_file)},
               {"settings",
                [&](element v, const std::string& q) {
                  simdjson::dom::object obj;
                  if (v.get_object().get(obj) != simdjson::SUCCESS) r.fail(q, "expected an object");
                  for (auto f : obj) {
                    c.settings.emplace_back(std::string(f.key),
                                            r.scalar(f.value, q + "." + std::string(f.key)));
                  }
                }},
               {"connect_timeout",
                [&](element v, const std::string& q) {
                  c.connect_timeout_ms = static_cast<long>(r.count(v, q)) * 1000;
                }},
               {"wire_compression",
                [&](element v, const std::string& q) {
                  std::string name = r.string(v, q);
                  auto method = wire_method_from_name(name);
                  if (!method) {
                    r.fail(q,
                           "expected auto, zstd, lz4, gzip, deflate or none, got \"" + name + "\"");
                  }
                  config.options.wire.method = *method;
                }},
               {"wire_level",
                [&](element v, const std::string& q) {
                  int64_t level = r.integer(v, q);
                  if (level < 1 || level > 22)
                    r.fail(q, "expected 1 to 22, got " + std::to_string(level));
                  config.options.wire.level = static_cast<int>(level);
                }},
           });
}

// A string that must be one of two words.
std::string one_of(Reader& r, element v, const std::string& q, const char* a, const char* b) {
  std::string word = r.string(v, q);
  if (word != a && word != b) {
    r.fail(q, std::string("expected \"") + a + "\" or \"" + b + "\", got \"" + word + "\"");
  }
  return word;
}

// "output": where and how the files are written.
void read_output(Reader& r, element e, const std::string& p, LoadedConfig& config) {
  OutputOptions& out = config.options.output;
  r.object(
      e, p,
      {
          {"dir",
           [&](element v, const std::string& q) {
             out.dir = r.string(v, q);
             config.has_dir = true;
           }},
          {"format",
           [&](element v, const std::string& q) {
             out.format = one_of(r, v, q, "CSV", "CSVWithNames");
           }},
          {"s3_profile", [&](element v, const std::string& q) { out.s3_profile = r.string(v, q); }},
          {"s3_addressing",
           [&](element v, const std::string& q) {
             out.s3_addressing = r.string(v, q);
             if (out.s3_addressing != "path" && out.s3_addressing != "virtual" &&
                 out.s3_addressing != "auto") {
               r.fail(q, "expected \"path\", \"virtual\" or \"auto\", got \"" + out.s3_addressing +
                             "\"");
             }
           }},
          {"s3_checksum",
           [&](element v, const std::string& q) {
             out.s3_checksums = one_of(r, v, q, "sha256", "none") == "sha256";
           }},
          {"datetime_format",
           [&](element v, const std::string& q) {
             out.datetime_format = parse_datetime_format(one_of(r, v, q, "text", "unix"), q);
           }},
          {"compression",
           [&](element v, const std::string& q) {
             out.compression =
                 one_of(r, v, q, "zstd", "none") == "zstd" ? Compression::zstd : Compression::none;
           }},
          {"zstd_level",
           [&](element v, const std::string& q) {
             out.zstd_level = static_cast<int>(r.integer(v, q));
             if (out.zstd_level < -131072 || out.zstd_level > 22)
               r.fail(q, "expected -131072 to 22, got " + std::to_string(out.zstd_level));
           }},
          {"max_rows_per_file",
           [&](element v, const std::string& q) { out.limits.max_rows = r.count(v, q); }},
          {"max_bytes_per_file",
           [&](element v, const std::string& q) { out.limits.max_csv_bytes = r.size(v, q); }},
          {"max_compressed_bytes_per_file",
           [&](element v, const std::string& q) {
             out.limits.max_compressed_bytes = r.size(v, q);
           }},
      });
}

// "split": the task limits.
void read_split(Reader& r, element e, const std::string& p, SplitOptions& split) {
  r.object(e, p,
           {
               {"max_rows_per_task",
                [&](element v, const std::string& q) { split.max_rows_per_task = r.count(v, q); }},
               {"max_bytes_per_task",
                [&](element v, const std::string& q) { split.max_bytes_per_task = r.size(v, q); }},
           });
}

// One entry of "tables", in the old tool's vocabulary.
TableSpec read_table(Reader& r, element t, const std::string& tp, const std::string& name) {
  TableSpec spec;
  bool has_db = false, has_table = false;
  auto text = [&](std::string& to) {
    return [&r, &to](element v, const std::string& q) { to = r.string(v, q); };
  };
  r.object(t, tp,
           {
               {"db",
                [&](element v, const std::string& q) {
                  spec.table.db = r.string(v, q);
                  has_db = true;
                }},
               {"table",
                [&](element v, const std::string& q) {
                  spec.table.table = r.string(v, q);
                  has_table = true;
                }},
               {"mode",
                [&](element v, const std::string& q) {
                  spec.mode = one_of(r, v, q, "all", "partition") == "all" ? TableMode::all
                                                                           : TableMode::partition;
                }},
               {"partition_expr", text(spec.partition_expr)},
               {"lower_condition", text(spec.lower_condition)},
               {"upper_condition", text(spec.upper_condition)},
               {"split_field", text(spec.split_field)},
               {"split_filed",
                [&](element v, const std::string& q) {
                  spdlog::warn(
                      "{}: {}: \"split_filed\" is the old tool's spelling; read as \"split_field\"",
                      name, q);
                  spec.split_field = r.string(v, q);
                }},
           });
  if (!has_db || spec.table.db.empty()) r.fail(tp + ".db", "missing (the table's database)");
  if (!has_table || spec.table.table.empty()) r.fail(tp + ".table", "missing (the table's name)");
  return spec;
}

}  // namespace

LoadedConfig parse_config(const std::string& json, const std::string& name) {
  LoadedConfig config;
  ExportOptions& o = config.options;
  Reader r(name);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  element root;
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    throw_usage(name + ": not valid JSON (" + simdjson::error_message(error) + ")");
  }
  r.object(root, "",
           {
               {"clickhouse",
                [&](element e, const std::string& p) { read_clickhouse(r, e, p, config); }},
               {"workers",
                [&](element e, const std::string& p) {
                  uint64_t n = r.count(e, p);
                  if (n < 1 || n > 256) r.fail(p, "expected 1 to 256, got " + std::to_string(n));
                  o.workers = static_cast<int>(n);
                  config.has_workers = true;
                }},
               {"output", [&](element e, const std::string& p) { read_output(r, e, p, config); }},
               {"split", [&](element e, const std::string& p) { read_split(r, e, p, o.split); }},
               {"tables",
                [&](element e, const std::string& p) {
                  simdjson::dom::array tables;
                  if (e.get_array().get(tables) != simdjson::SUCCESS)
                    r.fail(p, std::string("expected an array, got ") + type_name(e.type()));
                  size_t i = 0;
                  for (element t : tables)
                    o.tables.push_back(read_table(r, t, p + "[" + std::to_string(i++) + "]", name));
                }},
           });
  return config;
}

LoadedConfig load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_usage("--config: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace chexport
