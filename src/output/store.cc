#include "chexport/output/store.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "chexport/common/error.h"
#include "chexport/output/s3.h"
#include "chexport/output/store_lock.h"
#include "chexport/pipeline/atomic_file.h"

#include <spdlog/spdlog.h>

namespace chexport {
namespace {

namespace fs = std::filesystem;

class LocalStore final : public Store {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  std::string describe(std::string_view relative) const override {
    return relative.empty() ? root_ : root_ + "/" + std::string(relative);
  }
  std::unique_ptr<OutputFile> create(const std::string& relative) override {
    make_directories(fs::path(describe(relative)).parent_path().string());
    return std::make_unique<AtomicFile>(describe(relative), Existing::refuse);
  }
  void put(const std::string& relative, std::string_view content) override {
    make_directories(fs::path(describe(relative)).parent_path().string());
    write_file_atomically(describe(relative), content);
  }
  bool read(const std::string& relative, ByteSink& sink) override {
    std::ifstream in(describe(relative), std::ios::binary);
    if (!in) return false;
    std::vector<char> buffer(1 << 20);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      if (in.gcount() > 0)
        sink.write(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    }
    return true;
  }
  std::optional<FileHead> head(const std::string& relative) override {
    std::error_code ec;
    uint64_t size = fs::file_size(describe(relative), ec);
    if (ec) return std::nullopt;
    return FileHead{size, "", "", false};
  }
  std::vector<StoredFile> list(const std::string& dir) override {
    std::vector<StoredFile> files;
    std::error_code ec;
    if (!fs::exists(describe(dir), ec)) return files;
    fs::directory_iterator it(describe(dir), ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      uint64_t size = it->file_size(ec);
      if (ec) break;
      files.push_back({dir + "/" + it->path().filename().string(), size});
    }
    if (ec) throw_io("cannot list " + describe(dir) + ": " + ec.message());
    std::sort(files.begin(), files.end(),
              [](const StoredFile& a, const StoredFile& b) { return a.path < b.path; });
    return files;
  }
  void remove(const std::string& relative) override {
    std::error_code ec;
    fs::remove(describe(relative), ec);
  }
  void remove_tree(const std::string& dir) override {
    std::error_code ec;
    fs::remove_all(describe(dir), ec);
  }
  std::vector<StoredFile> list_all() override {
    std::vector<StoredFile> files;
    std::error_code ec;
    if (!fs::exists(root_, ec)) return files;
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      files.push_back({fs::relative(it->path(), root_).string(), it->file_size(ec)});
    }
    if (ec) throw_io("cannot list " + root_ + ": " + ec.message());
    std::sort(files.begin(), files.end(),
              [](const StoredFile& a, const StoredFile& b) { return a.path < b.path; });
    return files;
  }
  size_t clean_leftovers(const std::vector<std::string>& dirs, Depth depth) override {
    size_t removed = 0;
    std::error_code ec;
    for (const std::string& dir : dirs) {
      if (!fs::exists(describe(dir), ec)) continue;
      if (depth == Depth::directly_in) {
        for (const StoredFile& f : list(dir)) {
          if (f.path.find(AtomicFile::temp_marker) == std::string::npos) continue;
          if (fs::remove(describe(f.path), ec)) ++removed;
        }
        continue;
      }
      for (auto it = fs::recursive_directory_iterator(describe(dir), ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file() &&
            it->path().filename().string().find(AtomicFile::temp_marker) != std::string::npos) {
          if (fs::remove(it->path(), ec)) ++removed;
        }
      }
    }
    return removed;
  }
  void make_task_dirs(const std::vector<std::string>& dirs, bool create) override {
    if (create) {
      for (const std::string& dir : dirs) make_directories(describe(dir));
    }
    // A folder that the file system found under another spelling is not listed by its parent
    // under the name asked for.
    std::map<fs::path, std::set<std::string>> listed;
    for (const std::string& dir : dirs) {
      fs::path at;
      for (const fs::path& name : fs::path(dir)) {
        fs::path parent = at;
        at /= name;
        std::error_code ec;
        if (!create && !fs::exists(describe(at.string()), ec)) break;
        auto [it, fresh] = listed.try_emplace(parent);
        if (fresh) it->second = entry_names(parent);
        if (it->second.count(name.string())) continue;
        throw_usage(describe(at.string()) +
                    " is another folder's name on this file system, which ignores case or "
                    "Unicode normalization: two tasks (or a task and a folder of someone "
                    "else's) would share their files; export to a file system that tells such "
                    "names apart, or to S3");
      }
    }
  }
  std::unique_ptr<StoreLock> lock(const LockHolder& me, bool, const std::string& name) override {
    make_directories(root_);
    return lock_directory(root_ + "/" + name, me);  // an flock is never stale: nothing to break
  }
  bool is_local() const override { return true; }

