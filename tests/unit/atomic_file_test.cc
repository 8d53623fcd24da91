#include "chexport/pipeline/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

#include "../support/test_util.h"
#include "chexport/common/error.h"

namespace chexport {
namespace {

using testing::read_file;
using testing::TempDir;

TEST(AtomicFile, AppearsOnlyOnCommit) {
  TempDir dir;
  std::string target = dir.str() + "/out.csv";
  AtomicFile file(target);
  file.write("hello ");
  file.write("world");
  EXPECT_FALSE(std::filesystem::exists(target));
  ASSERT_EQ(dir.files().size(), 1u);
  EXPECT_NE(dir.files()[0].find(AtomicFile::temp_marker), std::string::npos);
  file.finish();
  EXPECT_FALSE(std::filesystem::exists(target));
  file.commit();
  EXPECT_EQ(read_file(target), "hello world");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"out.csv"});
}

TEST(AtomicFile, RefusesToReplaceAnExistingFileWhenAskedTo) {
  TempDir dir;
  std::string target = dir.str() + "/part-000000.csv.zst";
  write_file_atomically(target, "first");
  AtomicFile second(target, Existing::refuse);
  second.write("second");
  try {
    second.commit();
    FAIL() << "replaced " << target;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot commit " + target +
                  ": a file of that name exists already (written by another task or run); "
                  "nothing was replaced");
  }
  second.cancel();
  EXPECT_EQ(read_file(target), "first");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"part-000000.csv.zst"});
  // The default replaces, as manifest.json and schema.sql must.
  write_file_atomically(target, "third");
  EXPECT_EQ(read_file(target), "third");
}

TEST(AtomicFile, CancelRemovesTheTempFile) {
  TempDir dir;
  AtomicFile file(dir.str() + "/out.csv");
  file.write("data");
  file.cancel();
  EXPECT_TRUE(dir.files().empty());
}

TEST(AtomicFile, DestructionWithoutCommitRemovesTheTempFile) {
  TempDir dir;
  {
    AtomicFile file(dir.str() + "/out.csv");
    file.write("data");
    file.finish();
  }
  EXPECT_TRUE(dir.files().empty());
}

TEST(AtomicFile, ReplacesAnOldFileOnlyAtCommit) {
  TempDir dir;
  std::string target = dir.str() + "/out.csv";
  write_file_atomically(target, "old");
  AtomicFile file(target);
  file.write("new");
  file.finish();
  EXPECT_EQ(read_file(target), "old");
  file.commit();
  EXPECT_EQ(read_file(target), "new");
}

TEST(AtomicFile, ThrownErrorLeavesNoFile) {
  TempDir dir;
  std::string target = dir.str() + "/out.csv";
  // A real write failure: the file-size limit makes write() fail with EFBIG, like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    AtomicFile file(target);
    file.write(std::string(8192, 'x'));
    file.commit();
  } catch (const Error& e) {
    message = e.what();
    EXPECT_EQ(e.category(), ErrorCategory::io);
  }
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_NE(message.find("disk full"), std::string::npos) << message;
  EXPECT_NE(message.find("out.csv"), std::string::npos) << message;
  EXPECT_TRUE(dir.files().empty());
}

TEST(AtomicFile, CreateFailsWithAClearError) {
  try {
    AtomicFile file("/nonexistent-dir-chexport/x.csv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-chexport/"), std::string::npos);
  }
}

}  // namespace
}  // namespace chexport
