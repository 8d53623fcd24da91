#include "chexport/run/verify.h"

#include <zstd.h>

#include <filesystem>
#include <set>

#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/pipeline/csv_scanner.h"
#include "chexport/run/import_journal.h"
#include "chexport/run/task_export.h"
#include "chexport/run/task_journal.h"

namespace chexport {
namespace {

namespace fs = std::filesystem;

// Hashes a file's bytes and counts the records of its (decompressed) CSV as they stream by.
class CheckSink final : public ByteSink {
 public:
  explicit CheckSink(bool zstd)
      : dctx_(zstd ? ZSTD_createDCtx() : nullptr), output_(ZSTD_DStreamOutSize()) {}
  ~CheckSink() override {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  }
  void write(std::string_view data) override {
    size += data.size();
    sha.update(data);
    if (dctx_ == nullptr) {
      scanner.scan(data);
      return;
    }
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size && error.empty()) {
      ZSTD_outBuffer out{output_.data(), output_.size(), 0};
      last_ = ZSTD_decompressStream(dctx_, &out, &in);
      if (ZSTD_isError(last_)) {
        error = std::string("is not valid zstd (") + ZSTD_getErrorName(last_) + ")";
        return;
      }
      scanner.scan(std::string_view(output_.data(), out.pos));
    }
  }
  void finish() override {
    // Drain what the decoder still holds; a frame that never ended is truncated.
    while (dctx_ != nullptr && error.empty() && last_ != 0) {
      ZSTD_inBuffer in{nullptr, 0, 0};
      ZSTD_outBuffer out{output_.data(), output_.size(), 0};
      last_ = ZSTD_decompressStream(dctx_, &out, &in);
      if (ZSTD_isError(last_)) {
        error = std::string("is not valid zstd (") + ZSTD_getErrorName(last_) + ")";
      } else if (out.pos == 0) {
        error = "is a truncated zstd frame";
      }
      scanner.scan(std::string_view(output_.data(), out.pos));
    }
    if (error.empty() && !scanner.at_record_boundary())
      error = "does not end at a CSV record boundary";
  }
  void cancel() noexcept override {}

  uint64_t size = 0;
  Sha256 sha;
  CsvScanner scanner;
  std::string error;

