// One export shared by several hosts (--worker K/N): each exports a disjoint share of the same
// plan into the same directory; verify joins the parts and reports a missing one. The workers
// run at once, as separate processes, on each fixture server.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

// 12 monthly partitions of unequal size, 6,600 rows: January and February 2,000 each, the other
// ten months 260 each.
std::string twelve_months() {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (d Date, id UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) "
             "ORDER BY id");
  http_query("INSERT INTO " + db +
             ".t SELECT addMonths(toDate('2021-03-01'), number % 10) + number % 28, number, "
             "concat('v,\"', toString(number), '\"\\n') FROM numbers(2600)");
  http_query("INSERT INTO " + db +
             ".t SELECT toDate('2021-01-01') + number % 28, number + 10000, 'x' FROM "
             "numbers(2000)");
  http_query("INSERT INTO " + db +
             ".t SELECT toDate('2021-02-01') + number % 28, number + 20000, 'y' FROM "
             "numbers(2000)");
  settle_parts(db, "t");
  return db;
}

std::vector<std::string> export_args(const std::string& db, const TempDir& out,
                                     const std::string& worker) {
  return {"export", "--url",   test_server().url(), "-t",   db + ".t",
          "--out",  out.str(), "--worker",          worker, "-q"};
}

// Each part's task directories and rows.
struct Part {
  std::set<std::string> dirs;
  uint64_t rows = 0;
};
Part read_part(const TempDir& out, const std::string& name) {
  simdjson::dom::parser parser;
  simdjson::dom::element m = parser.load(out.str() + "/" + name);
  Part part;
  for (simdjson::dom::element t : m["tasks"].get_array()) {
    part.dirs.insert(std::string(std::string_view(t["dir"])));
    part.rows += uint64_t(t["written_rows"]);
  }
  EXPECT_EQ(uint64_t(m["worker"]["plan_tasks"]), 12u);
  return part;
}

// N workers, run at once, each with a part of its own; together every row once.
void share_among(const std::string& db, uint32_t n) {
  SCOPED_TRACE(std::to_string(n) + " workers");
  TempDir out;
  std::vector<std::unique_ptr<BackgroundProcess>> workers;
  for (uint32_t k = 1; k <= n; ++k) {
    std::vector<std::string> argv =
        export_args(db, out, std::to_string(k) + "/" + std::to_string(n));
    argv.insert(argv.begin(), chexport_binary());
    workers.push_back(std::make_unique<BackgroundProcess>(argv));
  }
  for (auto& w : workers) ASSERT_EQ(w->wait(), 0) << w->output();
  std::set<std::string> all;
  uint64_t rows = 0;
  RecordsDigest digest;
  for (uint32_t k = 1; k <= n; ++k) {
    std::string name =
        "manifest.worker-" + std::to_string(k) + "-of-" + std::to_string(n) + ".json";
    Part part = read_part(out, name);
    for (const std::string& dir : part.dirs) EXPECT_TRUE(all.insert(dir).second) << dir;
    rows += part.rows;
    // Balanced by rows: within one small partition (260 rows) of 6,600 / N.
    EXPECT_NEAR(static_cast<double>(part.rows), 6600.0 / n, 260.0) << name;
    RecordsDigest d = exported_digest(out, name);
    digest.records += d.records;
    digest.hash_sum += d.hash_sum;
  }
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(rows, 6600u);
  EXPECT_EQ(digest, records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));
  EXPECT_FALSE(fs::exists(out.path() / "manifest.json"));

  auto verified =
      run_chexport({"verify", out.str(), "--against-server", "--url", test_server().url()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("OK: 12 file(s), 6600 rows"), std::string::npos)
      << verified.output;

  // Run again, a worker resumes its own share and touches nothing else.
  auto again = run_chexport(export_args(db, out, "2/" + std::to_string(n)));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(run_chexport({"verify", out.str()}).exit_code, 0);
}

