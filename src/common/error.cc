#include "chexport/common/error.h"

#include "chexport/common/byte_sink.h"

namespace chexport {

int exit_code_for(ErrorCategory category) noexcept {
  switch (category) {
    case ErrorCategory::usage:
      return exit_code::usage;
    case ErrorCategory::export_failed:
      return exit_code::export_failed;
    case ErrorCategory::io:
      return exit_code::export_failed;
    case ErrorCategory::validation:
      return exit_code::validation;
    case ErrorCategory::connection:
      return exit_code::connection;
    case ErrorCategory::auth:
      return exit_code::auth;
    case ErrorCategory::locked:
      return exit_code::locked;
    case ErrorCategory::cancelled:
      return exit_code::cancelled;
  }
  return exit_code::internal;
}

void throw_usage(const std::string& message) {
  throw Error(ErrorKind::permanent, ErrorCategory::usage, message);
}

void throw_io(const std::string& message) {
  throw Error(ErrorKind::permanent, ErrorCategory::io, message);
}

bool stops_the_run(ErrorCategory category) noexcept {
  return category == ErrorCategory::io || category == ErrorCategory::auth ||
         category == ErrorCategory::connection || category == ErrorCategory::cancelled;
}

void throw_validation(const std::string& message) {
  throw Error(ErrorKind::permanent, ErrorCategory::validation, message);
}

void StringSink::write(std::string_view data) {
  if (text.size() + data.size() > limit_) {
    throw Error(ErrorKind::permanent, ErrorCategory::export_failed,
                "unexpectedly large answer (over " + std::to_string(limit_) +
                    " bytes) where a small one was due");
  }
  text.append(data);
}

}  // namespace chexport
