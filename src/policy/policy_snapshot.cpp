// Compiling policy documents for one connection (see policy.hpp): conditions
// are decided, variables substituted, ARN prefixes matched and stripped, and
// what is left becomes per-action allow/deny PatternSets.
#include "policy/policy.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <bitset>
#include <cctype>
#include <charconv>
#include <cstring>

namespace fg::policy {

// Defined in policy_document.cpp.
bool parse_ip_or_cidr(std::string_view text, std::array<unsigned char, 16>& addr, int& prefix_bits, int& family);

namespace {

using detail::GlobToken;
using detail::GlobTokens;
using detail::kQuestion;
using detail::kStar;
using ActionSet = std::bitset<kActionCount>;

// ASCII-only case folding (policy keywords are ASCII; std::tolower is
// locale-dependent and slow).
constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

GlobToken literal_token(char c) { return static_cast<GlobToken>(static_cast<unsigned char>(c)); }

// The value of a policy variable or condition key for this connection;
// std::nullopt when it does not resolve.
std::optional<std::string> resolve(std::string_view key, const ConnectionContext& ctx) {
  const bool thing_resolves = ctx.thing && ctx.thing->attachment == ThingAttachment::Attached &&
                              ctx.thing->name == ctx.client_id && !ctx.thing->name.empty();
  if (iequals(key, "iot:ClientId")) {
    if (ctx.client_id.empty()) return std::nullopt;
    return ctx.client_id;
  }
  if (iequals(key, "iot:CertificateId")) {
    if (ctx.certificate_id.empty()) return std::nullopt;
    return ctx.certificate_id;
  }
  if (iequals(key, "aws:SourceIp")) {
    if (ctx.source_ip.empty()) return std::nullopt;
    return ctx.source_ip;
  }
  constexpr std::string_view kCert = "iot:Certificate.";
  if (istarts_with(key, kCert)) {
    const auto field = key.substr(kCert.size());
    if (auto it = ctx.certificate_fields.find(field); it != ctx.certificate_fields.end()) return it->second;
    for (const auto& [name, value] : ctx.certificate_fields)
      if (iequals(name, field)) return value;
    return std::nullopt;
  }
  constexpr std::string_view kThing = "iot:Connection.Thing.";
  if (istarts_with(key, kThing)) {
    const auto rest = key.substr(kThing.size());
    if (iequals(rest, "IsAttached")) {
      if (!ctx.thing || ctx.thing->name != ctx.client_id) return std::nullopt;
      return std::string(ctx.thing->attachment == ThingAttachment::Attached ? "true" : "false");
    }
    if (!thing_resolves) return std::nullopt;
    if (iequals(rest, "ThingName")) return ctx.thing->name;
    if (iequals(rest, "ThingTypeName")) {
      if (ctx.thing->type_name.empty()) return std::nullopt;
      return ctx.thing->type_name;
    }
    constexpr std::string_view kAttributes = "Attributes[";
    if (istarts_with(rest, kAttributes) && rest.back() == ']') {
      const auto name = rest.substr(kAttributes.size(), rest.size() - kAttributes.size() - 1);
      if (auto it = ctx.thing->attributes.find(name); it != ctx.thing->attributes.end()) return it->second;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

enum class Wildcards : std::uint8_t { Active, Literal };

// Substitutes policy variables in `text`. With Wildcards::Active, `*` and
// `?` written in the document are wildcards; substituted text is always
// literal. std::nullopt when a variable does not resolve.
std::optional<GlobTokens> expand(std::string_view text, const ConnectionContext& ctx, PolicyLanguageVersion version,
                                 Wildcards wildcards) {
  GlobTokens out;
  out.reserve(text.size());
  auto emit_written = [&](char c) {
    if (wildcards == Wildcards::Active && c == '*') {
      out.push_back(kStar);
    } else if (wildcards == Wildcards::Active && c == '?') {
      out.push_back(kQuestion);
    } else {
      out.push_back(literal_token(c));
    }
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (version == PolicyLanguageVersion::V2012_10_17 && text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close != std::string_view::npos) {
        const auto name = text.substr(i + 2, close - i - 2);
        if (name == "*" || name == "?" || name == "$") {
          out.push_back(literal_token(name[0]));
        } else {
          auto value = resolve(name, ctx);
          if (!value) return std::nullopt;
          for (char c : *value) out.push_back(literal_token(c));
        }
        i = close + 1;
        continue;
      }
    }
    emit_written(text[i]);
    ++i;
  }
  return out;
}

// ---- conditions -----------------------------------------------------------

bool ip_in(std::string_view ip_text, std::string_view cidr_text) {
  std::array<unsigned char, 16> ip{};
  std::array<unsigned char, 16> net{};
  int ip_bits = 0;
  int net_bits = 0;
  int ip_family = 0;
  int net_family = 0;
  if (ip_text.find('/') != std::string_view::npos) return false;
  if (!parse_ip_or_cidr(ip_text, ip, ip_bits, ip_family)) return false;
  if (!parse_ip_or_cidr(cidr_text, net, net_bits, net_family)) return false;
  // An IPv4-mapped IPv6 source (::ffff:a.b.c.d, as dual-stack sockets report
  // IPv4 peers) is compared as IPv4.
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip_family == AF_INET6 && net_family == AF_INET && std::memcmp(ip.data(), kMapped, 12) == 0) {
    std::memmove(ip.data(), ip.data() + 12, 4);
    ip_family = AF_INET;
  }
  if (ip_family != net_family) return false;
  const int full = net_bits / 8;
  if (std::memcmp(ip.data(), net.data(), static_cast<std::size_t>(full)) != 0) return false;
  const int rest = net_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (ip[static_cast<std::size_t>(full)] & mask) == (net[static_cast<std::size_t>(full)] & mask);
}

std::optional<double> to_number(std::string_view s) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool is_negated(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::StringNotEquals:
    case ConditionOperator::StringNotEqualsIgnoreCase:
    case ConditionOperator::StringNotLike:
    case ConditionOperator::NumericNotEquals:
    case ConditionOperator::NotIpAddress:
    case ConditionOperator::ArnNotEquals:
    case ConditionOperator::ArnNotLike: return true;
    default: return false;
  }
}

bool uses_wildcards(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::StringLike:
    case ConditionOperator::StringNotLike:
    case ConditionOperator::ArnEquals:  // IAM: ArnEquals behaves like ArnLike
    case ConditionOperator::ArnNotEquals:
    case ConditionOperator::ArnLike:
    case ConditionOperator::ArnNotLike: return true;
    default: return false;
  }
}

// One value against the key's value, for the positive form of the operator.
bool value_matches(ConditionOperator op, std::string_view key_value, const GlobTokens& value) {
  std::string literal;
  if (!uses_wildcards(op)) {
    literal.reserve(value.size());
    for (GlobToken t : value) literal.push_back(static_cast<char>(static_cast<unsigned char>(t)));
  }
  switch (op) {
    case ConditionOperator::StringEquals:
    case ConditionOperator::StringNotEquals: return key_value == literal;
    case ConditionOperator::StringEqualsIgnoreCase:
    case ConditionOperator::StringNotEqualsIgnoreCase:
    case ConditionOperator::Bool: return iequals(key_value, literal);
    case ConditionOperator::StringLike:
    case ConditionOperator::StringNotLike:
    case ConditionOperator::ArnEquals:
    case ConditionOperator::ArnNotEquals:
    case ConditionOperator::ArnLike:
    case ConditionOperator::ArnNotLike: return detail::glob_match(value, key_value);
    case ConditionOperator::IpAddress:
    case ConditionOperator::NotIpAddress: return ip_in(key_value, literal);
    case ConditionOperator::NumericEquals:
    case ConditionOperator::NumericNotEquals:
    case ConditionOperator::NumericLessThan:
    case ConditionOperator::NumericLessThanEquals:
    case ConditionOperator::NumericGreaterThan:
    case ConditionOperator::NumericGreaterThanEquals: {
      const auto k = to_number(key_value);
      const auto v = to_number(literal);
      if (!k || !v) return false;
      switch (op) {
        case ConditionOperator::NumericLessThan: return *k < *v;
        case ConditionOperator::NumericLessThanEquals: return *k <= *v;
        case ConditionOperator::NumericGreaterThan: return *k > *v;
        case ConditionOperator::NumericGreaterThanEquals: return *k >= *v;
        default: return *k == *v;
      }
    }
    case ConditionOperator::Null: return false;
  }
  return false;
}

bool condition_holds(const Condition& c, const ConnectionContext& ctx, PolicyLanguageVersion version) {
  const auto key_value = resolve(c.key, ctx);
  if (c.op == ConditionOperator::Null) {
    for (const auto& v : c.values) {
      const bool want_absent = iequals(v, "true");
      if (want_absent == !key_value.has_value()) return true;
    }
    return false;
  }
  std::vector<GlobTokens> values;
  values.reserve(c.values.size());
  const Wildcards mode = uses_wildcards(c.op) ? Wildcards::Active : Wildcards::Literal;
  for (const auto& v : c.values) {
    auto tokens = expand(v, ctx, version, mode);
    if (!tokens) return false;  // an unresolved variable: the statement does not apply
    values.push_back(std::move(*tokens));
  }
  if (!key_value) {
    if (c.if_exists == IfExists::Yes) return true;
    if (c.qualifier == SetQualifier::ForAllValues) return true;
    if (c.qualifier == SetQualifier::ForAnyValue) return false;
    return is_negated(c.op);
  }
  bool any = false;
  for (const auto& v : values) {
    if (value_matches(c.op, *key_value, v)) {
      any = true;
      break;
    }
  }
  return is_negated(c.op) ? !any : any;
}

// ---- resources --------------------------------------------------------------

// The patterns over the resource NAME that `pattern` (a whole resource ARN
// pattern) leaves once the literal `prefix` (arn:...:topic/) has been read:
// the states of the glob's NFA after the prefix. Empty when the prefix cannot
// match (other region, account or resource type).
std::vector<GlobTokens> strip_prefix(const GlobTokens& pattern, std::string_view prefix) {
  std::vector<GlobTokens> out;
  // Fast path: the ARN is written out literally up to the name.
  if (pattern.size() >= prefix.size()) {
    bool literal = true;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (pattern[i] != literal_token(prefix[i])) {
        literal = false;
        break;
      }
    }
    if (literal) {
      out.emplace_back(pattern.begin() + static_cast<std::ptrdiff_t>(prefix.size()), pattern.end());
      return out;
    }
  }
  const std::size_t m = pattern.size();
  std::vector<char> states(m + 1, 0);
  std::vector<char> next(m + 1, 0);
  auto close = [&](std::vector<char>& s) {
    for (std::size_t i = 0; i < m; ++i)
      if (s[i] && pattern[i] == kStar) s[i + 1] = 1;
  };
  states[0] = 1;
  close(states);
  for (char c : prefix) {
    std::fill(next.begin(), next.end(), 0);
    bool alive = false;
    for (std::size_t i = 0; i < m; ++i) {
      if (!states[i]) continue;
      if (pattern[i] == kStar) {
        next[i] = 1;
        alive = true;
      } else if (pattern[i] == kQuestion || pattern[i] == literal_token(c)) {
        next[i + 1] = 1;
        alive = true;
      }
    }
    if (!alive) return out;
    close(next);
    states.swap(next);
  }
  for (std::size_t i = 0; i <= m; ++i) {
    if (!states[i]) continue;
    if (i > 0 && states[i - 1] && pattern[i - 1] == kStar) continue;  // subsumed by the star before it
    out.emplace_back(pattern.begin() + static_cast<std::ptrdiff_t>(i), pattern.end());
  }
  return out;
}

