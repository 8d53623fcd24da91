// Turns a producer that pushes (Store::read into a ByteSink) into a ByteSource that libcurl pulls
// a request body from, across a bounded queue: the producer runs on a thread of its own.
//
// Memory: at most `max_bytes` of the producer's chunks (copied) wait in the queue; the producer
// blocks while it is full. read() rethrows what the producer threw, once the bytes before it are
// read. Destroying the pipe before the end stops the producer (its next write throws a cancelled
// chexport::Error, which the pipe swallows) and joins its thread; the destructor never throws.
// read() is for one consumer thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "chexport/common/byte_sink.h"

namespace chexport {

class BytePipe final : public ByteSource {
 public:
  using Producer = std::function<void(ByteSink&)>;
  explicit BytePipe(Producer producer, size_t max_bytes = 4u << 20);
  ~BytePipe() override;
  BytePipe(const BytePipe&) = delete;
  BytePipe& operator=(const BytePipe&) = delete;

  size_t read(char* buffer, size_t size) override;

 private:
  class Writer;
  void push(std::string_view data);  // the producer's side; blocks while the queue is full
  void run(const Producer& producer);

  size_t max_bytes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  size_t queued_ = 0;      // bytes in chunks_
  size_t front_used_ = 0;  // bytes of chunks_.front() already read
  bool produced_ = false;  // the producer has returned (or thrown)
  bool closed_ = false;    // the consumer is gone
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace chexport
