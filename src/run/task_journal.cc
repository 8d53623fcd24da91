#include "chexport/run/task_journal.h"

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include "chexport/common/byte_sink.h"
#include "chexport/common/error.h"
#include "chexport/common/json_read.h"
#include "chexport/common/json_writer.h"

#include <spdlog/spdlog.h>

namespace chexport {

std::string journal_name(const std::string& manifest_name) {
  std::string base = manifest_name;
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  return base + ".journal";
}

TaskJournal::TaskJournal(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_io("cannot create " + path_ + ": " + std::strerror(errno));
}

TaskJournal::~TaskJournal() {
  if (fd_ >= 0) ::close(fd_);
}

void TaskJournal::append(const std::vector<std::string>& lines) {
  if (fd_ < 0) throw_io("cannot write " + path_ + ": it was closed");
  std::string record;
  for (const std::string& line : lines) {
    record += line;
    record.push_back('\n');
  }
  size_t done = 0;
  while (done < record.size()) {
    ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io("cannot write " + path_ + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) throw_io("cannot write " + path_ + ": " + std::strerror(errno));
  bytes_ += record.size();
}

void TaskJournal::remove() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
}

namespace {

// The journal's tasks by "dir", as minified JSON.
std::map<std::string, std::string> journal_tasks(Store& store, const std::string& name) {
  std::map<std::string, std::string> tasks;
  StringSink journal;
  if (!store.read(name, journal)) return tasks;
  simdjson::dom::parser parser;
  size_t start = 0;
  while (start < journal.text.size()) {
    size_t end = journal.text.find('\n', start);
    bool last = end == std::string::npos;
    if (last) end = journal.text.size();
    std::string_view line(journal.text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    simdjson::dom::element task;
    if (parser.parse(simdjson::padded_string(line)).get(task) != simdjson::SUCCESS ||
        !task.is_object()) {
      // Only a crash mid-append cuts a line, and only the last one.
      if (!last)
        throw_usage(store.describe(name) + " is not a chexport journal; use --fresh to start over");
      spdlog::warn("{}: its last line was cut short (a crash while it was written); left out",
                   store.describe(name));
      continue;
    }
    tasks[json_text(task, "dir")] = simdjson::minify(task);
  }
  return tasks;
}

}  // namespace

bool read_manifest_text(Store& store, const std::string& name, std::string& text) {
  StringSink manifest;
  if (!store.read(name, manifest)) return false;
  text = std::move(manifest.text);
  std::map<std::string, std::string> journaled = journal_tasks(store, journal_name(name));
  if (journaled.empty()) return true;
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  simdjson::padded_string padded(text);
  if (parser.parse(padded).get_object().get(root) != simdjson::SUCCESS) {
    throw_usage(store.describe(name) +
                " cannot be read as a chexport manifest; use --fresh to start over");
  }
  std::string merged = "{";
  bool first = true;
  for (auto field : root) {
    merged += std::string(first ? "" : ",") + json_escape(field.key) + ":";
    first = false;
    simdjson::dom::array tasks;
    if (field.key != "tasks" || field.value.get_array().get(tasks) != simdjson::SUCCESS) {
      merged += simdjson::minify(field.value);
      continue;
    }
    merged += "[";
    bool first_task = true;
    for (simdjson::dom::element task : tasks) {
      auto it = journaled.find(json_text(task, "dir"));
      merged += std::string(first_task ? "" : ",") +
                (it == journaled.end() ? simdjson::minify(task) : it->second);
      first_task = false;
    }
    merged += "]";
  }
  text = merged + "}";
  return true;
}

}  // namespace chexport
