// Output to standard output (`--out -`): every "file" of the rotation is one zstd frame (or one
// CSV piece) written straight to fd 1, so stdout carries one stream of concatenated frames.
//
// Nothing written to stdout can be taken back: commit(), cancel() and uncommit() do nothing, and
// stdout_bytes_written() lets the scheduler see whether an attempt already wrote something (then
// it must not be retried). Write errors (EPIPE from a closed pipe) throw chexport::Error (io).
// One writer at a time: the exporter runs tasks one after another in this mode.
#pragma once

#include <cstdint>

#include "chexport/common/byte_sink.h"

namespace chexport {

class StdoutFile final : public OutputFile {
 public:
  void write(std::string_view data) override;
  void finish() override {}
  void cancel() noexcept override {}
  void commit() override {}
  void uncommit() noexcept override {}
  const std::string& name() const noexcept override { return name_; }

 private:
  std::string name_ = "-";
};

// Bytes written to stdout by this process so far.
uint64_t stdout_bytes_written() noexcept;

// Ends a failed run's stream with bytes that every zstd decoder rejects (the start of a zstd
// frame whose header sets the reserved bit, then the end of the stream), so that whatever reads
// the pipe fails too instead of taking an incomplete export for a whole one. Never throws.
void poison_stdout() noexcept;

}  // namespace chexport
