// Parsing and validation of AWS IoT policy documents (see policy.hpp).
#include "policy/policy.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <charconv>
#include <set>
#include <string>
#include <utility>

namespace fg::policy {

namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, kActionCount> kActionNames = {
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
    "iot:GetRetainedMessage",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:ListNamedShadowsForThing",
    "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions",
    "iot:StartNextPendingJobExecution",
    "iot:UpdateJobExecution",
};

// Raw input larger than this is refused before parsing, whatever its
// whitespace (the 2048-character rule excludes whitespace, so it alone does
// not bound the input).
constexpr std::size_t kMaxRawBytes = 64 * 1024;

// ASCII-only case folding (policy keywords are ASCII; std::tolower is
// locale-dependent and slow).
constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Quotes a value from the document for an error message, shortened.
std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  if (s.size() > kMax) {
    out.append(s.substr(0, kMax));
    out += "...";
  } else {
    out.append(s);
  }
  out += "'";
  return out;
}

std::string json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "a list";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::null: return "null";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

PolicyError error_at(const std::string& path, std::string_view what) {
  return PolicyError{path + ": " + std::string(what)};
}

// "string or non-empty list of strings" -> values.
Result<std::vector<std::string>, PolicyError> string_or_list(const Json& j, const std::string& path) {
  std::vector<std::string> out;
  if (j.is_string()) {
    out.push_back(j.get<std::string>());
    return out;
  }
  if (!j.is_array()) return unexpected(error_at(path, "must be a string or a list of strings, not " + json_type_name(j)));
  if (j.empty()) return unexpected(error_at(path, "must not be an empty list"));
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      return unexpected(error_at(path + "[" + std::to_string(i) + "]", "must be a string, not " + json_type_name(j[i])));
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

bool valid_action(std::string_view a) {
  if (a == "*") return true;
  const auto colon = a.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  for (char c : a.substr(0, colon))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  for (char c : a.substr(colon + 1))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '*' && c != '?') return false;
  return true;
}

bool valid_resource(std::string_view r) {
  if (r == "*") return true;
  // arn:partition:service:region:account:resource; a wildcard may stand for
  // several of the components ("arn:aws:iot:*:topic/x").
  if (r.substr(0, 4) != "arn:") return false;
  return std::count(r.begin(), r.end(), ':') >= 5 || r.find('*') != std::string_view::npos;
}

// Which of fleetguard's actions the written action patterns name
// (case-insensitive, `*` and `?` wildcards).
std::uint32_t action_mask(const std::vector<std::string>& written, ListKind kind) {
  std::uint32_t mask = 0;
  for (const auto& w : written) {
    detail::GlobTokens tokens;
    tokens.reserve(w.size());
    for (char c : w) {
      tokens.push_back(c == '*' ? detail::kStar : c == '?' ? detail::kQuestion : static_cast<detail::GlobToken>(ascii_lower(c)));
    }
    for (std::size_t i = 0; i < kActionCount; ++i) {
      std::string name(kActionNames[i]);
      for (char& c : name) c = ascii_lower(c);
      if (detail::glob_match(tokens, name)) mask |= 1u << i;
    }
  }
  if (kind == ListKind::AllExcept) mask = ~mask & ((1u << kActionCount) - 1);
  return mask;
}

bool contains_variable(std::string_view s) { return s.find("${") != std::string_view::npos; }

bool valid_number(std::string_view s) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

}  // namespace

// Shared with policy_snapshot.cpp.
bool parse_ip_or_cidr(std::string_view text, std::array<unsigned char, 16>& addr, int& prefix_bits, int& family);

