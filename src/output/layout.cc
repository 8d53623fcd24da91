#include "chexport/output/layout.h"

#include <cstdint>
#include <cstdio>

#include "chexport/common/sha256.h"
#include "chexport/common/utf8.h"

namespace chexport {

namespace {

void append_escape(std::string& out, unsigned char c) {
  static const char* hex = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(hex[c >> 4]);
  out.push_back(hex[c & 15]);
}

// Spark's ExternalCatalogUtils.escapePathName set, with < > | of its Windows additions.
bool hive_escapes(unsigned char c) {
  if (c < 0x20 || c == 0x7F) return true;
  for (char e : std::string_view("\"#%'*/:=?\\{[]^<>|"))
    if (c == static_cast<unsigned char>(e)) return true;
  return false;
}

// The lower-case letter of an upper-case one of the two-byte UTF-8 scripts fold_name_case folds.
uint32_t fold_code_point(uint32_t c) {
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
      (c >= 0x410 && c <= 0x42F))
    return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if (c == 0x178) return 0xFF;   // Ÿ
  if (c == 0x3C2) return 0x3C3;  // final sigma
  // Latin Extended-A pairs upper and lower case as even and odd, but for 0x130, 0x131 and 0x138.
  if (c >= 0x100 && c <= 0x12F && c % 2 == 0) return c + 1;
  if (c >= 0x132 && c <= 0x137 && c % 2 == 0) return c + 1;
  if (c >= 0x139 && c <= 0x148 && c % 2 == 1) return c + 1;
  if (c >= 0x14A && c <= 0x177 && c % 2 == 0) return c + 1;
  if (c >= 0x179 && c <= 0x17E && c % 2 == 1) return c + 1;
  return c;
}

}  // namespace

std::string encode_name(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (c == '.' && i != 0 && i + 1 != raw.size());
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      append_escape(out, c);
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

std::string hive_value(std::string_view value) {
  constexpr size_t max_len = 120;
  if (value.empty()) return "";
  std::string out;
  out.reserve(value.size());
  std::string lower = ascii_lower(value);
  size_t i = 0;
  if (lower == "null" || lower == ascii_lower(hive_null)) {
    append_escape(out, static_cast<unsigned char>(value[0]));
    i = 1;
  }
  while (i < value.size()) {
    auto c = static_cast<unsigned char>(value[i]);
    size_t n = c < 0x80 ? 1 : utf8_sequence_length(value, i);
    // Bytes that are not UTF-8 have no readable name: DuckDB fails on the whole table after
    // decoding them, and Spark decodes each %XX to the code point U+00XX.
    if (n == 0) return "";
    // Windows drops a name's trailing spaces and dots: "a." would be the folder of "a".
    bool last = i + n == value.size();
    if (n == 1 && (hive_escapes(c) || (last && (c == ' ' || c == '.')))) {
      append_escape(out, c);
    } else {
      out.append(value.substr(i, n));
    }
    i += n;
  }
  return out.size() > max_len ? "" : out;
}

std::string fold_name_case(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size();) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(name, i);
    if (n != 2) {  // not a two-byte letter: as it is
      size_t keep = n == 0 ? 1 : n;
      out.append(name.substr(i, keep));
      i += keep;
      continue;
    }
    uint32_t cp = (static_cast<uint32_t>(c & 0x1F) << 6) |
                  (static_cast<uint32_t>(static_cast<unsigned char>(name[i + 1])) & 0x3F);
    cp = fold_code_point(cp);
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    i += 2;
  }
  return out;
}

std::string partition_dir(std::string_view partition, std::string_view partition_id) {
  if (partition_id == "all") return "all";
  std::string value = hive_value(partition);
  return "partition=" + (value.empty() ? hive_value(partition_id) : value);
}

std::string data_file_name(size_t index, Compression compression) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "part-%06zu.csv", index);
  std::string name = buf;
  if (compression == Compression::zstd) name += ".zst";
  return name;
}

}  // namespace chexport
