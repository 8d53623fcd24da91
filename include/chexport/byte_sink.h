// The one push interface every stage of the byte pipeline implements.
#pragma once

#include <string_view>

namespace chexport {

// A destination for a stream of bytes, pushed in borrowed chunks.
//
// Life cycle (like ClickHouse's WriteBuffer): any number of write() calls, then exactly one of
// finish() (completes the output; may throw) or cancel() (abandons it; never throws). A sink that
// is destroyed without finish() behaves as if cancel() had been called: destructors never flush.
// write() may throw chexport::Error; after a throw the only valid call is cancel().
// Not thread-safe: one producer at a time.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // `data` is only valid during the call; implementations must not keep the pointer.
  virtual void write(std::string_view data) = 0;
  virtual void finish() = 0;
  virtual void cancel() noexcept = 0;
};

}  // namespace chexport
