#include "chexport/run/resume.h"

#include <simdjson.h>

#include "chexport/common/json_read.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/output/layout.h"
#include "chexport/run/task_journal.h"

namespace chexport {
namespace {

namespace fs = std::filesystem;

}  // namespace

bool setting_shapes_output(std::string_view name) {
  for (std::string_view prefix : {"format_", "output_format_"}) {
    if (name.starts_with(prefix)) return true;
  }
  for (std::string_view exact :
       {"date_time_output_format", "session_timezone", "interval_output_format",
        "bool_true_representation", "bool_false_representation", "limit", "offset", "final",
        "additional_table_filters", "additional_result_filter", "apply_deleted_mask",
        "apply_mutations_on_fly", "max_result_rows", "max_result_bytes", "result_overflow_mode"}) {
    if (name == exact) return true;
  }
  return false;
}

std::map<std::string, std::string> export_fingerprint(
    const ExportOptions& o, const std::vector<std::vector<Column>>& table_columns,
    const std::string& server_timezone) {
  std::map<std::string, std::string> f;
  // Exports before the Hive layout (files of whole partitions one level up, "%NULL" and "%empty"
  // folders) have no "layout": resuming one would mix the two.
  f["layout"] = std::string(current_layout);
  f["format"] = o.output.format;
  f["datetime_format"] = to_string(o.output.datetime_format);
  f["compression"] = o.output.compression == Compression::zstd ? "zstd" : "none";
  f["zstd_level"] = std::to_string(o.output.zstd_level);
  f["max_rows_per_file"] = std::to_string(o.output.limits.max_rows);
  f["max_bytes_per_file"] = std::to_string(o.output.limits.max_csv_bytes);
  f["max_compressed_bytes_per_file"] = std::to_string(o.output.limits.max_compressed_bytes);
  f["max_rows_per_task"] = std::to_string(o.split.max_rows_per_task);
  f["max_bytes_per_task"] = std::to_string(o.split.max_bytes_per_task);
  std::string settings;
  for (const auto& [k, v] : o.connection.settings) {
    if (setting_shapes_output(k)) settings += (settings.empty() ? "" : " ") + k + "=" + v;
  }
  f["settings"] = settings;
  for (const TableSpec& t : o.tables) {
    f["table " + t.table.display()] =
        std::string(t.mode == TableMode::all ? "mode all" : "mode partition") +
        ", partition_expr " + t.partition_expr + ", bounds " + t.bounds() + ", split_field " +
        t.split_field;
  }
  bool zoneless_text = false;
  for (size_t i = 0; i < table_columns.size() && i < o.tables.size(); ++i) {
    f["columns " + o.tables[i].table.display()] = layout(table_columns[i]);
    for (const Column& c : table_columns[i]) {
      for (const std::string& zone : datetime_zones(c.type, "")) zoneless_text |= zone.empty();
    }
  }
  // A DateTime without a zone of its own prints as text in the server's zone.
  if (zoneless_text && o.output.datetime_format == DateTimeFormat::text)
    f["server_timezone"] = server_timezone;
  return f;
}

namespace {

// Hashes and counts what it is given.
class HashSink final : public ByteSink {
 public:
  void write(std::string_view data) override {
    sha.update(data);
    bytes += data.size();
  }
  void finish() override {}
  void cancel() noexcept override {}
  Sha256 sha;
  uint64_t bytes = 0;
};

ResponseInfo read_response_info(simdjson::dom::element task) {
  ResponseInfo info;
  simdjson::dom::element r;
  if (task["server_response"].get(r) != simdjson::SUCCESS) return info;
  for (const auto& [name, text] : response_text_fields) info.*text = json_text(r, name);
  for (const auto& [name, number] : response_number_fields) {
    uint64_t v = 0;
    if (r[name].get_uint64().get(v) == simdjson::SUCCESS) info.*number = v;
  }
  return info;
}

}  // namespace

PreviousExport read_previous_export(Store& store, const std::string& manifest_name) {
  PreviousExport previous;
  std::string manifest_text;
  if (!read_manifest_text(store, manifest_name, manifest_text)) return previous;
  std::string path = store.describe(manifest_name);
  simdjson::dom::parser parser;
  simdjson::dom::element manifest;
  simdjson::padded_string padded(manifest_text);
  if (parser.parse(padded).get(manifest) != simdjson::SUCCESS) {
    throw_usage(path + " cannot be read as a chexport manifest; use --fresh to start over");
  }
  previous.exists = true;
  previous.identity.hostname = json_text(manifest["server"], "hostname");
  previous.identity.url = json_text(manifest["server"], "url");
  simdjson::dom::array tables;
  if (manifest["tables"].get_array().get(tables) == simdjson::SUCCESS) {
    for (simdjson::dom::element t : tables) {
      previous.identity.table_uuids[json_text(t, "db") + "." + json_text(t, "table")] =
          json_text(t, "uuid");
      previous.table_dirs.push_back(table_dir(json_text(t, "db"), json_text(t, "table")));
      if (std::string schema = json_text(t, "schema"); !schema.empty())
        previous.files.push_back(schema);
    }
  }
  if (simdjson::dom::element worker; manifest["worker"].get(worker) == simdjson::SUCCESS)
    previous.plan_digest = json_text(worker, "plan_digest");
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
    task.dir = json_text(t, "dir");
    task.predicate = json_text(t, "predicate");
    task.status = json_text(t, "status");
    task.written_rows = json_number(t, "written_rows");
    task.csv_bytes = json_number(t, "csv_bytes");
    task.compressed_bytes = json_number(t, "compressed_bytes");
    task.query_id = json_text(t, "query_id");
    task.data_version = json_text(t, "data_version");
    task.server = read_response_info(t);
    simdjson::dom::array files;
    if (t["files"].get_array().get(files) == simdjson::SUCCESS) {
      for (simdjson::dom::element f : files) {
        bool handed_off = json_flag(f, "handed_off");
        task.files.push_back(
            WrittenFile{json_text(f, "path"), json_number(f, "rows"), json_number(f, "csv_bytes"),
                        json_number(f, "compressed_bytes"), json_text(f, "sha256"), handed_off,
                        json_text(f, "etag"), json_text(f, "s3_checksum_sha256")});
        previous.files.push_back(task.files.back().path);
      }
    }
    previous.tasks[task.dir] = std::move(task);
  }
  return previous;
}

