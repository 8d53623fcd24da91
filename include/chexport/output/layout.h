// Where files go. The layout is part of the user-facing contract
// (docs/output-layout-and-manifest.md "Output layout"): every data file of a table sits at the
// same depth, so that one glob per table (`<db>/<table>/*/*/*.csv.zst`; a Distributed table has
// one `shard=N` level more) reads all of it.
//
//   <out>/manifest.json
//   <out>/<db>/<table>/schema.sql
//   <out>/<db>/<table>/all/whole/part-000000.csv.zst                    unpartitioned table
//   <out>/<db>/<table>/partition=<value>/whole/part-000000.csv.zst      a partition in one task
//   <out>/<db>/<table>/partition=<value>/range-0001_from_<x>/part-...   a partition's range
//
// Partition folders are Hive-style (hive_value below), so DuckDB, Spark and ClickHouse read the
// value back. Other names (databases, tables, range bounds) are percent-encoded (every byte
// outside A-Z a-z 0-9 _ - . becomes %XX, and a leading or trailing '.' too: Windows drops a
// trailing one), so any value gives a safe, distinct, portable name. Such a component longer than
// 120 bytes is cut and ends in "~<16 hex of its SHA-256>", keeping names within file-system
// limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chexport {

std::string encode_name(std::string_view raw);
std::string table_dir(std::string_view db, std::string_view table);

// The Hive name of a partition value: the value itself, with the bytes Spark escapes in partition
// folder names (controls, " # % ' * / : = ? \\ { [ ] ^ DEL, and < > | as on Windows) and a
// trailing space or dot (which Windows drops) as %XX, which Spark and DuckDB decode. A value
// readers would take for NULL ("NULL" in any case, "__HIVE_DEFAULT_PARTITION__") has its first
// byte escaped. "" where no name is both exact and readable: the empty value (Spark refuses
// `key=`, and writes "" as NULL), values that are not UTF-8 (readers decode %XX to text), and
// values whose name would pass 120 bytes.
std::string hive_value(std::string_view value);

// What readers take for NULL: the folder value of a NULL partition_expr value.
inline constexpr std::string_view hive_null = "__HIVE_DEFAULT_PARTITION__";

// `name` as case-insensitive file systems (macOS, Windows) compare it: A-Z and the upper-case
// letters of Latin-1, Latin Extended-A, Greek and Cyrillic folded to lower case. Other scripts'
// cases and Unicode normalization are not folded here: Store::make_task_dirs finds what the file
// system itself folds, and refuses it.
std::string fold_name_case(std::string_view name);

// "partition=<hive_value>", else "partition=<id>" (the partition ID, which the manifest maps to
// the value) where the value has no Hive name; "all" for an unpartitioned table (id "all").
std::string partition_dir(std::string_view partition, std::string_view partition_id);

// The level below the partition folder of a task that exports its partition whole; a range's is
// "range-NNNN_from_<bound>" (split.cc).
inline constexpr std::string_view whole_dir = "whole";

enum class Compression { none, zstd };
// "part-000000.csv.zst": the index is zero-padded so that names sort in stream order.
std::string data_file_name(size_t index, Compression compression);

}  // namespace chexport
