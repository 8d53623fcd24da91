// Where files go. The layout is part of the user-facing contract
// (docs/output-layout-and-manifest.md "Output layout"):
//
//   <out>/manifest.json
//   <out>/<db>/<table>/schema.sql
//   <out>/<db>/<table>/all/part-000000.csv.zst                  unpartitioned table
//   <out>/<db>/<table>/partition=<value>/part-000000.csv.zst    one folder per partition
//
// Names are percent-encoded (every byte outside A-Z a-z 0-9 _ - . becomes %XX, and a leading '.'
// too), so any value (quotes, slashes, unicode, "..") gives a safe, distinct, portable name that
// sorts like the value's bytes. A component longer than 120 bytes is cut and ends in
// "~<16 hex of its SHA-256>", keeping names distinct and within file-system limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chexport {

std::string encode_name(std::string_view raw);
std::string table_dir(std::string_view db, std::string_view table);
std::string partition_dir(std::string_view partition, std::string_view partition_id);

enum class Compression { none, zstd };
// "part-000000.csv.zst": the index is zero-padded so that names sort in stream order.
std::string data_file_name(size_t index, Compression compression);

}  // namespace chexport
