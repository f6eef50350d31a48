// Plain HTTP request/response values exchanged between the HTTP server
// (http_server.hpp, Boost.Beast) and the API service (service.hpp). They carry
// no Asio types so that request handling, SigV4 and routing can be unit-tested
// and fuzzed without sockets.
//
// Threading: values; no shared state. Ownership: each owns its strings.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fg::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: "/things/a%3Ab?x=1" (not decoded)
  // Header names as received (matching is case-insensitive); repeated headers
  // appear once per occurrence, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // Every value of header `name`, in order.
  std::vector<std::string_view> header_values(std::string_view name) const;
  std::string_view path() const;   // target before '?'
  std::string_view query() const;  // target after '?', or ""
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);

}  // namespace fg::api
