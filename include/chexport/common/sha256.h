// Incremental SHA-256 (OpenSSL's EVP interface). Not thread-safe; movable, not copyable.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace chexport {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::string_view data) noexcept;
  // Lower-case hex digest; resets the state for the next message.
  std::string hex_digest();

  static std::string of(std::string_view data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chexport
