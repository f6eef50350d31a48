// ApiService: the AWS-compatible control plane's request pipeline, without
// sockets: SigV4 verification -> routing (model URI templates) -> input
// binding and validation (model constraints) -> access check (read-only keys
// may only call Describe*/List*/Get*) -> the operation's handler -> a
// rest-json response or an AWS error response (HTTP status, x-amzn-ErrorType
// header, {"message": ...} body).
//
// Adding an operation: put its name in gen_model.py's OPERATIONS and rerun it
// (that gives the route and input validation), then call add_operation(name,
// handler) where the module's operations are registered (for the registry:
// registry_operations.cpp). The handler receives the validated input as JSON
// with the model's member names and returns the output members as JSON
// (timestamps as epoch seconds) or an ApiError.
//
// Threading: add_operation() only before serving starts; handle() is const and
// may run concurrently on any number of threads (handlers must be
// thread-safe). Exceptions thrown by a handler are caught and answered with
// InternalFailureException; none escapes handle().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_error.hpp"
#include "api/http_message.hpp"
#include "api/model.hpp"
#include "api/router.hpp"
#include "api/sigv4.hpp"

namespace fg::api {

struct OperationContext {
  const Operation& operation;
  const nlohmann::json& input;  // validated against the model
  const AccessKey& caller;
  std::string region;           // from the request's credential scope
};

using OperationHandler = std::function<ApiResult<nlohmann::json>(const OperationContext&)>;

// Describe*, List*, Get* (and a few read-like names) are Read; the rest Write.
enum class Access { Read, Write };
Access access_of(const std::string& operation_name);

struct ServiceConfig {
  // Seconds since the Unix epoch; empty = system clock.
  std::function<int64_t()> now_epoch_seconds;
};

class ApiService {
 public:
  ApiService(const Model& model, AccessKeyLookup keys, ServiceConfig cfg = {});

  // Registers the handler of a model operation; throws std::logic_error when
  // the model has no such operation (a wiring defect found at start).
  void add_operation(const std::string& name, OperationHandler handler);

  HttpResponse handle(const HttpRequest& req) const;

  // The operation name a request routes to ("" when none), for logs.
  std::string operation_name(const HttpRequest& req) const;

 private:
  HttpResponse handle_checked(const HttpRequest& req) const;

  const Model& model_;
  AccessKeyLookup keys_;
  ServiceConfig cfg_;
  Router router_;
  std::map<std::string, OperationHandler> handlers_;
};

// The AWS error response for `e`.
HttpResponse error_response(const ApiError& e);
// A 200 response with a JSON body.
HttpResponse json_response(const nlohmann::json& body);

}  // namespace fg::api
