#include "chexport/output/layout.h"

#include <cstdio>

#include "chexport/common/sha256.h"

namespace chexport {

std::string encode_name(std::string_view raw) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (c == '.' && i != 0);
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  // An empty value still needs a name; "%empty" is not a %XX escape, so no value encodes to it.
  if (out.empty()) out = "%empty";
  constexpr size_t max_len = 120;
  if (out.size() > max_len) {
    std::string digest = Sha256::of(raw).substr(0, 16);
    out.resize(max_len - 17);
    // Never cut inside a %XX escape.
    if (auto pct = out.rfind('%'); pct != std::string::npos && pct + 3 > out.size())
      out.resize(pct);
    out += "~" + digest;
  }
  return out;
}

std::string table_dir(std::string_view db, std::string_view table) {
  return encode_name(db) + "/" + encode_name(table);
}

std::string partition_dir(std::string_view partition, std::string_view partition_id) {
  if (partition_id == "all") return "all";
  return "partition=" + encode_name(partition);
}

std::string data_file_name(size_t index, Compression compression) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "part-%06zu.csv", index);
  std::string name = buf;
  if (compression == Compression::zstd) name += ".zst";
  return name;
}

}  // namespace chexport
