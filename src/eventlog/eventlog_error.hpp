// LoggingError: the error of the eventlog module's control-plane operations
// (logging options, opening the event log and the connection history). Its
// kinds mirror registry::RegistryError's so that the API maps both the same
// way to AWS exception types. Values only; no threading concerns.
#pragma once

#include <string>
#include <utility>

#include "common/result.hpp"

namespace fg::eventlog {

struct LoggingError {
  enum class Kind {
    ResourceNotFound,  // ResourceNotFoundException (e.g. deleting a level that is not set)
    InvalidRequest,    // InvalidRequestException (bad level, target type or name)
    LimitExceeded,     // LimitExceededException (too many per-target levels)
    NotConfigured,     // NotConfiguredException (v2 levels before v2 options were set)
    Internal,          // InternalException (store or file system failure)
  };
  Kind kind = Kind::Internal;
  std::string message;
};

inline Unexpected<LoggingError> logging_error(LoggingError::Kind kind, std::string message) {
  return fg::unexpected(LoggingError{kind, std::move(message)});
}

}  // namespace fg::eventlog
