#include "chexport/verify.h"

#include <simdjson.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "chexport/csv_scanner.h"
#include "chexport/error.h"
#include "chexport/sha256.h"

namespace chexport {
namespace {

namespace fs = std::filesystem;

struct FileCheck {
  uint64_t size = 0;
  std::string sha256;
  uint64_t records = 0;
  std::string error;  // zstd or read error
};

// One pass over the file: SHA-256 of its bytes, and the records of its (decompressed) CSV.
FileCheck read_file(const std::string& path, bool zstd) {
  FileCheck check;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    check.error = "cannot be read";
    return check;
  }
  Sha256 sha;
  CsvScanner scanner;
  ZSTD_DCtx* dctx = zstd ? ZSTD_createDCtx() : nullptr;
  std::vector<char> input(1 << 20), output(ZSTD_DStreamOutSize());
  size_t last = 0;
  while (in) {
    in.read(input.data(), static_cast<std::streamsize>(input.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    check.size += n;
    sha.update(std::string_view(input.data(), n));
    if (!zstd) {
      scanner.scan(std::string_view(input.data(), n));
      continue;
    }
    ZSTD_inBuffer zin{input.data(), n, 0};
    while (zin.pos < zin.size && check.error.empty()) {
      ZSTD_outBuffer zout{output.data(), output.size(), 0};
      last = ZSTD_decompressStream(dctx, &zout, &zin);
      if (ZSTD_isError(last)) {
        check.error = std::string("is not valid zstd (") + ZSTD_getErrorName(last) + ")";
        break;
      }
      scanner.scan(std::string_view(output.data(), zout.pos));
    }
    if (!check.error.empty()) break;
  }
  // Drain what the decoder still holds.
  while (zstd && check.error.empty() && last != 0) {
    ZSTD_inBuffer zin{nullptr, 0, 0};
    ZSTD_outBuffer zout{output.data(), output.size(), 0};
    last = ZSTD_decompressStream(dctx, &zout, &zin);
    if (ZSTD_isError(last)) {
      check.error = std::string("is not valid zstd (") + ZSTD_getErrorName(last) + ")";
    } else if (zout.pos == 0) {
      check.error = "is a truncated zstd frame";
    }
    scanner.scan(std::string_view(output.data(), zout.pos));
  }
  if (dctx != nullptr) ZSTD_freeDCtx(dctx);
  if (check.error.empty() && !scanner.at_record_boundary())
    check.error = "does not end at a CSV record boundary";
  check.sha256 = sha.hex_digest();
  check.records = scanner.records();
  return check;
}

std::string text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

uint64_t number(simdjson::dom::element e, const char* key) {
  uint64_t v = 0;
  return e[key].get_uint64().get(v) == simdjson::SUCCESS ? v : 0;
}

}  // namespace

VerifyReport verify_export(const std::string& dir, ClickHouseClient* client) {
  VerifyReport report;
  std::string manifest_path = dir + "/manifest.json";
  simdjson::dom::parser parser;
  simdjson::dom::element manifest;
  if (!fs::exists(manifest_path)) throw_usage(dir + " has no manifest.json: not a chexport export");
  if (parser.load(manifest_path).get(manifest) != simdjson::SUCCESS) {
    throw_usage(manifest_path + " cannot be parsed");
  }
  bool header = text(manifest["options"], "format") == "CSVWithNames";
  std::set<std::string> listed;
  std::set<std::string> task_dirs;
  simdjson::dom::array tasks;
  if (manifest["tasks"].get_array().get(tasks) != simdjson::SUCCESS)
    throw_usage(manifest_path + " lists no tasks");
  for (simdjson::dom::element task : tasks) {
    std::string task_dir = text(task, "dir");
    task_dirs.insert(dir + "/" + task_dir);
    std::string status = text(task, "status");
    if (status != "done") {
      report.problems.push_back("incomplete: task " + task_dir + " is " + status + ": " +
                                text(task, "error"));
      continue;
    }
    uint64_t task_rows = 0;
    simdjson::dom::array files;
    if (task["files"].get_array().get(files) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element f : files) {
      std::string path = text(f, "path");
      listed.insert(path);
      std::string full = dir + "/" + path;
      ++report.files;
      task_rows += number(f, "rows");
      bool handed_off = false;
      if (f["handed_off"].get_bool().get(handed_off) == simdjson::SUCCESS && handed_off) {
        ++report.handed_off;  // given to the --on-file command and removed: nothing to read
        continue;
      }
      if (!fs::exists(full)) {
        report.problems.push_back("missing: " + path);
        continue;
      }
      FileCheck check = read_file(full, path.ends_with(".zst"));
      report.bytes += check.size;
      uint64_t rows = check.records - (header && check.records > 0 ? 1 : 0);
      if (check.size != number(f, "compressed_bytes")) {
        report.problems.push_back("corrupted: " + path + " has " + std::to_string(check.size) +
                                  " bytes, the manifest says " +
                                  std::to_string(number(f, "compressed_bytes")));
      } else if (check.sha256 != text(f, "sha256")) {
        report.problems.push_back("corrupted: " + path + " does not match its SHA-256");
      } else if (!check.error.empty()) {
        report.problems.push_back("corrupted: " + path + " " + check.error);
      } else if (rows != number(f, "rows")) {
        report.problems.push_back("corrupted: " + path + " holds " + std::to_string(rows) +
                                  " rows, the manifest says " + std::to_string(number(f, "rows")));
      }
      report.rows += rows;
    }
    if (task_rows != number(task, "written_rows")) {
      report.problems.push_back("inconsistent: task " + task_dir + " lists files with " +
                                std::to_string(task_rows) + " rows but says it wrote " +
                                std::to_string(number(task, "written_rows")));
    }
    if (client != nullptr) {
      std::string db = text(task, "db"), table = text(task, "table"),
                  predicate = text(task, "predicate");
      std::string sql = "SELECT toString(count()) FROM " + quote_identifier(db) + "." +
                        quote_identifier(table) + (predicate.empty() ? "" : " WHERE " + predicate);
      uint64_t now = std::stoull(client->query_rows(sql, "recounting " + task_dir).at(0).at(0));
      if (now != task_rows) {
        report.problems.push_back("changed on the server: task " + task_dir + " has " +
                                  std::to_string(task_rows) + " rows exported, count() now says " +
                                  std::to_string(now));
      }
    }
  }
  // Data files the manifest does not know about.
  for (const std::string& task_dir : task_dirs) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(task_dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() ||
          !(name.starts_with("part-") || name.find(".chexport-tmp.") != std::string::npos)) {
        continue;
      }
      std::string relative = fs::path(entry.path()).lexically_relative(dir).string();
      if (!listed.count(relative))
        report.problems.push_back("extra: " + relative + " is not in the manifest");
    }
  }
  return report;
}

}  // namespace chexport
