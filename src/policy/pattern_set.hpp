// Resource-name patterns of a compiled policy snapshot (internal to
// fg::policy; included by policy.hpp so that evaluation can be inlined).
//
// A pattern is a glob over the resource NAME (client id, topic, topic filter,
// thing name): the ARN prefix has already been matched and stripped at compile
// time. `*` matches any run of characters (including `/`), `?` exactly one;
// every other character, including MQTT `+` and `#` and characters that came
// from a substituted policy variable, is literal. Patterns are classified so
// that the common cases (exact names, "prefix*", "*") never run the general
// matcher, and the general matcher is the greedy two-pointer algorithm:
// O(len(name) * len(pattern)) worst case, no exponential backtracking.
//
// Threading: immutable after PatternSet::finish(); any number of threads may
// call matches() concurrently. Ownership: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fg::policy::detail {

// A glob token: 0..255 is a literal byte, kStar / kQuestion the wildcards.
using GlobToken = std::int16_t;
inline constexpr GlobToken kStar = -1;
inline constexpr GlobToken kQuestion = -2;
using GlobTokens = std::vector<GlobToken>;

// True when `text` matches `pattern`. Bounded cost: O(|text| * |pattern|).
bool glob_match(const GlobTokens& pattern, std::string_view text) noexcept;

// A general glob with its fixed-length head (before the first star) and tail
// (after the last star) checked first, so that most non-matching names are
// rejected by two short comparisons before the general matcher runs.
struct Glob {
  GlobTokens tokens;
  std::size_t head = 0;  // tokens before the first star
  std::size_t tail = 0;  // tokens after the last star
  bool has_star = false;

  explicit Glob(GlobTokens t);
  bool matches(std::string_view text) const noexcept;
  bool operator<(const Glob& o) const { return tokens < o.tokens; }
  bool operator==(const Glob& o) const { return tokens == o.tokens; }
};

class PatternSet {
 public:
  // Adds one pattern (consecutive stars are collapsed here).
  void add(const GlobTokens& pattern);
  // Sorts and deduplicates; call once before matches().
  void finish();

  bool empty() const noexcept { return !all_ && exact_.empty() && prefixes_.empty() && globs_.empty(); }
  bool matches(std::string_view name) const noexcept;
  std::size_t size() const noexcept { return (all_ ? 1 : 0) + exact_.size() + prefixes_.size() + globs_.size(); }

 private:
  bool all_ = false;
  // Exact names, sorted by (hash, name) for a binary search on the hash.
  std::vector<std::pair<std::size_t, std::string>> exact_;
  std::vector<std::string> prefixes_;  // "prefix*" without other wildcards
  std::vector<Glob> globs_;            // everything else
};

}  // namespace fg::policy::detail
