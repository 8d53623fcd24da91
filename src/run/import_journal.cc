#include "chexport/run/import_journal.h"

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chexport/common/error.h"
#include "chexport/common/json_read.h"
#include "chexport/common/json_writer.h"
#include "chexport/common/sha256.h"
#include "chexport/pipeline/atomic_file.h"

namespace chexport {

std::string journal_key(const std::string& url, const std::string& database) {
  return Sha256::of(url + "\n" + database).substr(0, 16);
}

ImportJournal::ImportJournal(std::unique_ptr<Store> store, std::string local_path, std::string key,
                             std::string target_url)
    : store_(std::move(store)),
      local_path_(std::move(local_path)),
      key_(std::move(key)),
      target_url_(std::move(target_url)) {}

std::string ImportJournal::describe() const {
  return local_path_.empty() ? store_->describe(std::string(journal_dir) + "/" + key_ + ".json")
                             : local_path_;
}

void ImportJournal::load() {
  std::string text;
  if (local_path_.empty()) {
    StringSink sink;
    if (!store_->read(std::string(journal_dir) + "/" + key_ + ".json", sink)) return;
    text = std::move(sink.text);
  } else {
    std::ifstream in(local_path_, std::ios::binary);
    if (!in) return;
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  simdjson::dom::object groups;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
      root["groups"].get_object().get(groups) != simdjson::SUCCESS) {
    throw_usage("the import journal " + describe() + " cannot be read; remove it to start over");
  }
  std::lock_guard lock(mutex_);
  for (auto [name, g] : groups) {
    JournalEntry entry;
    entry.rows = json_number(g, "rows");
    entry.files_digest = json_text(g, "files_digest");
    simdjson::dom::object partitions;
    if (g["partitions"].get_object().get(partitions) == simdjson::SUCCESS) {
      for (auto [id, rows] : partitions) {
        uint64_t n = 0;
        if (rows.get_uint64().get(n) == simdjson::SUCCESS) entry.partitions[std::string(id)] = n;
      }
    }
    groups_[std::string(name)] = std::move(entry);
  }
}

std::optional<JournalEntry> ImportJournal::find(const std::string& group) const {
  std::lock_guard lock(mutex_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

std::string ImportJournal::claim(const std::string& table, const std::string& group,
                                 const std::map<std::string, uint64_t>& partitions) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, rows] : partitions) {
    auto it = owners_.find(table + "/" + id);
    if (it != owners_.end() && it->second != group)
      return "partition ID " + id + " of " + table + " holds rows of " + it->second + " too";
  }
  for (const auto& [id, rows] : partitions) owners_[table + "/" + id] = group;
  return "";
}

void ImportJournal::record(const std::string& group, JournalEntry entry) {
  std::lock_guard lock(mutex_);
  groups_[group] = std::move(entry);
  save_locked();
}

void ImportJournal::save_locked() {
  JsonWriter j;
  j.begin_object().field("journal_version", 1).field("target", target_url_);
  j.key("groups").begin_object();
  for (const auto& [name, e] : groups_) {
    j.key(name).begin_object().field("rows", e.rows).field("files_digest", e.files_digest);
    j.key("partitions").begin_object();
    for (const auto& [id, rows] : e.partitions) j.field(id, rows);
    j.end_object().end_object();
  }
  j.end_object().end_object();
  if (local_path_.empty()) {
    store_->put(std::string(journal_dir) + "/" + key_ + ".json", j.str() + "\n");
  } else {
    write_file_atomically(local_path_, j.str() + "\n");
  }
}

}  // namespace chexport
