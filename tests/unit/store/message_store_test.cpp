// The SQLite message store the broker relies on for retained messages and
// persistent sessions: round trips, ordered batches, cascading deletes,
// garbage collection of unreferenced messages, expiry at load, durability
// across reopen and kill -9.
#include "store/message_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

namespace fg::store {
namespace {

namespace fs = std::filesystem;

class MessageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("fg_message_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
    path_ = (dir_ / "messages.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<MessageStore> open() {
    auto s = open_sqlite_message_store(path_);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  static StoredMessage message(int64_t id, std::string topic, std::string payload, int64_t expires = 0) {
    StoredMessage m;
    m.id = id;
    m.topic = std::move(topic);
    m.payload = std::move(payload);
    m.qos = 1;
    m.properties = std::string("\x03\x00\x01\x02", 4);
    m.expires_at_ms = expires;
    return m;
  }
  static constexpr int64_t kNow = 1'700'000'000'000;
  fs::path dir_;
  std::string path_;
};

TEST_F(MessageStoreTest, EmptyStoreLoadsNothing) {
  auto s = open();
  ASSERT_TRUE(s);
  auto c = s->load(kNow);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->retained.empty());
  EXPECT_TRUE(c->sessions.empty());
  EXPECT_EQ(c->max_id, 0);
  EXPECT_TRUE(fs::exists(path_));
}

TEST_F(MessageStoreTest, RetainedRoundTripAcrossReopenWithBinaryPayload) {
  {
    auto s = open();
    StoredMessage m = message(0, "a/b", std::string("bin\0\xff", 5));
    ASSERT_TRUE(s->apply({PutRetained{m}, PutRetained{message(0, "c", "x")}, DeleteRetained{"c"}}).has_value());
  }
  auto c = open()->load(kNow);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->retained.size(), 1u);
  EXPECT_EQ(c->retained[0].topic, "a/b");
  EXPECT_EQ(c->retained[0].payload, std::string("bin\0\xff", 5));
  EXPECT_EQ(c->retained[0].properties, std::string("\x03\x00\x01\x02", 4));
  EXPECT_TRUE(c->retained[0].retain);
}

TEST_F(MessageStoreTest, SessionsSubscriptionsAndDeliveriesInOrder) {
  {
    auto s = open();
    ASSERT_TRUE(s->apply({PutSession{{7, "dev", 0xFFFFFFFF, 0}},
                          PutSubscription{{7, "a/#", 0x01, 3}},
                          PutSubscription{{7, "b", 0x02, 0}},
                          DeleteSubscription{7, "b"},
                          PutMessage{message(10, "a/1", "m1")},
                          PutDelivery{{12, 7, 10, 1, false, 3}},
                          PutMessage{message(11, "a/2", "m2")},
                          PutDelivery{{11, 7, 11, 1, false, 3}}})
                    .has_value());
  }
  auto c = open()->load(kNow);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->sessions.size(), 1u);
  EXPECT_EQ(c->sessions[0].client_id, "dev");
  EXPECT_EQ(c->sessions[0].expiry_interval, 0xFFFFFFFFu);
  ASSERT_EQ(c->subscriptions.size(), 1u);
  EXPECT_EQ(c->subscriptions[0].filter, "a/#");
  EXPECT_EQ(c->subscriptions[0].subscription_id, 3u);
  ASSERT_EQ(c->deliveries.size(), 2u);
  EXPECT_EQ(c->deliveries[0].seq, 11);  // ordered by seq, not insertion
  EXPECT_EQ(c->deliveries[1].seq, 12);
  EXPECT_EQ(c->messages.size(), 2u);
  EXPECT_EQ(c->max_id, 12);
}

TEST_F(MessageStoreTest, AcknowledgedDeliveryRemovesItsMessageOnlyWhenUnshared) {
  auto s = open();
  ASSERT_TRUE(s->apply({PutSession{{1, "a", 60, 0}}, PutSession{{2, "b", 60, 0}}, PutMessage{message(3, "t", "x")},
                        PutDelivery{{4, 1, 3, 1, false, 0}}, PutDelivery{{5, 2, 3, 1, false, 0}}})
                  .has_value());
  ASSERT_TRUE(s->apply({DeleteDelivery{4}}).has_value());
  auto c = s->load(kNow);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->deliveries.size(), 1u);
  EXPECT_EQ(c->messages.size(), 1u);  // still owed to session 2
  ASSERT_TRUE(s->apply({DeleteDelivery{5}, DeleteDelivery{999}}).has_value());
  c = s->load(kNow);
  EXPECT_TRUE(c->deliveries.empty());
  EXPECT_TRUE(c->messages.empty());
}

