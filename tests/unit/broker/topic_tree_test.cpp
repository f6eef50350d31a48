#include "broker/topic_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fg::broker {
namespace {

using Tree = TopicTree<std::string>;

// Plain MQTT matching written the obvious way (split both strings), as the reference
// the trie must agree with.
std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out.emplace_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool reference_matches(std::string_view filter, std::string_view topic) {
  std::vector<std::string> f = split(filter);
  std::vector<std::string> t = split(topic);
  if (!topic.empty() && topic.front() == '$' && (f[0] == "+" || f[0] == "#")) return false;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

struct SharedHit {
  std::string group;
  std::vector<uint64_t> members;  // sorted
  bool operator<(const SharedHit& o) const { return std::tie(group, members) < std::tie(o.group, o.members); }
  bool operator==(const SharedHit& o) const = default;
};

struct Hits {
  std::vector<std::string> values;  // sorted
  std::vector<SharedHit> shared;    // sorted
};

Hits match_all(Tree& tree, std::string_view topic) {
  Hits hits;
  tree.match(
      topic, [&](const std::string& v) { hits.values.push_back(v); },
      [&](Tree::SharedGroupView& g) {
        SharedHit hit{std::string(g.group), {}};
        for (const auto& m : g.members) hit.members.push_back(m.key);
        std::sort(hit.members.begin(), hit.members.end());
        hits.shared.push_back(std::move(hit));
      });
  std::sort(hits.values.begin(), hits.values.end());
  std::sort(hits.shared.begin(), hits.shared.end());
  return hits;
}

std::vector<std::string> values(Tree& tree, std::string_view topic) { return match_all(tree, topic).values; }

// Subscribes key i to filters[i] with the filter itself as value, so a match names the filter.
Tree tree_of(const std::vector<std::string>& filters) {
  Tree tree;
  for (size_t i = 0; i < filters.size(); ++i) EXPECT_TRUE(tree.insert(filters[i], i, filters[i]));
  return tree;
}

using V = std::vector<std::string>;

TEST(TopicTree, ExactFilterMatchesOnlyThatTopic) {
  Tree tree = tree_of({"a/b/c"});
  EXPECT_EQ(values(tree, "a/b/c"), V{"a/b/c"});
  EXPECT_TRUE(values(tree, "a/b").empty());
  EXPECT_TRUE(values(tree, "a/b/c/d").empty());
  EXPECT_TRUE(values(tree, "a/b/cc").empty());
  EXPECT_TRUE(values(tree, "a/b/c/").empty());
  EXPECT_TRUE(values(tree, "/a/b/c").empty());
  EXPECT_TRUE(values(tree, "A/b/c").empty());
}

TEST(TopicTree, PlusMatchesExactlyOneLevelIncludingEmpty) {
  Tree tree = tree_of({"a/+/c", "+", "/+", "+/+"});
  EXPECT_EQ(values(tree, "a/b/c"), V{"a/+/c"});
  EXPECT_EQ(values(tree, "a//c"), V{"a/+/c"});
  EXPECT_EQ(values(tree, "a/c"), V{"+/+"});  // two levels: not "a/+/c"
  EXPECT_TRUE(values(tree, "a/b/d/c").empty());
  EXPECT_EQ(values(tree, "x"), V{"+"});
  // "/x" has an empty first level: "+/+" and "/+" both match, "+" does not.
  EXPECT_EQ(values(tree, "/x"), (V{"+/+", "/+"}));
  EXPECT_EQ(values(tree, "/"), (V{"+/+", "/+"}));
}

TEST(TopicTree, HashMatchesParentAndAllDescendants) {
  Tree tree = tree_of({"a/#", "a/b/#"});
  EXPECT_EQ(values(tree, "a"), V{"a/#"});  // '#' also matches zero levels
  EXPECT_EQ(values(tree, "a/"), V{"a/#"});
  EXPECT_EQ(values(tree, "a/x/y/z"), V{"a/#"});
  EXPECT_EQ(values(tree, "a/b"), (V{"a/#", "a/b/#"}));
  EXPECT_EQ(values(tree, "a/b/c/d"), (V{"a/#", "a/b/#"}));
  EXPECT_TRUE(values(tree, "ab").empty());
  EXPECT_TRUE(values(tree, "b/a").empty());
}

TEST(TopicTree, HashAloneMatchesEveryNonDollarTopic) {
  Tree tree = tree_of({"#"});
  EXPECT_EQ(values(tree, "a"), V{"#"});
  EXPECT_EQ(values(tree, "/"), V{"#"});
  EXPECT_EQ(values(tree, "a/b/c"), V{"#"});
  EXPECT_TRUE(values(tree, "$SYS/broker/uptime").empty());
}

TEST(TopicTree, PlusThenHashMatchesOneOrMoreLevels) {
  Tree tree = tree_of({"+/#", "+/b/#"});
  EXPECT_EQ(values(tree, "a"), V{"+/#"});
  EXPECT_EQ(values(tree, "a/b"), (V{"+/#", "+/b/#"}));
  EXPECT_EQ(values(tree, "x/b/c"), (V{"+/#", "+/b/#"}));
}

TEST(TopicTree, DollarTopicsNeedALiteralFirstLevel) {
  Tree tree = tree_of({"#", "+/monitor/Clients", "+/#", "$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients", "$share/g/#"});
  EXPECT_EQ(values(tree, "$SYS/monitor/Clients"), (V{"$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients"}));
  EXPECT_TRUE(match_all(tree, "$SYS/monitor/Clients").shared.empty());  // the rule applies to shared filters too
  // An ordinary topic with the same shape is matched by the wildcard filters.
  EXPECT_EQ(values(tree, "SYS/monitor/Clients"), (V{"#", "+/#", "+/monitor/Clients"}));
  EXPECT_EQ(match_all(tree, "SYS/monitor/Clients").shared.size(), 1u);
  // '$' only matters at the start of the topic.
  EXPECT_EQ(values(tree, "a/$b"), (V{"#", "+/#"}));
}

TEST(TopicTree, InsertReplacesTheSameKeyOnTheSameFilter) {
  Tree tree;
  EXPECT_TRUE(tree.insert("a/+", 7, "first"));
  EXPECT_FALSE(tree.insert("a/+", 7, "second"));
  EXPECT_EQ(tree.size(), 1u);
  EXPECT_EQ(values(tree, "a/x"), V{"second"});
  // Another key, or the same key on another filter, is a separate subscription.
  EXPECT_TRUE(tree.insert("a/+", 8, "other"));
  EXPECT_TRUE(tree.insert("a/#", 7, "hash"));
  EXPECT_EQ(tree.size(), 3u);
  EXPECT_EQ(values(tree, "a/x"), (V{"hash", "other", "second"}));
}

TEST(TopicTree, OnMatchMayReceiveTheKey) {
  TopicTree<int> tree;
  tree.insert("a/b", 11, 1);
  tree.insert("a/+", 12, 2);
  std::map<uint64_t, int> seen;
  tree.match("a/b", [&](uint64_t key, const int& v) { seen[key] = v; }, [](auto&) { FAIL(); });
  EXPECT_EQ(seen, (std::map<uint64_t, int>{{11, 1}, {12, 2}}));
}

TEST(TopicTree, EraseRemovesOnlyThatSubscription) {
  Tree tree;
  tree.insert("a/b", 1, "a/b#1");
  tree.insert("a/b", 2, "a/b#2");
  tree.insert("a/b/c", 1, "a/b/c#1");
  tree.insert("$share/g/a/b", 1, "shared#1");
  EXPECT_FALSE(tree.erase("a/b", 3));      // no such key
  EXPECT_FALSE(tree.erase("a", 1));        // prefix of a filter, not a filter
  EXPECT_FALSE(tree.erase("a/+", 1));      // never subscribed
  EXPECT_FALSE(tree.erase("$share/h/a/b", 1));  // other group
  EXPECT_TRUE(tree.erase("a/b", 1));
  EXPECT_FALSE(tree.erase("a/b", 1));      // already gone
  EXPECT_EQ(values(tree, "a/b"), V{"a/b#2"});
  EXPECT_EQ(values(tree, "a/b/c"), V{"a/b/c#1"});
  EXPECT_EQ(match_all(tree, "a/b").shared, (std::vector<SharedHit>{{"g", {1}}}));
  EXPECT_EQ(tree.size(), 3u);
}

TEST(TopicTree, ErasePrunesEveryEmptiedNode) {
  Tree tree;
  std::vector<std::string> filters = {"a/b/c", "a/b/c/d", "a/+/c", "a/#", "#", "+", "/", "//", "$SYS/x",
                                      "$share/g/a/b", "$share/h/a/b", "$share/g/+/x/#"};
  for (int i = 0; i < 40; ++i) filters.push_back("wide/" + std::to_string(i) + "/leaf");  // map-backed node
  for (size_t i = 0; i < filters.size(); ++i) {
    tree.insert(filters[i], 1, filters[i]);
    tree.insert(filters[i], 2, filters[i]);
  }
  EXPECT_GT(tree.node_count(), 0u);
  EXPECT_EQ(tree.size(), filters.size() * 2);
  // Erase in an order that empties leaves and inner nodes in different sequences.
  for (size_t i = filters.size(); i-- > 0;) ASSERT_TRUE(tree.erase(filters[i], 1));
  for (size_t i = 0; i < filters.size(); ++i) ASSERT_TRUE(tree.erase(filters[i], 2));
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.node_count(), 0u);
  EXPECT_TRUE(values(tree, "a/b/c").empty());
}

TEST(TopicTree, NodeCountCountsLevels) {
  Tree tree;
  tree.insert("a/b/c", 1, "x");
  EXPECT_EQ(tree.node_count(), 3u);
  tree.insert("a/b/+", 1, "x");
  tree.insert("a/#", 1, "x");
  EXPECT_EQ(tree.node_count(), 5u);
  tree.erase("a/b/c", 1);
  EXPECT_EQ(tree.node_count(), 4u);  // "c" pruned; "a/b" still leads to "+"
  tree.erase("a/b/+", 1);
  EXPECT_EQ(tree.node_count(), 2u);  // "a" and "#"
}

TEST(TopicTree, SharedGroupIsReportedOnceWithAllItsMembers) {
  Tree tree;
  tree.insert("$share/workers/jobs/+", 1, "w1");
  tree.insert("$share/workers/jobs/+", 2, "w2");
  tree.insert("$share/workers/jobs/+", 3, "w3");
  tree.insert("$share/audit/jobs/+", 4, "a4");
  tree.insert("$share/workers/jobs/#", 5, "w5");  // same group name, other filter: another group
  tree.insert("jobs/+", 6, "plain");
  Hits hits = match_all(tree, "jobs/1");
  EXPECT_EQ(hits.values, V{"plain"});
  EXPECT_EQ(hits.shared, (std::vector<SharedHit>{{"audit", {4}}, {"workers", {1, 2, 3}}, {"workers", {5}}}));
  EXPECT_EQ(tree.size(), 6u);
  // Shared subscribers never show up as plain matches.
  EXPECT_TRUE(match_all(tree, "other").shared.empty());
}

TEST(TopicTree, SharedGroupCursorPersistsAndRoundRobins) {
  TopicTree<int> tree;
  for (int k = 1; k <= 3; ++k) tree.insert("$share/g/t", k, k * 10);
  std::vector<uint64_t> picked;
  for (int i = 0; i < 6; ++i) {
    tree.match("t", [](const int&) { FAIL(); }, [&](TopicTree<int>::SharedGroupView& g) { picked.push_back(g.pick_round_robin().key); });
  }
  ASSERT_EQ(picked.size(), 6u);
  // Every member once per round, in the same order both rounds.
  EXPECT_EQ(std::set<uint64_t>(picked.begin(), picked.begin() + 3), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(std::equal(picked.begin(), picked.begin() + 3, picked.begin() + 3));

  // The caller may also move the cursor itself (e.g. to skip an offline member).
  tree.match("t", [](const int&) {}, [](TopicTree<int>::SharedGroupView& g) { g.next = 2; });
  uint32_t seen_next = 99;
  tree.match("t", [](const int&) {}, [&](TopicTree<int>::SharedGroupView& g) { seen_next = g.next; });
  EXPECT_EQ(seen_next, 2u);

  // A cursor left past the end after members leave wraps instead of reading out of bounds.
  tree.erase("$share/g/t", 1);
  tree.erase("$share/g/t", 2);
  uint64_t only = 0;
  tree.match("t", [](const int&) {}, [&](TopicTree<int>::SharedGroupView& g) { only = g.pick_round_robin().key; });
  EXPECT_EQ(only, 3u);
}

TEST(TopicTree, LastMemberLeavingRemovesTheGroup) {
  Tree tree;
  tree.insert("$share/g/a", 1, "x");
  tree.insert("$share/g/a", 2, "y");
  EXPECT_TRUE(tree.erase("$share/g/a", 1));
  EXPECT_EQ(match_all(tree, "a").shared, (std::vector<SharedHit>{{"g", {2}}}));
  EXPECT_TRUE(tree.erase("$share/g/a", 2));
  EXPECT_TRUE(match_all(tree, "a").shared.empty());
  EXPECT_EQ(tree.node_count(), 0u);
}

TEST(TopicTree, ManySubscribersOnOneFilter) {
  TopicTree<uint64_t> tree;
  constexpr uint64_t kClients = 20000;
  for (uint64_t k = 0; k < kClients; ++k) ASSERT_TRUE(tree.insert("sensors/+/temp", k, k));
  for (uint64_t k = 0; k < kClients; ++k) ASSERT_FALSE(tree.insert("sensors/+/temp", k, k + 1));  // replace
  for (uint64_t k = 0; k < kClients; k += 2) ASSERT_TRUE(tree.erase("sensors/+/temp", k));
  EXPECT_EQ(tree.size(), kClients / 2);
  std::vector<std::pair<uint64_t, uint64_t>> got;
  tree.match("sensors/dev1/temp", [&](uint64_t key, const uint64_t& v) { got.emplace_back(key, v); }, [](auto&) {});
  std::sort(got.begin(), got.end());
  ASSERT_EQ(got.size(), kClients / 2);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, 2 * i + 1);
    EXPECT_EQ(got[i].second, 2 * i + 2);
  }
  // Shrinking below the index threshold and growing again keeps lookups correct.
  for (uint64_t k = 1; k < kClients - 6; k += 2) ASSERT_TRUE(tree.erase("sensors/+/temp", k));
  EXPECT_EQ(tree.size(), 3u);
  EXPECT_FALSE(tree.erase("sensors/+/temp", 1));
  EXPECT_TRUE(tree.erase("sensors/+/temp", kClients - 1));
  EXPECT_TRUE(tree.insert("sensors/+/temp", 1, 1));
  EXPECT_EQ(tree.size(), 3u);
}

