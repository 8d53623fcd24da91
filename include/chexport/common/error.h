// Typed errors. Everything that can fail inside an export attempt throws chexport::Error; the
// kind drives the retry decision, the category drives the process exit code.
#pragma once

#include <stdexcept>
#include <string>

#include "chexport/common/secrets.h"

namespace chexport {

// Whether trying the same thing again may help (used by the scheduler, like curl's retrycheck()).
enum class ErrorKind { transient, permanent, cancelled };

// What went wrong, from the user's point of view; each maps to one documented exit code.
enum class ErrorCategory {
  usage,          // bad flags or configuration                          -> exit 2
  export_failed,  // query error, truncated stream                    -> exit 3
  io,             // local file system (disk full, permissions)           -> exit 3
  validation,     // row counts or record boundaries do not agree         -> exit 4
  connection,     // server unreachable, timeouts                         -> exit 5
  auth,           // authentication / authorization refused               -> exit 6
  locked,         // another run holds the output                          -> exit 7
  cancelled,      // interrupted                                          -> exit 130
};

// Documented process exit codes (docs/troubleshooting.md "Exit codes", chexport --help).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int internal = 1;
inline constexpr int usage = 2;
inline constexpr int export_failed = 3;
inline constexpr int validation = 4;
inline constexpr int connection = 5;
inline constexpr int auth = 6;
inline constexpr int locked = 7;
inline constexpr int cancelled = 130;
}  // namespace exit_code

int exit_code_for(ErrorCategory category) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, ErrorCategory category, const std::string& message)
      : std::runtime_error(scrub_secrets(message)), kind_(kind), category_(category) {}

  ErrorKind kind() const noexcept { return kind_; }
  ErrorCategory category() const noexcept { return category_; }
  bool transient() const noexcept { return kind_ == ErrorKind::transient; }

  // The ClickHouse error code behind the error, or 0.
  int server_code() const noexcept { return server_code_; }
  Error& with_server_code(int code) noexcept {
    server_code_ = code;
    return *this;
  }

  // Seconds the server asked us to wait (Retry-After), or a negative number.
  double retry_after() const noexcept { return retry_after_; }
  Error& with_retry_after(double seconds) noexcept {
    retry_after_ = seconds;
    return *this;
  }

 private:
  ErrorKind kind_;
  ErrorCategory category_;
  double retry_after_ = -1;
  int server_code_ = 0;
};

// Errors that would hit every other task too, so the run stops at the first one.
bool stops_the_run(ErrorCategory category) noexcept;

// Shorthands for the common cases.
[[noreturn]] void throw_usage(const std::string& message);
[[noreturn]] void throw_io(const std::string& message);  // local file system, permanent
[[noreturn]] void throw_validation(const std::string& message);

}  // namespace chexport
