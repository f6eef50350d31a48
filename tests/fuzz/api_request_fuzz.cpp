// libFuzzer target for the API's request handling: SigV4 header parsing and
// canonicalisation, routing against the model's URI templates, query/header/
// JSON body binding and model validation, and AWS error responses.
//
// Input format (so the corpus stays readable): a first byte of flags, then
// "METHOD TARGET\n", header lines "Name: value\n", an empty line, the body.
// When flag bit 0 is set the request is signed with the test key first, so
// inputs reach routing and validation instead of stopping at the signature.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <cctype>

#include "api/model.hpp"
#include "api/service.hpp"
#include "api/sigv4.hpp"

namespace {

const fg::api::AccessKey kKey{"AKIAFUZZFUZZFUZZFUZZ", "fuzzsecretfuzzsecretfuzzsecretfuzzsecret",
                              fg::api::AccessLevel::Full};
constexpr int64_t kNow = 1'700'000'000;

fg::api::ApiService& service() {
  static fg::api::ApiService* s = [] {
    auto* svc = new fg::api::ApiService(
        fg::api::Model::iot(),
        [](const std::string& id) -> std::optional<fg::api::AccessKey> {
          if (id == kKey.id) return kKey;
          return std::nullopt;
        },
        fg::api::ServiceConfig{[] { return kNow; }});
    for (const auto& [name, op] : fg::api::Model::iot().operations()) {
      svc->add_operation(name, [](const fg::api::OperationContext& c) -> fg::api::ApiResult<nlohmann::json> {
        return c.input;
      });
    }
    return svc;
  }();
  return *s;
}

std::string_view take_line(std::string_view& in) {
  auto nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  fg::api::HttpRequest req;
  std::string_view first = take_line(in);
  auto sp = first.find(' ');
  req.method = std::string(first.substr(0, sp));
  req.target = sp == std::string_view::npos ? "/" : std::string(first.substr(sp + 1));
  while (!in.empty()) {
    std::string_view line = take_line(in);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    // Only what an HTTP parser would pass on: token names, no CR/NUL in values.
    std::string_view name = line.substr(0, colon);
    bool valid = true;
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos))
        valid = false;
    for (char c : line.substr(colon + 1))
      if (c == '\r' || c == '\0') valid = false;
    if (!valid) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  req.body = std::string(in);

  if (const std::string* authz = req.header("authorization")) {
    auto parsed = fg::api::parse_authorization(*authz);
    if (parsed) (void)fg::api::canonical_request(req, parsed->signed_headers, fg::api::sha256_hex(req.body));
  }
  (void)fg::api::canonical_query(req.query());
  (void)fg::api::canonical_uri(req.path());
  if (flags & 1) fg::api::sign_request(req, kKey, "us-east-1", (flags & 2) ? "iot" : "execute-api", kNow);
  fg::api::HttpResponse r = service().handle(req);
  if (r.status < 200 || r.status > 599) __builtin_trap();
  if ((flags & 1) && r.status == 403 && r.body.find("signature") != std::string::npos) {
    // A request we signed ourselves must never fail verification, unless the
    // fuzzer supplied its own Authorization/X-Amz-Date (first one wins).
    if (req.header_values("authorization").size() == 1 && req.header_values("x-amz-date").size() == 1 &&
        req.header_values("x-amz-content-sha256").size() == 1 && req.header_values("host").size() == 1)
      __builtin_trap();
  }
  return 0;
}