 private:
  std::set<std::string> entry_names(const fs::path& relative) const {
    std::set<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(describe(relative.string()), ec), end;
    for (; !ec && it != end; it.increment(ec)) names.insert(it->path().filename().string());
    if (ec) throw_io("cannot list " + describe(relative.string()) + ": " + ec.message());
    return names;
  }

  std::string root_;
};

// A multipart upload that becomes an object only on commit().
class S3File final : public OutputFile {
 public:
  S3File(S3Client& client, std::string key, std::string name, uint64_t part_size)
      : client_(client), key_(std::move(key)), name_(std::move(name)), part_size_(part_size) {}
  ~S3File() override { cancel(); }

  void write(std::string_view data) override {
    if (buffer_.capacity() < part_size_) buffer_.reserve(part_size_);  // one allocation per file
    while (!data.empty()) {
      size_t room = part_size_ - buffer_.size();
      size_t n = std::min(room, data.size());
      buffer_.append(data.substr(0, n));
      data.remove_prefix(n);
      if (buffer_.size() == part_size_) send_part();
    }
  }
  void finish() override {
    // Everything goes up now, even a file smaller than one part (an upload's only part may be
    // small), so that a task's finished files hold no memory while later ones are written.
    if (!buffer_.empty() || upload_id_.empty()) send_part();
    std::string().swap(buffer_);
  }
  void commit() override {
    finish();
    // The server may complete the upload even if its answer is lost: from here on, taking the
    // file back means deleting the object.
    committed_ = true;
    stored_ = client_.complete_multipart_upload(key_, upload_id_, parts_);
    upload_id_.clear();
  }
  std::string stored_etag() const override { return stored_.etag; }
  std::string stored_checksum() const override { return stored_.checksum; }
  void uncommit() noexcept override {
    if (!committed_) return;
    try {
      client_.delete_object(key_);
    } catch (const std::exception& e) {
      spdlog::error("could not take back {} after a failed task: {}", name_, e.what());
    }
    committed_ = false;
  }
  void cancel() noexcept override {
    if (committed_) return;  // only uncommit() may take back a committed object
    if (!upload_id_.empty()) client_.abort_multipart_upload(key_, upload_id_);
    upload_id_.clear();
    buffer_.clear();
  }
  const std::string& name() const noexcept override { return name_; }

 private:
  void send_part() {
    if (parts_.size() >= 10000) {
      throw Error(ErrorKind::permanent, ErrorCategory::usage,
                  name_ +
                      " needs more than 10,000 parts (S3's limit): raise --s3-part-size or set "
                      "--max-bytes-per-file");
    }
    if (upload_id_.empty()) upload_id_ = client_.create_multipart_upload(key_);
    parts_.push_back(
        client_.upload_part(key_, upload_id_, static_cast<int>(parts_.size()) + 1, buffer_));
    buffer_.clear();
  }

