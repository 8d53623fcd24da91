// Thousands of partitions (docs/resume-and-validation.md "Thousands of tasks"): progress is a
// journal line per task, counts after export come in batches, and a killed run resumes from the
// journal with every task it recorded kept as it was.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

// db.t with `partitions` partitions of `rows` rows each, inserted 100 partitions at a time (the
// servers' limit per insert).
std::string table_of_partitions(int partitions, int rows) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p UInt32, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  for (int first = 0; first < partitions; first += 100) {
    int count = std::min(100, partitions - first) * rows;
    http_query("INSERT INTO " + db + ".t SELECT intDiv(number, " + std::to_string(rows) +
               "), number, toString(cityHash64(number)) FROM numbers(" +
               std::to_string(first * rows) + ", " + std::to_string(count) + ")");
  }
  return db;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Each task of a manifest as "rows|path:rows:sha256|...", by its directory.
std::map<std::string, std::string> tasks_of(const std::string& manifest_text) {
  simdjson::dom::parser parser;
  simdjson::dom::element manifest = parser.parse(manifest_text);
  std::map<std::string, std::string> tasks;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    std::string text = std::string(std::string_view(t["status"])) + " " +
                       std::to_string(uint64_t(t["written_rows"]));
    for (simdjson::dom::element f : t["files"].get_array()) {
      text += "|" + std::string(std::string_view(f["path"])) + ":" +
              std::to_string(uint64_t(f["rows"])) + ":" +
              std::string(std::string_view(f["sha256"]));
    }
    tasks[std::string(std::string_view(t["dir"]))] = text;
  }
  return tasks;
}

// Starts an export of db.t into `out` and kills it (SIGKILL, as a crash would) once it has
// logged `finished` tasks; returns the journal's lines.
std::vector<std::string> export_and_crash(const std::string& db, const TempDir& out,
                                          size_t finished) {
  BackgroundProcess run({chexport_binary(), "export", "--url", test_server().url(), "-t", db + ".t",
                         "-o", out.str(), "-j", "4", "--log-level", "debug"});
  size_t seen = 0;
  while (seen < finished) {
    auto line = run.read_line();
    if (!line) break;
    if (line->find(" rows in 1 file(s)") != std::string::npos) ++seen;
  }
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait(), 128 + SIGKILL) << run.output().substr(0, 2000);
  EXPECT_EQ(seen, finished);
  return lines_of(out.str() + "/manifest.journal");
}

// 5,000 partitions export exactly; a run killed midway resumes from its journal: every task the
// journal holds is kept as it was recorded, the others are exported, and the journal goes once
// manifest.json holds them all.
TEST(Scale, FiveThousandPartitionsExactlyAndAResumeFromTheJournal) {
  std::string db = table_of_partitions(5000, 2);
  TempDir out;
  std::vector<std::string> journal = export_and_crash(db, out, 1500);
  // A task is logged as done once it is in the journal.
  ASSERT_GE(journal.size(), 1500u);
  ASSERT_LT(journal.size(), 5000u);
  std::map<std::string, std::string> recorded;
  simdjson::dom::parser parser;
  for (const std::string& line : journal) {
    simdjson::dom::element task = parser.parse(line);
    recorded[std::string(std::string_view(task["dir"]))] = simdjson::minify(task);
  }
  ASSERT_EQ(recorded.size(), journal.size());

  auto resumed = run_chexport(
      {"export", "--url", test_server().url(), "-t", db + ".t", "-o", out.str(), "-j", "4"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output.substr(0, 3000);
  EXPECT_NE(
      resumed.output.find(std::to_string(journal.size()) + " task(s) already done and verified, " +
                          std::to_string(5000 - journal.size()) + " to export"),
      std::string::npos)
      << resumed.output.substr(0, 3000);
  // More than 200 tasks: no line per task at info level.
  EXPECT_EQ(count_of(resumed.output, " rows in 1 file(s)"), 0u);
  EXPECT_FALSE(std::filesystem::exists(out.str() + "/manifest.journal"));

  std::string text = read_file(out.str() + "/manifest.json");
  simdjson::dom::element manifest = parser.parse(text);
  size_t tasks = 0, kept = 0;
  for (simdjson::dom::element t : manifest["tasks"].get_array()) {
    ++tasks;
    EXPECT_EQ(std::string_view(t["status"]), "done");
    EXPECT_EQ(uint64_t(t["written_rows"]), 2u);
    auto it = recorded.find(std::string(std::string_view(t["dir"])));
    if (it != recorded.end()) {
      ++kept;
      // As the killed run recorded it: same query, same files.
      simdjson::dom::parser other;
      simdjson::dom::element before = other.parse(it->second);
      EXPECT_EQ(std::string_view(t["query_id"]), std::string_view(before["query_id"]));
      EXPECT_EQ(simdjson::minify(t["files"]), simdjson::minify(before["files"]));
    }
  }
  EXPECT_EQ(tasks, 5000u);
  EXPECT_EQ(kept, journal.size());
  EXPECT_EQ(uint64_t(manifest["totals"]["rows"]), 10000u);
  auto verify =
      run_chexport({"verify", out.str(), "--against-server", "--url", test_server().url()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output.substr(0, 3000);
  EXPECT_NE(verify.output.find("OK: 5000 file(s), 10000 rows"), std::string::npos)
      << verify.output.substr(0, 3000);
  EXPECT_EQ(exported_digest(out),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
}

// A manifest made from a killed run's journal and the rest of the tasks is the one a single run
// writes: same tasks, rows, files and SHA-256s. Before the resume, verify reads the journal too.
TEST(Scale, AManifestFromTheJournalEqualsAOneShotWrite) {
  std::string db = table_of_partitions(600, 3);
  TempDir once, twice;
  auto one_shot = run_chexport(
      {"export", "--url", test_server().url(), "-t", db + ".t", "-o", once.str(), "-j", "2"});
  ASSERT_EQ(one_shot.exit_code, 0) << one_shot.output.substr(0, 3000);
  EXPECT_FALSE(std::filesystem::exists(once.str() + "/manifest.journal"));

  // Killed early: the run gets ahead of what the test has read by at most the pipe's and the
  // reader's buffers (a few hundred tasks' debug lines), and must not finish first.
  std::vector<std::string> journal = export_and_crash(db, twice, 100);
  ASSERT_GE(journal.size(), 100u);
  ASSERT_LT(journal.size(), 600u);
  // The killed run's state, as verify reads it: the journal's tasks done, the rest not.
  auto partial = run_chexport({"verify", twice.str()});
  EXPECT_EQ(partial.exit_code, 4);
  EXPECT_EQ(count_of(partial.output, " is pending"), 600 - journal.size())
      << partial.output.substr(0, 2000);

  auto resumed = run_chexport(
      {"export", "--url", test_server().url(), "-t", db + ".t", "-o", twice.str(), "-j", "2"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output.substr(0, 3000);
  auto a = tasks_of(read_file(once.str() + "/manifest.json"));
  auto b = tasks_of(read_file(twice.str() + "/manifest.json"));
  EXPECT_EQ(a.size(), 600u);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace chexport::testing