bool parse_ip_or_cidr(std::string_view text, std::array<unsigned char, 16>& addr, int& prefix_bits, int& family) {
  std::string ip(text);
  int bits = -1;
  if (const auto slash = ip.find('/'); slash != std::string::npos) {
    const std::string_view digits = std::string_view(ip).substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return false;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) return false;
    ip.resize(slash);
  }
  addr.fill(0);
  if (inet_pton(AF_INET, ip.c_str(), addr.data()) == 1) {
    family = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return false;
  } else if (inet_pton(AF_INET6, ip.c_str(), addr.data()) == 1) {
    family = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return false;
  } else {
    return false;
  }
  prefix_bits = bits;
  return true;
}

std::string_view to_string(Action action) noexcept {
  const auto i = static_cast<std::size_t>(action);
  return i < kActionCount ? kActionNames[i] : std::string_view("iot:?");
}

std::optional<Action> action_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kActionCount; ++i)
    if (iequals(kActionNames[i], name)) return static_cast<Action>(i);
  return std::nullopt;
}

ResourceType resource_type(Action action) noexcept {
  switch (action) {
    case Action::Connect: return ResourceType::Client;
    case Action::Publish:
    case Action::Receive:
    case Action::RetainPublish:
    case Action::GetRetainedMessage: return ResourceType::Topic;
    case Action::Subscribe: return ResourceType::TopicFilter;
    default: return ResourceType::Thing;
  }
}

std::string_view to_string(ResourceType type) noexcept {
  switch (type) {
    case ResourceType::Client: return "client";
    case ResourceType::Topic: return "topic";
    case ResourceType::TopicFilter: return "topicfilter";
    case ResourceType::Thing: return "thing";
  }
  return "?";
}

std::string_view to_string(Decision decision) noexcept {
  switch (decision) {
    case Decision::Allow: return "Allow";
    case Decision::ExplicitDeny: return "ExplicitDeny";
    case Decision::ImplicitDeny: return "ImplicitDeny";
  }
  return "?";
}

std::size_t policy_document_size(std::string_view json) noexcept {
  std::size_t n = 0;
  for (char c : json) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if ((u & 0xC0) == 0x80) continue;  // UTF-8 continuation byte: same character
    ++n;
  }
  return n;
}

