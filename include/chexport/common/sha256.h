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

// Lower-case hex of any bytes, and back ("0aFF" -> the bytes 0x0a 0xff; throws
// std::invalid_argument on a digit that is not hex).
std::string hex_of(std::string_view bytes);
std::string bytes_of_hex(std::string_view hex);

}  // namespace chexport
