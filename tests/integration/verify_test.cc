// chexport verify: an export checked against its manifest, and each kind of damage reported.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checks.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

struct Exported {
  std::string db;
  TempDir out;
};

// Two partitions of 3000 rows, two files each.
void make_export(Exported& e) {
  e.db = fresh_database();
  http_query("CREATE TABLE " + e.db +
             ".t (p UInt8, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query(
      "INSERT INTO " + e.db +
      ".t SELECT number % 2, number, concat('\"', toString(number), '\\n') FROM numbers(6000)");
  auto r = run_chexport({"export", "--url", test_server().url(), "-t", e.db + ".t", "-o",
                         e.out.str(), "--max-rows-per-file", "2000", "--format", "CSVWithNames"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::string part(const Exported& e, int partition, int index) {
  return e.db + "/t/partition=" + std::to_string(partition) + "/whole/part-00000" +
         std::to_string(index) + ".csv.zst";
}

TEST(Verify, ACleanExportIsOk) {
  Exported e;
  make_export(e);
  auto r = run_chexport({"verify", e.out.str()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK: 4 file(s), 6000 rows"), std::string::npos) << r.output;
  EXPECT_EQ(r.out, "");
  auto server =
      run_chexport({"verify", e.out.str(), "--against-server", "--url", test_server().url()});
  EXPECT_EQ(server.exit_code, 0) << server.output;
  EXPECT_NE(server.output.find("counts match the server"), std::string::npos) << server.output;
}

TEST(Verify, ReportsEveryKindOfDamage) {
  Exported e;
  make_export(e);
  fs::path root = e.out.path();
  {  // one byte changed
    std::fstream f(root / part(e, 0, 0), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('X');
  }
  fs::resize_file(root / part(e, 0, 1), 50);  // truncated
  fs::remove(root / part(e, 1, 0));           // missing
  fs::copy_file(root / part(e, 1, 1),
                root / (e.db + "/t/partition=1/whole/part-000099.csv.zst"));  // extra
  auto r = run_chexport({"verify", e.out.str()});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.out.find("corrupted: " + part(e, 0, 0) + " does not match its SHA-256\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("corrupted: " + part(e, 0, 1) + " has 50 bytes, the manifest says"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("missing: " + part(e, 1, 0) + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extra: " + e.db +
                       "/t/partition=1/whole/part-000099.csv.zst is not in the manifest\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.output.find("4 problem(s) in 4 file(s)"), std::string::npos) << r.output;
}

TEST(Verify, ReportsRowsThatDoNotMatchTheManifest) {
  Exported e;
  make_export(e);
  // A manifest that claims the wrong number of rows for a file whose bytes are intact.
  std::string manifest = read_file(e.out.path() / "manifest.json");
  std::string from = "\"rows\": 1000,";
  auto at = manifest.find(from);
  ASSERT_NE(at, std::string::npos) << manifest;
  manifest.replace(at, from.size(), "\"rows\": 999,");
  std::ofstream(e.out.path() / "manifest.json", std::ios::trunc) << manifest;
  auto r = run_chexport({"verify", e.out.str()});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.out.find("holds 1000 rows, the manifest says 999"), std::string::npos) << r.out;
}

TEST(Verify, AgainstServerSeesNewRows) {
  Exported e;
  make_export(e);
  http_query("INSERT INTO " + e.db + ".t VALUES (1, 99999, 'late')");
  // The manifest's server by default: no --url needed.
  auto r = run_chexport({"verify", e.out.str(), "--against-server"});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.out.find("changed on the server: task " + e.db +
                       "/t/partition=1/whole has 3000 rows exported, count() now says 3001"),
            std::string::npos)
      << r.out;
}

TEST(Verify, NoManifestIsAUsageError) {
  TempDir empty;
  auto r = run_chexport({"verify", empty.str()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("has no manifest.json: not a chexport export"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace chexport::testing
