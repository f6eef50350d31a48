// The AWS IoT logging operations (SetLoggingOptions, GetLoggingOptions,
// SetV2LoggingOptions, GetV2LoggingOptions, SetV2LoggingLevel,
// ListV2LoggingLevels, DeleteV2LoggingLevel) as ApiService handlers over
// eventlog::LoggingOptions, which decides what the event log writes.
//
// Threading: handlers may run concurrently (LoggingOptions is thread-safe).
// Ownership: the LoggingOptions is borrowed and must outlive the ApiService.
#pragma once

#include "api/service.hpp"
#include "eventlog/logging_options.hpp"

namespace fg::api {

void add_logging_operations(ApiService& service, eventlog::LoggingOptions& options);

// The AWS error for a logging error.
ApiError to_api_error(const eventlog::LoggingError& e);

}  // namespace fg::api
