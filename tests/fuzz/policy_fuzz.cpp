// libFuzzer target: the policy engine end to end with hostile input. The input
// is NUL-separated: policy document \0 client id \0 resource name [\0 name...].
// The document is parsed; when it is valid it is compiled for a connection
// with that client id (as its thing name too) and every action is evaluated
// against every name.
// Oracles: no crash, hang or sanitizer report; allowed() agrees with
// evaluate(); adding a Deny-all document denies everything; a client id
// substituted into a resource is literal (never a wildcard); the classified
// PatternSet and the greedy matcher agree with a reference DP matcher.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace {

using namespace fg::policy;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "oracle failed: %s\n", what);
    std::abort();
  }
}

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto nul = text.find('\0', start);
    if (nul == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, nul - start));
    start = nul + 1;
  }
}

detail::GlobTokens to_glob(std::string_view s) {
  detail::GlobTokens t;
  for (char c : s)
    t.push_back(c == '*' ? detail::kStar : c == '?' ? detail::kQuestion : static_cast<detail::GlobToken>(static_cast<unsigned char>(c)));
  return t;
}

// Reference matcher: dynamic programming over (pattern prefix, text prefix).
bool reference_match(const detail::GlobTokens& p, std::string_view s) {
  std::vector<char> prev(s.size() + 1, 0);
  std::vector<char> cur(s.size() + 1, 0);
  prev[0] = 1;
  for (std::size_t j = 1; j <= s.size(); ++j) prev[j] = 0;
  for (std::size_t i = 1; i <= p.size(); ++i) {
    const auto t = p[i - 1];
    cur[0] = t == detail::kStar ? prev[0] : 0;
    for (std::size_t j = 1; j <= s.size(); ++j) {
      if (t == detail::kStar) {
        cur[j] = prev[j] || cur[j - 1];
      } else {
        const bool one = t == detail::kQuestion || t == static_cast<detail::GlobToken>(static_cast<unsigned char>(s[j - 1]));
        cur[j] = one && prev[j - 1];
      }
    }
    prev.swap(cur);
  }
  return prev[s.size()] != 0;
}

const std::shared_ptr<const PolicyDocument>& deny_all_document() {
  static const auto doc = [] {
    auto r = parse_policy_document(R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}})");
    require(r.has_value(), "deny-all document parses");
    return std::make_shared<const PolicyDocument>(std::move(*r));
  }();
  return doc;
}

const std::shared_ptr<const PolicyDocument>& client_id_document() {
  static const auto doc = [] {
    auto r = parse_policy_document(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}})");
    require(r.has_value(), "client-id document parses");
    return std::make_shared<const PolicyDocument>(std::move(*r));
  }();
  return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parts = split(text);
  const std::string_view document = parts[0];
  const std::string client_id(parts.size() > 1 ? parts[1] : std::string_view("sensor-1"));
  std::vector<std::string_view> names(parts.begin() + (parts.size() > 2 ? 2 : parts.size()), parts.end());
  names.push_back(client_id);

  ConnectionContext ctx;
  ctx.client_id = client_id;
  ctx.thing = ThingContext{client_id, "type", {{"a", client_id}}, ThingAttachment::Attached};
  ctx.certificate_id = "cert";
  ctx.certificate_fields = {{"Subject.CommonName", client_id}};
  ctx.source_ip = "10.0.0.1";

  // Glob oracle on the first two names (bounded sizes keep the DP cheap).
  if (names.size() >= 2 && names[0].size() <= 256 && names[1].size() <= 512) {
    const auto pattern = to_glob(names[0]);
    const bool expected = reference_match(pattern, names[1]);
    require(detail::glob_match(pattern, names[1]) == expected, "glob_match agrees with the reference");
    require(detail::Glob(pattern).matches(names[1]) == expected, "Glob agrees with the reference");
    detail::PatternSet set;
    set.add(pattern);
    set.finish();
    require(set.matches(names[1]) == expected, "PatternSet agrees with the reference");
  }

  // Substituted client ids are literal.
  if (!client_id.empty()) {
    auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{client_id_document()}, ctx);
    require(snap->allowed(Action::Connect, client_id), "own client id allowed");
    require(!snap->allowed(Action::Connect, client_id + "x"), "longer client id denied");
    if (client_id.size() > 1) require(!snap->allowed(Action::Connect, client_id.substr(1)), "shorter client id denied");
  }

  auto parsed = parse_policy_document(document);
  if (!parsed) {
    require(!parsed.error().message.empty(), "errors say what is wrong");
    return 0;
  }
  auto doc = std::make_shared<const PolicyDocument>(std::move(*parsed));
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, ctx);
  auto denied = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc, deny_all_document()}, ctx);
  for (std::size_t a = 0; a < kActionCount; ++a) {
    const auto action = static_cast<Action>(a);
    for (std::string_view name : names) {
      const Decision d = snap->evaluate(action, name);
      require(snap->allowed(action, name) == (d == Decision::Allow), "allowed() agrees with evaluate()");
      require(denied->evaluate(action, name) == Decision::ExplicitDeny, "Deny-all wins");
    }
  }
  return 0;
}
