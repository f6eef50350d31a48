#include "api/router.hpp"

#include "api/sigv4.hpp"

namespace fg::api {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

void Router::add(const Operation& op) {
  Route r;
  r.op = &op;
  std::string_view uri(op.uri);
  auto q = uri.find('?');
  if (q != std::string_view::npos) {
    std::string_view qs = uri.substr(q + 1);
    uri = uri.substr(0, q);
    while (!qs.empty()) {
      auto amp = qs.find('&');
      std::string_view pair = qs.substr(0, amp);
      qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
      auto eq = pair.find('=');
      if (!pair.empty()) r.required_query.emplace_back(pair.substr(0, eq));
    }
  }
  for (auto seg : split_path(uri)) {
    Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      seg = seg.substr(1, seg.size() - 2);
      if (!seg.empty() && seg.back() == '+') {
        s.kind = Segment::Kind::Greedy;
        seg.remove_suffix(1);
      } else {
        s.kind = Segment::Kind::Label;
      }
    } else {
      ++r.literals;
    }
    s.text = seg;
    r.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(r));
}

std::optional<RouteMatch> Router::match(std::string_view method, std::string_view raw_path, const QueryParams& query,
                                        bool* path_known) const {
  auto parts = split_path(raw_path);
  std::vector<std::optional<std::string>> decoded(parts.size());
  auto decode = [&](std::size_t i) -> const std::optional<std::string>& {
    if (!decoded[i]) decoded[i] = percent_decode(parts[i]).value_or(std::string("\x01invalid"));
    return decoded[i];
  };
  const Route* best = nullptr;
  RouteMatch best_match;
  for (const auto& r : routes_) {
    RouteMatch m;
    bool ok = true;
    std::size_t i = 0;
    for (std::size_t s = 0; s < r.segments.size() && ok; ++s) {
      const auto& seg = r.segments[s];
      if (seg.kind == Segment::Kind::Greedy) {
        if (i >= parts.size()) {
          ok = false;
          break;
        }
        std::string joined;
        for (std::size_t j = i; j < parts.size(); ++j) {
          if (j > i) joined.push_back('/');
          joined += *decode(j);
        }
        if (joined.empty()) ok = false;
        m.labels[seg.text] = std::move(joined);
        i = parts.size();
        break;
      }
      if (i >= parts.size()) {
        ok = false;
        break;
      }
      const std::string& d = *decode(i);
      if (seg.kind == Segment::Kind::Literal) {
        ok = d == seg.text;
      } else {
        ok = !d.empty() && d != "\x01invalid";
        if (ok) m.labels[seg.text] = d;
      }
      ++i;
    }
    if (!ok || i != parts.size()) continue;
    bool query_ok = true;
    for (const auto& k : r.required_query)
      if (!query.count(k)) query_ok = false;
    if (!query_ok) continue;
    if (method != r.op->method) {
      if (path_known) *path_known = true;
      continue;
    }
    if (!best || r.literals > best->literals ||
        (r.literals == best->literals && r.required_query.size() > best->required_query.size())) {
      best = &r;
      m.operation = r.op;
      best_match = std::move(m);
    }
  }
  if (!best) return std::nullopt;
  return best_match;
}

}  // namespace fg::api
