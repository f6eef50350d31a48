// Durability of the broker's state through the message store: retained
// messages, persistent sessions (subscriptions, queued QoS 1/2 messages)
// survive a restart (a second Broker on the same messages.db); publishers'
// acknowledgements wait for the disk, deliveries to online subscribers do
// not; clean sessions never touch the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "broker/persist.hpp"
#include "stub_client.hpp"

namespace fg::broker::testing {
namespace {

namespace fs = std::filesystem;
using mqtt::ProtocolVersion;
using mqtt::QoS;
using mqtt::ReasonCode;

// A message store whose writes can be held back, to observe what waits for them.
class GatedStore final : public store::MessageStore {
 public:
  explicit GatedStore(std::unique_ptr<store::MessageStore> inner) : inner_(std::move(inner)) {}
  Result<store::Done, store::StoreError> apply(const std::vector<store::MessageOp>& batch) override {
    std::unique_lock lock(mu_);
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --blocked_;
    ++batches_;
    records_ += batch.size();
    return inner_->apply(batch);
  }
  Result<store::MessageStoreContents, store::StoreError> load(int64_t now_ms) override { return inner_->load(now_ms); }
  void hold() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Until the persistence thread is inside apply(), held.
  void wait_blocked() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return blocked_ > 0; });
  }
  size_t records() {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  std::unique_ptr<store::MessageStore> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int blocked_ = 0;
  size_t batches_ = 0;
  size_t records_ = 0;
};

// A broker on a messages.db (behind a GatedStore), with its workers driven
// by the test thread: the shared BrokerHarness with the store attached.
class DurableHarness {
 public:
  DurableHarness(const std::string& path, unsigned workers = 2)
      : h_(workers, BrokerConfig{}, [this, &path](Broker& b) { attach(b, path); }) {}

  Broker& broker() { return h_.broker(); }
  GatedStore& store() { return *store_; }
  const Broker::RestoreStats& restored() const { return restored_; }
  size_t poll() { return h_.poll(); }
  void poll_until_idle() {
    for (int i = 0; i < 1000 && poll() != 0; ++i) {
    }
  }
  void pump() { h_.pump(); }
  std::shared_ptr<StubClient> client(unsigned worker, ProtocolVersion v = ProtocolVersion::V311) {
    return h_.client(worker, v);
  }
  mqtt::Connack connect(StubClient& c, mqtt::Connect req) { return h_.connect(c, std::move(req)); }

 private:
  void attach(Broker& b, const std::string& path) {
    auto st = store::open_sqlite_message_store(path);
    EXPECT_TRUE(st.has_value());
    auto gated = std::make_unique<GatedStore>(std::move(*st));
    store_ = gated.get();
    auto r = b.attach_store(std::move(gated));
    EXPECT_TRUE(r.has_value());
    if (r) restored_ = *r;
  }

  // Declared before h_: attach() fills them while h_ is being constructed.
  GatedStore* store_ = nullptr;
  Broker::RestoreStats restored_;
  BrokerHarness h_;
};

class PersistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("fg_persist_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
    path_ = (dir_ / "messages.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  store::MessageStoreContents contents() {
    auto st = store::open_sqlite_message_store(path_);
    EXPECT_TRUE(st.has_value());
    auto c = (*st)->load(wall_now_ms());
    EXPECT_TRUE(c.has_value());
    return c ? std::move(*c) : store::MessageStoreContents{};
  }
  // A persistent 3.1.1 session "sub" subscribed to q/# at QoS 1, then offline.
  void make_offline_subscriber(DurableHarness& h) {
    auto sub = h.client(0);
    h.connect(*sub, connect_packet("sub", ProtocolVersion::V311, /*clean=*/false));
    sub->feed(subscribe_packet(1, "q/#", QoS::AtLeastOnce));
    h.pump();
    ASSERT_EQ(sub->take_of<mqtt::Suback>().size(), 1u);
    sub->drop();
    h.pump();
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(PersistTest, RetainedMessageSurvivesRestartAndClearSurvivesToo) {
  {
    DurableHarness h(path_);
    auto pub = h.client(1, ProtocolVersion::V5);
    h.connect(*pub, connect_packet("pub", ProtocolVersion::V5));
    auto p = publish_packet("r/1", "kept", QoS::AtLeastOnce, 1);
    p.retain = true;
    p.properties.content_type = "text/plain";
    p.properties.user_properties.push_back({"k", "v"});
    pub->feed(p);
    auto gone = publish_packet("r/2", "soon cleared", QoS::AtMostOnce);
    gone.retain = true;
    pub->feed(gone);
    auto clear = publish_packet("r/2", "", QoS::AtMostOnce);
    clear.retain = true;
    pub->feed(clear);
    h.pump();
    EXPECT_EQ(pub->take_of<mqtt::Puback>().size(), 1u);
  }
  DurableHarness h(path_);
  EXPECT_EQ(h.restored().retained, 1u);
  auto sub = h.client(0, ProtocolVersion::V5);
  h.connect(*sub, connect_packet("s", ProtocolVersion::V5));
  sub->feed(subscribe_packet(1, "r/#", QoS::AtLeastOnce));
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "r/1");
  EXPECT_EQ(got[0].payload, "kept");
  EXPECT_TRUE(got[0].retain);
  EXPECT_EQ(got[0].properties.content_type, "text/plain");
  ASSERT_EQ(got[0].properties.user_properties.size(), 1u);
  EXPECT_EQ(got[0].properties.user_properties[0].value, "v");
}

TEST_F(PersistTest, SessionSubscriptionAndQueuedMessagesSurviveRestart) {
  {
    DurableHarness h(path_);
    make_offline_subscriber(h);
    auto pub = h.client(1);
    h.connect(*pub, connect_packet("pub"));
    for (uint16_t i = 1; i <= 3; ++i) pub->feed(publish_packet("q/x", "m" + std::to_string(i), QoS::AtLeastOnce, i));
    h.pump();
    EXPECT_EQ(pub->take_of<mqtt::Puback>().size(), 3u);
  }
  {
    DurableHarness h(path_);
    EXPECT_EQ(h.restored().sessions, 1u);
    EXPECT_EQ(h.restored().subscriptions, 1u);
    EXPECT_EQ(h.restored().messages, 3u);
    auto sub = h.client(1);
    auto ack = h.connect(*sub, connect_packet("sub", ProtocolVersion::V311, false));
    EXPECT_TRUE(ack.session_present);
    h.pump();
    auto got = sub->take_of<mqtt::Publish>();
    ASSERT_EQ(got.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(got[i].payload, "m" + std::to_string(i + 1));
      EXPECT_TRUE(got[i].dup);  // may have been sent before the restart
      EXPECT_EQ(got[i].qos, QoS::AtLeastOnce);
    }
    // The subscription was restored too: a new message reaches the session.
    auto pub = h.client(0);
    h.connect(*pub, connect_packet("pub2"));
    pub->feed(publish_packet("q/y", "live", QoS::AtLeastOnce, 9));
    h.pump();
    auto live = sub->take_of<mqtt::Publish>();
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].payload, "live");
    EXPECT_FALSE(live[0].dup);
    // Acknowledge the first two only.
    sub->feed(mqtt::Puback{got[0].packet_id, ReasonCode::Success, {}});
    sub->feed(mqtt::Puback{got[1].packet_id, ReasonCode::Success, {}});
    sub->feed(mqtt::Puback{live[0].packet_id, ReasonCode::Success, {}});
    h.pump();
  }
  DurableHarness h(path_);
  EXPECT_EQ(h.restored().messages, 1u);  // only the unacknowledged one is owed
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("sub", ProtocolVersion::V311, false));
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "m3");
}

