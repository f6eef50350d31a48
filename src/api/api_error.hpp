// ApiError: an AWS error response (HTTP status, the x-amzn-ErrorType name and
// a message a person can act on), and constructors for the common kinds.
// Values only; no threading concerns.
#pragma once

#include <string>
#include <utility>

#include "common/result.hpp"

namespace fg::api {

struct ApiError {
  int status = 500;
  std::string type = "InternalFailureException";
  std::string message;
};

inline ApiError invalid_request(std::string message) {
  return ApiError{400, "InvalidRequestException", std::move(message)};
}
inline ApiError resource_not_found(std::string message) {
  return ApiError{404, "ResourceNotFoundException", std::move(message)};
}
inline ApiError internal_failure(std::string message) {
  return ApiError{500, "InternalFailureException", std::move(message)};
}
inline ApiError access_denied(std::string message) {
  return ApiError{403, "AccessDeniedException", std::move(message)};
}

template <class T>
using ApiResult = Result<T, ApiError>;

inline Unexpected<ApiError> fail(ApiError e) { return fg::unexpected(std::move(e)); }

}  // namespace fg::api
