// Exports onto a file system that ignores case, as macOS and Windows file systems do: a real FAT
// file system (dosfstools' mkfs.vfat, mounted with fusefat through FUSE; both from Debian, put
// in by scripts/install-deps.sh). Partition values alike but for case get folders of their own,
// and a folder that the file system takes for another one of another spelling stops the run
// before anything is removed. On both real servers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checks.h"
#include "chexport/common/error.h"
#include "chexport/output/store.h"
#include "test_server.h"

namespace chexport::testing {
namespace {

namespace fs = std::filesystem;

// A FAT file system of 64 MiB mounted at dir(); unmounted by the destructor, also when a test
// fails.
class FatMount {
 public:
  FatMount() {
    std::string image = image_dir_.str() + "/fat.img";
    std::ofstream(image, std::ios::binary).close();
    fs::resize_file(image, 64 << 20);
    run_or_throw({"mkfs.vfat", image});
    run_or_throw({"fusefat", "-o", "rw+", image, mount_.str()});
    mounted_ = true;
  }
  ~FatMount() {
    if (mounted_) run_program({"umount", mount_.str()});
  }
  const TempDir& dir() const { return mount_; }

 private:
  static void run_or_throw(const std::vector<std::string>& argv) {
    auto r = run_program(argv);
    if (r.exit_code != 0) throw std::runtime_error(argv[0] + " failed: " + r.output);
  }
  TempDir image_dir_, mount_;
  bool mounted_ = false;
};

// FUSE needs its device; a machine without one cannot mount the file system at all.
bool have_fuse() {
  return fs::exists("/dev/fuse");
}

// A fresh database with table t (p String, n UInt64) partitioned by p: `rows` rows, p = `value`
// (an expression of number), its parts merged.
std::string string_partitions(const std::string& value, int rows) {
  std::string db = fresh_database();
  http_query("CREATE TABLE " + db +
             ".t (p String, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n");
  http_query("INSERT INTO " + db + ".t SELECT " + value + ", number FROM numbers(" +
             std::to_string(rows) + ")");
  settle_parts(db, "t");
  return db;
}

std::vector<std::string> export_args(const std::string& db, const FatMount& fat) {
  return {"export", "--url", test_server().url(), "-t", db + ".t", "-o", fat.dir().str()};
}

TEST(CaseFolding, TheFileSystemIgnoresCase) {
  if (!have_fuse()) GTEST_SKIP() << "no /dev/fuse on this machine: FAT cannot be mounted";
  FatMount fat;
  fs::create_directories(fat.dir().path() / "Ab");
  EXPECT_TRUE(fs::exists(fat.dir().path() / "aB"));  // else the tests below show nothing
}

TEST(CaseFolding, ValuesAlikeButForCaseGetTheirOwnFoldersAndResume) {
  if (!have_fuse()) GTEST_SKIP() << "no /dev/fuse on this machine: FAT cannot be mounted";
  std::string db = string_partitions("arrayElement(['Ab', 'aB', 'x'], number % 3 + 1)", 300);
  FatMount fat;
  std::vector<std::string> args = export_args(db, fat);
  auto first = run_chexport(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  check_manifest(fat.dir(), 300);
  std::vector<std::string> files = data_files(fat.dir());
  ASSERT_EQ(files.size(), 3u) << ::testing::PrintToString(files);
  // 'x' by its value; 'Ab' and 'aB' by their partition IDs (32 hex digits).
  size_t by_id = 0;
  for (const std::string& f : files) {
    std::string folder = f.substr(db.size() + 3, f.find('/', db.size() + 3) - db.size() - 3);
    if (folder == "partition=x") continue;
    EXPECT_EQ(folder.size(), 10u + 32u) << f;
    ++by_id;
  }
  EXPECT_EQ(by_id, 2u);
  EXPECT_EQ(exported_digest(fat.dir()),
            records_digest(http_query("SELECT * FROM " + db + ".t FORMAT CSV")));

  auto again = run_chexport(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("3 task(s) already done and verified, 0 to export"),
            std::string::npos)
      << again.output;
  check_manifest(fat.dir(), 300);
  EXPECT_EQ(data_files(fat.dir()), files);
}

// The review's case: an earlier export's folder `partition=AB`, and now a partition 'ab' (the
// plan has no second value to compare it with). Exporting 'ab' into the folder of 'AB' would
// remove that task's files and name the new ones after the old value in the listing; the run
// stops instead, before anything is removed, and --fresh then writes the new folder.
TEST(CaseFolding, AFolderOfAnotherSpellingStopsTheRunBeforeAnythingIsRemoved) {
  if (!have_fuse()) GTEST_SKIP() << "no /dev/fuse on this machine: FAT cannot be mounted";
  std::string db = string_partitions("if(number < 50, 'AB', 'x')", 100);
  FatMount fat;
  std::vector<std::string> args = export_args(db, fat);
  auto first = run_chexport(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  http_query("ALTER TABLE " + db + ".t DROP PARTITION 'AB'");
  http_query("INSERT INTO " + db + ".t SELECT 'ab', 1000 + number FROM numbers(20)");
  const std::vector<std::string> before = fat.dir().files();
  const std::string manifest = read_file(fat.dir().path() / "manifest.json");

  auto resume = run_chexport(args);
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_NE(resume.output.find(fat.dir().str() + "/" + db +
                               "/t/partition=ab is another folder's name on this file system, "
                               "which ignores case or Unicode normalization"),
            std::string::npos)
      << resume.output;
  EXPECT_EQ(fat.dir().files(), before);
  EXPECT_EQ(read_file(fat.dir().path() / "manifest.json"), manifest);

  args.push_back("--fresh");
  auto fresh = run_chexport(args);
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  check_manifest(fat.dir(), 70);
  EXPECT_EQ(data_files(fat.dir()),
            (std::vector<std::string>{db + "/t/partition=ab/whole/part-000000.csv.zst",
                                      db + "/t/partition=x/whole/part-000000.csv.zst"}));
  // The folder's name as the file system keeps it, for readers that list it.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(fat.dir().path() / db / "t"))
    names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"partition=ab", "partition=x", "schema.sql"}));
}

TEST(CaseFolding, TaskFoldersThatAreOneFolderAreRefused) {
  if (!have_fuse()) GTEST_SKIP() << "no /dev/fuse on this machine: FAT cannot be mounted";
  FatMount fat;
  std::unique_ptr<Store> store = open_store(fat.dir().str());
  store->make_task_dirs({"d/t/partition=Ab/whole", "d/t/partition=x/range-0000_from_min"});
  EXPECT_TRUE(fs::is_directory(fat.dir().path() / "d/t/partition=Ab/whole"));
  try {
    store->make_task_dirs({"d/t/partition=Ab/whole", "d/t/partition=ab/whole"});
    FAIL() << "partition=ab was taken for partition=Ab";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::usage);
    EXPECT_NE(std::string(e.what()).find(fat.dir().str() + "/d/t/partition=ab is another "
                                                           "folder's name on this file system"),
              std::string::npos)
        << e.what();
  }
  // A case-sensitive file system keeps both.
  TempDir plain;
  open_store(plain.str())->make_task_dirs({"d/t/partition=Ab/whole", "d/t/partition=ab/whole"});
  EXPECT_TRUE(fs::is_directory(plain.path() / "d/t/partition=ab/whole"));
}

}  // namespace
}  // namespace chexport::testing