TEST(Workers, TwoOrThreeHostsShareOneDirectoryExactlyOnce) {
  std::string db = twelve_months();
  share_among(db, 2);
  share_among(db, 3);
}

TEST(Workers, AMissingPartIsReportedAndRefused) {
  std::string db = twelve_months();
  TempDir out;
  for (const char* k : {"1/3", "3/3"}) {
    auto r = run_chexport(export_args(db, out, k));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 4) << verified.output;
  EXPECT_NE(verified.output.find("incomplete: worker 2 of 3 has written no "
                                 "manifest.worker-2-of-3.json"),
            std::string::npos)
      << verified.output;
  auto imported = run_chexport({"import", out.str(), "--url", test_server().url(), "--database",
                                db + "_copy", "--create-tables", "--dry-run"});
  EXPECT_EQ(imported.exit_code, 2) << imported.output;
  EXPECT_NE(imported.output.find("is not a whole export: incomplete: worker 2 of 3"),
            std::string::npos)
      << imported.output;

  // The missing worker, as a Kubernetes Indexed Job's pod 1 would run it.
  auto last = run_chexport(export_args(db, out, "auto/3"), {{"JOB_COMPLETION_INDEX", "1"}});
  ASSERT_EQ(last.exit_code, 0) << last.output;
  EXPECT_TRUE(fs::exists(out.path() / "manifest.worker-2-of-3.json"));
  verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

TEST(Workers, PartsOfDifferentPlansAreReported) {
  std::string db = twelve_months();
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(db, out, "1/2")).exit_code, 0);
  // A row more in January and in February: the shares stay the same (January worker 1's,
  // February worker 2's), but the plans differ. (Other changes move tasks between shares; then
  // the second worker refuses to start, as the next test shows.)
  http_query("INSERT INTO " + db +
             ".t VALUES ('2021-01-03', 99998, 'late'), ('2021-02-03', 99999, 'late')");
  auto second = run_chexport(export_args(db, out, "2/2"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 4) << verified.output;
  EXPECT_NE(verified.output.find("were planned from different data"), std::string::npos)
      << verified.output;
}

TEST(Workers, AShareThatMovedIsRefused) {
  std::string db = twelve_months();
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(db, out, "1/2")).exit_code, 0);
  // February now the largest: it goes to worker 1, January (exported by worker 1) to worker 2.
  http_query("INSERT INTO " + db + ".t VALUES ('2021-02-03', 99999, 'late')");
  auto second = run_chexport(export_args(db, out, "2/2"));
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find("has data files in this worker's share that "
                               "manifest.worker-2-of-2.json does not list"),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("run every worker again with --fresh"), std::string::npos);
  // Every worker again with --fresh: whole again.
  for (const char* k : {"1/2", "2/2"}) {
    std::vector<std::string> args = export_args(db, out, k);
    args.push_back("--fresh");
    auto r = run_chexport(args);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto verified =
      run_chexport({"verify", out.str(), "--against-server", "--url", test_server().url()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

// A worker run again after the plan changed (its share moved) resumes nothing: resuming would
// delete and rewrite tasks the other worker's part lists.
TEST(Workers, ARunAgainAfterThePlanChangedTouchesNoOtherWorkersFiles) {
  std::string db = twelve_months();
  TempDir out;
  for (const char* k : {"1/2", "2/2"})
    ASSERT_EQ(run_chexport(export_args(db, out, k)).exit_code, 0);
  // February now the largest: it would move to worker 1, January to worker 2.
  http_query("INSERT INTO " + db + ".t VALUES ('2021-02-03', 99999, 'late')");
  auto again = run_chexport(export_args(db, out, "1/2"));
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("manifest.worker-1-of-2.json was written for another plan"),
            std::string::npos)
      << again.output;
  // Both parts still describe every file as written.
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("OK: 12 file(s), 6600 rows"), std::string::npos)
      << verified.output;
}

// Parts written with options that shape the files differently are not one export.
TEST(Workers, PartsWithOtherFormatsAreReported) {
  std::string db = twelve_months();
  TempDir out;
  ASSERT_EQ(run_chexport(export_args(db, out, "1/2")).exit_code, 0);
  std::vector<std::string> named = export_args(db, out, "2/2");
  named.insert(named.end(), {"--format", "CSVWithNames"});
  ASSERT_EQ(run_chexport(named).exit_code, 0);
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 4) << verified.output;
  EXPECT_NE(verified.output.find("were planned from different data or options"), std::string::npos)
      << verified.output;
}

