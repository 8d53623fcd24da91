// The one push interface every stage of the byte pipeline implements.
#pragma once

#include <string>
#include <string_view>

namespace chexport {

// A destination for a stream of bytes, pushed in borrowed chunks.
//
// Life cycle (like ClickHouse's WriteBuffer): any number of write() calls, then exactly one of
// finish() (completes the output; may throw) or cancel() (abandons it; never throws). A sink that
// is destroyed without finish() behaves as if cancel() had been called: destructors never flush.
// write() may throw chexport::Error; after a throw the only valid call is cancel().
// Not thread-safe: one producer at a time.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // `data` is only valid during the call; implementations must not keep the pointer.
  virtual void write(std::string_view data) = 0;
  virtual void finish() = 0;
  virtual void cancel() noexcept = 0;
};

// A source of bytes pulled in chunks, as libcurl pulls a request body. read() fills up to `size`
// bytes of `buffer` and returns how many; 0 means the end. It may block, and may throw
// chexport::Error (a file that does not match its checksum): the transfer is then abandoned.
// Not thread-safe: one consumer at a time.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual size_t read(char* buffer, size_t size) = 0;
};

// Collects what it is given, for small answers (metadata queries, manifests); throws
// chexport::Error past `limit` bytes.
class StringSink final : public ByteSink {
 public:
  explicit StringSink(size_t limit = 256u << 20) : limit_(limit) {}
  void write(std::string_view data) override;
  void finish() override {}
  void cancel() noexcept override {}
  std::string text;

 private:
  size_t limit_;
};

// One output file of a task: written, finished, and made visible under its final name only by
// commit(), after the task has been validated. cancel() (or destruction without commit) takes
// it back where the destination allows (a temp file, a multipart upload); where it does not
// (stdout), the caller must not retry.
class OutputFile : public ByteSink {
 public:
  virtual void commit() = 0;
  // Takes back a committed file, best effort, when a later file of the same task failed to
  // commit: a task's files appear all together or not at all.
  virtual void uncommit() noexcept = 0;
  // Where the file ends up, for the manifest and messages.
  virtual const std::string& name() const noexcept = 0;
  // What the store answered to commit() to identify the stored bytes (S3's ETag), which a later
  // check compares without reading them; empty where there is none (a local file).
  virtual std::string stored_etag() const { return {}; }
  // The SHA-256 checksum the store keeps of the file (S3's "base64-N"); empty where there is none.
  virtual std::string stored_checksum() const { return {}; }
};

}  // namespace chexport
