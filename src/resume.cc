#include "chexport/resume.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "chexport/atomic_file.h"
#include "chexport/error.h"
#include "chexport/sha256.h"

namespace chexport {
namespace {

namespace fs = std::filesystem;

std::string text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

uint64_t number(simdjson::dom::element e, const char* key) {
  uint64_t v = 0;
  return e[key].get_uint64().get(v) == simdjson::SUCCESS ? v : 0;
}

}  // namespace

std::map<std::string, std::string> options_fingerprint(const ExportOptions& o) {
  std::map<std::string, std::string> f;
  f["format"] = o.output.format;
  f["compression"] = o.output.compression == Compression::zstd ? "zstd" : "none";
  f["zstd_level"] = std::to_string(o.output.zstd_level);
  f["max_rows_per_file"] = std::to_string(o.output.limits.max_rows);
  f["max_bytes_per_file"] = std::to_string(o.output.limits.max_csv_bytes);
  f["max_compressed_bytes_per_file"] = std::to_string(o.output.limits.max_compressed_bytes);
  f["max_rows_per_task"] = std::to_string(o.split.max_rows_per_task);
  f["max_bytes_per_task"] = std::to_string(o.split.max_bytes_per_task);
  std::string settings;
  for (const auto& [k, v] : o.connection.settings)
    settings += (settings.empty() ? "" : " ") + k + "=" + v;
  f["settings"] = settings;
  for (const TableSpec& t : o.tables) {
    f["table " + t.table.display()] =
        std::string(t.mode == TableMode::all ? "mode all" : "mode partition") +
        ", partition_expr " + t.partition_expr + ", bounds " + t.bounds() + ", split_field " +
        t.split_field;
  }
  return f;
}

PreviousExport read_previous_export(const std::string& dir) {
  PreviousExport previous;
  std::string path = dir + "/manifest.json";
  if (!fs::exists(path)) return previous;
  simdjson::dom::parser parser;
  simdjson::dom::element manifest;
  if (parser.load(path).get(manifest) != simdjson::SUCCESS) {
    throw_usage(path + " cannot be read as a chexport manifest; use --fresh to start over");
  }
  previous.exists = true;
  simdjson::dom::object fingerprint;
  if (manifest["fingerprint"].get_object().get(fingerprint) == simdjson::SUCCESS) {
    for (auto field : fingerprint) {
      std::string_view v;
      if (field.value.get_string().get(v) == simdjson::SUCCESS)
        previous.fingerprint[std::string(field.key)] = v;
    }
  }
  simdjson::dom::array tasks;
  if (manifest["tasks"].get_array().get(tasks) != simdjson::SUCCESS) return previous;
  for (simdjson::dom::element t : tasks) {
    PreviousTask task;
    task.dir = text(t, "dir");
    task.predicate = text(t, "predicate");
    task.status = text(t, "status");
    task.written_rows = number(t, "written_rows");
    task.csv_bytes = number(t, "csv_bytes");
    task.compressed_bytes = number(t, "compressed_bytes");
    task.query_id = text(t, "query_id");
    simdjson::dom::array files;
    if (t["files"].get_array().get(files) == simdjson::SUCCESS) {
      for (simdjson::dom::element f : files) {
        bool handed_off = false;
        if (f["handed_off"].get_bool().get(handed_off) != simdjson::SUCCESS) handed_off = false;
        task.files.push_back(WrittenFile{text(f, "path"), number(f, "rows"), number(f, "csv_bytes"),
                                         number(f, "compressed_bytes"), text(f, "sha256"),
                                         handed_off});
      }
    }
    previous.tasks[task.dir] = std::move(task);
  }
  return previous;
}

void check_same_options(const PreviousExport& previous, const ExportOptions& options) {
  auto now = options_fingerprint(options);
  std::string changes;
  for (const auto& [name, value] : now) {
    auto it = previous.fingerprint.find(name);
    std::string before = it == previous.fingerprint.end() ? "(not set)" : it->second;
    if (before != value) changes += "; " + name + ": \"" + before + "\" -> \"" + value + "\"";
  }
  for (const auto& [name, value] : previous.fingerprint) {
    if (!now.count(name)) changes += "; " + name + ": \"" + value + "\" -> (not set)";
  }
  if (!changes.empty()) {
    throw_usage(options.output.dir + " holds an export made with other options (" +
                changes.substr(2) + "); use --fresh to replace it, or another directory");
  }
}

std::string check_files(const std::string& out_dir, const PreviousTask& task) {
  for (const WrittenFile& f : task.files) {
    if (f.handed_off) continue;  // the --on-file command took it, and it was removed
    std::string path = out_dir + "/" + f.path;
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    if (ec) return f.path + " is missing";
    if (size != f.compressed_bytes) {
      return f.path + " has " + std::to_string(size) + " bytes, the manifest says " +
             std::to_string(f.compressed_bytes);
    }
    std::ifstream in(path, std::ios::binary);
    Sha256 sha;
    std::vector<char> buffer(1 << 20);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      sha.update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    }
    if (sha.hex_digest() != f.sha256) return f.path + " does not match its SHA-256";
  }
  return "";
}

size_t remove_temp_files(const std::string& dir) {
  size_t removed = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() &&
        it->path().filename().string().find(AtomicFile::temp_marker) != std::string::npos) {
      if (fs::remove(it->path(), ec)) ++removed;
    }
  }
  return removed;
}

size_t remove_data_files(const std::string& out_dir, const std::string& dir,
                         const std::vector<WrittenFile>& keep) {
  size_t removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !name.starts_with("part-")) continue;
    std::string relative = fs::path(entry.path()).lexically_relative(out_dir).string();
    bool kept = std::any_of(keep.begin(), keep.end(),
                            [&](const WrittenFile& f) { return f.path == relative; });
    if (!kept && fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace chexport