namespace {

struct OperatorName {
  std::string_view name;
  ConditionOperator op;
};
constexpr OperatorName kOperators[] = {
    {"StringEquals", ConditionOperator::StringEquals},
    {"StringNotEquals", ConditionOperator::StringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOperator::StringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOperator::StringNotEqualsIgnoreCase},
    {"StringLike", ConditionOperator::StringLike},
    {"StringNotLike", ConditionOperator::StringNotLike},
    {"NumericEquals", ConditionOperator::NumericEquals},
    {"NumericNotEquals", ConditionOperator::NumericNotEquals},
    {"NumericLessThan", ConditionOperator::NumericLessThan},
    {"NumericLessThanEquals", ConditionOperator::NumericLessThanEquals},
    {"NumericGreaterThan", ConditionOperator::NumericGreaterThan},
    {"NumericGreaterThanEquals", ConditionOperator::NumericGreaterThanEquals},
    {"Bool", ConditionOperator::Bool},
    {"IpAddress", ConditionOperator::IpAddress},
    {"NotIpAddress", ConditionOperator::NotIpAddress},
    {"ArnEquals", ConditionOperator::ArnEquals},
    {"ArnNotEquals", ConditionOperator::ArnNotEquals},
    {"ArnLike", ConditionOperator::ArnLike},
    {"ArnNotLike", ConditionOperator::ArnNotLike},
    {"Null", ConditionOperator::Null},
};

Result<std::vector<Condition>, PolicyError> parse_conditions(const Json& j, const std::string& path) {
  if (!j.is_object()) return unexpected(error_at(path, "must be an object, not " + json_type_name(j)));
  std::vector<Condition> out;
  for (const auto& [op_text, keys] : j.items()) {
    const std::string op_path = path + "." + op_text;
    Condition proto;
    std::string_view name = op_text;
    if (name.substr(0, 12) == "ForAnyValue:") {
      proto.qualifier = SetQualifier::ForAnyValue;
      name.remove_prefix(12);
    } else if (name.substr(0, 13) == "ForAllValues:") {
      proto.qualifier = SetQualifier::ForAllValues;
      name.remove_prefix(13);
    }
    constexpr std::string_view kIfExists = "IfExists";
    if (name.size() > kIfExists.size() && name.substr(name.size() - kIfExists.size()) == kIfExists) {
      proto.if_exists = IfExists::Yes;
      name.remove_suffix(kIfExists.size());
    }
    const auto found = std::find_if(std::begin(kOperators), std::end(kOperators),
                                    [&](const OperatorName& o) { return o.name == name; });
    if (found == std::end(kOperators)) {
      if (name.substr(0, 4) == "Date" || name.substr(0, 6) == "Binary")
        return unexpected(error_at(op_path, "condition operator not supported by fleetguard"));
      return unexpected(error_at(op_path, "unknown condition operator"));
    }
    proto.op = found->op;
    if (proto.op == ConditionOperator::Null && (proto.if_exists == IfExists::Yes || proto.qualifier != SetQualifier::None))
      return unexpected(error_at(op_path, "Null cannot be combined with IfExists or a set qualifier"));
    if (!keys.is_object()) return unexpected(error_at(op_path, "must be an object, not " + json_type_name(keys)));
    if (keys.empty()) return unexpected(error_at(op_path, "must name at least one condition key"));
    for (const auto& [key, values] : keys.items()) {
      const std::string key_path = op_path + "." + key;
      if (key.empty()) return unexpected(error_at(op_path, "condition key must not be empty"));
      Condition c = proto;
      c.key = key;
      auto scalar = [&](const Json& v, const std::string& p) -> Result<std::string, PolicyError> {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
        if (v.is_number()) return v.dump();
        return unexpected(error_at(p, "must be a string, number or boolean, not " + json_type_name(v)));
      };
      if (values.is_array()) {
        if (values.empty()) return unexpected(error_at(key_path, "must not be an empty list"));
        for (std::size_t i = 0; i < values.size(); ++i) {
          auto v = scalar(values[i], key_path + "[" + std::to_string(i) + "]");
          if (!v) return unexpected(v.error());
          c.values.push_back(std::move(*v));
        }
      } else {
        auto v = scalar(values, key_path);
        if (!v) return unexpected(v.error());
        c.values.push_back(std::move(*v));
      }
      for (std::size_t i = 0; i < c.values.size(); ++i) {
        const std::string& v = c.values[i];
        const std::string vpath = values.is_array() ? key_path + "[" + std::to_string(i) + "]" : key_path;
        if (contains_variable(v)) continue;  // checked after substitution
        switch (c.op) {
          case ConditionOperator::Bool:
          case ConditionOperator::Null:
            if (!iequals(v, "true") && !iequals(v, "false"))
              return unexpected(error_at(vpath, quote(v) + " must be true or false"));
            break;
          case ConditionOperator::IpAddress:
          case ConditionOperator::NotIpAddress: {
            std::array<unsigned char, 16> addr{};
            int bits = 0;
            int family = 0;
            if (!parse_ip_or_cidr(v, addr, bits, family))
              return unexpected(error_at(vpath, quote(v) + " is not an IP address or CIDR block"));
            break;
          }
          case ConditionOperator::NumericEquals:
          case ConditionOperator::NumericNotEquals:
          case ConditionOperator::NumericLessThan:
          case ConditionOperator::NumericLessThanEquals:
          case ConditionOperator::NumericGreaterThan:
          case ConditionOperator::NumericGreaterThanEquals:
            if (!valid_number(v)) return unexpected(error_at(vpath, quote(v) + " is not a number"));
            break;
          default: break;
        }
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

Result<Statement, PolicyError> parse_statement(const Json& j, const std::string& path) {
  if (!j.is_object()) return unexpected(error_at(path, "must be an object, not " + json_type_name(j)));
  Statement st;
  bool has_effect = false;
  for (const auto& [field, value] : j.items()) {
    const std::string fpath = path + "." + field;
    if (field == "Sid") {
      if (!value.is_string()) return unexpected(error_at(fpath, "must be a string, not " + json_type_name(value)));
      st.sid = value.get<std::string>();
    } else if (field == "Effect") {
      if (!value.is_string()) return unexpected(error_at(fpath, "must be Allow or Deny"));
      const auto e = value.get<std::string>();
      if (e == "Allow") {
        st.effect = Effect::Allow;
      } else if (e == "Deny") {
        st.effect = Effect::Deny;
      } else {
        return unexpected(error_at(fpath, "must be Allow or Deny, not " + quote(e)));
      }
      has_effect = true;
    } else if (field == "Action" || field == "NotAction") {
      if (!st.actions.empty()) return unexpected(error_at(path, "must have exactly one of Action and NotAction"));
      auto list = string_or_list(value, fpath);
      if (!list) return unexpected(list.error());
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string& a = (*list)[i];
        if (!valid_action(a)) {
          const std::string apath = value.is_array() ? fpath + "[" + std::to_string(i) + "]" : fpath;
          return unexpected(error_at(apath, quote(a) + " is not a valid action (expected \"*\" or service:ActionName, "
                                                        "e.g. iot:Publish)"));
        }
      }
      st.action_kind = field == "Action" ? ListKind::Listed : ListKind::AllExcept;
      st.action_mask = action_mask(*list, st.action_kind);
      st.actions = std::move(*list);
    } else if (field == "Resource" || field == "NotResource") {
      if (!st.resources.empty()) return unexpected(error_at(path, "must have exactly one of Resource and NotResource"));
      auto list = string_or_list(value, fpath);
      if (!list) return unexpected(list.error());
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string& r = (*list)[i];
        if (!valid_resource(r)) {
          const std::string rpath = value.is_array() ? fpath + "[" + std::to_string(i) + "]" : fpath;
          return unexpected(error_at(rpath, quote(r) + " is not a valid resource (expected \"*\" or an ARN such as "
                                                        "arn:aws:iot:us-east-1:123456789012:topic/name)"));
        }
      }
      st.resource_kind = field == "Resource" ? ListKind::Listed : ListKind::AllExcept;
      st.resources = std::move(*list);
    } else if (field == "Condition") {
      auto conditions = parse_conditions(value, fpath);
      if (!conditions) return unexpected(conditions.error());
      st.conditions = std::move(*conditions);
    } else if (field == "Principal" || field == "NotPrincipal") {
      return unexpected(error_at(fpath, "not allowed in an AWS IoT policy (policies are attached to principals)"));
    } else {
      return unexpected(error_at(path, "unknown field " + quote(field)));
    }
  }
  if (!has_effect) return unexpected(error_at(path, "Effect is required"));
  if (st.actions.empty()) return unexpected(error_at(path, "Action or NotAction is required"));
  if (st.resources.empty()) return unexpected(error_at(path, "Resource or NotResource is required"));
  return st;
}

Result<PolicyDocument, PolicyError> document_from_json(const Json& root) {
  PolicyDocument doc;
  doc.version = PolicyLanguageVersion::V2008_10_17;  // IAM's default when Version is absent
  const Json* statements = nullptr;
  for (const auto& [field, value] : root.items()) {
    if (field == "Version") {
      if (!value.is_string())
        return unexpected(error_at("Version", "must be \"2012-10-17\" or \"2008-10-17\", not " + json_type_name(value)));
      const auto v = value.get<std::string>();
      if (v == "2012-10-17") {
        doc.version = PolicyLanguageVersion::V2012_10_17;
      } else if (v == "2008-10-17") {
        doc.version = PolicyLanguageVersion::V2008_10_17;
      } else {
        return unexpected(error_at("Version", "must be \"2012-10-17\" or \"2008-10-17\", not " + quote(v)));
      }
    } else if (field == "Id") {
      if (!value.is_string()) return unexpected(error_at("Id", "must be a string, not " + json_type_name(value)));
      doc.id = value.get<std::string>();
    } else if (field == "Statement") {
      statements = &value;
    } else {
      return unexpected(PolicyError{"policy document: unknown field " + quote(field)});
    }
  }
  if (statements == nullptr) return unexpected(PolicyError{"policy document: Statement is required"});
  if (statements->is_object()) {
    auto st = parse_statement(*statements, "Statement");
    if (!st) return unexpected(st.error());
    doc.statements.push_back(std::move(*st));
  } else if (statements->is_array()) {
    if (statements->empty()) return unexpected(error_at("Statement", "must contain at least one statement"));
    for (std::size_t i = 0; i < statements->size(); ++i) {
      auto st = parse_statement((*statements)[i], "Statement[" + std::to_string(i) + "]");
      if (!st) return unexpected(st.error());
      doc.statements.push_back(std::move(*st));
    }
  } else {
    return unexpected(error_at("Statement", "must be an object or a list of objects, not " + json_type_name(*statements)));
  }
  return doc;
}

}  // namespace

Result<PolicyDocument, PolicyError> parse_policy_document(std::string_view text) {
  if (text.size() > kMaxRawBytes)
    return unexpected(PolicyError{"policy document: larger than " + std::to_string(kMaxRawBytes) + " bytes"});
  const std::size_t size = policy_document_size(text);
  if (size > kMaxPolicyDocumentChars)
    return unexpected(PolicyError{"policy document: " + std::to_string(size) +
                                  " characters excluding whitespace; the maximum is " +
                                  std::to_string(kMaxPolicyDocumentChars)});

  // nlohmann keeps the last of duplicate keys; AWS refuses such documents, so
  // the parser callback tracks the keys of every open object.
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string()) {
          auto key = parsed.get<std::string>();
          if (!open_objects.back().insert(key).second && !duplicate) duplicate = std::move(key);
        }
        break;
      default: break;
    }
    return true;
  };
  Json root;
  try {
    root = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (const auto close = what.find("] "); what.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
      what.erase(0, close + 2);
    return unexpected(PolicyError{"policy document: invalid JSON: " + what});
  }
  if (duplicate) return unexpected(PolicyError{"policy document: duplicate key " + quote(*duplicate)});
  if (!root.is_object())
    return unexpected(PolicyError{"policy document: must be a JSON object, not " + json_type_name(root)});

  // Every value's type is checked before it is read, so nothing below
  // should throw; the catch keeps that promise if a check is ever missed.
  try {
    return document_from_json(root);
  } catch (const Json::exception& e) {
    return unexpected(PolicyError{std::string("policy document: ") + e.what()});
  }
}

void add_distinguished_name_fields(std::map<std::string, std::string, std::less<>>& out, std::string_view prefix,
                                   const std::map<std::string, std::string>& short_names) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"CN", "CommonName"},
      {"O", "Organization"},
      {"OU", "OrganizationalUnit"},
      {"C", "Country"},
      {"ST", "State"},
      {"L", "Locality"},
      {"serialNumber", "SerialNumber"},
      {"title", "Title"},
      {"SN", "Surname"},
      {"GN", "GivenName"},
      {"initials", "Initials"},
      {"pseudonym", "Pseudonym"},
      {"generationQualifier", "GenerationQualifier"},
      {"dnQualifier", "DistinguishedNameQualifier"},
  };
  for (const auto& [short_name, value] : short_names) {
    for (const auto& [from, to] : kNames) {
      if (short_name == from) {
        out[std::string(prefix) + "." + std::string(to)] = value;
        break;
      }
    }
  }
}

}  // namespace fg::policy
