#include "chexport/output/stdout_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "chexport/common/error.h"

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

void poison_stdout() noexcept {
  // Magic number 0xFD2FB528 (little endian), a frame header descriptor with its reserved bit
  // (0x08) set, and nothing after it: "unsupported frame parameter" or "truncated" everywhere.
  static const unsigned char bytes[] = {0x28, 0xB5, 0x2F, 0xFD, 0x08};
  try {
    StdoutFile().write(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  } catch (const std::exception&) {
    // The reader is gone already: it has failed on its own.
  }
}

uint64_t stdout_bytes_written() noexcept {
  return written.load(std::memory_order_relaxed);
}

}  // namespace chexport