constexpr std::size_t kResourceTypes = 4;

struct Builder {
  std::array<PolicySnapshot::Rules, kActionCount>& rules;
  const ConnectionContext& ctx;
  std::array<std::string, kResourceTypes> prefixes;

  void add_statement(const Statement& st, PolicyLanguageVersion version) {
    for (const auto& c : st.conditions)
      if (!condition_holds(c, ctx, version)) return;
    const ActionSet actions(st.action_mask);
    if (actions.none()) return;

    std::vector<GlobTokens> expanded;
    expanded.reserve(st.resources.size());
    for (const auto& r : st.resources) {
      auto tokens = expand(r, ctx, version, Wildcards::Active);
      if (!tokens) {
        // A NotResource entry that does not resolve would widen the
        // statement; the statement does not apply instead.
        if (st.resource_kind == ListKind::AllExcept) return;
        continue;  // this Resource entry matches nothing
      }
      expanded.push_back(std::move(*tokens));
    }

    for (std::size_t type = 0; type < kResourceTypes; ++type) {
      ActionSet of_type;
      for (std::size_t a = 0; a < kActionCount; ++a)
        if (actions[a] && static_cast<std::size_t>(resource_type(static_cast<Action>(a))) == type) of_type.set(a);
      if (of_type.none()) continue;
      std::vector<GlobTokens> names;
      for (const auto& tokens : expanded)
        for (auto& residual : strip_prefix(tokens, prefixes[type])) names.push_back(std::move(residual));

      if (st.resource_kind == ListKind::Listed) {
        if (names.empty()) continue;
        for (std::size_t a = 0; a < kActionCount; ++a) {
          if (!of_type[a]) continue;
          auto& set = st.effect == Effect::Deny ? rules[a].deny : rules[a].allow;
          for (const auto& n : names) set.add(n);
        }
      } else {
        detail::PatternSet except;
        for (const auto& n : names) except.add(n);
        except.finish();
        for (std::size_t a = 0; a < kActionCount; ++a) {
          if (!of_type[a]) continue;
          auto& list = st.effect == Effect::Deny ? rules[a].deny_all_except : rules[a].allow_all_except;
          list.push_back(except);
        }
      }
    }
  }
};

}  // namespace

