// The pieces of chexport import that need no server: schema.sql renamed, columns compared, files
// read back and checked as they are sent, the push-to-pull pipe.
#include <gtest/gtest.h>
#include <zstd.h>

#include <fstream>

#include "../support/test_util.h"
#include "chexport/common/error.h"
#include "chexport/common/sha256.h"
#include "chexport/pipeline/byte_pipe.h"
#include "chexport/run/import_file.h"
#include "chexport/run/import_target.h"

namespace chexport {
namespace {

using testing::TempDir;

TEST(SchemaFor, RenamesTheTableAndKeepsTheSettings) {
  auto s = schema_for(
      "SET allow_experimental_low_cardinality_type = 1;\nCREATE TABLE src.t ( `a` "
      "LowCardinality(String)) ENGINE = MergeTree ORDER BY a;\n",
      TableRef{"src", "t"}, TableRef{"dst", "t"});
  ASSERT_EQ(s.settings.size(), 1u);
  EXPECT_EQ(s.settings[0].first, "allow_experimental_low_cardinality_type");
  EXPECT_EQ(s.settings[0].second, "1");
  EXPECT_EQ(s.create,
            "CREATE TABLE `dst`.`t` ( `a` LowCardinality(String)) ENGINE = MergeTree ORDER BY a");
}

TEST(SchemaFor, NamesThatNeedQuotes) {
  auto s = schema_for("CREATE TABLE `my-db`.`2t`\n(\n    `a` UInt8\n)\nENGINE = Memory;\n",
                      TableRef{"my-db", "2t"}, TableRef{"x", "2t"});
  EXPECT_EQ(s.create, "CREATE TABLE `x`.`2t`\n(\n    `a` UInt8\n)\nENGINE = Memory");
}

TEST(SchemaFor, RefusesAnotherStatement) {
  try {
    schema_for("CREATE VIEW src.t AS SELECT 1;\n", TableRef{"src", "t"}, TableRef{"d", "t"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::usage);
    EXPECT_NE(std::string(e.what()).find("is not a CREATE TABLE src.t statement"),
              std::string::npos);
  }
}

TEST(ColumnDifference, NamesTheFirstColumnThatDiffers) {
  std::vector<Column> exported = {{"a", "UInt8", "", ""},
                                  {"t", "DateTime", "", "Europe/Berlin"},
                                  {"m", "UInt64", "MATERIALIZED", ""}};
  std::vector<Column> same = {
      {"m", "UInt64", "", ""}, {"a", "UInt8", "", ""}, {"t", "DateTime", "", "Europe/Berlin"}};
  EXPECT_EQ(column_difference(exported, same, true), "");
  auto extra = same;
  extra.push_back({"x", "String", "", ""});
  EXPECT_EQ(column_difference(exported, extra, true),
            "column x (String) of the target is not in the export");
  auto missing = same;
  missing.erase(missing.begin());
  EXPECT_EQ(column_difference(exported, missing, true), "column m (UInt64) is not in the target");
  auto type = same;
  type[1].type = "UInt16";
  EXPECT_EQ(column_difference(exported, type, true),
            "column a is UInt16 in the target, UInt8 in the export");
  auto zone = same;
  zone[2].timezone = "UTC";
  EXPECT_NE(
      column_difference(exported, zone, true)
          .find("column t was exported as text in time zone Europe/Berlin and the target reads "
                "it in UTC"),
      std::string::npos);
  EXPECT_EQ(column_difference(exported, zone, false), "");  // unix time reads the same anywhere
}

// A file of an export in a local store, and its manifest entry.
struct StoredExport {
  TempDir dir;
  std::unique_ptr<Store> store = open_store(dir.str());
  ManifestFile file;
  std::string csv;
  explicit StoredExport(size_t rows) {
    for (size_t i = 0; i < rows; ++i)
      csv += std::to_string(i) + ",\"x,\"\"" + std::to_string(i) + "\"\n";
    std::string frame(ZSTD_compressBound(csv.size()), '\0');
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    frame.resize(ZSTD_compress2(cctx, frame.data(), frame.size(), csv.data(), csv.size()));
    ZSTD_freeCCtx(cctx);
    file = ManifestFile{"part-000000.csv.zst", rows,  csv.size(), frame.size(),
                        Sha256::of(frame),     false, "",         ""};
    std::ofstream(dir.path() / file.path, std::ios::binary) << frame;
  }
};

std::string read_all(ByteSource& source, size_t chunk = 1000) {
  std::string out, buffer(chunk, '\0');
  while (size_t n = source.read(buffer.data(), buffer.size())) out.append(buffer.data(), n);
  return out;
}

TEST(ExportFileSource, DecompressesAndChecks) {
  StoredExport e(50000);
  ExportFileSource source(*e.store, e.file, true);
  EXPECT_EQ(read_all(source), e.csv);
}

TEST(ExportFileSource, PassesTheFileOnAsItIs) {
  StoredExport e(1000);
  ExportFileSource source(*e.store, e.file, false);
  EXPECT_EQ(read_all(source), testing::read_file(e.dir.path() / e.file.path));
}

TEST(ExportFileSource, AFileThatDoesNotMatchNeverEnds) {
  for (bool decompress : {true, false}) {
    StoredExport e(20000);
    e.file.sha256[0] = e.file.sha256[0] == '0' ? '1' : '0';
    ExportFileSource source(*e.store, e.file, decompress);
    try {
      read_all(source);
      FAIL() << "read to the end";
    } catch (const Error& err) {
      EXPECT_EQ(err.category(), ErrorCategory::validation);
      EXPECT_NE(std::string(err.what()).find("does not match its SHA-256 in the manifest"),
                std::string::npos)
          << err.what();
    }
  }
}

TEST(ExportFileSource, TruncatedAndMissingFiles) {
  StoredExport e(20000);
  std::filesystem::resize_file(e.dir.path() / e.file.path, e.file.compressed_bytes - 10);
  ExportFileSource truncated(*e.store, e.file, true);
  EXPECT_THROW(read_all(truncated), Error);
  e.file.path = "part-000001.csv.zst";
  ExportFileSource missing(*e.store, e.file, true);
  try {
    read_all(missing);
    FAIL() << "read a missing file";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("is in the manifest but not in the export"),
              std::string::npos);
  }
}

// A file cut inside its frame whose manifest entry was made for the cut file (size and SHA-256
// agree): only the frame itself can tell.
TEST(ExportFileSource, AFrameThatStopsEarly) {
  StoredExport e(20000);
  std::string cut = testing::read_file(e.dir.path() / e.file.path);
  cut.resize(cut.size() - 4);  // the content checksum
  std::ofstream(e.dir.path() / e.file.path, std::ios::binary | std::ios::trunc) << cut;
  e.file.compressed_bytes = cut.size();
  e.file.sha256 = Sha256::of(cut);
  ExportFileSource source(*e.store, e.file, true);
  try {
    read_all(source);
    FAIL() << "read to the end";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("is a truncated zstd frame"), std::string::npos)
        << err.what();
  }
}

TEST(ExportFileSource, AFileLargerThanTheManifestSaysStopsThere) {
  StoredExport e(20000);
  e.file.compressed_bytes -= 100;
  ExportFileSource source(*e.store, e.file, false);
  try {
    read_all(source, 64);
    FAIL() << "read to the end";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("is larger than the manifest's"), std::string::npos)
        << err.what();
  }
}