// A whole export's manifest.json and --worker parts in one directory would each hide the other.
TEST(Workers, AWholeExportAndWorkerPartsDoNotMix) {
  std::string db = twelve_months();
  TempDir whole, shared;
  ASSERT_EQ(run_chexport({"export", "--url", test_server().url(), "-t", db + ".t", "--out",
                          whole.str(), "-q"})
                .exit_code,
            0);
  for (bool fresh : {false, true}) {
    std::vector<std::string> args = export_args(db, whole, "1/2");
    if (fresh) args.push_back("--fresh");
    auto r = run_chexport(args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("holds the manifest.json of an export without --worker"),
              std::string::npos)
        << r.output;
  }
  EXPECT_EQ(run_chexport({"verify", whole.str()}).exit_code, 0);
  for (const char* k : {"1/2", "2/2"})
    ASSERT_EQ(run_chexport(export_args(db, shared, k)).exit_code, 0);
  fs::copy_file(whole.path() / "manifest.json", shared.path() / "manifest.json");
  auto verified = run_chexport({"verify", shared.str()});
  EXPECT_EQ(verified.exit_code, 4) << verified.output;
  EXPECT_NE(verified.output.find("mixed: manifest.json of an export without --worker and "
                                 "manifest.worker-1-of-2.json (and more parts)"),
            std::string::npos)
      << verified.output;
}

// From three workers to two: --fresh takes away the parts of the three.
TEST(Workers, FreshWithAnotherNumberOfWorkersReplacesTheOldParts) {
  std::string db = twelve_months();
  TempDir out;
  for (const char* k : {"1/3", "2/3", "3/3"})
    ASSERT_EQ(run_chexport(export_args(db, out, k)).exit_code, 0);
  for (const char* k : {"1/2", "2/2"}) {
    std::vector<std::string> args = export_args(db, out, k);
    args.push_back("--fresh");
    auto r = run_chexport(args);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  for (const char* k : {"1", "2", "3"}) {
    EXPECT_FALSE(fs::exists(out.path() / ("manifest.worker-" + std::string(k) + "-of-3.json")));
  }
  auto verified = run_chexport({"verify", out.str()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("OK: 12 file(s), 6600 rows"), std::string::npos)
      << verified.output;
  EXPECT_EQ(exported_digest(out, "manifest.worker-1-of-2.json").records +
                exported_digest(out, "manifest.worker-2-of-2.json").records,
            6600u);
}

TEST(Workers, UsageErrors) {
  TempDir out;
  struct Case {
    std::string worker, message;
    std::map<std::string, std::string> env;
  } cases[] = {
      {"4/3", "--worker \"4/3\": K is 4, more than N (3)", {}},
      {"0/3", "K must be a whole number from 1", {}},
      {"2", "expected K/N", {}},
      {"auto/3", "JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's), which is not set", {}},
      {"auto/3", "JOB_COMPLETION_INDEX is \"x\", not an index", {{"JOB_COMPLETION_INDEX", "x"}}},
      {"auto/3", "K is 4, more than N (3)", {{"JOB_COMPLETION_INDEX", "3"}}},
  };
  for (const Case& c : cases) {
    auto r = run_chexport({"export", "--url", test_server().url(), "-t", "default.none", "--out",
                           out.str(), "--worker", c.worker},
                          c.env);
    EXPECT_EQ(r.exit_code, 2) << c.worker << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
  }
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", "default.none", "--out", "-",
                         "--worker", "1/2"},
                        {});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace chexport::testing