TEST(TopicTree, ManySiblingsSwitchRepresentationBothWays) {
  Tree tree;
  constexpr int kSiblings = 1000;
  for (int i = 0; i < kSiblings; ++i) tree.insert("dev/" + std::to_string(i) + "/t", i, std::to_string(i));
  for (int i = 0; i < kSiblings; ++i) ASSERT_EQ(values(tree, "dev/" + std::to_string(i) + "/t"), V{std::to_string(i)});
  EXPECT_TRUE(values(tree, "dev/1000/t").empty());
  for (int i = 0; i < kSiblings - 2; ++i) ASSERT_TRUE(tree.erase("dev/" + std::to_string(i) + "/t", i));
  EXPECT_EQ(values(tree, "dev/998/t"), V{"998"});
  EXPECT_EQ(values(tree, "dev/999/t"), V{"999"});
  EXPECT_TRUE(values(tree, "dev/5/t").empty());
  EXPECT_EQ(tree.node_count(), 1u + 2u * 2u);
}

TEST(TopicTree, ErasingReleasesTheValue) {
  TopicTree<std::shared_ptr<int>> tree;
  auto session = std::make_shared<int>(1);
  tree.insert("a/#", 1, session);
  tree.insert("$share/g/b", 1, session);
  EXPECT_EQ(session.use_count(), 3);
  tree.erase("a/#", 1);
  tree.erase("$share/g/b", 1);
  EXPECT_EQ(session.use_count(), 1);
}

