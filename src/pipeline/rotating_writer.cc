#include "chexport/pipeline/rotating_writer.h"

#include <unistd.h>

#include <filesystem>

namespace chexport {

void RotatingWriter::FileSink::write(std::string_view data) {
  sha.update(data);
  bytes += data.size();
  file->write(data);
}

FileOpener local_files(std::function<std::string(size_t)> path_for) {
  return [path_for = std::move(path_for)](size_t i) -> std::unique_ptr<OutputFile> {
    return std::make_unique<AtomicFile>(path_for(i));
  };
}

RotatingWriter::RotatingWriter(FileOpener open, RotationLimits limits, ZstdEncoder* encoder,
                               bool has_header)
    : open_(std::move(open)), limits_(limits), encoder_(encoder), has_header_(has_header) {}

RotatingWriter::~RotatingWriter() {
  cancel();
}

uint64_t RotatingWriter::rows() const noexcept {
  uint64_t records = scanner_.records();
  return (has_header_ && records > 0) ? records - 1 : records;
}

bool RotatingWriter::bytes_limit_reached() const noexcept {
  if (limits_.max_csv_bytes != 0 && current_csv_bytes_ >= limits_.max_csv_bytes) return true;
  if (limits_.max_compressed_bytes != 0) {
    uint64_t produced = sink_.bytes + (encoder_ ? encoder_->buffered() : 0);
    if (produced >= limits_.max_compressed_bytes) return true;
  }
  return false;
}

void RotatingWriter::emit(std::string_view data) {
  if (encoder_ != nullptr) {
    encoder_->compress(data, sink_);
  } else {
    sink_.write(data);
  }
  current_csv_bytes_ += data.size();
}

void RotatingWriter::open_next() {
  current_ = open_(files_.size());
  sink_.file = current_.get();
  sink_.bytes = 0;
  current_rows_ = 0;
  current_csv_bytes_ = 0;
  rotate_at_next_boundary_ = false;
  if (!header_.empty()) emit(header_);
}

void RotatingWriter::close_current() {
  if (encoder_ != nullptr) encoder_->end_frame(sink_);
  current_->finish();
  files_.push_back(WrittenFile{current_->name(), current_rows_, current_csv_bytes_, sink_.bytes,
                               sink_.sha.hex_digest(), false, "", ""});
  finished_.push_back(std::move(current_));
  sink_.file = nullptr;
}

void RotatingWriter::write(std::string_view data) {
  tail_.append(data);
  std::string_view rest = data;
  while (!rest.empty()) {
    if (has_header_ && !header_done_) {
      auto r = scanner_.scan(rest, 1);
      header_.append(rest.substr(0, r.consumed));
      rest.remove_prefix(r.consumed);
      header_done_ = r.records > 0;
      continue;
    }
    if (!current_) open_next();
    if (bytes_limit_reached()) rotate_at_next_boundary_ = true;

    uint64_t record_limit = UINT64_MAX;
    if (limits_.max_rows != 0) record_limit = limits_.max_rows - current_rows_;
    std::string_view piece = rest;
    if (rotate_at_next_boundary_) {
      record_limit = 1;
    } else if (limits_.max_csv_bytes != 0) {
      // Scan no further than the byte limit, so that reaching it is noticed right there.
      piece = rest.substr(0, limits_.max_csv_bytes - current_csv_bytes_);
    }
    auto r = scanner_.scan(piece, record_limit);
    emit(piece.substr(0, r.consumed));
    current_rows_ += r.records;
    rest.remove_prefix(r.consumed);

    bool rows_full = limits_.max_rows != 0 && current_rows_ >= limits_.max_rows;
    bool bytes_full = rotate_at_next_boundary_ || bytes_limit_reached();
    if ((rows_full || bytes_full) && current_rows_ > 0 && scanner_.at_record_boundary()) {
      close_current();
    } else if (bytes_full) {
      rotate_at_next_boundary_ = true;
    }
  }
}

void RotatingWriter::finish() {
  if (current_) close_current();
}

void RotatingWriter::commit() {
  finish();
  size_t renamed = 0;
  try {
    // files_ ends with the finished_ ones, in the same order.
    const size_t first = files_.size() - finished_.size();
    for (; renamed < finished_.size(); ++renamed) {
      finished_[renamed]->commit();
      files_[first + renamed].etag = finished_[renamed]->stored_etag();
      files_[first + renamed].s3_checksum = finished_[renamed]->stored_checksum();
    }
  } catch (...) {
    // All or nothing: take back the files already under their final names, and the one whose
    // commit failed (it may have become visible before the failure was noticed).
    for (size_t i = 0; i <= renamed && i < finished_.size(); ++i) finished_[i]->uncommit();
    throw;
  }
  finished_.clear();
}

void RotatingWriter::cancel() noexcept {
  if (encoder_ != nullptr && current_) encoder_->reset();
  if (current_) current_->cancel();
  current_.reset();
  for (auto& file : finished_) file->cancel();
  finished_.clear();
}

}  // namespace chexport
