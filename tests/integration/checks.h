// Checks shared by the integration tests: the manifest against the files, records against a
// direct fetch, and per-test databases.
#pragma once

#include <cstdint>
#include <functional>
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
size_t count_temp_files(const TempDir& out);

// How often `needle` occurs in `text`.
size_t count_of(const std::string& text, const std::string& needle);

// Checks `condition` every 20 ms until it holds (true) or 30 s have passed (false): a wait for
// something another process does, with a safety net, not a guess at how long it takes.
bool wait_until(const std::function<bool()>& condition);

// Merges every partition of db.table into one part and waits until no merge of it is left, so
// that no background merge renames its parts (and so changes its data's version) during a test.
// Throws when that does not happen within the wait's safety net.
void settle_parts(const std::string& db, const std::string& table);

// An order-independent digest of a CSV text's records (their count and the sum of their hashes),
// for comparing millions of rows without sorting them.
struct RecordsDigest {
  uint64_t records = 0;
  uint64_t hash_sum = 0;
  bool operator==(const RecordsDigest&) const = default;
};
RecordsDigest records_digest(std::string_view csv);
// The digest of every data file listed in <out>/manifest.json.
// (Or in another manifest there: a --worker export's part.)
RecordsDigest exported_digest(const TempDir& out, const std::string& manifest = "manifest.json");
std::vector<std::string> data_files(const TempDir& out);

// Readers of exports, as users run them (installed by scripts/duckdb/ and
// scripts/modern-clickhouse/ when missing): `sql` in DuckDB, its rows as TSV with NULL as \N; and
// in ClickHouse 26.7's clickhouse-local, its rows as TSVRaw. Both throw on an error.
std::string duckdb(const std::string& sql);
std::string clickhouse_local(const std::string& sql);

}  // namespace chexport::testing
