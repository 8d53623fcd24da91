#include "chexport/run/export_manifest.h"

#include <map>
#include <set>

#include "chexport/plan/distributed.h"
#include "chexport/run/task_journal.h"
#include "chexport/run/worker_share.h"

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
                    json_number(t, "planned_rows"),
                    {},
                    read_shard(t)};
  simdjson::dom::array files;
  if (t["files"].get_array().get(files) != simdjson::SUCCESS) return task;
  for (simdjson::dom::element f : files) {
    task.files.push_back(ManifestFile{
        json_text(f, "path"), json_number(f, "rows"), json_number(f, "csv_bytes"),
        json_number(f, "compressed_bytes"), json_text(f, "sha256"), json_flag(f, "handed_off"),
        json_text(f, "etag"), json_text(f, "s3_checksum_sha256")});
  }
  return task;
}

// What a --worker manifest part says of its share and of the whole plan.
struct WorkerPart {
  std::string name;
  WorkerShare share;
  uint64_t plan_tasks = 0;
  std::string plan_digest;
  std::map<std::string, std::string> fingerprint;  // what shapes its files
};

// One manifest (or manifest part) as `name` in `store` holds it.
ExportManifest parse_manifest(Store& store, const std::string& name, const std::string& text,
                              WorkerPart* part) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS)
    throw_usage(store.describe(name) + " cannot be parsed");
  uint64_t version = json_number(root, "manifest_version");
  if (version != 1) {
    throw_usage(store.describe(name) + " has manifest_version " + std::to_string(version) +
                "; this chexport reads version 1");
  }
  ExportManifest m;
  m.format = json_text(root["options"], "format");
  m.datetime_format = json_text(root["options"], "datetime_format");
  m.server_url = json_text(root["server"], "url");
  m.server_version = json_text(root["server"], "version");
  m.started_at = json_text(root, "started_at");
  m.parts = {name};
  simdjson::dom::array tables, tasks;
  if (root["tables"].get_array().get(tables) == simdjson::SUCCESS) {
    for (simdjson::dom::element t : tables) {
      m.tables.push_back(ManifestTable{json_text(t, "db"), json_text(t, "table"),
                                       json_text(t, "schema"), read_columns_of(t)});
    }
  }
  if (root["tasks"].get_array().get(tasks) != simdjson::SUCCESS)
    throw_usage(store.describe(name) + " lists no tasks");
  for (simdjson::dom::element t : tasks) m.tasks.push_back(read_task(t));
  if (part != nullptr) {
    simdjson::dom::element w;
    if (root["worker"].get(w) != simdjson::SUCCESS)
      throw_usage(store.describe(name) + " has no \"worker\" section");
    part->share = WorkerShare{static_cast<uint32_t>(json_number(w, "index")),
                              static_cast<uint32_t>(json_number(w, "count"))};
    part->plan_tasks = json_number(w, "plan_tasks");
    part->plan_digest = json_text(w, "plan_digest");
    simdjson::dom::object fingerprint;
    if (root["fingerprint"].get_object().get(fingerprint) == simdjson::SUCCESS) {
      for (auto field : fingerprint) {
        std::string_view v;
        if (field.value.get_string().get(v) == simdjson::SUCCESS)
          part->fingerprint[std::string(field.key)] = v;
      }
    }
  }
  return m;
}

// Adds `part` to `joined` (tables once, tasks all).
void add_part(ExportManifest& joined, ExportManifest part) {
  if (joined.parts.empty()) {
    joined = std::move(part);
    return;
  }
  joined.parts.push_back(part.parts.at(0));
  for (ManifestTable& t : part.tables) {
    if (joined.find_table(t.db, t.table) == nullptr) joined.tables.push_back(std::move(t));
  }
  for (ManifestTask& t : part.tasks) joined.tasks.push_back(std::move(t));
}

// The manifest parts of a --worker export, joined; what keeps them from covering their plan
// exactly once goes into `problems`.
ExportManifest join_parts(Store& store, const std::vector<std::string>& names) {
  ExportManifest joined;
  std::vector<WorkerPart> parts;
  for (const std::string& name : names) {
    std::string text;
    if (!read_manifest_text(store, name, text))
      throw_usage(store.describe(name) + " vanished while read");
    WorkerPart part;
    add_part(joined, parse_manifest(store, name, text, &part));
    part.name = name;
    parts.push_back(std::move(part));
  }
  const WorkerPart& first = parts.at(0);
  uint32_t count = first.share.count;
  std::set<uint32_t> present;
  for (const WorkerPart& p : parts) {
    if (p.share.count != count) {
      joined.problems.push_back("mixed: " + p.name + " and " + first.name +
                                " split the export among different numbers of workers");
    } else if (p.plan_digest != first.plan_digest) {
      joined.problems.push_back(
          "mixed: " + p.name + " and " + first.name +
          " were planned from different data or options (did the tables change between the "
          "workers' starts, or their flags differ?); run every worker again with --fresh and "
          "the same flags");
    }
    present.insert(p.share.index);
  }
  for (uint32_t k = 1; k <= count; ++k) {
    if (!present.count(k)) {
      WorkerShare missing{k, count};
      joined.problems.push_back("incomplete: " + missing.describe() + " has written no " +
                                missing.manifest_name() + " (not run yet, or still starting)");
    }
  }
  std::map<std::string, int> seen;
  std::vector<std::pair<std::string, uint64_t>> covered;
  for (const ManifestTask& t : joined.tasks) {
    if (++seen[t.dir] == 2)
      joined.problems.push_back("duplicate: task " + t.dir + " is in two parts");
    covered.emplace_back(t.dir, t.planned_rows);
  }
  if (present.size() == count && joined.problems.empty() &&
      (covered.size() != first.plan_tasks ||
       plan_digest(covered, first.fingerprint) != first.plan_digest)) {
    joined.problems.push_back("incomplete: the " + std::to_string(count) + " parts hold " +
                              std::to_string(covered.size()) + " task(s), not the plan's " +
                              std::to_string(first.plan_tasks));
  }
  return joined;
}

}  // namespace

ExportManifest read_export_manifest(Store& store) {
  std::vector<std::string> names;
  for (const StoredFile& f : store.list_all()) {
    if (f.path.find('/') == std::string::npos && parse_manifest_part_name(f.path))
      names.push_back(f.path);
  }
  std::string text;
  if (read_manifest_text(store, "manifest.json", text)) {
    ExportManifest whole = parse_manifest(store, "manifest.json", text, nullptr);
    // Parts beside it are another export in the same place: reading either alone would hide the
    // other's files.
    if (!names.empty()) {
      whole.problems.push_back("mixed: manifest.json of an export without --worker and " +
                               names[0] + (names.size() > 1 ? " (and more parts)" : "") +
                               " of a --worker export share one directory");
    }
    return whole;
  }
  if (names.empty())
    throw_usage(store.describe("") + " has no manifest.json: not a chexport export");
  return join_parts(store, names);
}

}  // namespace chexport
