// `chexport verify SOURCE --against-server --content --target URL`: compares what an import loaded
// with what the export read, by content, on the two servers (docs/import.md "Comparing content").
//
// For every column the server computes an order-free hash, sum(ifNull(cityHash64(c), 1))
// (wrapping; unlike an XOR, a row loaded twice changes it), and count(): on the source per task
// (its predicate), added up per group (a partition directory); on the target over the partitions
// the import's journal says the group went into. Sums of the same values are the same on 18.16
// and 26.7. Problems are appended as lines; throws chexport::Error when a server cannot be asked.
#pragma once

#include <string>
#include <vector>

#include "chexport/clickhouse/clickhouse.h"
#include "chexport/output/store.h"
#include "chexport/run/export_manifest.h"

namespace chexport {

struct ContentTarget {
  ClickHouseClient* client = nullptr;
  std::string url;       // as given to the import, for the journal's name
  std::string database;  // the import's --database, or empty
  std::string journal;   // the import's --journal FILE, or empty (in the export)
};

// Returns how many groups were compared.
size_t compare_content(Store& export_store, const ExportManifest& manifest,
                       ClickHouseClient& source, const ContentTarget& target,
                       std::vector<std::string>& problems);

}  // namespace chexport
