// Splits one CSV stream that carries the rows of several tasks into one stream per task. Each
// record starts with its task's tag, the number of its sink ("3,"), which the router removes: the
// rest of the record goes to that sink without a copy. The query orders the records by tag, so
// the tags never go down and one sink at a time receives bytes; a sink is finish()ed when the
// next tag starts, so that the sinks can share one zstd context.
//
// Used for small tasks exported by one query (export_group_attempt, task_export.h): for tiny
// partitions a query per partition costs more than their rows.
//
// write() does not throw on a malformed stream (a record without a tag, a tag out of order or
// range: usually the error text a server appends after it answered 200); it stops routing and
// keeps the stream's tail, and broken() then says what was wrong. Errors of the sinks propagate.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "chexport/common/byte_sink.h"
#include "chexport/pipeline/csv_scanner.h"

namespace chexport {

class RecordRouter final : public ByteSink {
 public:
  // The sinks are borrowed and must outlive the router.
  explicit RecordRouter(std::vector<ByteSink*> sinks) : sinks_(std::move(sinks)) {}

  void write(std::string_view data) override;
  // Finishes the sink that received the last records.
  void finish() override;
  void cancel() noexcept override;

  // What made the router stop routing, or "" for a well-formed stream so far.
  const std::string& broken() const noexcept { return broken_; }
  // The whole stream as it came, tags included: its record boundaries and its last bytes.
  const CsvScanner& scanner() const noexcept { return scanner_; }
  const StreamTail& tail() const noexcept { return tail_; }
  // Records each sink received.
  const std::vector<uint64_t>& records() const noexcept { return records_; }

 private:
  // Reads tag bytes from `data` (all of it, or up to and including the ','); false when broken.
  bool read_tag(std::string_view data, size_t& used);
  void stop(std::string why);

  std::vector<ByteSink*> sinks_;
  std::vector<uint64_t> records_ = std::vector<uint64_t>(sinks_.size());
  CsvScanner scanner_;
  StreamTail tail_;
  bool at_tag_ = true;    // the next byte starts a record
  std::string tag_;       // digits of a tag that a chunk boundary cut
  size_t current_ = 0;    // the sink of the record in progress
  bool started_ = false;  // a record was routed to current_
  std::string broken_;
};

}  // namespace chexport
