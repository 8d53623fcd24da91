#include "checks.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <thread>

#include "chexport/common/sha256.h"
#include "test_server.h"

namespace chexport::testing {

namespace fs = std::filesystem;

std::vector<std::string> sorted_records(std::string_view csv) {
  auto records = split_records(csv);
  std::sort(records.begin(), records.end());
  return records;
}

std::string fresh_database() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string db = std::string("it_") + info->test_suite_name() + "_" + info->name();
  for (char& c : db) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';  // parametrized: "Suite/Test/0"
  }
  http_query("DROP DATABASE IF EXISTS " + db);
  http_query("CREATE DATABASE " + db);
  return db;
}

std::vector<ExportedFile> check_manifest(const TempDir& out, uint64_t expected_total_rows) {
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/manifest.json");
  std::vector<ExportedFile> files;
  uint64_t total = 0;
  for (simdjson::dom::element task : manifest["tasks"].get_array()) {
    EXPECT_EQ(std::string_view(task["status"]), "done");
    uint64_t task_rows = 0;
    for (simdjson::dom::element f : task["files"].get_array()) {
      std::string path{std::string_view(f["path"])};
      std::string raw = read_file(out.path() / path);
      EXPECT_EQ(uint64_t(f["compressed_bytes"]), raw.size()) << path;
      EXPECT_EQ(std::string_view(f["sha256"]), Sha256::of(raw)) << path;
      bool zst = path.ends_with(".zst");
      std::string content = zst ? zstd_decompress(raw) : raw;
      if (zst) {
        EXPECT_EQ(zstd_frame_count(raw), 1u) << path;
      }
      EXPECT_EQ(uint64_t(f["csv_bytes"]), content.size()) << path;
      files.push_back({path, uint64_t(f["rows"]), content});
      task_rows += uint64_t(f["rows"]);
    }
    EXPECT_EQ(uint64_t(task["written_rows"]), task_rows);
    EXPECT_EQ(uint64_t(task["expected_rows"]), task_rows);
    EXPECT_EQ(uint64_t(task["rows_after"]), task_rows);
    EXPECT_TRUE(std::string_view(task["query_id"]).starts_with("chexport-"));
    total += task_rows;
  }
  EXPECT_EQ(uint64_t(manifest["totals"]["rows"]), total);
  EXPECT_EQ(total, expected_total_rows);
  EXPECT_EQ(int64_t(manifest["exit_code"]), 0);
  return files;
}

void expect_no_temp_files(const TempDir& out) {
  for (const std::string& f : out.files()) {
    EXPECT_EQ(f.find(".chexport-tmp."), std::string::npos) << f;
  }
}

std::vector<std::string> data_files(const TempDir& out) {
  std::vector<std::string> files;
  for (const std::string& f : out.files()) {
    if (f.find("/part-") != std::string::npos) files.push_back(f);
  }
  return files;
}

RecordsDigest records_digest(std::string_view csv) {
  RecordsDigest d;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < csv.size(); ++i) {
    if (csv[i] == '"') {
      quoted = !quoted;
    } else if (csv[i] == '\n' && !quoted) {
      d.hash_sum += std::hash<std::string_view>{}(csv.substr(start, i + 1 - start));
      ++d.records;
      start = i + 1;
    }
  }
  return d;
}

RecordsDigest exported_digest(const TempDir& out, const std::string& manifest_name) {
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.load(out.str() + "/" + manifest_name);
  RecordsDigest total;
  for (simdjson::dom::element task : manifest["tasks"].get_array()) {
    for (simdjson::dom::element f : task["files"].get_array()) {
      std::string path{std::string_view(f["path"])};
      std::string raw = read_file(out.path() / path);
      RecordsDigest d = records_digest(path.ends_with(".zst") ? zstd_decompress(raw) : raw);
      total.records += d.records;
      total.hash_sum += d.hash_sum;
    }
  }
  return total;
}

size_t count_temp_files(const TempDir& out) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out.path()))
    n += e.path().filename().string().find(".chexport-tmp.") != std::string::npos;
  return n;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

bool wait_until(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void settle_parts(const std::string& db, const std::string& table) {
  std::string where = " WHERE database = '" + db + "' AND table = '" + table + "'";
  bool settled = wait_until([&] {
    try {
      http_query("OPTIMIZE TABLE " + db + "." + table + " FINAL");
    } catch (const std::runtime_error&) {
      return false;  // a merge of it is under way: try again
    }
    return http_query("SELECT count() FROM system.merges" + where) == "0\n" &&
           http_query("SELECT count() FROM (SELECT partition_id FROM system.parts" + where +
                      " AND active GROUP BY partition_id HAVING count() > 1)") == "0\n";
  });
  if (!settled) throw std::runtime_error("the parts of " + db + "." + table + " did not settle");
}

namespace {

// The output of a script of scripts/ that prints a directory.
std::string installed(const std::string& script) {
  auto r = run_program({"bash", std::string(CHEXPORT_SCRIPTS_DIR) + "/" + script});
  if (r.exit_code != 0) throw std::runtime_error(script + " failed: " + r.output);
  std::string dir = r.out;
  while (!dir.empty() && dir.back() == '\n') dir.pop_back();
  return dir;
}

}  // namespace

std::string duckdb(const std::string& sql) {
  static const std::string dir = installed("duckdb/install.sh");
  auto r = run_program({"node", std::string(CHEXPORT_TOOLS_DIR) + "/duckdb_query.mjs", dir, sql});
  if (r.exit_code != 0) throw std::runtime_error("DuckDB: " + r.output + "\n" + sql);
  return r.out;
}

std::string clickhouse_local(const std::string& sql) {
  static const std::string dir = installed("modern-clickhouse/install.sh");
  TempDir work;
  std::string result = work.str() + "/result.tsv";
  auto r = run_program({dir + "/chdb-launcher", dir + "/libchdb.so", "--path=" + work.str() + "/db",
                        "--query", sql + " INTO OUTFILE '" + result + "' FORMAT TSVRaw"});
  if (r.exit_code != 0) throw std::runtime_error("clickhouse-local: " + r.output + "\n" + sql);
  return read_file(result);
}

}  // namespace chexport::testing
