// `chexport import SOURCE`: loads an export (a directory or s3://bucket/prefix) into a ClickHouse
// server over HTTP, exactly once (docs/import.md). The CLI fills ImportOptions; run_import plans
// the groups (import_group.h), skips those its journal and the target say are loaded, and loads
// the others with N workers, retrying transient failures like the export does.
//
// run_import() throws chexport::Error for what stops it before any group starts (no manifest, a
// table not in the export, a target table that is missing or has other columns, connection,
// authentication); failures of groups are counted in the ImportResult.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chexport/clickhouse/http_client.h"
#include "chexport/plan/table_ref.h"
#include "chexport/run/exporter.h"
#include "chexport/run/progress.h"

namespace chexport {

// How the files travel to the server: auto (as they are, zstd, where the server reads a zstd
// request body; else decompressed here), zstd (as they are, or an error), none (decompressed).
enum class SendCompression { automatic, zstd, none };

struct ImportOptions {
  ConnectionOptions connection;
  std::string source;            // export directory or s3://bucket/prefix
  std::vector<TableRef> tables;  // as the export names them; empty: all of them
  std::string database;          // load into this database instead of the export's
  bool create_tables = false;    // run schema.sql for a table that does not exist
  bool dry_run = false;          // print what would be done (stdout), change nothing
  std::string journal;           // a local file; empty: .chexport-import/ in the export
  SendCompression send = SendCompression::automatic;
  RetryPolicy retry;
  int workers = 1;
  ProgressMode progress = ProgressMode::none;
};

struct ImportResult {
  uint64_t groups = 0, loaded = 0, kept = 0, failed = 0, rows = 0, bytes = 0;
  bool sent_zstd = false;      // some file went as it is, Content-Encoding: zstd
  size_t uncovered_parts = 0;  // replaced parts a killed target would bring back (18.16)
  int exit_code = 0;
  std::string summary;  // one line
};

ImportResult run_import(const ImportOptions& options, const CancelToken* cancel);

}  // namespace chexport
