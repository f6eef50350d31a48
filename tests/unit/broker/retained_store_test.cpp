#include "broker/retained_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fg::broker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;
using V = std::vector<std::string>;

// A fixed "now": expiry is driven by the time passed in, never by the wall clock.
const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1000);

std::shared_ptr<const RetainedMessage> msg(std::string topic, std::string payload,
                                           Clock::time_point expires_at = Clock::time_point::max()) {
  auto m = std::make_shared<RetainedMessage>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = mqtt::QoS::AtLeastOnce;
  m->expires_at = expires_at;
  return m;
}

V topics(const RetainedStore& store, std::string_view filter, Clock::time_point now = kNow) {
  V out;
  for (const auto& m : store.match(filter, now)) out.push_back(m->topic);
  std::sort(out.begin(), out.end());
  return out;
}

void fill(RetainedStore& store, const V& names) {
  for (const auto& t : names) store.set(msg(t, "payload of " + t));
}

TEST(RetainedStore, SetGetAndReplace) {
  RetainedStore store;
  store.set(msg("a/b", "1"));
  ASSERT_NE(store.get("a/b", kNow), nullptr);
  EXPECT_EQ(store.get("a/b", kNow)->payload, "1");
  EXPECT_EQ(store.get("a/b", kNow)->qos, mqtt::QoS::AtLeastOnce);
  EXPECT_EQ(store.get("a", kNow), nullptr);
  EXPECT_EQ(store.get("a/b/c", kNow), nullptr);

  auto first = store.get("a/b", kNow);
  store.set(msg("a/b", "2"));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.get("a/b", kNow)->payload, "2");
  EXPECT_EQ(first->payload, "1");  // a reader holding the old message keeps it intact
  store.set(nullptr);                // ignored
  EXPECT_EQ(store.size(), 1u);
}

TEST(RetainedStore, EmptyPayloadClearsTheTopicAndPrunes) {
  RetainedStore store;
  fill(store, {"a/b/c", "a/b"});
  EXPECT_EQ(store.node_count(), 3u);
  store.set(msg("a/b/c", ""));
  EXPECT_EQ(store.get("a/b/c", kNow), nullptr);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.node_count(), 2u);
  store.set(msg("x/y", ""));  // clearing what is not there changes nothing
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.node_count(), 2u);
  store.set(msg("a", ""));    // an inner node without a message of its own
  EXPECT_EQ(store.size(), 1u);
  store.set(msg("a/b", ""));
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.node_count(), 0u);
}

TEST(RetainedStore, ExactFilter) {
  RetainedStore store;
  fill(store, {"a/b", "a/b/c", "a", "/a"});
  EXPECT_EQ(topics(store, "a/b"), V{"a/b"});
  EXPECT_EQ(topics(store, "/a"), V{"/a"});
  EXPECT_TRUE(topics(store, "a/c").empty());
}

TEST(RetainedStore, PlusMatchesOneLevel) {
  RetainedStore store;
  fill(store, {"a/b/c", "a/x/c", "a//c", "a/b/d", "a/b/c/d", "a/c"});
  EXPECT_EQ(topics(store, "a/+/c"), (V{"a//c", "a/b/c", "a/x/c"}));
  EXPECT_EQ(topics(store, "a/+"), V{"a/c"});
  EXPECT_EQ(topics(store, "+/+/+/+"), V{"a/b/c/d"});
}

TEST(RetainedStore, HashMatchesParentAndDescendants) {
  RetainedStore store;
  fill(store, {"a", "a/b", "a/b/c", "ab", "b/a"});
  EXPECT_EQ(topics(store, "a/#"), (V{"a", "a/b", "a/b/c"}));
  EXPECT_EQ(topics(store, "a/b/#"), (V{"a/b", "a/b/c"}));
  EXPECT_EQ(topics(store, "#"), (V{"a", "a/b", "a/b/c", "ab", "b/a"}));
  EXPECT_EQ(topics(store, "+/#"), (V{"a", "a/b", "a/b/c", "ab", "b/a"}));
  EXPECT_EQ(topics(store, "+/a/#"), V{"b/a"});
}

TEST(RetainedStore, DollarTopicsNeedALiteralFirstLevel) {
  RetainedStore store;
  fill(store, {"$SYS/uptime", "$SYS/a/b", "sys/uptime"});
  EXPECT_EQ(topics(store, "#"), V{"sys/uptime"});
  EXPECT_EQ(topics(store, "+/uptime"), V{"sys/uptime"});
  EXPECT_EQ(topics(store, "$SYS/#"), (V{"$SYS/a/b", "$SYS/uptime"}));
  EXPECT_EQ(topics(store, "$SYS/+"), V{"$SYS/uptime"});
  EXPECT_EQ(topics(store, "$SYS/uptime"), V{"$SYS/uptime"});
}

