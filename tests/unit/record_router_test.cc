// RecordRouter: records tagged with their task's number go, without the tag, to that task's sink,
// under every cut of the stream into chunks; a malformed stream stops the routing.
#include "chexport/pipeline/record_router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chexport {
namespace {

// Remembers what it got and whether it was finished.
class Collect final : public ByteSink {
 public:
  void write(std::string_view data) override {
    EXPECT_FALSE(finished) << "written after finish()";
    text.append(data);
  }
  void finish() override { finished = true; }
  void cancel() noexcept override {}
  std::string text;
  bool finished = false;
};

struct Routed {
  std::vector<std::string> texts;
  std::vector<uint64_t> records;
  std::string broken;
  bool at_boundary = false;
};

Routed route(const std::string& stream, size_t sinks, const std::vector<size_t>& cuts) {
  std::vector<Collect> collect(sinks);
  std::vector<ByteSink*> out;
  for (Collect& c : collect) out.push_back(&c);
  RecordRouter router(out);
  size_t at = 0;
  for (size_t cut : cuts) {
    router.write(std::string_view(stream).substr(at, cut - at));
    at = cut;
  }
  router.write(std::string_view(stream).substr(at));
  router.finish();
  Routed r;
  for (const Collect& c : collect) {
    r.texts.push_back(c.text);
    EXPECT_TRUE(c.finished || c.text.empty());
  }
  r.records = router.records();
  r.broken = router.broken();
  r.at_boundary = router.scanner().at_record_boundary();
  return r;
}

const std::string stream =
    "0,1,\"a,b\"\n0,2,\"line\nbreak\"\n1,3,\"\"\"q\"\"\"\n"
    "3,4,\"x\"\n3,5,\"3,\"\n10,6,\"ten\"\n";
const std::vector<std::string> expected = {"1,\"a,b\"\n2,\"line\nbreak\"\n",
                                           "3,\"\"\"q\"\"\"\n",
                                           "",
                                           "4,\"x\"\n5,\"3,\"\n",
                                           "",
                                           "",
                                           "",
                                           "",
                                           "",
                                           "",
                                           "6,\"ten\"\n"};

TEST(RecordRouter, EveryRecordGoesToItsTaskWithoutItsTag) {
  Routed r = route(stream, 11, {});
  EXPECT_EQ(r.texts, expected);
  EXPECT_EQ(r.records, (std::vector<uint64_t>{2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(r.broken, "");
  EXPECT_TRUE(r.at_boundary);
}

TEST(RecordRouter, EveryCutIntoTwoOrThreeChunksGivesTheSame) {
  for (size_t a = 0; a <= stream.size(); ++a) {
    EXPECT_EQ(route(stream, 11, {a}).texts, expected) << a;
    for (size_t b = a; b <= stream.size(); b += 3) {
      Routed r = route(stream, 11, {a, b});
      EXPECT_EQ(r.texts, expected) << a << " " << b;
      EXPECT_EQ(r.broken, "");
    }
  }
}

TEST(RecordRouter, AnAppendedServerErrorStopsTheRouting) {
  Routed r = route("0,1\n1,2\nCode: 395, e.displayText() = DB::Exception: bad\n", 2, {9});
  EXPECT_EQ(r.texts, (std::vector<std::string>{"1\n", "2\n"}));
  EXPECT_EQ(r.broken, "a record that does not start with its task's number");
}

TEST(RecordRouter, TagsOutOfRangeOrOrderStopTheRouting) {
  EXPECT_EQ(route("0,1\n2,2\n", 2, {}).broken, "a record of task 2 of 2");
  Routed r = route("1,1\n0,2\n", 2, {});
  EXPECT_EQ(r.broken, "a record of task 0 after those of task 1");
  EXPECT_EQ(r.texts, (std::vector<std::string>{"", "1\n"}));
  EXPECT_EQ(route("0,1\n,2\n", 1, {4}).broken,
            "a record that does not start with its task's number");
  EXPECT_EQ(route("0,1\n,2\n", 1, {5}).broken,
            "a record that does not start with its task's number");
  EXPECT_FALSE(route("0,1\n0", 1, {}).at_boundary);  // cut in a tag
  EXPECT_FALSE(route("0,1\n0,\"ab", 1, {}).at_boundary);
}

}  // namespace
}  // namespace chexport