TEST_F(PersistTest, PubackWaitsForTheStoreButOnlineDeliveryDoesNot) {
  DurableHarness h(path_);
  make_offline_subscriber(h);
  auto online = h.client(0);
  h.connect(*online, connect_packet("online"));  // clean: never waits
  online->feed(subscribe_packet(1, "q/#", QoS::AtLeastOnce));
  h.pump();
  ASSERT_EQ(online->take_of<mqtt::Suback>().size(), 1u);
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("pub"));

  h.store().hold();
  pub->feed(publish_packet("q/x", "held", QoS::AtLeastOnce, 5));
  h.poll_until_idle();
  EXPECT_TRUE(pub->take_of<mqtt::Puback>().empty()) << "PUBACK before the message was on disk";
  auto got = online->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u) << "an online subscriber waited for the disk";
  EXPECT_EQ(got[0].payload, "held");

  // A message no persistent session needs is acknowledged after the waiting
  // one, in order.
  pub->feed(publish_packet("other", "no one", QoS::AtLeastOnce, 6));
  h.poll_until_idle();
  EXPECT_TRUE(pub->take_of<mqtt::Puback>().empty());

  h.store().release();
  h.pump();
  auto acks = pub->take_of<mqtt::Puback>();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].packet_id, 5);
  EXPECT_EQ(acks[1].packet_id, 6);
}

TEST_F(PersistTest, ConnackAndSubackOfPersistentSessionWaitForTheStore) {
  DurableHarness h(path_);
  auto c = h.client(0);
  h.store().hold();
  c->feed(connect_packet("dev", ProtocolVersion::V311, false));
  h.poll_until_idle();
  EXPECT_TRUE(c->take_of<mqtt::Connack>().empty());
  h.store().release();
  h.pump();
  ASSERT_EQ(c->take_of<mqtt::Connack>().size(), 1u);

  h.store().hold();
  c->feed(subscribe_packet(3, "s/#", QoS::ExactlyOnce));
  h.poll_until_idle();
  EXPECT_TRUE(c->take_of<mqtt::Suback>().empty());
  h.store().release();
  h.pump();
  ASSERT_EQ(c->take_of<mqtt::Suback>().size(), 1u);
}

TEST_F(PersistTest, CleanSessionsAndQos0NeverTouchTheStore) {
  DurableHarness h(path_);
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("clean-sub"));
  sub->feed(subscribe_packet(1, "c/#", QoS::ExactlyOnce));
  auto pub = h.client(1, ProtocolVersion::V5);
  h.connect(*pub, connect_packet("clean-pub", ProtocolVersion::V5));
  pub->feed(publish_packet("c/1", "a", QoS::AtLeastOnce, 1));
  pub->feed(publish_packet("c/2", "b", QoS::ExactlyOnce, 2));
  pub->feed(publish_packet("c/3", "c", QoS::AtMostOnce));
  h.pump();
  EXPECT_EQ(sub->take_of<mqtt::Publish>().size(), 3u);
  sub->drop();
  h.pump();
  EXPECT_EQ(h.store().records(), 0u);
  auto c = contents();
  EXPECT_TRUE(c.sessions.empty());
  EXPECT_TRUE(c.messages.empty());
}

TEST_F(PersistTest, CleanStartDeletesTheStoredSession) {
  {
    DurableHarness h(path_);
    make_offline_subscriber(h);
    auto pub = h.client(1);
    h.connect(*pub, connect_packet("pub"));
    pub->feed(publish_packet("q/x", "queued", QoS::AtLeastOnce, 1));
    h.pump();
    EXPECT_EQ(contents().sessions.size(), 1u);
    EXPECT_EQ(contents().deliveries.size(), 1u);
    auto again = h.client(1);
    auto ack = h.connect(*again, connect_packet("sub", ProtocolVersion::V311, /*clean=*/true));
    EXPECT_FALSE(ack.session_present);
    h.pump();
  }
  auto c = contents();
  EXPECT_TRUE(c.sessions.empty());
  EXPECT_TRUE(c.subscriptions.empty());
  EXPECT_TRUE(c.deliveries.empty());
  EXPECT_TRUE(c.messages.empty());
}