TEST(RetainedStore, SharedSubscriptionsGetNoRetainedMessages) {
  RetainedStore store;
  fill(store, {"a/b"});
  EXPECT_TRUE(topics(store, "$share/g/a/b").empty());
  EXPECT_TRUE(topics(store, "$share/g/#").empty());
}

TEST(RetainedStore, ExpiredMessagesAreSkippedThenPurged) {
  RetainedStore store;
  store.set(msg("t/soon", "x", kNow + seconds(10)));
  store.set(msg("t/later", "x", kNow + seconds(100)));
  store.set(msg("t/never", "x"));
  EXPECT_EQ(topics(store, "t/#"), (V{"t/later", "t/never", "t/soon"}));
  EXPECT_EQ(topics(store, "t/#", kNow + seconds(10)), (V{"t/later", "t/never"}));  // expiry instant counts as expired
  EXPECT_EQ(store.get("t/soon", kNow + seconds(10)), nullptr);
  EXPECT_NE(store.get("t/soon", kNow + seconds(9)), nullptr);
  EXPECT_EQ(store.size(), 3u);  // skipped, not yet removed

  EXPECT_EQ(store.purge_expired(kNow + seconds(50)), 1u);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.purge_expired(kNow + seconds(50)), 0u);
  EXPECT_EQ(store.purge_expired(kNow + std::chrono::hours(24 * 365)), 1u);
  EXPECT_EQ(topics(store, "#"), V{"t/never"});
  store.set(msg("t/never", ""));
  EXPECT_EQ(store.node_count(), 0u);
}

TEST(RetainedStore, ReplacingAMessageReplacesItsExpiry) {
  RetainedStore store;
  store.set(msg("a", "expiring", kNow + seconds(10)));
  store.set(msg("a", "forever"));
  EXPECT_EQ(store.purge_expired(kNow + seconds(20)), 0u);
  EXPECT_EQ(store.get("a", kNow + seconds(20))->payload, "forever");

  store.set(msg("b", "late", kNow + seconds(100)));
  store.set(msg("b", "early", kNow + seconds(5)));
  EXPECT_EQ(store.purge_expired(kNow + seconds(6)), 1u);
  EXPECT_EQ(store.get("b", kNow), nullptr);
  EXPECT_EQ(store.purge_expired(kNow + seconds(200)), 0u);  // the replaced expiry left nothing behind

  store.set(msg("c", "x", kNow + seconds(5)));
  store.set(msg("c", ""));  // cleared before expiring
  EXPECT_EQ(store.purge_expired(kNow + seconds(200)), 0u);
  EXPECT_EQ(store.size(), 1u);
}

TEST(RetainedStore, WildcardLookupOverManyTopics) {
  RetainedStore store;
  for (int dc = 0; dc < 20; ++dc) {
    for (int s = 0; s < 500; ++s) {
      std::string base = "sensors/dc" + std::to_string(dc) + "/" + std::to_string(s);
      store.set(msg(base + "/temp", "21"));
      store.set(msg(base + "/humidity", "40"));
    }
  }
  EXPECT_EQ(store.size(), 20000u);
  V got = topics(store, "sensors/dc7/+/temp");
  ASSERT_EQ(got.size(), 500u);
  for (const auto& t : got) {
    EXPECT_TRUE(t.starts_with("sensors/dc7/")) << t;
    EXPECT_TRUE(t.ends_with("/temp")) << t;
  }
  EXPECT_EQ(topics(store, "sensors/+/42/#").size(), 40u);
  EXPECT_EQ(topics(store, "sensors/dc3/#").size(), 1000u);
}

TEST(RetainedStore, CallbackRunsOutsideTheLock) {
  RetainedStore store;
  fill(store, {"a/1", "a/2"});
  int calls = 0;
  store.match("a/+", kNow, [&](const std::shared_ptr<const RetainedMessage>& m) {
    ++calls;
    store.set(msg(m->topic, ""));  // would deadlock if called under the lock
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(store.size(), 0u);
}

TEST(RetainedStore, ConcurrentWritersAndReaders) {
  RetainedStore store;
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 2000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      for (const auto& m : store.match("w/+/#", kNow)) ASSERT_FALSE(m->payload.empty());
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&store, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        std::string topic = "w/" + std::to_string(w) + "/" + std::to_string(i);
        store.set(msg(topic, "x"));
        if (i % 2 == 1) store.set(msg(topic, ""));
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(store.size(), static_cast<size_t>(kWriters * kPerWriter / 2));
  EXPECT_EQ(topics(store, "w/2/#").size(), static_cast<size_t>(kPerWriter / 2));
}

}  // namespace
}  // namespace fg::broker