  S3Client& client_;
  std::string key_, name_;
  uint64_t part_size_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<S3Client::Part> parts_;
  S3Client::Stored stored_;  // the object's ETag and checksum, once committed
  bool committed_ = false;
};

class S3Store final : public Store {
 public:
  S3Store(S3Location location, uint64_t part_size)
      : location_(std::move(location)),
        credentials_(s3_credentials()),
        client_(credentials_, location_.bucket),
        part_size_(part_size) {}

  std::string describe(std::string_view relative) const override {
    return relative.empty() ? location_.url() : location_.url() + "/" + std::string(relative);
  }
  std::unique_ptr<OutputFile> create(const std::string& relative) override {
    return std::make_unique<S3File>(client_, location_.key(relative), describe(relative),
                                    part_size_);
  }
  void put(const std::string& relative, std::string_view content) override {
    client_.put_object(location_.key(relative), content);
  }
  bool read(const std::string& relative, ByteSink& sink) override {
    return client_.get_object(location_.key(relative), sink);
  }
  std::optional<FileHead> head(const std::string& relative) override {
    auto h = client_.head_object(location_.key(relative));
    if (!h) return std::nullopt;
    return FileHead{h->size, h->etag, h->checksum, client_.checksums()};
  }
  std::vector<StoredFile> list(const std::string& dir) override {
    std::string prefix = location_.key(dir) + "/";
    std::vector<StoredFile> files;
    for (const auto& o : client_.list_objects(prefix)) {
      std::string rest = o.key.substr(prefix.size());
      if (rest.find('/') == std::string::npos) files.push_back({dir + "/" + rest, o.size});
    }
    return files;
  }
  void remove(const std::string& relative) override {
    client_.delete_object(location_.key(relative));
  }
  void remove_tree(const std::string& dir) override {
    for (const auto& o : client_.list_objects(location_.key(dir) + "/"))
      client_.delete_object(o.key);
  }
  std::vector<StoredFile> list_all() override {
    std::string root = location_.prefix.empty() ? "" : location_.prefix + "/";
    std::vector<StoredFile> files;
    for (const auto& o : client_.list_objects(root))
      files.push_back({o.key.substr(root.size()), o.size});
    return files;
  }
  size_t clean_leftovers(const std::vector<std::string>& dirs, Depth depth) override {
    size_t n = 0;
    // Only chexport's own files (".../part-NNNNNN.csv[.zst]") under this export's table
    // directories: "run1" must not reach the uploads of "run10", nor anyone else's.
    for (const std::string& dir : dirs) {
      std::string prefix = location_.key(dir) + "/";
      for (const auto& u : client_.list_multipart_uploads(prefix)) {
        std::string name = u.key.substr(u.key.rfind('/') + 1);
        if (!name.starts_with("part-") || !(name.ends_with(".csv") || name.ends_with(".csv.zst")))
          continue;
        if (depth == Depth::directly_in && u.key.size() != prefix.size() + name.size()) continue;
        client_.abort_multipart_upload(u.key, u.upload_id);
        ++n;
      }
    }
    return n;
  }
  std::unique_ptr<StoreLock> lock(const LockHolder& me, bool break_lock,
                                  const std::string& name) override {
    return lock_s3_prefix(credentials_, location_.bucket, location_.key(name), location_.url(), me,
                          break_lock);
  }
  bool is_local() const override { return false; }

 private:
  S3Location location_;
  S3Credentials credentials_;
  S3Client client_;
  uint64_t part_size_;
};

}  // namespace

std::unique_ptr<Store> open_store(const std::string& location, uint64_t part_size) {
  if (is_s3_url(location)) {
    if (part_size < (5u << 20))
      throw_usage("--s3-part-size must be at least 5MiB (S3's minimum part size)");
    if (part_size > (5ull << 30))
      throw_usage("--s3-part-size must be at most 5GiB (S3's maximum part size)");
    return std::make_unique<S3Store>(parse_s3_url(location), part_size);
  }
  return std::make_unique<LocalStore>(location);
}

}  // namespace chexport
