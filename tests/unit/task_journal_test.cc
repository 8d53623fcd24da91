#include "chexport/run/task_journal.h"

#include <gtest/gtest.h>

#include <fstream>

#include "../support/test_util.h"

namespace chexport {
namespace {

using testing::read_file;
using testing::TempDir;

const char* const manifest =
    R"({"version":1,"tasks":[{"dir":"a","status":"pending"},{"dir":"b","status":"pending"},)"
    R"({"dir":"c","status":"pending"}]})";

TEST(TaskJournal, ABatchIsOneAppendOfItsLines) {
  TempDir dir;
  std::string path = dir.str() + "/manifest.journal";
  TaskJournal journal(path);
  journal.append({R"({"dir":"a","status":"done"})", R"({"dir":"b","status":"done"})"});
  journal.append({R"({"dir":"c","status":"failed"})"});
  EXPECT_EQ(read_file(path),
            "{\"dir\":\"a\",\"status\":\"done\"}\n{\"dir\":\"b\",\"status\":\"done\"}\n"
            "{\"dir\":\"c\",\"status\":\"failed\"}\n");
  EXPECT_EQ(journal.bytes(), read_file(path).size());
}

// A crash in the middle of a batch's write cuts its last line: the tasks before it count, the cut
// one stays as the manifest has it.
TEST(TaskJournal, ALastLineCutByACrashIsLeftOut) {
  TempDir dir;
  std::ofstream(dir.str() + "/manifest.json") << manifest;
  std::ofstream(dir.str() + "/manifest.journal")
      << "{\"dir\":\"a\",\"status\":\"done\"}\n{\"dir\":\"b\",\"status\":\"done\"}\n{\"dir\":\"c\","
         "\"st";
  auto store = open_store(dir.str());
  std::string text;
  ASSERT_TRUE(read_manifest_text(*store, "manifest.json", text));
  EXPECT_EQ(text,
            R"({"version":1,"tasks":[{"dir":"a","status":"done"},{"dir":"b","status":"done"},)"
            R"({"dir":"c","status":"pending"}]})");
}

}  // namespace
}  // namespace chexport
