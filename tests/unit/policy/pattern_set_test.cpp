// The glob matcher and PatternSet that every authorisation runs: wildcard
// semantics, classification (exact / prefix / all / general) and edge cases.
#include "policy/pattern_set.hpp"

#include <gtest/gtest.h>

#include <string>

namespace fg::policy::detail {
namespace {

GlobTokens glob(std::string_view text) {
  GlobTokens t;
  for (char c : text) t.push_back(c == '*' ? kStar : c == '?' ? kQuestion : static_cast<GlobToken>(static_cast<unsigned char>(c)));
  return t;
}

bool set_matches(std::initializer_list<std::string_view> patterns, std::string_view name) {
  PatternSet set;
  for (auto p : patterns) set.add(glob(p));
  set.finish();
  const bool via_set = set.matches(name);
  // The set's classified fast paths must agree with the plain matcher.
  bool plain = false;
  for (auto p : patterns) plain = plain || glob_match(glob(p), name);
  EXPECT_EQ(via_set, plain) << name;
  return via_set;
}

TEST(Glob, StarAndQuestionMark) {
  EXPECT_TRUE(glob_match(glob("*"), ""));
  EXPECT_TRUE(glob_match(glob("*"), "a/b/c"));
  EXPECT_TRUE(glob_match(glob(""), ""));
  EXPECT_FALSE(glob_match(glob(""), "a"));
  EXPECT_TRUE(glob_match(glob("a?c"), "abc"));
  EXPECT_FALSE(glob_match(glob("a?c"), "ac"));
  EXPECT_FALSE(glob_match(glob("a?c"), "abbc"));
  EXPECT_TRUE(glob_match(glob("a*c"), "ac"));
  EXPECT_TRUE(glob_match(glob("a*c"), "a/x/c"));
  EXPECT_FALSE(glob_match(glob("a*c"), "a/x/cd"));
  EXPECT_TRUE(glob_match(glob("*a*b"), "xxaxxb"));
  EXPECT_TRUE(glob_match(glob("*ab*ab"), "abab"));
  EXPECT_FALSE(glob_match(glob("*ab*ab"), "aba"));
  EXPECT_TRUE(glob_match(glob("??*"), "ab"));
  EXPECT_FALSE(glob_match(glob("??*"), "a"));
  EXPECT_TRUE(glob_match(glob("a/+/#"), "a/+/#"));
  EXPECT_FALSE(glob_match(glob("a/+/#"), "a/b/c"));
}

TEST(Glob, HighBytesAreLiteral) {
  EXPECT_TRUE(glob_match(glob("caf\xc3\xa9/*"), "caf\xc3\xa9/x"));
  EXPECT_FALSE(glob_match(glob("caf\xc3\xa9"), "cafe"));
  EXPECT_TRUE(glob_match(glob("\xff?"), "\xff\x01"));
}

TEST(PatternSet, ClassifiedPathsAgreeWithMatcher) {
  const std::initializer_list<std::string_view> patterns = {"dc1/a/telemetry", "dc1/b/*", "logs/*/x", "r?ck", "*/admin"};
  for (std::string_view name : {"dc1/a/telemetry", "dc1/a/telemetryx", "dc1/b/", "dc1/b/q/r", "dc1/c", "logs/1/x",
                                "logs//x", "logs/x", "rack", "rck", "z/admin", "/admin", "admin", ""}) {
    set_matches(patterns, name);
  }
  EXPECT_TRUE(set_matches(patterns, "dc1/b/q/r"));
  EXPECT_FALSE(set_matches(patterns, "dc1/c"));
}

TEST(PatternSet, StarsCollapseAndMatchAll) {
  PatternSet set;
  set.add(glob("a"));
  set.add(glob("***"));
  set.finish();
  EXPECT_EQ(set.size(), 1u);
  EXPECT_TRUE(set.matches(""));
  EXPECT_TRUE(set.matches("anything"));
}

TEST(PatternSet, DeduplicatesAndDropsShadowedPrefixes) {
  PatternSet set;
  set.add(glob("a/b"));
  set.add(glob("a/b"));
  set.add(glob("a/*"));
  set.add(glob("a/b/*"));
  set.finish();
  EXPECT_EQ(set.size(), 2u);  // "a/b" and "a/*"
  EXPECT_TRUE(set.matches("a/b/c"));
  EXPECT_TRUE(set.matches("a/b"));
  EXPECT_FALSE(set.matches("b"));
}

TEST(PatternSet, EmptySetMatchesNothing) {
  PatternSet set;
  set.finish();
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.matches(""));
  EXPECT_FALSE(set.matches("x"));
}

TEST(Glob, PathologicalPatternsStayCheap) {
  std::string p;
  for (int i = 0; i < 200; ++i) p += "*a";
  p += "*b";
  const std::string text(100000, 'a');
  EXPECT_FALSE(glob_match(glob(p), text));
  EXPECT_TRUE(glob_match(glob(p), text + "b"));
  Glob g(glob("*" + std::string(50, 'a') + "b*"));
  EXPECT_FALSE(g.matches(text));
  EXPECT_TRUE(g.matches(text + "b"));
}

}  // namespace
}  // namespace fg::policy::detail
