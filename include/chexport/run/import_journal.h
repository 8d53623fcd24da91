// What an import has loaded into one target, so that a second run does only what is left
// (docs/import.md "Journal"). It is a speed-up, not what makes the load exactly once: a group
// the journal lists is skipped only while the target still holds its rows, and loading a group
// again replaces the same partitions with the same rows.
//
// Kept as JSON in `.chexport-import/<key>.json` in the export itself (a directory or bucket),
// or in a local file (--journal FILE), rewritten atomically after every group. Thread-safe.
// Throws chexport::Error when it cannot be read (a file that is not a journal) or written.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "chexport/output/store.h"

namespace chexport {

// A loaded group: the target partitions it replaced (partition ID -> rows), all its rows, and a
// digest of its files' SHA-256s (another export of the same names is another group).
struct JournalEntry {
  std::map<std::string, uint64_t> partitions;
  uint64_t rows = 0;
  std::string files_digest;
};

inline constexpr const char* journal_dir = ".chexport-import";

// The journal's name for imports into `url` (no credentials) and `database` (may be empty).
std::string journal_key(const std::string& url, const std::string& database);

class ImportJournal {
 public:
  // `store` is the journal's own (not shared with another thread); `local_path` wins when set.
  ImportJournal(std::unique_ptr<Store> store, std::string local_path, std::string key,
                std::string target_url);
  void load();  // a journal that does not exist yet is empty
  std::string describe() const;
  std::optional<JournalEntry> find(const std::string& group) const;
  // Makes `group` the owner of `partitions` for this run, or returns the message naming the
  // other group that already owns one of them (two source partitions in one target partition).
  // `table` names the target table the partition IDs are of.
  std::string claim(const std::string& table, const std::string& group,
                    const std::map<std::string, uint64_t>& partitions);
  void record(const std::string& group, JournalEntry entry);

 private:
  void save_locked();
  std::unique_ptr<Store> store_;
  std::string local_path_, key_, target_url_;
  mutable std::mutex mutex_;
  std::map<std::string, JournalEntry> groups_;
  std::map<std::string, std::string> owners_;  // "table/partition ID" -> group, this run
};

}  // namespace chexport
