// The AWS IoT service model fleetguard serves: operations (HTTP method and
// URI template) and input shapes with their constraints, generated from
// botocore's model into model_data.cpp by gen_model.py. bind_input() turns an
// HTTP request into the operation's input (uri labels, query string, headers
// and JSON body, as the rest-json protocol places them) and validates it
// against the model (required members, types, lengths, ranges, patterns,
// enums) before any handler sees it.
//
// Threading: Model::iot() is built once (thread-safe static) and immutable
// afterwards; every method is const and may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_error.hpp"
#include "api/http_message.hpp"

namespace fg::api {

// The generated model text (JSON).
std::string_view iot_model_json();

// A compiled "pattern" constraint: character classes, literals, repetitions
// (+ * ? {m,n}) and optional literal groups, which is what the model uses
// ("[a-zA-Z0-9:_-]+", "(0x)?[a-fA-F0-9]+"); other syntax is not checked.
class PatternMatcher {
 public:
  explicit PatternMatcher(const std::string& pattern);
  ~PatternMatcher();
  PatternMatcher(const PatternMatcher&) = delete;
  PatternMatcher& operator=(const PatternMatcher&) = delete;
  bool matches(std::string_view s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct MemberRef {
  std::string name;
  std::string shape;
  std::string location;       // "", "uri", "querystring", "header"
  std::string location_name;  // for uri/querystring/header
};

struct Shape {
  std::string name;
  std::string type;  // structure, list, map, string, integer, long, boolean, timestamp, double, float, blob
  std::vector<std::string> required;
  std::optional<int64_t> min, max;
  std::string pattern;
  std::shared_ptr<PatternMatcher> matcher;  // null when no pattern
  std::vector<std::string> enum_values;
  std::vector<MemberRef> members;   // structure
  std::string payload;              // structure: the member that is the whole JSON body, if any
  std::string member, key, value;   // list member / map key and value shapes
};

struct Operation {
  std::string name;
  std::string method;
  std::string uri;    // request URI template, e.g. "/things/{thingName}"
  std::string input;  // input shape name, "" when none
};

using QueryParams = std::multimap<std::string, std::string>;  // decoded

// Decodes a raw query string; nullopt on a malformed %-escape.
std::optional<QueryParams> parse_query(std::string_view raw_query);

class Model {
 public:
  // Parses a model in gen_model.py's format; throws std::runtime_error when it
  // is not (a build defect, caught by the unit tests).
  explicit Model(std::string_view json_text);
  static const Model& iot();

  const Operation* operation(const std::string& name) const;
  const std::map<std::string, Operation>& operations() const { return operations_; }
  const Shape* shape(const std::string& name) const;

  // Builds and validates the input of `op`. `labels` are the decoded URI
  // labels from routing. Errors are InvalidRequestException (400) with AWS's
  // "1 validation error detected: ..." wording.
  ApiResult<nlohmann::json> bind_input(const Operation& op, const std::map<std::string, std::string>& labels,
                                       const QueryParams& query, const HttpRequest& req) const;

  // Validates `value` against shape `shape_name`; `path` names it in messages.
  std::optional<std::string> validate(const nlohmann::json& value, const std::string& shape_name,
                                      const std::string& path) const;

 private:
  std::map<std::string, Operation> operations_;
  std::map<std::string, Shape> shapes_;
};

}  // namespace fg::api
