#include "chexport/stdout_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "chexport/error.h"

namespace chexport {
namespace {

std::atomic<uint64_t> written{0};

}  // namespace

void StdoutFile::write(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw_io(std::string("cannot write to stdout: ") +
               (n < 0 ? std::strerror(errno) : "no progress") +
               (errno == EPIPE ? " (the reading end of the pipe is gone)" : ""));
    }
    p += n;
    left -= static_cast<size_t>(n);
    written.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
}

uint64_t stdout_bytes_written() noexcept {
  return written.load(std::memory_order_relaxed);
}

}  // namespace chexport
