#include "api/model.hpp"

#include <array>
#include <bitset>
#include <charconv>
#include <stdexcept>

#include "api/sigv4.hpp"

namespace fg::api {

// ---------------------------------------------------------------- patterns

// A pattern compiled into a token sequence: character classes and literals,
// each with a repetition range, and "(literal)?" groups. That covers every
// pattern in the model; anything else is Unsupported (not checked). No
// std::regex: libstdc++'s recurses per input character, and GCC 12 warns
// inside it under -fsanitize.
struct PatternMatcher::Impl {
  struct Token {
    std::bitset<256> set;    // for a class or single character
    std::string literal;     // for an optional group
    bool group = false;
    std::size_t min = 1, max = 1;
  };
  enum class Kind { Any, Tokens, Unsupported } kind = Kind::Unsupported;
  std::vector<Token> tokens;

  bool match_from(std::size_t t, std::string_view s) const {
    if (t == tokens.size()) return s.empty();
    const Token& tok = tokens[t];
    if (tok.group) {
      if (s.substr(0, tok.literal.size()) == tok.literal && match_from(t + 1, s.substr(tok.literal.size())))
        return true;
      return match_from(t + 1, s);
    }
    std::size_t run = 0;
    while (run < s.size() && run < tok.max && tok.set.test(static_cast<unsigned char>(s[run]))) ++run;
    if (run < tok.min) return false;
    // Only the last token can need every character; earlier ones back off.
    for (std::size_t n = run + 1; n-- > tok.min;) {
      if (match_from(t + 1, s.substr(n))) return true;
      if (t + 1 == tokens.size()) break;
    }
    return false;
  }
};

namespace {

// Parses the inside of a "[...]" class into `set`; false when it uses syntax
// we do not handle here.
bool parse_class(std::string_view body, std::bitset<256>& set) {
  std::vector<int> singles;
  std::size_t i = 0;
  auto next_char = [&](int& out) -> bool {  // one literal char (possibly escaped); -1 for a class escape handled
    if (i >= body.size()) return false;
    char c = body[i++];
    if (c != '\\') {
      out = static_cast<unsigned char>(c);
      return true;
    }
    if (i >= body.size()) return false;
    char e = body[i++];
    switch (e) {
      case 's':
        for (char w : {' ', '\t', '\n', '\r', '\f', '\v'}) set.set(static_cast<unsigned char>(w));
        out = -1;
        return true;
      case 'S':
        for (int c2 = 0; c2 < 256; ++c2)
          if (c2 != ' ' && c2 != '\t' && c2 != '\n' && c2 != '\r' && c2 != '\f' && c2 != '\v') set.set(c2);
        out = -1;
        return true;
      case 'x': {
        if (i + 2 > body.size()) return false;
        int v = 0;
        auto r = std::from_chars(body.data() + i, body.data() + i + 2, v, 16);
        if (r.ptr != body.data() + i + 2) return false;
        i += 2;
        out = v;
        return true;
      }
      case 'p': {
        // \p{Graph}: visible ASCII. Other Unicode classes are unsupported.
        if (body.substr(i, 7) != "{Graph}") return false;
        i += 7;
        for (int c2 = 0x21; c2 <= 0x7e; ++c2) set.set(c2);
        out = -1;
        return true;
      }
      default:
        if (std::isalnum(static_cast<unsigned char>(e))) return false;
        out = static_cast<unsigned char>(e);
        return true;
    }
  };
  while (i < body.size()) {
    int a;
    if (!next_char(a)) return false;
    if (a < 0) continue;
    if (i + 1 < body.size() && body[i] == '-') {
      ++i;
      int b;
      if (!next_char(b) || b < 0 || b < a) return false;
      for (int c = a; c <= b; ++c) set.set(c);
    } else {
      set.set(a);
    }
  }
  return true;
}

}  // namespace

PatternMatcher::PatternMatcher(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
  std::string_view p(pattern);
  if (p.size() >= 2 && p.front() == '^' && p.back() == '$') p = p.substr(1, p.size() - 2);
  if (p == "[\\s\\S]*") {
    impl_->kind = Impl::Kind::Any;
    return;
  }
  std::vector<Impl::Token> tokens;
  std::size_t i = 0;
  while (i < p.size()) {
    Impl::Token tok;
    if (p[i] == '(') {
      auto close = p.find(')', i);
      if (close == std::string_view::npos || close + 1 >= p.size() || p[close + 1] != '?') return;
      tok.literal = std::string(p.substr(i + 1, close - i - 1));
      for (char c : tok.literal)
        if (!std::isalnum(static_cast<unsigned char>(c))) return;  // only plain literals
      tok.group = true;
      tokens.push_back(std::move(tok));
      i = close + 2;
      continue;
    }
    if (p[i] == '[') {
      auto close = p.find(']', i + 1);
      while (close != std::string_view::npos && p[close - 1] == '\\') close = p.find(']', close + 1);
      if (close == std::string_view::npos || p[i + 1] == '^') return;
      if (!parse_class(p.substr(i + 1, close - i - 1), tok.set)) return;
      i = close + 1;
    } else if (std::isalnum(static_cast<unsigned char>(p[i])) || p[i] == '=' || p[i] == '-' || p[i] == '_' ||
               p[i] == ':' || p[i] == '/') {
      tok.set.set(static_cast<unsigned char>(p[i]));
      ++i;
    } else {
      return;  // unsupported syntax: not checked
    }
    if (i < p.size() && (p[i] == '+' || p[i] == '*' || p[i] == '?')) {
      tok.min = p[i] == '+' ? 1 : 0;
      tok.max = p[i] == '?' ? 1 : std::string::npos;
      ++i;
    } else if (i < p.size() && p[i] == '{') {
      auto close = p.find('}', i);
      if (close == std::string_view::npos) return;
      std::string_view body = p.substr(i + 1, close - i - 1);
      auto comma = body.find(',');
      std::size_t lo = 0, hi = 0;
      auto r1 = std::from_chars(body.data(), body.data() + (comma == std::string_view::npos ? body.size() : comma), lo);
      if (r1.ec != std::errc{}) return;
      hi = lo;
      if (comma != std::string_view::npos) {
        auto r2 = std::from_chars(body.data() + comma + 1, body.data() + body.size(), hi);
        if (r2.ec != std::errc{}) return;
      }
      tok.min = lo;
      tok.max = hi;
      i = close + 1;
    }
    tokens.push_back(std::move(tok));
  }
  impl_->tokens = std::move(tokens);
  impl_->kind = Impl::Kind::Tokens;
}

PatternMatcher::~PatternMatcher() = default;

bool PatternMatcher::matches(std::string_view s) const {
  switch (impl_->kind) {
    case Impl::Kind::Any:
    case Impl::Kind::Unsupported:
      return true;
    case Impl::Kind::Tokens:
      return impl_->match_from(0, s);
  }
  return true;
}

// ---------------------------------------------------------------- model

Model::Model(std::string_view json_text) {
  auto doc = nlohmann::json::parse(json_text);
  for (const auto& [name, o] : doc.at("operations").items()) {
    Operation op;
    op.name = name;
    op.method = o.at("method").get<std::string>();
    op.uri = o.at("uri").get<std::string>();
    op.input = o.value("input", "");
    operations_.emplace(name, std::move(op));
  }
  for (const auto& [name, s] : doc.at("shapes").items()) {
    Shape sh;
    sh.name = name;
    sh.type = s.at("type").get<std::string>();
    if (s.contains("required")) sh.required = s["required"].get<std::vector<std::string>>();
    if (s.contains("min")) sh.min = s["min"].get<int64_t>();
    if (s.contains("max")) sh.max = s["max"].get<int64_t>();
    if (s.contains("pattern")) {
      sh.pattern = s["pattern"].get<std::string>();
      sh.matcher = std::make_shared<PatternMatcher>(sh.pattern);
    }
    if (s.contains("enum")) sh.enum_values = s["enum"].get<std::vector<std::string>>();
    if (s.contains("payload")) sh.payload = s["payload"].get<std::string>();
    if (s.contains("members")) {
      for (const auto& [m, ref] : s["members"].items()) {
        sh.members.push_back(MemberRef{m, ref.at("shape").get<std::string>(), ref.value("location", ""),
                                       ref.value("locationName", "")});
      }
    }
    sh.member = s.value("member", "");
    sh.key = s.value("key", "");
    sh.value = s.value("value", "");
    shapes_.emplace(name, std::move(sh));
  }
  // Every reference must resolve: a defect here is a generator bug.
  for (const auto& [name, sh] : shapes_) {
    for (const auto& m : sh.members)
      if (!shapes_.count(m.shape)) throw std::runtime_error("model: shape " + name + " refers to unknown " + m.shape);
  }
}

const Model& Model::iot() {
  static const Model model(iot_model_json());
  return model;
}

const Operation* Model::operation(const std::string& name) const {
  auto it = operations_.find(name);
  return it == operations_.end() ? nullptr : &it->second;
}

const Shape* Model::shape(const std::string& name) const {
  auto it = shapes_.find(name);
  return it == shapes_.end() ? nullptr : &it->second;
}

std::optional<QueryParams> parse_query(std::string_view raw) {
  QueryParams out;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq));
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!k || !v) return std::nullopt;
    out.emplace(std::move(*k), std::move(*v));
  }
  return out;
}

