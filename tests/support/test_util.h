// Helpers shared by unit and integration tests: temp directories, zstd decoding, reference CSV
// record splitting (independent of the scanner under test).
#pragma once

#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace chexport::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Number of complete zstd frames in `data`; throws if it is not a sequence of whole frames.
inline size_t zstd_frame_count(std::string_view data) {
  size_t frames = 0;
  while (!data.empty()) {
    size_t n = ZSTD_findFrameCompressedSize(data.data(), data.size());
    if (ZSTD_isError(n))
      throw std::runtime_error(std::string("bad zstd frame: ") + ZSTD_getErrorName(n));
    data.remove_prefix(n);
    ++frames;
  }
  return frames;
}

// Decompresses every frame (verifying checksums).
inline std::string zstd_decompress(std::string_view data) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::string out;
  std::vector<char> buf(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  size_t last = 0;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    last = ZSTD_decompressStream(dctx, &o, &in);
    if (ZSTD_isError(last)) {
      ZSTD_freeDCtx(dctx);
      throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(last));
    }
    out.append(buf.data(), o.pos);
  }
  ZSTD_freeDCtx(dctx);
  if (last != 0) throw std::runtime_error("zstd: truncated frame");
  return out;
}

// Splits CSV into records (terminator included) by quote parity, byte by byte.
inline std::vector<std::string> split_records(std::string_view s) {
  std::vector<std::string> records;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"')
      quoted = !quoted;
    else if (s[i] == '\n' && !quoted) {
      records.emplace_back(s.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  if (start < s.size()) records.emplace_back(s.substr(start));
  return records;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "chexport-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

  // Every regular file below the directory, relative, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::recursive_directory_iterator(path_)) {
      if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), path_).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace chexport::testing
