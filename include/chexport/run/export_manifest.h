// An export's manifest.json as the commands that read an export back (import) see it: what the
// files are, which tasks and tables they belong to, how they were written
// (docs/output-layout-and-manifest.md). Plain data; reading it throws chexport::Error (usage) when
// the manifest is missing or is not a chexport manifest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chexport/clickhouse/http_client.h"
#include "chexport/output/store.h"
#include "chexport/plan/columns.h"
#include "chexport/plan/table_ref.h"

namespace chexport {

struct ManifestFile {
  std::string path;  // relative to the export's root
  uint64_t rows = 0;
  uint64_t csv_bytes = 0;
  uint64_t compressed_bytes = 0;  // the file's size
  std::string sha256;             // of the file's bytes, hex
  bool handed_off = false;        // removed after --on-file: not there to read
  std::string etag;               // S3: the object's ETag at upload; empty for a local file
  std::string s3_checksum;        // S3: the SHA-256 checksum it keeps ("base64-N"), if any
};

struct ManifestTask {
  std::string db, table;
  std::string partition, partition_id, range;
  std::string predicate;  // selects the task's rows on the export's server
  std::string dir;
  std::string status;  // pending, done, failed
  std::string error;
  uint64_t written_rows = 0;
  uint64_t planned_rows = 0;
  std::vector<ManifestFile> files;
  std::shared_ptr<const ShardSource> shard;  // one shard of a Distributed table; no credentials
  std::string display() const;
  // What the task read, as SQL names it for a connection with these credentials (a shard's
  // remote() takes them).
  TableRef source(const ConnectionOptions& connection)
      const;  // "db.table partition=..." as messages name it: its dir
};

struct ManifestTable {
  std::string db, table;
  std::string schema;           // path of its schema.sql, or empty
  std::vector<Column> columns;  // in file order
};

struct ExportManifest {
  std::string format;           // CSV | CSVWithNames
  std::string datetime_format;  // text | unix
  std::string server_url, server_version, started_at;
  std::vector<ManifestTable> tables;
  std::vector<ManifestTask> tasks;
  // The manifest files read: manifest.json, or the parts of a --worker export (worker_share.h),
  // joined. What keeps the parts from covering their plan exactly once (a worker's part missing,
  // parts of different plans, a task in two parts), one line each.
  std::vector<std::string> parts;
  std::vector<std::string> problems;
  const ManifestTable* find_table(const std::string& db, const std::string& table) const;
};

// manifest.json; without one, the manifest parts of a --worker export joined (problems says what
// keeps them from being whole). Throws a usage Error when there is neither.
ExportManifest read_export_manifest(Store& store);

}  // namespace chexport