namespace {

std::string quote_value(const nlohmann::json& v) {
  // Never serialise nested input: it may be deep (the serialiser recurses).
  if (v.is_array()) return "[...]";
  if (v.is_object()) return "{...}";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 64) s = s.substr(0, 64) + "...";
  // Messages are JSON-escaped later; keep control characters out of them anyway.
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

std::string constraint_error(const nlohmann::json& v, const std::string& path, const std::string& what) {
  return "1 validation error detected: Value '" + quote_value(v) + "' at '" + path +
         "' failed to satisfy constraint: Member must " + what;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// Converts a string from the URI, query string or a header to the member type.
std::optional<nlohmann::json> convert_scalar(const std::string& text, const Shape& shape) {
  if (shape.type == "string") return nlohmann::json(text);
  if (shape.type == "boolean") {
    if (text == "true") return nlohmann::json(true);
    if (text == "false") return nlohmann::json(false);
    return std::nullopt;
  }
  if (shape.type == "integer" || shape.type == "long") {
    int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size()) return std::nullopt;
    return nlohmann::json(v);
  }
  if (shape.type == "timestamp") {
    int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size()) return std::nullopt;
    return nlohmann::json(v);
  }
  return nlohmann::json(text);
}

}  // namespace

std::optional<std::string> Model::validate(const nlohmann::json& v, const std::string& shape_name,
                                           const std::string& path) const {
  const Shape* sh = shape(shape_name);
  if (!sh) return "model defect: unknown shape " + shape_name;
  const std::string& t = sh->type;
  auto range = [&](int64_t n, const char* unit) -> std::optional<std::string> {
    if (sh->min && n < *sh->min)
      return constraint_error(v, path, std::string("have ") + unit + " greater than or equal to " + std::to_string(*sh->min));
    if (sh->max && n > *sh->max)
      return constraint_error(v, path, std::string("have ") + unit + " less than or equal to " + std::to_string(*sh->max));
    return std::nullopt;
  };
  if (t == "structure") {
    if (!v.is_object()) return "Expected an object at '" + path + "'";
    for (const auto& r : sh->required)
      if (!v.contains(r) || v[r].is_null())
        return "1 validation error detected: Value null at '" + (path.empty() ? r : path + "." + r) +
               "' failed to satisfy constraint: Member must not be null";
    for (const auto& m : sh->members) {
      auto it = v.find(m.name);
      if (it == v.end() || it->is_null()) continue;
      if (auto e = validate(*it, m.shape, path.empty() ? m.name : path + "." + m.name)) return e;
    }
    return std::nullopt;
  }
  if (t == "list") {
    if (!v.is_array()) return "Expected a list at '" + path + "'";
    if (auto e = range(static_cast<int64_t>(v.size()), "length")) return e;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (auto e = validate(v[i], sh->member, path + "." + std::to_string(i + 1) + ".member")) return e;
    return std::nullopt;
  }
  if (t == "map") {
    if (!v.is_object()) return "Expected a map at '" + path + "'";
    if (auto e = range(static_cast<int64_t>(v.size()), "length")) return e;
    for (const auto& [k, val] : v.items()) {
      if (auto e = validate(nlohmann::json(k), sh->key, path + ".key")) return e;
      if (auto e = validate(val, sh->value, path + ".value")) return e;
    }
    return std::nullopt;
  }
  if (t == "string") {
    if (!v.is_string()) return "Expected a string at '" + path + "'";
    const auto& s = v.get_ref<const std::string&>();
    if (auto e = range(static_cast<int64_t>(utf8_length(s)), "length")) return e;
    if (!sh->enum_values.empty() &&
        std::find(sh->enum_values.begin(), sh->enum_values.end(), s) == sh->enum_values.end()) {
      std::string set;
      for (const auto& e : sh->enum_values) set += (set.empty() ? "" : ", ") + e;
      return constraint_error(v, path, "satisfy enum value set: [" + set + "]");
    }
    if (sh->matcher && !sh->matcher->matches(s))
      return constraint_error(v, path, "satisfy regular expression pattern: " + sh->pattern);
    return std::nullopt;
  }
  if (t == "integer" || t == "long") {
    if (!v.is_number_integer()) return "Expected an integer at '" + path + "'";
    int64_t n = v.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX))
                                       : v.get<int64_t>();
    if (t == "integer" && (n > INT32_MAX || n < INT32_MIN)) return "Value out of range at '" + path + "'";
    if (sh->min && n < *sh->min)
      return constraint_error(v, path, "have value greater than or equal to " + std::to_string(*sh->min));
    if (sh->max && n > *sh->max)
      return constraint_error(v, path, "have value less than or equal to " + std::to_string(*sh->max));
    return std::nullopt;
  }
  if (t == "boolean") {
    if (!v.is_boolean()) return "Expected a boolean at '" + path + "'";
    return std::nullopt;
  }
  if (t == "double" || t == "float" || t == "timestamp") {
    if (!v.is_number()) return "Expected a number at '" + path + "'";
    return std::nullopt;
  }
  if (t == "blob") {
    if (!v.is_string()) return "Expected a base64 string at '" + path + "'";
    return std::nullopt;
  }
  return std::nullopt;
}

