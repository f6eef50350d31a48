#include "api/logging_operations.hpp"

#include "api/pagination.hpp"

namespace fg::api {

using nlohmann::json;
using eventlog::LoggingError;

ApiError to_api_error(const LoggingError& e) {
  switch (e.kind) {
    case LoggingError::Kind::ResourceNotFound: return ApiError{404, "ResourceNotFoundException", e.message};
    case LoggingError::Kind::InvalidRequest: return ApiError{400, "InvalidRequestException", e.message};
    case LoggingError::Kind::LimitExceeded: return ApiError{410, "LimitExceededException", e.message};
    case LoggingError::Kind::NotConfigured: return ApiError{404, "NotConfiguredException", e.message};
    case LoggingError::Kind::Internal: return ApiError{500, "InternalException", e.message};
  }
  return ApiError{500, "InternalException", e.message};
}

namespace {

template <class T>
ApiResult<T> lift(Result<T, LoggingError> r) {
  if (!r) return fail(to_api_error(r.error()));
  return std::move(*r);
}

// The model has validated the enum values already; parse them anyway so a
// model change cannot slip an unknown value through.
ApiResult<eventlog::LogLevel> level_of(const json& in, const char* member, eventlog::LogLevel fallback) {
  auto it = in.find(member);
  if (it == in.end() || !it->is_string()) return fallback;
  auto level = eventlog::parse_log_level(it->get<std::string>());
  if (!level) return fail(invalid_request(std::string(member) + " is not a log level"));
  return *level;
}

std::string string_or(const json& in, const char* member) {
  auto it = in.find(member);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class Operations {
 public:
  explicit Operations(eventlog::LoggingOptions& options) : options_(options) {}

  ApiResult<json> set_logging_options(const OperationContext& c) {
    const json& payload = c.input.value("loggingOptionsPayload", json::object());
    auto level = level_of(payload, "logLevel", eventlog::LogLevel::Error);
    if (!level) return fail(level.error());
    auto r = lift(options_.set_v1(eventlog::V1LoggingOptions{string_or(payload, "roleArn"), *level}));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> get_logging_options(const OperationContext&) {
    auto v1 = options_.v1();
    if (!v1) return json::object();
    json out{{"logLevel", eventlog::to_string(v1->log_level)}};
    if (!v1->role_arn.empty()) out["roleArn"] = v1->role_arn;
    return out;
  }

  ApiResult<json> set_v2_logging_options(const OperationContext& c) {
    auto level = level_of(c.input, "defaultLogLevel", eventlog::LogLevel::Error);
    if (!level) return fail(level.error());
    eventlog::V2LoggingOptions o{string_or(c.input, "roleArn"), *level,
                                 c.input.value("disableAllLogs", false)};
    auto r = lift(options_.set_v2(o));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> get_v2_logging_options(const OperationContext&) {
    auto v2 = options_.v2();
    if (!v2) return fail(ApiError{404, "NotConfiguredException", "v2 logging options have not been set"});
    json out{{"defaultLogLevel", eventlog::to_string(v2->default_log_level)}, {"disableAllLogs", v2->disable_all_logs}};
    if (!v2->role_arn.empty()) out["roleArn"] = v2->role_arn;
    return out;
  }

  ApiResult<json> set_v2_logging_level(const OperationContext& c) {
    const json& target = c.input.value("logTarget", json::object());
    auto type = eventlog::parse_log_target_type(string_or(target, "targetType"));
    if (!type) return fail(invalid_request("logTarget.targetType is not a log target type"));
    auto level = level_of(c.input, "logLevel", eventlog::LogLevel::Error);
    if (!level) return fail(level.error());
    auto r = lift(options_.set_level(eventlog::LogTarget{*type, string_or(target, "targetName")}, *level));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_v2_logging_levels(const OperationContext& c) {
    std::optional<eventlog::LogTargetType> filter;
    if (auto t = string_or(c.input, "targetType"); !t.empty()) {
      filter = eventlog::parse_log_target_type(t);
      if (!filter) return fail(invalid_request("targetType is not a log target type"));
    }
    auto levels = lift(options_.list_levels(filter));
    if (!levels) return fail(levels.error());
    std::vector<std::string> keys;
    for (const auto& l : *levels) keys.push_back(std::string(eventlog::to_string(l.target.type)) + "|" + l.target.name);
    std::optional<std::string> token;
    if (auto t = string_or(c.input, "nextToken"); !t.empty()) token = t;
    const auto max = static_cast<std::size_t>(c.input.value("maxResults", int64_t{100}));
    auto range = paginate(keys, token, max);
    if (!range) return fail(range.error());
    json list = json::array();
    for (std::size_t i = range->begin; i < range->end; ++i) {
      const auto& l = (*levels)[i];
      json target{{"targetType", eventlog::to_string(l.target.type)}};
      if (!l.target.name.empty()) target["targetName"] = l.target.name;
      list.push_back(json{{"logTarget", target}, {"logLevel", eventlog::to_string(l.level)}});
    }
    json out{{"logTargetConfigurations", list}};
    if (range->next_token) out["nextToken"] = *range->next_token;
    return out;
  }

  ApiResult<json> delete_v2_logging_level(const OperationContext& c) {
    auto type = eventlog::parse_log_target_type(string_or(c.input, "targetType"));
    if (!type) return fail(invalid_request("targetType is not a log target type"));
    auto r = lift(options_.delete_level(eventlog::LogTarget{*type, string_or(c.input, "targetName")}));
    if (!r) return fail(r.error());
    return json::object();
  }

 private:
  eventlog::LoggingOptions& options_;
};

}  // namespace

void add_logging_operations(ApiService& service, eventlog::LoggingOptions& options) {
  auto ops = std::make_shared<Operations>(options);
  auto add = [&](const char* name, ApiResult<json> (Operations::*fn)(const OperationContext&)) {
    service.add_operation(name, [ops, fn](const OperationContext& c) { return ((*ops).*fn)(c); });
  };
  add("SetLoggingOptions", &Operations::set_logging_options);
  add("GetLoggingOptions", &Operations::get_logging_options);
  add("SetV2LoggingOptions", &Operations::set_v2_logging_options);
  add("GetV2LoggingOptions", &Operations::get_v2_logging_options);
  add("SetV2LoggingLevel", &Operations::set_v2_logging_level);
  add("ListV2LoggingLevels", &Operations::list_v2_logging_levels);
  add("DeleteV2LoggingLevel", &Operations::delete_v2_logging_level);
}

}  // namespace fg::api