TEST_F(MessageStoreTest, DeleteSessionRemovesEverythingItOwned) {
  auto s = open();
  ASSERT_TRUE(s->apply({PutSession{{1, "a", 60, 0}}, PutSession{{2, "b", 60, 0}}, PutSubscription{{1, "x", 1, 0}},
                        PutMessage{message(3, "t", "shared")}, PutMessage{message(4, "t", "own")},
                        PutDelivery{{5, 1, 3, 1, false, 0}}, PutDelivery{{6, 2, 3, 1, false, 0}},
                        PutDelivery{{7, 1, 4, 1, false, 0}}, DeleteSession{1}})
                  .has_value());
  auto c = s->load(kNow);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->sessions.size(), 1u);
  EXPECT_EQ(c->sessions[0].id, 2);
  EXPECT_TRUE(c->subscriptions.empty());
  ASSERT_EQ(c->deliveries.size(), 1u);
  EXPECT_EQ(c->deliveries[0].seq, 6);
  ASSERT_EQ(c->messages.size(), 1u);
  EXPECT_EQ(c->messages[0].payload, "shared");
}

TEST_F(MessageStoreTest, LoadDropsWhatExpiredWhileDown) {
  auto s = open();
  ASSERT_TRUE(s->apply({PutSession{{1, "gone", 60, kNow - 1}}, PutSubscription{{1, "x", 1, 0}},
                        PutSession{{2, "kept", 60, kNow + 60'000}}, PutSession{{3, "online", 60, 0}},
                        PutMessage{message(4, "t", "old", kNow - 5)}, PutDelivery{{5, 2, 4, 1, false, 0}},
                        PutMessage{message(6, "t", "fresh", kNow + 5)}, PutDelivery{{7, 2, 6, 1, false, 0}},
                        PutMessage{message(8, "t", "for-gone")}, PutDelivery{{9, 1, 8, 1, false, 0}},
                        PutRetained{message(0, "r/old", "x", kNow)}, PutRetained{message(0, "r/new", "y")}})
                  .has_value());
  auto c = s->load(kNow);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->sessions.size(), 2u);
  EXPECT_EQ(c->sessions[0].client_id, "kept");
  EXPECT_EQ(c->sessions[1].client_id, "online");
  EXPECT_TRUE(c->subscriptions.empty());
  ASSERT_EQ(c->deliveries.size(), 1u);
  EXPECT_EQ(c->deliveries[0].seq, 7);
  ASSERT_EQ(c->messages.size(), 1u);
  EXPECT_EQ(c->messages[0].payload, "fresh");
  ASSERT_EQ(c->retained.size(), 1u);
  EXPECT_EQ(c->retained[0].topic, "r/new");
}

TEST_F(MessageStoreTest, OnlyTheNewestSessionOfAClientIdSurvivesLoad) {
  auto s = open();
  ASSERT_TRUE(s->apply({PutSession{{1, "dev", 60, 0}}, PutSubscription{{1, "old", 1, 0}},
                        PutSession{{5, "dev", 60, 0}}, PutSubscription{{5, "new", 1, 0}}})
                  .has_value());
  auto c = s->load(kNow);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->sessions.size(), 1u);
  EXPECT_EQ(c->sessions[0].id, 5);
  ASSERT_EQ(c->subscriptions.size(), 1u);
  EXPECT_EQ(c->subscriptions[0].filter, "new");
}

TEST_F(MessageStoreTest, AppliedBatchSurvivesKill9) {
  // A child process applies batches and reports each success over a pipe,
  // then is killed; every reported batch must be in the file.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto s = open_sqlite_message_store(path_);
    if (!s) ::_exit(2);
    for (int64_t i = 1;; ++i) {
      if (!(*s)->apply({PutMessage{message(i, "t", "m" + std::to_string(i))}, PutSession{{i, "c", 60, 0}},
                        PutDelivery{{i, i, i, 1, false, 0}}})) {
        ::_exit(3);
      }
      char b = 1;
      if (::write(fds[1], &b, 1) != 1) ::_exit(4);
    }
  }
  ::close(fds[1]);
  int acknowledged = 0;
  char b;
  while (acknowledged < 50 && ::read(fds[0], &b, 1) == 1) ++acknowledged;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (::read(fds[0], &b, 1) == 1) ++acknowledged;  // reported before the kill
  ::close(fds[0]);
  ASSERT_GE(acknowledged, 50);
  auto c = open()->load(kNow);
  ASSERT_TRUE(c.has_value());
  // Same client id: only the newest session is kept, with its delivery.
  ASSERT_EQ(c->sessions.size(), 1u);
  EXPECT_GE(c->sessions[0].id, acknowledged);
  EXPECT_GE(c->max_id, acknowledged);
}

TEST_F(MessageStoreTest, RefusesAFileThatIsNotADatabase) {
  {
    FILE* f = std::fopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not sqlite, just some text long enough to look like a header.......", f);
    std::fclose(f);
  }
  auto s = open_sqlite_message_store(path_);
  EXPECT_FALSE(s.has_value());
}

}  // namespace
}  // namespace fg::store