void check_same_options(const PreviousExport& previous,
                        const std::map<std::string, std::string>& now, const std::string& dir) {
  if (auto it = previous.fingerprint.find("layout");
      it == previous.fingerprint.end() || it->second != current_layout) {
    throw_usage(dir + " holds an export in an earlier layout of chexport's (" +
                (it == previous.fingerprint.end() ? std::string("before Hive folders")
                                                  : "\"" + it->second + "\"") +
                "), which this version does not resume, since its files would sit at two depths; "
                "use --fresh to export it again in the current layout, or another directory "
                "(verify and import still read it)");
  }
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
    throw_usage(dir + " holds an export made with other options (" + changes.substr(2) +
                "); use --fresh to replace it, or another directory");
  }
}

namespace {

// "host:port" of a URL: what tells two servers apart, whatever the path or a trailing '/'.
std::string authority(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  return url.substr(start, url.find_first_of("/?", start) - start);
}

// Whether the earlier run read the same table: by UUID where both runs saw one (replicas of a
// Replicated database share it), else by the server's host name and the URL's host and port.
std::string same_source(const ExportIdentity& before, const ExportIdentity& now,
                        const std::string& table) {
  auto uuid_of = [&](const ExportIdentity& id) {
    auto it = id.table_uuids.find(table);
    return it == id.table_uuids.end() ? std::string() : it->second;
  };
  std::string was = uuid_of(before), is = uuid_of(now);
  if (!was.empty() && !is.empty()) {
    if (was == is) return "";
    return "the table is not the one exported before (UUID " + was + " -> " + is + ")";
  }
  std::string was_at = before.hostname + " at " + authority(before.url);
  std::string is_at = now.hostname + " at " + authority(now.url);
  if (was_at == is_at) return "";
  return "another server answered (" + was_at + " -> " + is_at + ")";
}

}  // namespace

std::string why_export_again(const PreviousExport& previous, const PreviousTask* task,
                             const Task& now, const ExportIdentity& identity, Store& store) {
  if (task == nullptr) return "new in the plan";
  if (task->status != "done") return "not finished by the earlier run";
  if (std::string why = same_source(previous.identity, identity, now.table.display()); !why.empty())
    return why;
  if (task->predicate != now.predicate)
    return "its predicate changed from " + task->predicate + " to " + now.predicate;
  if (task->written_rows != now.planned_rows) {
    return "its rows changed from " + std::to_string(task->written_rows) + " to " +
           std::to_string(now.planned_rows);
  }
  if (now.data_version.empty()) {
    return "its data has no version to compare (system.parts may not be read, or the table has "
           "no parts)";
  }
  if (task->data_version != now.data_version)
    return "its data changed since it was exported (its active parts differ)";
  return check_files(store, *task);
}

std::string check_files(Store& store, const PreviousTask& task) {
  for (const WrittenFile& f : task.files) {
    if (f.handed_off) continue;  // the --on-file command took it, and it was removed
    if (!f.etag.empty()) {
      // An object as uploaded keeps its ETag and size; any other bytes under its key (a rewrite,
      // a copy, a truncation) get another ETag. A HEAD says so without reading the object.
      std::optional<FileHead> head = store.head(f.path);
      if (!head) return f.path + " is missing";
      if (head->size != f.compressed_bytes) {
        return f.path + " has " + std::to_string(head->size) + " bytes, the manifest says " +
               std::to_string(f.compressed_bytes);
      }
      if (head->etag != f.etag)
        return f.path + " has ETag " + head->etag + ", the manifest says " + f.etag;
      if (!f.s3_checksum.empty() && head->checksum_asked && head->checksum != f.s3_checksum) {
        return f.path + " has SHA-256 checksum " +
               (head->checksum.empty() ? "none" : head->checksum) + " in S3, the manifest says " +
               f.s3_checksum;
      }
      continue;
    }
    HashSink sink;
    if (!store.read(f.path, sink)) return f.path + " is missing";
    if (sink.bytes != f.compressed_bytes) {
      return f.path + " has " + std::to_string(sink.bytes) + " bytes, the manifest says " +
             std::to_string(f.compressed_bytes);
    }
    if (sink.sha.hex_digest() != f.sha256) return f.path + " does not match its SHA-256";
  }
  return "";
}

size_t remove_data_files(Store& store, const std::string& dir,
                         const std::vector<WrittenFile>& keep) {
  size_t removed = 0;
  for (const StoredFile& file : store.list(dir)) {
    std::string name = fs::path(file.path).filename().string();
    if (!name.starts_with("part-")) continue;
    bool kept = std::any_of(keep.begin(), keep.end(),
                            [&](const WrittenFile& f) { return f.path == file.path; });
    if (!kept) {
      store.remove(file.path);
      ++removed;
    }
  }
  return removed;
}

}  // namespace chexport
