#include "chexport/pipeline/record_router.h"

namespace chexport {

void RecordRouter::stop(std::string why) {
  if (broken_.empty()) broken_ = std::move(why);
}

bool RecordRouter::read_tag(std::string_view data, size_t& used) {
  for (used = 0; used < data.size(); ++used) {
    char c = data[used];
    if (c == ',') {
      ++used;
      if (tag_.empty() || tag_.size() > 9) {
        stop("a record that does not start with its task's number");
        return false;
      }
      size_t n = std::stoul(tag_);
      tag_.clear();
      if (n >= sinks_.size()) {
        stop("a record of task " + std::to_string(n) + " of " + std::to_string(sinks_.size()));
        return false;
      }
      if (started_ && n < current_) {
        stop("a record of task " + std::to_string(n) + " after those of task " +
             std::to_string(current_));
        return false;
      }
      if (started_ && n != current_) sinks_[current_]->finish();
      current_ = n;
      started_ = true;
      at_tag_ = false;
      return true;
    }
    if (c < '0' || c > '9') break;
    tag_.push_back(c);
  }
  if (used == data.size() && tag_.size() <= 9) return true;  // the tag goes on in the next chunk
  stop("a record that does not start with its task's number");
  return false;
}

void RecordRouter::write(std::string_view data) {
  tail_.append(data);
  while (!data.empty()) {
    if (!broken_.empty()) {
      scanner_.scan(data);
      return;
    }
    if (at_tag_) {
      size_t used = 0;
      bool ok = read_tag(data, used);
      // The tag's bytes belong to the stream too.
      scanner_.scan(data.substr(0, used));
      data.remove_prefix(used);
      if (!ok || at_tag_) continue;
    }
    // The rest of the record, or of the chunk, goes to the record's sink.
    CsvScanner::Result r = scanner_.scan(data, 1);
    sinks_[current_]->write(data.substr(0, r.consumed));
    if (r.records == 1) {
      ++records_[current_];
      at_tag_ = true;
    }
    data.remove_prefix(r.consumed);
  }
}

void RecordRouter::finish() {
  if (started_) sinks_[current_]->finish();
}

void RecordRouter::cancel() noexcept {
  for (ByteSink* s : sinks_) s->cancel();
}

}  // namespace chexport
