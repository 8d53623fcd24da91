#include "chexport/run/export_manifest.h"

#include "chexport/plan/distributed.h"

#include <simdjson.h>

#include "chexport/common/error.h"
#include "chexport/common/json_read.h"

namespace chexport {

std::string ManifestTask::display() const {
  return dir;
}

TableRef ManifestTask::source(const ConnectionOptions& connection) const {
  TableRef ref{db, table};
  if (shard) {
    auto with_credentials = std::make_shared<ShardSource>(*shard);
    with_credentials->credentials = remote_credentials(connection);
    ref.shard = std::move(with_credentials);
  }
  return ref;
}

const ManifestTable* ExportManifest::find_table(const std::string& db,
                                                const std::string& table) const {
  for (const ManifestTable& t : tables) {
    if (t.db == db && t.table == table) return &t;
  }
  return nullptr;
}

namespace {

std::vector<Column> read_columns_of(simdjson::dom::element table) {
  std::vector<Column> columns;
  simdjson::dom::array list;
  if (table["columns"].get_array().get(list) != simdjson::SUCCESS) return columns;
  for (simdjson::dom::element c : list) {
    columns.push_back(Column{json_text(c, "name"), json_text(c, "type"),
                             json_text(c, "default_kind"), json_text(c, "timezone")});
  }
  return columns;
}

std::shared_ptr<const ShardSource> read_shard(simdjson::dom::element t) {
  simdjson::dom::element s;
  if (t["shard"].get(s) != simdjson::SUCCESS) return nullptr;
  auto shard = std::make_shared<ShardSource>();
  shard->num = static_cast<uint32_t>(json_number(s, "num"));
  shard->cluster = json_text(s, "cluster");
  shard->local_db = json_text(s, "db");
  shard->local_table = json_text(s, "table");
  for (const char* key : {"replicas", "hosts"}) {
    simdjson::dom::array list;
    if (s[key].get_array().get(list) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element e : list) {
      std::string_view text;
      if (e.get_string().get(text) != simdjson::SUCCESS) continue;
      (key[0] == 'r' ? shard->replicas : shard->hosts).emplace_back(text);
    }
  }
  return shard;
}

ManifestTask read_task(simdjson::dom::element t) {
  ManifestTask task{json_text(t, "db"),
                    json_text(t, "table"),
                    json_text(t, "partition"),
                    json_text(t, "partition_id"),
                    json_text(t, "range"),
                    json_text(t, "predicate"),
                    json_text(t, "dir"),
                    json_text(t, "status"),
                    json_text(t, "error"),
                    json_number(t, "written_rows"),
                    {},
                    read_shard(t)};
  simdjson::dom::array files;
  if (t["files"].get_array().get(files) != simdjson::SUCCESS) return task;
  for (simdjson::dom::element f : files) {
    task.files.push_back(ManifestFile{
        json_text(f, "path"), json_number(f, "rows"), json_number(f, "csv_bytes"),
        json_number(f, "compressed_bytes"), json_text(f, "sha256"), json_flag(f, "handed_off")});
  }
  return task;
}

}  // namespace

ExportManifest read_export_manifest(Store& store) {
  StringSink text;
  if (!store.read("manifest.json", text))
    throw_usage(store.describe("") + " has no manifest.json: not a chexport export");
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text.text);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS)
    throw_usage(store.describe("manifest.json") + " cannot be parsed");
  uint64_t version = json_number(root, "manifest_version");
  if (version != 1) {
    throw_usage(store.describe("manifest.json") + " has manifest_version " +
                std::to_string(version) + "; this chexport reads version 1");
  }
  ExportManifest m;
  m.format = json_text(root["options"], "format");
  m.datetime_format = json_text(root["options"], "datetime_format");
  m.server_url = json_text(root["server"], "url");
  m.server_version = json_text(root["server"], "version");
  m.started_at = json_text(root, "started_at");
  simdjson::dom::array tables, tasks;
  if (root["tables"].get_array().get(tables) == simdjson::SUCCESS) {
    for (simdjson::dom::element t : tables) {
      m.tables.push_back(ManifestTable{json_text(t, "db"), json_text(t, "table"),
                                       json_text(t, "schema"), read_columns_of(t)});
    }
  }
  if (root["tasks"].get_array().get(tasks) != simdjson::SUCCESS)
    throw_usage(store.describe("manifest.json") + " lists no tasks");
  for (simdjson::dom::element t : tasks) m.tasks.push_back(read_task(t));
  return m;
}

}  // namespace chexport