std::shared_ptr<const PolicySnapshot> compile_policies(std::span<const PolicyDocument* const> documents,
                                                       const ConnectionContext& context) {
  auto snapshot = std::make_shared<PolicySnapshot>();
  Builder builder{snapshot->rules_, context, {}};
  for (std::size_t type = 0; type < kResourceTypes; ++type) {
    builder.prefixes[type] = "arn:" + context.partition + ":iot:" + context.region + ":" + context.account + ":" +
                             std::string(to_string(static_cast<ResourceType>(type))) + "/";
  }
  for (const PolicyDocument* doc : documents) {
    if (doc == nullptr) continue;
    for (const auto& st : doc->statements) builder.add_statement(st, doc->version);
  }
  for (auto& r : snapshot->rules_) {
    r.deny.finish();
    r.allow.finish();
  }
  return snapshot;
}

std::shared_ptr<const PolicySnapshot> compile_policies(
    const std::vector<std::shared_ptr<const PolicyDocument>>& documents, const ConnectionContext& context) {
  std::vector<const PolicyDocument*> raw;
  raw.reserve(documents.size());
  for (const auto& d : documents) raw.push_back(d.get());
  return compile_policies(std::span<const PolicyDocument* const>(raw), context);
}

std::shared_ptr<const PolicySnapshot> PolicySnapshot::deny_all() {
  static const std::shared_ptr<const PolicySnapshot> empty = std::make_shared<PolicySnapshot>();
  return empty;
}

std::size_t PolicySnapshot::pattern_count() const noexcept {
  std::size_t n = 0;
  for (const auto& r : rules_) {
    n += r.deny.size() + r.allow.size();
    for (const auto& e : r.deny_all_except) n += e.size();
    for (const auto& e : r.allow_all_except) n += e.size();
  }
  return n;
}

}  // namespace fg::policy