 private:
  ZSTD_DCtx* dctx_;
  std::vector<char> output_;
  size_t last_ = 0;
};

// One file the manifest lists: there, of its size and SHA-256, valid zstd, of its rows.
// An S3 object as uploaded (size and ETag, by a HEAD): its rows are the manifest's.
void check_head(Store& store, const ManifestFile& f, VerifyReport& report) {
  std::optional<FileHead> head = store.head(f.path);
  ++report.headed;
  if (!head) {
    report.problems.push_back("missing: " + f.path);
  } else if (head->size != f.compressed_bytes) {
    report.problems.push_back("corrupted: " + f.path + " has " + std::to_string(head->size) +
                              " bytes, the manifest says " + std::to_string(f.compressed_bytes));
  } else if (head->etag != f.etag) {
    report.problems.push_back("corrupted: " + f.path + " has ETag " + head->etag +
                              ", the manifest says " + f.etag + " (not the object uploaded)");
  } else if (!f.s3_checksum.empty() && head->checksum_asked && head->checksum != f.s3_checksum) {
    report.problems.push_back("corrupted: " + f.path + " has SHA-256 checksum " +
                              (head->checksum.empty() ? "none" : head->checksum) +
                              " in S3, the manifest says " + f.s3_checksum +
                              " (not the object uploaded)");
  } else {
    if (!f.s3_checksum.empty() && head->checksum_asked) ++report.checksummed;
    report.rows += f.rows;
  }
}

void check_file(Store& store, const ManifestFile& f, bool header, bool deep,
                std::set<std::string>& listed, VerifyReport& report) {
  listed.insert(f.path);
  ++report.files;
  if (f.handed_off) {
    ++report.handed_off;  // given to the --on-file command and removed: nothing to read
    return;
  }
  if (!deep && !f.etag.empty()) {
    check_head(store, f, report);
    return;
  }
  CheckSink check(f.path.ends_with(".zst"));
  if (!store.read(f.path, check)) {
    report.problems.push_back("missing: " + f.path);
    return;
  }
  check.finish();
  uint64_t records = check.scanner.records();
  report.bytes += check.size;
  uint64_t rows = records - (header && records > 0 ? 1 : 0);
  if (check.size != f.compressed_bytes) {
    report.problems.push_back("corrupted: " + f.path + " has " + std::to_string(check.size) +
                              " bytes, the manifest says " + std::to_string(f.compressed_bytes));
  } else if (check.sha.hex_digest() != f.sha256) {
    report.problems.push_back("corrupted: " + f.path + " does not match its SHA-256");
  } else if (!check.error.empty()) {
    report.problems.push_back("corrupted: " + f.path + " " + check.error);
  } else if (rows != f.rows) {
    report.problems.push_back("corrupted: " + f.path + " holds " + std::to_string(rows) +
                              " rows, the manifest says " + std::to_string(f.rows));
  }
  report.rows += rows;
}

struct Recount {
  const ManifestTask* task;
  uint64_t exported_rows;
};

// --against-server: every task's count() now, against its rows exported. Small tasks are
// counted batch_check_tasks at a time (countIf of each predicate, over their union), as the
// export checks them; the others one query each.
void recount(ClickHouseClient& client, const std::string& from, const std::vector<Recount>& tasks,
             VerifyReport& report) {
  auto compare = [&](const Recount& r, const std::string& now_text) {
    uint64_t now = std::stoull(now_text);
    if (now != r.exported_rows) {
      report.problems.push_back("changed on the server: task " + r.task->dir + " has " +
                                std::to_string(r.exported_rows) +
                                " rows exported, count() now says " + std::to_string(now));
    }
  };
  std::vector<const Recount*> small;
  for (const Recount& r : tasks) {
    if (!r.task->predicate.empty() && r.exported_rows <= batch_check_max_rows) {
      small.push_back(&r);
      continue;
    }
    std::string sql = "SELECT toString(count()) FROM " + from +
                      (r.task->predicate.empty() ? "" : " WHERE " + r.task->predicate);
    compare(r, client.query_rows(sql, "recounting " + r.task->dir).at(0).at(0));
  }
  for (size_t first = 0; first < small.size(); first += batch_check_tasks) {
    size_t n = std::min(batch_check_tasks, small.size() - first);
    std::vector<std::string> predicates;
    for (size_t i = first; i < first + n; ++i) predicates.push_back(small[i]->task->predicate);
    auto row = client
                   .query_rows(count_each_query(from, predicates),
                               "recounting " + std::to_string(n) + " task(s) of " + from)
                   .at(0);
    for (size_t i = 0; i < n; ++i) compare(*small[first + i], row.at(i));
  }
}

}  // namespace

VerifyReport verify_export(Store& store, const ExportManifest& manifest, ClickHouseClient* client,
                           bool deep) {
  VerifyReport report;
  report.problems = manifest.problems;
  bool header = manifest.format == "CSVWithNames";
  std::set<std::string> listed;
  std::map<std::string, std::vector<Recount>> recounts;  // by the tasks' FROM
  for (const ManifestTask& task : manifest.tasks) {
    if (task.status != "done") {
      report.problems.push_back("incomplete: task " + task.dir + " is " + task.status + ": " +
                                task.error);
      continue;
    }
    uint64_t task_rows = 0;
    for (const ManifestFile& f : task.files) {
      task_rows += f.rows;
      check_file(store, f, header, deep, listed, report);
    }
    if (task_rows != task.written_rows) {
      report.problems.push_back("inconsistent: task " + task.dir + " lists files with " +
                                std::to_string(task_rows) + " rows but says it wrote " +
                                std::to_string(task.written_rows));
    }
    if (client != nullptr) {
      recounts[task.source(client->options()).sql()].push_back({&task, task_rows});
    }
  }
  for (const auto& [from, tasks] : recounts) recount(*client, from, tasks, report);
  // Files the manifest does not know about, anywhere in the export.
  std::set<std::string> known = listed;
  known.insert(manifest.parts.begin(), manifest.parts.end());
  for (const std::string& part : manifest.parts) known.insert(journal_name(part));
  known.insert(lock_file_name);
  for (const ManifestTable& t : manifest.tables) known.insert(t.schema);
  for (const StoredFile& file : store.list_all()) {
    // An import's journal (import_journal.h) is about a target, not part of the export.
    if (file.path.starts_with(std::string(journal_dir) + "/")) continue;
    // The locks of --worker shares (worker_share.h).
    if (file.path.starts_with(".chexport.worker-") && file.path.ends_with(".lock")) continue;
    if (!known.count(file.path))
      report.problems.push_back("extra: " + file.path + " is not in the manifest");
  }
  return report;
}

}  // namespace chexport
