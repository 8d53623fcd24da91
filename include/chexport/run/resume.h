// Resuming: what an earlier run left in the output directory, and what of it can be kept
// (docs/resume-and-validation.md "Resume").
//
// A task is kept when the earlier manifest lists it as done with the same predicate and the same
// number of rows the new plan expects, and every one of its files is there with the recorded size
// and SHA-256. Options that shape the files (format, compression, limits, settings, tables,
// splitting) must be the same as before, else the run stops and says what changed: an output
// directory never mixes files made in two ways. Throws chexport::Error (usage, io).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/output/store.h"
#include "chexport/run/exporter.h"

namespace chexport {

struct PreviousTask {
  std::string dir;
  std::string predicate;
  std::string status;
  uint64_t written_rows = 0;
  uint64_t csv_bytes = 0;
  uint64_t compressed_bytes = 0;
  std::string query_id;
  std::string data_version;
  ResponseInfo server;
  std::vector<WrittenFile> files;  // paths relative to the output directory
};

struct PreviousExport {
  bool exists = false;
  ExportIdentity identity;
  std::vector<std::string> files;       // every file the manifest lists (data and schema)
  std::vector<std::string> table_dirs;  // of the tables it lists
  std::map<std::string, std::string> fingerprint;  // option name -> value
  std::map<std::string, PreviousTask> tasks;       // by task directory
  std::string plan_digest;                         // of a --worker part: the whole plan's
};

// Whether a ClickHouse setting changes the bytes or rows of the output (format_*, output_format_*,
// date_time_output_format, session_timezone, limit, final, ...; docs/resume-and-validation.md
// "Resume"). Only those are part of the resume check: the others (timeouts, threads, memory) may
// change between runs.
bool setting_shapes_output(std::string_view name);

// The layout this version writes (output/layout.h), recorded in the fingerprint as "layout".
inline constexpr std::string_view current_layout = "hive-1";

// What shapes the files, as name -> value (stored in the manifest as "fingerprint"): the options,
// each table's columns (`table_columns` parallel to options.tables), and the server's time zone
// when a DateTime column without a zone of its own is written as text.
std::map<std::string, std::string> export_fingerprint(
    const ExportOptions& options, const std::vector<std::vector<Column>>& table_columns,
    const std::string& server_timezone);

// Reads manifest.json from the store if there is one.
PreviousExport read_previous_export(Store& store,
                                    const std::string& manifest_name = "manifest.json");

// Throws a usage Error listing every entry of the fingerprint that differs; `dir` names the output.
void check_same_options(const PreviousExport& previous,
                        const std::map<std::string, std::string>& fingerprint,
                        const std::string& dir);

// Why the earlier run's `task` (null when it had none in this directory) cannot be kept for `now`,
// or empty when it can: done, from the same server and table, with the same predicate, rows and
// data version, and every file as recorded (checked last: that reads the files).
std::string why_export_again(const PreviousExport& previous, const PreviousTask* task,
                             const Task& now, const ExportIdentity& identity, Store& store);

// Empty when every file of `task` has its recorded size and SHA-256 (an S3 object with a recorded
// ETag: its size and ETag, asked with a HEAD, nothing read); else what is wrong.
std::string check_files(Store& store, const PreviousTask& task);

// Removes data files (part-NNNNNN.csv[.zst]) directly in `dir` that are not in `keep`; returns
// how many.
size_t remove_data_files(Store& store, const std::string& dir,
                         const std::vector<WrittenFile>& keep = {});

}  // namespace chexport
