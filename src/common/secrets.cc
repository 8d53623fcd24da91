#include "chexport/common/secrets.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace chexport {
namespace {

std::mutex& secrets_mutex() {
  static std::mutex m;
  return m;
}

std::vector<std::string>& secrets() {
  static std::vector<std::string> list;
  return list;
}

}  // namespace

void register_sql_secret(std::string_view literal) {
  if (literal.empty()) return;
  std::lock_guard lock(secrets_mutex());
  auto& list = secrets();
  if (std::find(list.begin(), list.end(), literal) == list.end()) list.emplace_back(literal);
}

std::string scrub_secrets(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(secrets_mutex());
  for (const std::string& secret : secrets()) {
    for (size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 10)) {
      out.replace(at, secret.size(), "'[hidden]'");
    }
  }
  return out;
}

}  // namespace chexport