TEST(TopicTree, DeepTreeWithManyPendingWildcardBranches) {
  // Filters "a/.../a/+/.../+" (i literal levels, then '+' up to 100 levels): every node on
  // the literal path has a '+' child, so matching keeps ~100 branches pending, more than
  // the inline stack holds.
  constexpr int kLevels = 100;
  Tree tree;
  std::string topic;
  for (int i = 0; i < kLevels; ++i) topic += i == 0 ? "a" : "/a";
  for (int literal = 0; literal <= kLevels; ++literal) {
    std::string filter;
    for (int i = 0; i < kLevels; ++i) filter += std::string(i == 0 ? "" : "/") + (i < literal ? "a" : "+");
    tree.insert(filter, literal, std::to_string(literal));
  }
  EXPECT_EQ(values(tree, topic).size(), kLevels + 1u);
  EXPECT_TRUE(values(tree, topic + "/a").empty());
  for (int literal = 0; literal <= kLevels; ++literal) {
    std::string filter;
    for (int i = 0; i < kLevels; ++i) filter += std::string(i == 0 ? "" : "/") + (i < literal ? "a" : "+");
    ASSERT_TRUE(tree.erase(filter, literal));
  }
  EXPECT_EQ(tree.node_count(), 0u);
}

TEST(TopicTree, ForEachListsEverySubscription) {
  Tree tree = tree_of({"a/b", "a/+", "#", "/", "$share/g/x/#"});
  std::set<std::pair<std::string, uint64_t>> listed;
  tree.for_each([&](std::string_view filter, uint64_t key, const std::string& v) {
    EXPECT_EQ(filter, v);
    listed.emplace(std::string(filter), key);
  });
  EXPECT_EQ(listed, (std::set<std::pair<std::string, uint64_t>>{
                        {"a/b", 0}, {"a/+", 1}, {"#", 2}, {"/", 3}, {"$share/g/x/#", 4}}));
}

