#include "chexport/pipeline/byte_pipe.h"

#include <algorithm>
#include <cstring>

#include "chexport/common/error.h"

namespace chexport {

class BytePipe::Writer final : public ByteSink {
 public:
  explicit Writer(BytePipe& pipe) : pipe_(pipe) {}
  void write(std::string_view data) override { pipe_.push(data); }
  void finish() override {}
  void cancel() noexcept override {}

 private:
  BytePipe& pipe_;
};

BytePipe::BytePipe(Producer producer, size_t max_bytes)
    : max_bytes_(std::max<size_t>(max_bytes, 1)) {
  thread_ = std::thread([this, producer = std::move(producer)] { run(producer); });
}

BytePipe::~BytePipe() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BytePipe::run(const Producer& producer) {
  std::exception_ptr error;
  try {
    Writer writer(*this);
    producer(writer);
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lock(mutex_);
    produced_ = true;
    error_ = error;
  }
  changed_.notify_all();
}

void BytePipe::push(std::string_view data) {
  if (data.empty()) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return closed_ || queued_ < max_bytes_; });
  if (closed_) throw Error(ErrorKind::cancelled, ErrorCategory::cancelled, "the reader is gone");
  chunks_.emplace_back(data);
  queued_ += data.size();
  lock.unlock();
  changed_.notify_all();
}

size_t BytePipe::read(char* buffer, size_t size) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !chunks_.empty() || produced_; });
  if (chunks_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return 0;
  }
  const std::string& front = chunks_.front();
  size_t n = std::min(size, front.size() - front_used_);
  std::memcpy(buffer, front.data() + front_used_, n);
  front_used_ += n;
  if (front_used_ == front.size()) {
    queued_ -= front.size();
    chunks_.pop_front();
    front_used_ = 0;
    lock.unlock();
    changed_.notify_all();
  }
  return n;
}

}  // namespace chexport