TEST_F(PersistTest, SessionThatExpiredWhileDownIsGone) {
  {
    auto st = store::open_sqlite_message_store(path_);
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE((*st)->apply({store::PutSession{{4, "old", 60, wall_now_ms() - 1000}},
                              store::PutSubscription{{4, "x/#", 1, 0}},
                              store::PutSession{{5, "young", 3600, wall_now_ms() + 3'600'000}}})
                    .has_value());
  }
  DurableHarness h(path_);
  EXPECT_EQ(h.restored().sessions, 1u);
  auto c = h.client(0, ProtocolVersion::V5);
  mqtt::Connect req = connect_packet("old", ProtocolVersion::V5, /*clean=*/false);
  req.properties.session_expiry_interval = 60;
  EXPECT_FALSE(h.connect(*c, req).session_present);
  auto y = h.client(1, ProtocolVersion::V5);
  mqtt::Connect ry = connect_packet("young", ProtocolVersion::V5, false);
  ry.properties.session_expiry_interval = 60;
  EXPECT_TRUE(h.connect(*y, ry).session_present);
}

TEST_F(PersistTest, V5SessionExpiryIsStoredAsWallClockWhenOffline) {
  {
    DurableHarness h(path_);
    auto c = h.client(0, ProtocolVersion::V5);
    mqtt::Connect req = connect_packet("v5", ProtocolVersion::V5, false);
    req.properties.session_expiry_interval = 120;
    h.connect(*c, req);
    c->drop();
    h.pump();
  }
  auto c = contents();
  ASSERT_EQ(c.sessions.size(), 1u);
  EXPECT_EQ(c.sessions[0].expiry_interval, 120u);
  const int64_t left = c.sessions[0].expires_at_ms - wall_now_ms();
  EXPECT_GT(left, 60'000);
  EXPECT_LE(left, 120'000);
}

TEST_F(PersistTest, CopyAcknowledgedBeforeItWasWrittenIsNeverWritten) {
  DurableHarness h(path_);
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("sub", ProtocolVersion::V311, /*clean=*/false));
  sub->feed(subscribe_packet(1, "q/#", QoS::AtLeastOnce));
  h.pump();
  sub->take();
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("pub"));
  const size_t before = h.store().records();

  // Keep the persistence thread busy with one write...
  h.store().hold();
  auto r = publish_packet("r/busy", "x", QoS::AtMostOnce);
  r.retain = true;
  pub->feed(r);
  h.poll_until_idle();
  h.store().wait_blocked();
  // ...while a copy is stored, delivered and acknowledged.
  pub->feed(publish_packet("q/x", "fast", QoS::AtLeastOnce, 4));
  h.poll_until_idle();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  sub->feed(mqtt::Puback{got[0].packet_id, ReasonCode::Success, {}});
  h.poll_until_idle();
  EXPECT_TRUE(pub->take_of<mqtt::Puback>().empty());
  h.store().release();
  h.pump();
  EXPECT_EQ(pub->take_of<mqtt::Puback>().size(), 1u);
  EXPECT_EQ(h.store().records() - before, 1u);  // the retained message only
  EXPECT_TRUE(contents().deliveries.empty());
  EXPECT_TRUE(contents().messages.empty());
}

TEST(PersistCodec, PropertiesAndOptionsRoundTrip) {
  mqtt::Properties p;
  p.payload_format_indicator = 1;
  p.content_type = "application/json";
  p.response_topic = "r/t";
  p.correlation_data = std::string("\0\x01", 2);
  p.user_properties.push_back({"a", "b"});
  p.user_properties.push_back({"a", "c"});
  EXPECT_EQ(decode_properties(encode_properties(p)), p);
  EXPECT_EQ(decode_properties(""), mqtt::Properties{});
  mqtt::SubscribeOptions o;
  o.max_qos = QoS::ExactlyOnce;
  o.no_local = true;
  o.retain_as_published = true;
  o.retain_handling = mqtt::RetainHandling::DoNotSend;
  EXPECT_EQ(options_from_byte(options_byte(o)), o);
}

}  // namespace
}  // namespace fg::broker::testing