TEST(TopicTree, ClearEmptiesTheTree) {
  Tree tree = tree_of({"a/b", "a/#", "$share/g/c"});
  tree.clear();
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.node_count(), 0u);
  EXPECT_TRUE(match_all(tree, "a/b").values.empty());
  EXPECT_TRUE(tree.insert("a/b", 0, "again"));
}

// Random filters and topics over a tiny alphabet (so they collide often), compared with
// the reference matcher, through a churn of inserts and erases.
TEST(TopicTree, AgreesWithReferenceMatcherUnderChurn) {
  std::mt19937 rng(12345);
  const std::vector<std::string> names = {"a", "b", "", "$x", "ab"};
  auto random_topic = [&] {
    std::string t;
    int levels = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < levels; ++i) t += (i ? "/" : "") + names[rng() % names.size()];
    return t;
  };
  auto random_filter = [&] {
    std::string f;
    int levels = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < levels; ++i) {
      uint32_t r = rng() % 8;
      std::string level = r == 0 ? "+" : (r == 1 && i == levels - 1) ? "#" : names[rng() % names.size()];
      f += (i ? "/" : "") + level;
    }
    return f;
  };

  Tree tree;
  std::map<std::pair<std::string, uint64_t>, std::string> live;  // (filter, key) -> value
  for (int round = 0; round < 3000; ++round) {
    std::string filter = random_filter();
    uint64_t key = rng() % 4;
    if (rng() % 3 == 0 && !live.empty()) {
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      ASSERT_TRUE(tree.erase(it->first.first, it->first.second));
      live.erase(it);
    } else {
      std::string value = filter + "#" + std::to_string(key) + "@" + std::to_string(round);
      bool fresh = live.find({filter, key}) == live.end();
      ASSERT_EQ(tree.insert(filter, key, value), fresh) << filter;
      live[{filter, key}] = value;
    }
    ASSERT_EQ(tree.size(), live.size());
    std::string topic = random_topic();
    V expected;
    for (const auto& [sub, value] : live) {
      if (reference_matches(sub.first, topic)) expected.push_back(value);
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(values(tree, topic), expected) << "topic " << topic;
  }
  for (const auto& [sub, value] : live) ASSERT_TRUE(tree.erase(sub.first, sub.second));
  EXPECT_EQ(tree.node_count(), 0u);
}

}  // namespace
}  // namespace fg::broker