// Asked after the server refused the body: the rest of the file is read and checked.
TEST(ExportFileSource, CheckRestFindsDamageThatWasNotSentYet) {
  StoredExport e(50000);
  e.file.sha256[0] = e.file.sha256[0] == '0' ? '1' : '0';
  ExportFileSource source(*e.store, e.file, true);
  char buffer[100];
  ASSERT_GT(source.read(buffer, sizeof buffer), 0u);
  EXPECT_THROW(source.check_rest(), Error);
  StoredExport intact(50000);
  ExportFileSource fine(*intact.store, intact.file, true);
  ASSERT_GT(fine.read(buffer, sizeof buffer), 0u);
  EXPECT_NO_THROW(fine.check_rest());
}

TEST(BytePipe, RethrowsWhatTheProducerThrewAfterItsBytes) {
  BytePipe pipe([](ByteSink& sink) {
    sink.write("abc");
    throw_io("disk gone");
  });
  char buffer[8];
  EXPECT_EQ(pipe.read(buffer, sizeof buffer), 3u);
  EXPECT_THROW(pipe.read(buffer, sizeof buffer), Error);
}

TEST(BytePipe, AReaderThatLeavesEarlyStopsTheProducer) {
  bool stopped = false;
  {
    BytePipe pipe(
        [&](ByteSink& sink) {
          try {
            for (;;) sink.write(std::string(1000, 'x'));
          } catch (const Error& e) {
            stopped = e.kind() == ErrorKind::cancelled;
            throw;
          }
        },
        4000);
    char buffer[10];
    EXPECT_EQ(pipe.read(buffer, sizeof buffer), 10u);
  }  // joins the producer: it must have been woken and stopped
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace chexport
