#include "chexport/output/store_lock.h"

#include <fcntl.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "chexport/common/error.h"
#include "chexport/common/json_read.h"
#include "chexport/common/json_writer.h"

namespace chexport {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

[[noreturn]] void throw_locked(const std::string& where, const LockHolder& holder,
                               const std::string& advice) {
  throw Error(ErrorKind::permanent, ErrorCategory::locked,
              where + " is in use by another chexport run: " + holder.describe() + "; " + advice);
}

class DirectoryLock final : public StoreLock {
 public:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  ~DirectoryLock() override { ::close(fd_); }  // the kernel drops the flock with the descriptor

 private:
  int fd_;
};

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(text.size()))) > 0)
    text.append(buffer, static_cast<size_t>(n));
  return text;
}

// The object lock and the thread that keeps it fresh.
class S3PrefixLock final : public StoreLock {
 public:
  S3PrefixLock(const S3Credentials& credentials, const std::string& bucket, std::string key,
               LockHolder me)
      : client_(credentials, bucket), key_(std::move(key)), me_(std::move(me)) {
    thread_ = std::thread([this] { refresh_until_stopped(); });
  }
  ~S3PrefixLock() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    try {
      if (still_ours()) client_.delete_object(key_);
    } catch (const std::exception& e) {
      spdlog::warn("could not remove the lock {}: {}", key_, e.what());
    }
  }

 private:
  bool still_ours() {
    StringSink text;
    return client_.get_object(key_, text) && LockHolder::parse(text.text).run_id == me_.run_id;
  }

  void refresh_until_stopped() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::duration<double>(lock_refresh_seconds),
                           [this] { return stop_; })) {
      try {
        if (!still_ours()) {
          spdlog::error("the lock {} is no longer this run's: another run broke it", key_);
          return;
        }
        me_.refreshed_at = unix_now();
        client_.put_object(key_, me_.json());
      } catch (const std::exception& e) {
        spdlog::warn("could not refresh the lock {}: {}", key_, e.what());
      }
    }
  }

  S3Client client_;
  std::string key_;
  LockHolder me_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::string LockHolder::json() const {
  JsonWriter j;
  j.begin_object()
      .field("run_id", run_id)
      .field("host", host)
      .field("pid", static_cast<int64_t>(pid))
      .field("started_at", started_at)
      .field("refreshed_at", refreshed_at)
      .end_object();
  return j.str();
}

std::string LockHolder::describe() const {
  return "run " + (run_id.empty() ? std::string("?") : run_id) + " (pid " + std::to_string(pid) +
         " on host " + (host.empty() ? std::string("?") : host) + ", started " +
         (started_at.empty() ? std::string("?") : started_at) + ")";
}

LockHolder LockHolder::parse(std::string_view json) {
  LockHolder h;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element e;
  if (parser.parse(padded).get(e) != simdjson::SUCCESS) return h;
  h.run_id = json_text(e, "run_id");
  h.host = json_text(e, "host");
  h.started_at = json_text(e, "started_at");
  int64_t pid = 0;
  if (e["pid"].get_int64().get(pid) == simdjson::SUCCESS) h.pid = static_cast<long>(pid);
  double refreshed = 0;
  if (e["refreshed_at"].get_double().get(refreshed) == simdjson::SUCCESS)
    h.refreshed_at = refreshed;
  return h;
}

LockHolder this_run_holder(const std::string& started_at) {
  LockHolder me;
  std::random_device random;
  char id[32];
  std::snprintf(id, sizeof id, "run-%08x%08x", random(), random());
  me.run_id = id;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) == 0) me.host = host;
  me.pid = static_cast<long>(::getpid());
  me.started_at = started_at;
  me.refreshed_at = unix_now();
  return me;
}

std::unique_ptr<StoreLock> lock_directory(const std::string& path, const LockHolder& me) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw_io("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    LockHolder holder = LockHolder::parse(read_all(fd));
    ::close(fd);
    if (err != EWOULDBLOCK) throw_io("cannot lock " + path + ": " + std::strerror(err));
    // The directory, as users name it; a --worker share's lock by its name too.
    std::string dir = path.substr(0, path.rfind('/'));
    std::string name = path.substr(path.rfind('/') + 1);
    throw_locked(name == lock_file_name ? dir : dir + " (" + name + ")", holder,
                 "wait for it to end (the lock frees itself when that process ends)");
  }
  std::string text = me.json();
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    int err = errno;
    ::close(fd);
    throw_io("cannot write " + path + ": " + std::strerror(err));
  }
  return std::make_unique<DirectoryLock>(fd);
}

std::unique_ptr<StoreLock> lock_s3_prefix(const S3Credentials& credentials,
                                          const std::string& bucket, const std::string& key,
                                          const std::string& url, LockHolder me, bool break_lock) {
  S3Client client(credentials, bucket);
  StringSink existing;
  if (client.get_object(key, existing)) {
    LockHolder holder = LockHolder::parse(existing.text);
    double age = unix_now() - holder.refreshed_at;
    std::string refreshed = "last refreshed " + std::to_string(static_cast<long>(age)) + " s ago";
    if (!break_lock) {
      throw_locked(url, holder,
                   refreshed +
                       "; if that run is gone, --break-lock removes a lock not refreshed "
                       "for " +
                       std::to_string(static_cast<long>(lock_stale_seconds)) + " s");
    }
    if (age < lock_stale_seconds) {
      throw_locked(url, holder,
                   refreshed +
                       ", so it looks alive: --break-lock takes only a lock not refreshed "
                       "for " +
                       std::to_string(static_cast<long>(lock_stale_seconds)) + " s");
    }
    spdlog::warn("breaking the stale lock of {} on {} ({})", holder.describe(), url, refreshed);
    client.delete_object(key);
  }
  me.refreshed_at = unix_now();
  bool created = client.put_object_if_absent(key, me.json());
  StringSink check;
  bool found = client.get_object(key, check);
  if (!created || !found || LockHolder::parse(check.text).run_id != me.run_id) {
    throw_locked(url, LockHolder::parse(check.text),
                 "it took the lock at the same moment as this run");
  }
  return std::make_unique<S3PrefixLock>(credentials, bucket, key, std::move(me));
}

}  // namespace chexport
