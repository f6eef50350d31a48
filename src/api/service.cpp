#include "api/service.hpp"

#include <chrono>
#include <random>
#include <stdexcept>

namespace fg::api {
namespace {

std::string request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    id[i] = kHex[rng() & 0xf];
  }
  return id;
}

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

Access access_of(const std::string& name) {
  if (starts_with(name, "Describe") || starts_with(name, "List") || starts_with(name, "Get") ||
      name == "TestAuthorization")
    return Access::Read;
  return Access::Write;
}

HttpResponse error_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("x-amzn-ErrorType", e.type);
  r.body = nlohmann::json{{"message", e.message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse json_response(const nlohmann::json& body) {
  HttpResponse r;
  r.status = 200;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

ApiService::ApiService(const Model& model, AccessKeyLookup keys, ServiceConfig cfg)
    : model_(model), keys_(std::move(keys)), cfg_(std::move(cfg)) {}

void ApiService::add_operation(const std::string& name, OperationHandler handler) {
  const Operation* op = model_.operation(name);
  if (!op) throw std::logic_error("api: operation " + name + " is not in the model (add it to gen_model.py)");
  if (!handlers_.count(name)) router_.add(*op);
  handlers_[name] = std::move(handler);
}

std::string ApiService::operation_name(const HttpRequest& req) const {
  auto query = parse_query(req.query());
  if (!query) return "";
  auto m = router_.match(req.method, req.path(), *query);
  return m ? m->operation->name : "";
}

HttpResponse ApiService::handle(const HttpRequest& req) const {
  HttpResponse r;
  try {
    r = handle_checked(req);
  } catch (const std::exception& e) {
    r = error_response(internal_failure(std::string("internal error: ") + e.what()));
  } catch (...) {
    r = error_response(internal_failure("internal error"));
  }
  r.headers.emplace_back("x-amzn-RequestId", request_id());
  return r;
}

HttpResponse ApiService::handle_checked(const HttpRequest& req) const {
  int64_t now = cfg_.now_epoch_seconds
                    ? cfg_.now_epoch_seconds()
                    : std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  // Authenticate first: an unauthenticated caller learns nothing, not even
  // which paths exist.
  auto caller = verify_sigv4(req, keys_, now);
  if (!caller) return error_response(caller.error());

  auto query = parse_query(req.query());
  if (!query) return error_response(invalid_request("Malformed percent-encoding in the query string"));
  bool path_known = false;
  auto route = router_.match(req.method, req.path(), *query, &path_known);
  if (!route) {
    if (path_known)
      return error_response(ApiError{405, "MethodNotAllowedException",
                                     "Method " + req.method.substr(0, 16) + " is not allowed on this resource"});
    return error_response(ApiError{404, "UnknownOperationException", "Unknown operation"});
  }
  const Operation& op = *route->operation;
  if (caller->level == AccessLevel::ReadOnly && access_of(op.name) != Access::Read) {
    return error_response(access_denied("User: " + caller->id + " is not authorized to perform: iot:" + op.name +
                                        " (read-only access key)"));
  }
  auto input = model_.bind_input(op, route->labels, *query, req);
  if (!input) return error_response(input.error());

  auto auth = parse_authorization(*req.header("authorization"));
  OperationContext ctx{op, *input, *caller, auth ? auth->region : std::string("us-east-1")};
  const auto& handler = handlers_.at(op.name);
  auto out = handler(ctx);
  if (!out) return error_response(out.error());
  return json_response(*out);
}

}  // namespace fg::api
