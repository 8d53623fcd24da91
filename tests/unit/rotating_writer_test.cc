#include "chexport/pipeline/rotating_writer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "../support/test_util.h"
#include "chexport/common/error.h"

namespace chexport {
namespace {

using testing::read_file;
using testing::split_records;
using testing::TempDir;

std::string make_csv(size_t records) {
  std::mt19937 rng(11);
  std::string out;
  for (size_t i = 0; i < records; ++i) {
    out += std::to_string(i) + ",\"text " + std::string(rng() % 40, 'x') + "\"\"q\"\"\n" +
           (i % 3 ? "more" : "") + "\"," + (i % 4 ? "\\N" : "1.5") + (i % 5 ? "\n" : "\r\n");
  }
  return out;
}

struct Written {
  std::vector<WrittenFile> files;
  std::vector<std::string> contents;  // decompressed
};

// Feeds `csv` through a writer in chunks of `chunk` bytes and returns what it committed.
Written write_all(const TempDir& dir, std::string_view csv, RotationLimits limits, size_t chunk,
                  bool compress = true, bool header = false) {
  ZstdEncoder encoder(3);
  RotatingWriter writer(
      [&](size_t i) {
        return dir.str() + "/part-" + std::to_string(i) + (compress ? ".csv.zst" : ".csv");
      },
      limits, compress ? &encoder : nullptr, header);
  for (size_t pos = 0; pos < csv.size(); pos += chunk) writer.write(csv.substr(pos, chunk));
  writer.commit();
  Written w{writer.files(), {}};
  for (const WrittenFile& f : w.files) {
    std::string raw = read_file(f.path);
    EXPECT_EQ(raw.size(), f.compressed_bytes);
    EXPECT_EQ(Sha256::of(raw), f.sha256);
    if (compress) {
      EXPECT_EQ(testing::zstd_frame_count(raw), 1u) << f.path;
      w.contents.push_back(testing::zstd_decompress(raw));
    } else {
      w.contents.push_back(raw);
    }
    EXPECT_EQ(w.contents.back().size(), f.csv_bytes);
  }
  return w;
}

std::string concat(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

TEST(RotatingWriter, RotatesByRowsAtRecordBoundaries) {
  std::string csv = make_csv(1000);
  for (size_t chunk : {1, 7, 64, 100, 4096, 1 << 20}) {
    TempDir dir;
    Written w = write_all(dir, csv,
                          {.max_rows = 300, .max_csv_bytes = 0, .max_compressed_bytes = 0}, chunk);
    ASSERT_EQ(w.files.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(concat(w.contents), csv);
    std::vector<uint64_t> rows;
    for (size_t i = 0; i < w.files.size(); ++i) {
      rows.push_back(w.files[i].rows);
      EXPECT_EQ(split_records(w.contents[i]).size(), w.files[i].rows);
      EXPECT_EQ(w.contents[i].back(), '\n');
    }
    EXPECT_EQ(rows, (std::vector<uint64_t>{300, 300, 300, 100}));
    EXPECT_EQ(dir.files(), (std::vector<std::string>{"part-0.csv.zst", "part-1.csv.zst",
                                                     "part-2.csv.zst", "part-3.csv.zst"}));
  }
}

TEST(RotatingWriter, RotatesByBytesAtTheFirstBoundaryAfterTheLimit) {
  std::string csv = make_csv(2000);
  const uint64_t limit = 10'000;
  for (size_t chunk : {1, 33, 4096}) {
    TempDir dir;
    Written w = write_all(
        dir, csv, {.max_rows = 0, .max_csv_bytes = limit, .max_compressed_bytes = 0}, chunk);
    EXPECT_EQ(concat(w.contents), csv);
    // Expected cut points from the reference splitter: close at the first boundary >= limit.
    std::vector<uint64_t> expected_sizes;
    uint64_t current = 0;
    for (const std::string& r : split_records(csv)) {
      current += r.size();
      if (current >= limit) {
        expected_sizes.push_back(current);
        current = 0;
      }
    }
    if (current) expected_sizes.push_back(current);
    std::vector<uint64_t> sizes;
    for (const auto& f : w.files) sizes.push_back(f.csv_bytes);
    EXPECT_EQ(sizes, expected_sizes) << "chunk " << chunk;
  }
}

TEST(RotatingWriter, RotatesByCompressedBytes) {
  std::mt19937 rng(5);
  std::string csv;
  for (int i = 0; i < 20000; ++i)
    csv += std::to_string(rng()) + ",\"" + std::to_string(rng()) + "\"\n";
  TempDir dir;
  Written w = write_all(
      dir, csv, {.max_rows = 0, .max_csv_bytes = 0, .max_compressed_bytes = 64 * 1024}, 4096);
  EXPECT_GE(w.files.size(), 2u);
  EXPECT_EQ(concat(w.contents), csv);
  for (size_t i = 0; i + 1 < w.files.size(); ++i) {
    // zstd buffers up to one block (128 KiB of input) before it produces output.
    EXPECT_GE(w.files[i].compressed_bytes, 32u * 1024) << i;
    EXPECT_LE(w.files[i].compressed_bytes, 64u * 1024 + 128u * 1024) << i;
  }
}

TEST(RotatingWriter, RepeatsTheHeaderInEveryFile) {
  std::string header = "\"id\",\"text\",\"x\"\n";
  std::string body = make_csv(500);
  TempDir dir;
  Written w =
      write_all(dir, header + body,
                {.max_rows = 200, .max_csv_bytes = 0, .max_compressed_bytes = 0}, 50, true, true);
  ASSERT_EQ(w.files.size(), 3u);
  std::string joined;
  for (size_t i = 0; i < w.contents.size(); ++i) {
    ASSERT_TRUE(w.contents[i].starts_with(header)) << i;
    joined += w.contents[i].substr(header.size());
  }
  EXPECT_EQ(joined, body);
  EXPECT_EQ(w.files[0].rows + w.files[1].rows + w.files[2].rows, 500u);
}

TEST(RotatingWriter, WritesPlainCsvWithoutCompression) {
  std::string csv = make_csv(100);
  TempDir dir;
  Written w = write_all(dir, csv, {.max_rows = 60, .max_csv_bytes = 0, .max_compressed_bytes = 0},
                        10, false);
  ASSERT_EQ(w.files.size(), 2u);
  EXPECT_EQ(concat(w.contents), csv);
}

TEST(RotatingWriter, AFailedRenameTakesBackTheFilesAlreadyRenamed) {
  TempDir dir;
  // The second file's final name is a non-empty directory: rename() fails for it.
  std::filesystem::create_directories(dir.path() / "f1" / "occupied");
  ZstdEncoder encoder(1);
  RotatingWriter writer([&](size_t i) { return dir.str() + "/f" + std::to_string(i); },
                        {.max_rows = 100, .max_csv_bytes = 0, .max_compressed_bytes = 0}, &encoder,
                        false);
  writer.write(make_csv(150));
  EXPECT_THROW(writer.commit(), Error);
  writer.cancel();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "f0"));
  EXPECT_EQ(dir.files(), std::vector<std::string>{});  // only the directory remains
}

TEST(RotatingWriter, EmptyStreamWritesNoFile) {
  TempDir dir;
  ZstdEncoder encoder(1);
  RotatingWriter writer([&](size_t i) { return dir.str() + "/f" + std::to_string(i); }, {},
                        &encoder, true);
  writer.write("\"only\",\"header\"\n");
  writer.commit();
  EXPECT_TRUE(writer.files().empty());
  EXPECT_EQ(writer.rows(), 0u);
  EXPECT_TRUE(dir.files().empty());
}

TEST(RotatingWriter, CancelAndDestructionLeaveNoFile) {
  // 1050 rows with a 100-row limit: the last file is open, mid-frame, when cancelled.
  std::string csv = make_csv(1050);
  TempDir dir;
  ZstdEncoder encoder(1);
  {
    RotatingWriter writer([&](size_t i) { return dir.str() + "/f" + std::to_string(i); },
                          {.max_rows = 100, .max_csv_bytes = 0, .max_compressed_bytes = 0},
                          &encoder, false);
    writer.write(csv);
    EXPECT_FALSE(dir.files().empty());  // temp files exist while writing
    writer.cancel();
    EXPECT_TRUE(dir.files().empty());
  }
  {
    RotatingWriter writer([&](size_t i) { return dir.str() + "/g" + std::to_string(i); },
                          {.max_rows = 100, .max_csv_bytes = 0, .max_compressed_bytes = 0},
                          &encoder, false);
    writer.write(csv);
    writer.finish();  // finished but never committed
  }
  EXPECT_TRUE(dir.files().empty());
  // The encoder is reusable after a cancelled frame.
  Written w =
      write_all(dir, csv, {.max_rows = 0, .max_csv_bytes = 0, .max_compressed_bytes = 0}, 100);
  EXPECT_EQ(concat(w.contents), csv);
}

}  // namespace
}  // namespace chexport
