#include "mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fg::mqtt {
namespace {

TEST(TopicName, Validity) {
  struct Case {
    std::string topic;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"a", true},
      {"sport/tennis/player1", true},
      {"/", true},
      {"//", true},
      {"/finance", true},
      {"$SYS/broker/clients", true},
      {"with space/and-ünïcödé", true},
      {"", false},
      {"a/+", false},
      {"a/#", false},
      {"+", false},
      {"#", false},
      {"a+b", false},  // wildcard characters are forbidden anywhere in a name
      {std::string("a\0b", 3), false},
      {std::string(65535, 'x'), true},
      {std::string(65536, 'x'), false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(valid_topic_name(c.topic), c.valid) << '"' << c.topic.substr(0, 40) << '"';
  }
}

TEST(TopicFilter, Validity) {
  struct Case {
    std::string filter;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"a", true},
      {"#", true},
      {"+", true},
      {"/", true},
      {"sport/tennis/#", true},
      {"sport/+/player1", true},
      {"+/+", true},
      {"/+", true},
      {"+/tennis/#", true},
      {"$SYS/#", true},
      {"sport//#", true},
      {"", false},
      {"sport/tennis#", false},
      {"sport/tennis/#/ranking", false},
      {"#/", false},
      {"##", false},
      {"sport+", false},
      {"sport/+player", false},
      {"++", false},
      {"a/b+/c", false},
      {std::string("a\0", 2), false},
      // Shared subscriptions (MQTT 5 section 4.8.2).
      {"$share/group/a/b", true},
      {"$share/group/#", true},
      {"$share/group/+/x", true},
      {"$share/g/$SYS/x", true},
      {"$share/group", false},       // no filter
      {"$share/group/", false},      // empty filter
      {"$share//a", false},          // empty group
      {"$share/", false},
      {"$share/gr+oup/a", false},    // wildcard in group
      {"$share/gr#oup/a", false},
      {"$share/+/a", false},
      {"$share/group/a#", false},    // invalid inner filter
      {"$share", true},              // not the prefix: an ordinary "$" filter
      {"$sharex/a", true},
      {std::string(65535, 'x'), true},
      {std::string(65536, 'x'), false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(valid_topic_filter(c.filter), c.valid) << '"' << c.filter.substr(0, 40) << '"';
  }
}

TEST(TopicFilter, HasWildcard) {
  EXPECT_TRUE(has_wildcard("#"));
  EXPECT_TRUE(has_wildcard("a/+/b"));
  EXPECT_TRUE(has_wildcard("$share/g/a/#"));
  EXPECT_FALSE(has_wildcard("a/b"));
  EXPECT_FALSE(has_wildcard(""));
  EXPECT_FALSE(has_wildcard("$share/g/a"));
}

TEST(SharedFilter, Parse) {
  auto s = parse_shared_filter("$share/consumers/sensors/+/temp");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->group, "consumers");
  EXPECT_EQ(s->filter, "sensors/+/temp");

  s = parse_shared_filter("$share/g//");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "/");

  EXPECT_FALSE(parse_shared_filter("sensors/+/temp"));
  EXPECT_FALSE(parse_shared_filter("$share"));
  EXPECT_FALSE(parse_shared_filter("$SHARE/g/a"));  // the prefix is case-sensitive
  EXPECT_FALSE(parse_shared_filter("$share/g"));
  EXPECT_FALSE(parse_shared_filter("$share/g/"));
  EXPECT_FALSE(parse_shared_filter("$share//a"));
  EXPECT_FALSE(parse_shared_filter("$share/+/a"));
}

struct MatchCase {
  const char* filter;
  const char* topic;
  bool matches;
};

// Mostly the examples of MQTT 5 section 4.7.1 and 4.7.2.
const MatchCase kMatchCases[] = {
    // Exact.
    {"sport/tennis", "sport/tennis", true},
    {"sport/tennis", "sport/tennis/", false},
    {"sport/tennis", "sport/tenni", false},
    {"sport/tennis", "sport/tennisx", false},
    {"sport/tennis", "Sport/tennis", false},  // case-sensitive
    {"/", "/", true},
    {"a", "/a", false},
    // Multi-level wildcard.
    {"sport/tennis/player1/#", "sport/tennis/player1", true},  // the parent level
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"/#", "/a", true},
    {"/#", "a", false},
    // Single-level wildcard.
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/tennis/+", "sport/tennis/", true},  // '+' matches an empty level
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+", "a", true},
    {"a/+/c", "a//c", true},
    {"a/+/c", "a/b/c", true},
    {"a/+/c", "a/b/d", false},
    {"a/+/c", "a/b/c/d", false},
    {"+/+/+", "a//", true},
    {"+/b/#", "a/b", true},
    {"+/b/#", "a/c", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a", false},
    // Topics beginning with '$'.
    {"#", "$SYS/broker/clients", false},
    {"+/broker/clients", "$SYS/broker/clients", false},
    {"+", "$SYS", false},
    {"$SYS/#", "$SYS/broker/clients", true},
    {"$SYS/+/clients", "$SYS/broker/clients", true},
    {"$SYS/#", "$SYS", true},
    {"a/#", "a/$b", true},  // only the first level is special
    {"a/+", "a/$b", true},
};

TEST(TopicMatch, Table) {
  for (const MatchCase& c : kMatchCases) {
    EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches) << c.filter << " vs " << c.topic;
  }
}

TEST(TopicMatch, WithoutWildcardsIsEquality) {
  const std::vector<std::string> topics = {"a", "a/b", "a/b/", "/a", "a//b", "$x/y", "ab"};
  for (const std::string& f : topics) {
    for (const std::string& t : topics) {
      EXPECT_EQ(topic_matches(f, t), f == t) << f << " vs " << t;
    }
  }
}

}  // namespace
}  // namespace fg::mqtt
