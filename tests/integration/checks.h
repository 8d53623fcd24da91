// Checks shared by the integration tests: the manifest against the files, records against a
// direct fetch, and per-test databases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../support/test_util.h"

namespace chexport::testing {

std::vector<std::string> sorted_records(std::string_view csv);

// A fresh database named after the running test.
std::string fresh_database();

struct ExportedFile {
  std::string path;  // relative to the output directory
  uint64_t rows;
  std::string content;  // decompressed
};

// Reads the manifest and checks every file it lists against the disk: size, SHA-256, one zstd
// frame, row count; every task done. Returns the files in manifest order.
std::vector<ExportedFile> check_manifest(const TempDir& out, uint64_t expected_total_rows);

void expect_no_temp_files(const TempDir& out);

// An order-independent digest of a CSV text's records (their count and the sum of their hashes),
// for comparing millions of rows without sorting them.
struct RecordsDigest {
  uint64_t records = 0;
  uint64_t hash_sum = 0;
  bool operator==(const RecordsDigest&) const = default;
};
RecordsDigest records_digest(std::string_view csv);
// The digest of every data file listed in <out>/manifest.json.
RecordsDigest exported_digest(const TempDir& out);
std::vector<std::string> data_files(const TempDir& out);

}  // namespace chexport::testing
