#include "policy/pattern_set.hpp"

#include <algorithm>
#include <functional>

namespace fg::policy::detail {

namespace {

bool token_matches(GlobToken t, char c) noexcept {
  return t == kQuestion || (t >= 0 && t == static_cast<GlobToken>(static_cast<unsigned char>(c)));
}

bool glob_match_range(const GlobToken* pattern, std::size_t m, std::string_view text) noexcept {
  // Greedy matching with one backtrack point (the last star): when a later
  // literal fails, the last star absorbs one more character. Earlier stars
  // never need revisiting, so the cost is O(|text| * |pattern|).
  const std::size_t n = text.size();
  std::size_t p = 0;
  std::size_t s = 0;
  std::size_t star = static_cast<std::size_t>(-1);
  std::size_t mark = 0;
  while (s < n) {
    if (p < m && token_matches(pattern[p], text[s])) {
      ++p;
      ++s;
    } else if (p < m && pattern[p] == kStar) {
      star = p++;
      mark = s;
    } else if (star != static_cast<std::size_t>(-1)) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < m && pattern[p] == kStar) ++p;
  return p == m;
}

bool fixed_match(const GlobToken* pattern, std::size_t m, const char* text) noexcept {
  for (std::size_t i = 0; i < m; ++i)
    if (!token_matches(pattern[i], text[i])) return false;
  return true;
}

}  // namespace

bool glob_match(const GlobTokens& pattern, std::string_view text) noexcept {
  return glob_match_range(pattern.data(), pattern.size(), text);
}

Glob::Glob(GlobTokens t) : tokens(std::move(t)) {
  const auto first = std::find(tokens.begin(), tokens.end(), kStar);
  has_star = first != tokens.end();
  if (!has_star) {
    head = tokens.size();
    return;
  }
  head = static_cast<std::size_t>(first - tokens.begin());
  const auto last = std::find(tokens.rbegin(), tokens.rend(), kStar);
  tail = static_cast<std::size_t>(last - tokens.rbegin());
}

bool Glob::matches(std::string_view text) const noexcept {
  const std::size_t m = tokens.size();
  if (!has_star) return text.size() == m && fixed_match(tokens.data(), m, text.data());
  if (text.size() < head + tail) return false;
  if (!fixed_match(tokens.data(), head, text.data())) return false;
  if (!fixed_match(tokens.data() + (m - tail), tail, text.data() + (text.size() - tail))) return false;
  // The middle starts and ends with a star.
  return glob_match_range(tokens.data() + head, m - head - tail, text.substr(head, text.size() - head - tail));
}

namespace {

std::size_t hash_name(std::string_view name) noexcept { return std::hash<std::string_view>{}(name); }

}  // namespace

void PatternSet::add(const GlobTokens& raw) {
  GlobTokens pattern;
  pattern.reserve(raw.size());
  for (GlobToken t : raw) {
    if (t == kStar && !pattern.empty() && pattern.back() == kStar) continue;
    pattern.push_back(t);
  }
  if (pattern.size() == 1 && pattern[0] == kStar) {
    all_ = true;
    return;
  }
  std::size_t stars = 0;
  std::size_t questions = 0;
  for (GlobToken t : pattern) {
    if (t == kStar) ++stars;
    if (t == kQuestion) ++questions;
  }
  auto literal_text = [&](std::size_t count) {
    std::string out(count, '\0');
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<char>(static_cast<unsigned char>(pattern[i]));
    return out;
  };
  if (stars == 0 && questions == 0) {
    std::string name = literal_text(pattern.size());
    const std::size_t h = hash_name(name);
    exact_.emplace_back(h, std::move(name));
    return;
  }
  if (stars == 1 && questions == 0 && pattern.back() == kStar) {
    prefixes_.push_back(literal_text(pattern.size() - 1));
    return;
  }
  globs_.emplace_back(std::move(pattern));
}

void PatternSet::finish() {
  if (all_) {
    exact_.clear();
    prefixes_.clear();
    globs_.clear();
    return;
  }
  std::sort(exact_.begin(), exact_.end());
  exact_.erase(std::unique(exact_.begin(), exact_.end()), exact_.end());
  std::sort(prefixes_.begin(), prefixes_.end());
  prefixes_.erase(std::unique(prefixes_.begin(), prefixes_.end()), prefixes_.end());
  // A prefix that starts with a shorter prefix adds nothing.
  std::vector<std::string> minimal;
  for (auto& p : prefixes_) {
    if (!minimal.empty() && std::string_view(p).substr(0, minimal.back().size()) == minimal.back()) continue;
    minimal.push_back(std::move(p));
  }
  prefixes_ = std::move(minimal);
  std::sort(globs_.begin(), globs_.end());
  globs_.erase(std::unique(globs_.begin(), globs_.end()), globs_.end());
  exact_.shrink_to_fit();
  prefixes_.shrink_to_fit();
  globs_.shrink_to_fit();
}

bool PatternSet::matches(std::string_view name) const noexcept {
  if (all_) return true;
  if (!exact_.empty()) {
    const std::size_t h = hash_name(name);
    auto it = std::lower_bound(exact_.begin(), exact_.end(), h,
                               [](const std::pair<std::size_t, std::string>& e, std::size_t v) { return e.first < v; });
    for (; it != exact_.end() && it->first == h; ++it)
      if (it->second == name) return true;
  }
  for (const auto& p : prefixes_)
    if (name.size() >= p.size() && name.compare(0, p.size(), p) == 0) return true;
  for (const auto& g : globs_)
    if (g.matches(name)) return true;
  return false;
}

}  // namespace fg::policy::detail