ApiResult<nlohmann::json> Model::bind_input(const Operation& op, const std::map<std::string, std::string>& labels,
                                            const QueryParams& query, const HttpRequest& req) const {
  nlohmann::json input = nlohmann::json::object();
  if (op.input.empty()) return input;
  const Shape* sh = shape(op.input);
  if (!sh) return fail(internal_failure("model defect: unknown input shape " + op.input));

  bool has_body_members = false;
  for (const auto& m : sh->members)
    if (m.location.empty()) has_body_members = true;
  if (has_body_members && !req.body.empty()) {
    // Bodies are bounded by the server's size limit; depth by nlohmann's
    // recursive parser is bounded by that too (1 MiB of '[' is the worst).
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return fail(invalid_request("Request body is not valid JSON"));
    if (!body.is_object()) return fail(invalid_request("Request body must be a JSON object"));
    if (!sh->payload.empty()) {
      input[sh->payload] = body;  // the body is that one member (e.g. SetLoggingOptions)
    } else {
      for (const auto& m : sh->members)
        if (m.location.empty() && body.contains(m.name) && !body[m.name].is_null()) input[m.name] = body[m.name];
    }
  }
  for (const auto& m : sh->members) {
    const Shape* ms = shape(m.shape);
    if (!ms) return fail(internal_failure("model defect: unknown shape " + m.shape));
    std::optional<std::string> text;
    std::vector<std::string> list_values;
    if (m.location == "uri") {
      auto it = labels.find(m.location_name);
      if (it != labels.end()) text = it->second;
    } else if (m.location == "querystring") {
      auto [b, e] = query.equal_range(m.location_name);
      for (auto it = b; it != e; ++it) list_values.push_back(it->second);
      if (!list_values.empty() && ms->type != "list") text = list_values.front();
    } else if (m.location == "header") {
      if (const std::string* h = req.header(m.location_name)) text = *h;
    } else {
      continue;
    }
    if (ms->type == "list" && m.location == "querystring") {
      if (list_values.empty()) continue;
      const Shape* item = shape(ms->member);
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& lv : list_values) {
        auto cv = item ? convert_scalar(lv, *item) : std::nullopt;
        if (!cv) return fail(invalid_request("Invalid value for query parameter " + m.location_name));
        arr.push_back(std::move(*cv));
      }
      input[m.name] = std::move(arr);
      continue;
    }
    if (!text) continue;
    auto cv = convert_scalar(*text, *ms);
    if (!cv) {
      return fail(invalid_request("Invalid value '" + quote_value(nlohmann::json(*text)) + "' for " + m.name +
                                  " (expected " + ms->type + ")"));
    }
    input[m.name] = std::move(*cv);
  }
  if (auto e = validate(input, op.input, "")) return fail(invalid_request(*e));
  return input;
}

}  // namespace fg::api
