// `chexport verify DIR|s3://bucket/prefix`: checks an export against its manifest without trusting
// anything the export run computed on the fly (docs/resume-and-validation.md "chexport verify").
//
// Every file the manifest lists must exist with its recorded size and SHA-256, decompress as
// zstd (checksums verified) when it ends in .zst, and hold exactly its recorded rows (counted
// with the CSV scanner; a CSVWithNames header is not a row). Tasks that are not done, data files
// on disk that the manifest does not list, and (with a client) tasks whose predicate no longer
// counts their rows on the server are problems too. Throws chexport::Error only when the server
// cannot be asked.
#pragma once

#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/output/store.h"
#include "chexport/run/export_manifest.h"

namespace chexport {

struct VerifyReport {
  uint64_t files = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;                 // compressed bytes read
  uint64_t handed_off = 0;            // files removed after --on-file, not checked
  uint64_t headed = 0;                // S3 objects checked by size and ETag only (not --deep)
  uint64_t checksummed = 0;           // of those, also by the SHA-256 checksum S3 keeps
  std::vector<std::string> problems;  // one line each
};

// `manifest` is the export's (read_export_manifest). `client` may be null; when given, each task's
// count() is compared with its rows. An S3 object whose ETag the manifest records is checked by a
// HEAD (size and ETag: the bytes as uploaded) unless `deep`, which reads it back like a local file.
VerifyReport verify_export(Store& store, const ExportManifest& manifest, ClickHouseClient* client,
                           bool deep = false);

}  // namespace chexport
