#include "chexport/pipeline/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "chexport/common/error.h"

namespace chexport {
namespace {

thread_local std::mt19937 temp_rng{std::random_device{}()};

[[noreturn]] void throw_errno(const char* what, const std::string& path, int err) {
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) message += " (disk full)";
  throw_io(message);
}

}  // namespace

AtomicFile::AtomicFile(std::string final_path, Existing existing)
    : final_path_(std::move(final_path)), existing_(existing) {
  std::filesystem::path p(final_path_);
  for (int attempt = 0; fd_ < 0; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(temp_rng()));
    std::string name = "." + p.filename().string();
    name += temp_marker;
    name += std::to_string(::getpid()) + "." + suffix;
    temp_path_ = (p.parent_path() / name).string();
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || attempt == 100)) {
      int err = errno;
      temp_path_.clear();  // not ours: never unlink it
      throw_errno("cannot create", (p.parent_path() / name).string(), err);
    }
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) cancel();
}

void AtomicFile::write(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", temp_path_, errno);
    }
    if (n == 0) throw_errno("cannot write", temp_path_, EIO);
    p += n;
    left -= static_cast<size_t>(n);
  }
  written_ += data.size();
  if (written_ - flushed_ >= writeback_step) {
    // Start writeback of what is written so far, without waiting, so that the fsync() in finish()
    // has little left to wait for (Linux; elsewhere finish() does all of it).
#if defined(__linux__)
    ::sync_file_range(fd_, static_cast<off64_t>(flushed_),
                      static_cast<off64_t>(written_ - flushed_), SYNC_FILE_RANGE_WRITE);
#endif
    flushed_ = written_;
  }
}

void AtomicFile::finish() {
  if (finished_) return;
  if (::fsync(fd_) != 0) throw_errno("cannot fsync", temp_path_, errno);
  int fd = fd_;
  fd_ = -1;
  // close() is never retried: on Linux the descriptor is gone even when it reports EINTR.
  if (::close(fd) != 0 && errno != EINTR) throw_errno("cannot close", temp_path_, errno);
  finished_ = true;
}

void AtomicFile::commit() {
  if (!finished_) finish();
  if (existing_ == Existing::refuse) {
    int rc =
        ::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
      // NFS and some FUSE file systems have no rename flags: link() fails just as atomically
      // with EEXIST, and the temp name is then dropped.
      rc = ::link(temp_path_.c_str(), final_path_.c_str());
      if (rc == 0) ::unlink(temp_path_.c_str());
    }
    if (rc != 0 && (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP)) {
      // FAT and exFAT (USB drives, some FUSE and SMB mounts) have neither: a check, then a plain
      // rename. Only a writer of the same name could come between them, and no other task
      // writes into this task's folder (the folders are distinct, Store::make_task_dirs).
      struct stat st;
      if (::lstat(final_path_.c_str(), &st) == 0) {
        errno = EEXIST;
      } else if (errno == ENOENT) {
        rc = ::rename(temp_path_.c_str(), final_path_.c_str());
      }
    }
    if (rc != 0) {
      if (errno == EEXIST) {
        throw_io("cannot commit " + final_path_ +
                 ": a file of that name exists already (written by another task or run); "
                 "nothing was replaced");
      }
      throw_errno("cannot rename to", final_path_, errno);
    }
  } else if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    throw_errno("cannot rename to", final_path_, errno);
  }
  committed_ = true;
  renamed_ = true;
  sync_directory(std::filesystem::path(final_path_).parent_path().string());
}

void AtomicFile::uncommit() noexcept {
  if (renamed_) ::unlink(final_path_.c_str());
  renamed_ = false;
}

void AtomicFile::cancel() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  committed_ = true;  // nothing left to clean up
}

void sync_directory(const std::string& path) {
  int fd = ::open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open directory", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot fsync directories (EINVAL); the data itself is already synced.
  if (rc != 0 && err != EINVAL) throw_errno("cannot fsync directory", path, err);
}

void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw_io("cannot create directory " + path + ": " + ec.message());
}

}  // namespace chexport
