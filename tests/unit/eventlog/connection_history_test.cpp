// ConnectionHistory: the audit queries (shared certificates, conflicting
// client ids, last use of a certificate, listing), retention purge, the entry
// cap, persistence across reopen (including connections a previous run left
// open) and concurrent callers; real SQLite store in a temporary directory,
// injected clock, flush() instead of sleeps.
#include "eventlog/connection_history.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eventlog_test_util.hpp"
#include "store/store.hpp"

namespace fg::eventlog {
namespace {

using testing::FakeClock;
using testing::TempDir;

constexpr int64_t kT0 = 1764201600000;  // 2025-11-27T00:00:00Z
constexpr int64_t kSecond = 1000;
constexpr int64_t kDay = 24 * 3600 * kSecond;

class ConnectionHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen(ConnectionHistoryConfig cfg = {}) {
    history_.reset();
    store_.reset();
    auto s = store::open_sqlite_store(dir_.file("fleetguard.db"));
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    cfg.now_ms = clock_.fn();
    auto h = ConnectionHistory::open(*store_, cfg);
    ASSERT_TRUE(h.has_value()) << h.error().message;
    history_ = std::move(*h);
  }
  // Connects at `at_ms` (the clock is moved there).
  ConnectionId connect_at(int64_t at_ms, const std::string& client, const std::string& cert,
                          const std::string& ip = "10.0.0.1", const std::string& thing = "") {
    clock_.set(at_ms);
    ConnectionId id = history_->connected({client, cert, thing, ip});
    EXPECT_NE(id, kNoConnection);
    return id;
  }
  void disconnect_at(int64_t at_ms, ConnectionId id, DisconnectReason reason = DisconnectReason::ClientInitiated) {
    clock_.set(at_ms);
    history_->disconnected(id, reason);
  }

  TempDir dir_;
  FakeClock clock_{kT0};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ConnectionHistory> history_;
};

TEST_F(ConnectionHistoryTest, ReasonNamesAreAwsLifecycleNames) {
  EXPECT_EQ(to_string(DisconnectReason::DuplicateClientId), "DUPLICATE_CLIENTID");
  EXPECT_EQ(to_string(DisconnectReason::KeepAliveTimeout), "MQTT_KEEP_ALIVE_TIMEOUT");
  EXPECT_EQ(parse_disconnect_reason("CONNECTION_LOST"), DisconnectReason::ConnectionLost);
  EXPECT_FALSE(parse_disconnect_reason("GONE").has_value());
}

TEST_F(ConnectionHistoryTest, FindsCertificatesUsedByConcurrentConnections) {
  // Shared: two client ids on one certificate at the same time (one still open).
  connect_at(kT0 + 1 * kSecond, "sensor-a", "certShared", "10.0.0.1");
  ConnectionId b = connect_at(kT0 + 2 * kSecond, "sensor-b", "certShared", "10.0.0.2");
  disconnect_at(kT0 + 3 * kSecond, b);
  // Not shared: the same certificate used one after the other.
  ConnectionId c = connect_at(kT0 + 10 * kSecond, "sensor-c", "certSerial");
  disconnect_at(kT0 + 20 * kSecond, c);
  connect_at(kT0 + 20 * kSecond, "sensor-d", "certSerial");  // touching is not overlapping
  // Not shared: one device reconnecting with its own client id (takeover).
  connect_at(kT0 + 30 * kSecond, "sensor-e", "certOwn");
  connect_at(kT0 + 31 * kSecond, "sensor-e", "certOwn");
  history_->flush();

  auto shared = history_->shared_certificates();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].certificate_id, "certShared");
  EXPECT_EQ(shared[0].client_ids, (std::vector<std::string>{"sensor-a", "sensor-b"}));
  EXPECT_EQ(shared[0].source_ips, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  ASSERT_EQ(shared[0].connections.size(), 2u);
  EXPECT_TRUE(shared[0].connections[0].open());
  EXPECT_EQ(shared[0].connections[1].disconnected_ms, kT0 + 3 * kSecond);

  // A range that ends before the overlap began finds nothing.
  EXPECT_TRUE(history_->shared_certificates({kT0, kT0 + 1500}).empty());
}

TEST_F(ConnectionHistoryTest, FindsClientIdsUsedByDifferentDevices) {
  // Two certificates with one client id at the same time.
  connect_at(kT0 + 1 * kSecond, "dup", "cert1", "10.0.0.1");
  connect_at(kT0 + 2 * kSecond, "dup", "cert2", "10.0.0.2");
  // Quick succession from another address, after a takeover.
  ConnectionId f1 = connect_at(kT0 + 10 * kSecond, "flap", "cert3", "10.0.0.3");
  disconnect_at(kT0 + 11 * kSecond, f1, DisconnectReason::DuplicateClientId);
  connect_at(kT0 + 12 * kSecond, "flap", "cert3", "10.0.0.4");
  // The same device reconnecting (same certificate and address): not a conflict.
  ConnectionId r1 = connect_at(kT0 + 20 * kSecond, "steady", "cert4", "10.0.0.5");
  disconnect_at(kT0 + 21 * kSecond, r1, DisconnectReason::ConnectionLost);
  connect_at(kT0 + 21 * kSecond, "steady", "cert4", "10.0.0.5");
  // Different certificates an hour apart: not a conflict.
  ConnectionId m1 = connect_at(kT0 + 30 * kSecond, "moved", "cert5", "10.0.0.6");
  disconnect_at(kT0 + 40 * kSecond, m1);
  connect_at(kT0 + 40 * kSecond + 3600 * kSecond, "moved", "cert6", "10.0.0.6");
  history_->flush();

  auto conflicts = history_->conflicting_client_ids({}, 2 * kSecond);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(conflicts[0].client_id, "dup");
  EXPECT_EQ(conflicts[0].certificate_ids, (std::vector<std::string>{"cert1", "cert2"}));
  EXPECT_EQ(conflicts[0].connections.size(), 2u);
  EXPECT_EQ(conflicts[1].client_id, "flap");
  EXPECT_EQ(conflicts[1].source_ips, (std::vector<std::string>{"10.0.0.3", "10.0.0.4"}));

  // Without a succession window only true overlaps count.
  auto overlapping = history_->conflicting_client_ids({}, 0);
  ASSERT_EQ(overlapping.size(), 1u);
  EXPECT_EQ(overlapping[0].client_id, "dup");
}

TEST_F(ConnectionHistoryTest, KnowsWhenEachCertificateWasLastUsed) {
  ConnectionId a = connect_at(kT0, "a", "cert1");
  disconnect_at(kT0 + 5 * kSecond, a);
  connect_at(kT0 + 60 * kSecond, "a", "cert1");
  ConnectionId b = connect_at(kT0 + 70 * kSecond, "b", "cert2");
  disconnect_at(kT0 + 80 * kSecond, b);
  history_->flush();

  auto one = history_->certificate_usage("cert1");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->last_connected_ms, kT0 + 60 * kSecond);
  EXPECT_EQ(one->last_disconnected_ms, kT0 + 5 * kSecond);
  EXPECT_EQ(one->open_connections, 1u);
  auto all = history_->certificate_usage();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all["cert2"].last_connected_ms, kT0 + 70 * kSecond);
  EXPECT_EQ(all["cert2"].open_connections, 0u);
  EXPECT_FALSE(history_->certificate_usage("never").has_value());
}

TEST_F(ConnectionHistoryTest, ListsHistoryByClientOrCertificateInARange) {
  for (int i = 0; i < 5; ++i) {
    ConnectionId id = connect_at(kT0 + i * 100 * kSecond, "dev", "cert" + std::to_string(i % 2), "10.0.0.1", "thing");
    disconnect_at(kT0 + i * 100 * kSecond + 10 * kSecond, id, DisconnectReason::KeepAliveTimeout);
  }
  connect_at(kT0 + 50 * kSecond, "other", "cert0");
  history_->flush();

  auto dev = history_->list({"dev", "", {}, 0});
  ASSERT_EQ(dev.size(), 5u);
  for (size_t i = 1; i < dev.size(); ++i) EXPECT_LT(dev[i - 1].connected_ms, dev[i].connected_ms);
  EXPECT_EQ(dev[0].info.thing_name, "thing");
  EXPECT_EQ(dev[0].reason, DisconnectReason::KeepAliveTimeout);

  auto cert0 = history_->list({"", "cert0", {}, 0});
  EXPECT_EQ(cert0.size(), 4u);  // dev at 0, 200, 400 and other

  auto range = history_->list({"dev", "", {kT0 + 150 * kSecond, kT0 + 305 * kSecond}, 0});
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[0].connected_ms, kT0 + 200 * kSecond);
  EXPECT_EQ(range[1].connected_ms, kT0 + 300 * kSecond);

  auto limited = history_->list({"dev", "", {}, 2});
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].connected_ms, kT0);
}

TEST_F(ConnectionHistoryTest, PurgeRemovesWhatIsPastRetentionButKeepsLastSeen) {
  ConnectionHistoryConfig cfg;
  cfg.retention_ms = 31 * kDay;
  reopen(cfg);
  ConnectionId old_closed = connect_at(kT0, "old", "certOld");
  disconnect_at(kT0 + kSecond, old_closed);
  connect_at(kT0 + 2 * kSecond, "long-lived", "certLong");  // still open: kept
  ConnectionId recent = connect_at(kT0 + 10 * kDay, "recent", "certRecent");
  disconnect_at(kT0 + 10 * kDay + kSecond, recent);
  history_->flush();
  ASSERT_EQ(history_->stats().entries, 3u);

  clock_.set(kT0 + 32 * kDay);
  EXPECT_EQ(history_->purge(), 1u);
  auto left = history_->list({});
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].info.client_id, "long-lived");
  EXPECT_EQ(left[1].info.client_id, "recent");
  // "Unused for N days" still knows when certOld was last used.
  auto old_usage = history_->certificate_usage("certOld");
  ASSERT_TRUE(old_usage.has_value());
  EXPECT_EQ(old_usage->last_connected_ms, kT0);

  reopen(cfg);
  EXPECT_EQ(history_->list({}).size(), 2u);
  ASSERT_TRUE(history_->certificate_usage("certOld").has_value());
  EXPECT_EQ(history_->purge(), 0u);
}

TEST_F(ConnectionHistoryTest, KeepsAtMostMaxEntriesDroppingOldestClosedFirst) {
  ConnectionHistoryConfig cfg;
  cfg.max_entries = 3;
  reopen(cfg);
  ConnectionId open_first = connect_at(kT0, "open-first", "c");
  for (int i = 0; i < 5; ++i) {
    ConnectionId id = connect_at(kT0 + (i + 1) * kSecond, "closed-" + std::to_string(i), "c");
    disconnect_at(kT0 + (i + 1) * kSecond + 500, id);
  }
  history_->flush();
  auto left = history_->list({});
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0].id, open_first);
  EXPECT_EQ(left[1].info.client_id, "closed-3");
  EXPECT_EQ(left[2].info.client_id, "closed-4");
  reopen(cfg);
  EXPECT_EQ(history_->list({}).size(), 3u);
}

TEST_F(ConnectionHistoryTest, SurvivesReopenAndClosesConnectionsLeftOpen) {
  ConnectionId closed = connect_at(kT0, "dev-1", "cert1", "10.0.0.1", "thing-1");
  disconnect_at(kT0 + 5 * kSecond, closed, DisconnectReason::ConnectionLost);
  ConnectionId open = connect_at(kT0 + 6 * kSecond, "dev-2", "cert2", "10.0.0.2", "thing-2");
  history_->flush();
  clock_.set(kT0 + 9 * kSecond);  // the moment the previous run stops
  history_.reset();               // the last heartbeat is written here
  clock_.set(kT0 + 100 * kSecond);
  reopen();

  auto all = history_->list({});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, closed);
  EXPECT_EQ(all[0].info.client_id, "dev-1");
  EXPECT_EQ(all[0].info.certificate_id, "cert1");
  EXPECT_EQ(all[0].info.thing_name, "thing-1");
  EXPECT_EQ(all[0].info.source_ip, "10.0.0.1");
  EXPECT_EQ(all[0].connected_ms, kT0);
  EXPECT_EQ(all[0].disconnected_ms, kT0 + 5 * kSecond);
  EXPECT_EQ(all[0].reason, DisconnectReason::ConnectionLost);
  EXPECT_EQ(all[1].id, open);
  EXPECT_EQ(all[1].disconnected_ms, kT0 + 9 * kSecond);
  EXPECT_EQ(all[1].reason, DisconnectReason::ServerRestart);
  // Not an ongoing connection any more: a later use of cert2 by another client is not "shared".
  ConnectionId later = connect_at(kT0 + 200 * kSecond, "dev-3", "cert2");
  EXPECT_GT(later, open);  // ids keep growing across restarts
  history_->flush();
  EXPECT_TRUE(history_->shared_certificates().empty());
  auto usage = history_->certificate_usage("cert2");
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->last_connected_ms, kT0 + 200 * kSecond);
}

TEST_F(ConnectionHistoryTest, DisconnectOfUnknownConnectionIsIgnored) {
  history_->disconnected(kNoConnection, DisconnectReason::ClientInitiated);
  history_->disconnected(424242, DisconnectReason::ClientInitiated);
  history_->flush();
  EXPECT_TRUE(history_->list({}).empty());
}

TEST_F(ConnectionHistoryTest, ConcurrentWorkersRecordEveryConnection) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::vector<ConnectionId>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ConnectionId id = history_->connected({"w" + std::to_string(t) + "-" + std::to_string(i),
                                               "cert" + std::to_string(t), "", "10.0.0.1"});
        ids[t].push_back(id);
        history_->disconnected(id, DisconnectReason::ClientInitiated);
      }
    });
  }
  for (auto& th : threads) th.join();
  history_->flush();
  std::set<ConnectionId> unique;
  for (const auto& v : ids) unique.insert(v.begin(), v.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(unique.count(kNoConnection), 0u);
  auto all = history_->list({});
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& r : all) EXPECT_FALSE(r.open()) << r.info.client_id;
  EXPECT_EQ(history_->stats().dropped, 0u);
  EXPECT_EQ(history_->certificate_usage().size(), static_cast<size_t>(kThreads));
  reopen();
  EXPECT_EQ(history_->list({}).size(), static_cast<size_t>(kThreads * kPerThread));
}

// A Store that forwards to a real one, and can be made to block in apply()
// (until released) or to fail the next N apply() calls.
class ControlledStore final : public store::Store {
 public:
  explicit ControlledStore(store::Store& inner) : inner_(inner) {}
  Result<std::optional<store::Record>, store::StoreError> get(const std::string& kind,
                                                              const std::string& key) override {
    return inner_.get(kind, key);
  }
  Result<std::vector<store::Record>, store::StoreError> list(const std::string& kind,
                                                             const std::string& prefix) override {
    return inner_.list(kind, prefix);
  }
  Result<std::vector<int64_t>, store::StoreError> apply(const std::vector<store::Mutation>& batch) override {
    {
      std::unique_lock lock(mu_);
      if (block_) {
        blocked_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !block_; });
        blocked_ = false;
      }
      if (fail_ > 0) {
        --fail_;
        return fg::unexpected(store::StoreError{store::StoreError::Kind::Io, "disk on fire"});
      }
    }
    return inner_.apply(batch);
  }
  void block() {
    std::lock_guard lock(mu_);
    block_ = true;
  }
  // Waits (at most 10 s) until a writer is blocked in apply().
  bool wait_blocked() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return blocked_; });
  }
  void release() {
    std::lock_guard lock(mu_);
    block_ = false;
    cv_.notify_all();
  }
  void fail_next(int n) {
    std::lock_guard lock(mu_);
    fail_ = n;
  }

 private:
  store::Store& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool block_ = false, blocked_ = false;
  int fail_ = 0;
};

TEST_F(ConnectionHistoryTest, FullQueueDropsConnectsButNeverDisconnects) {
  history_.reset();
  ControlledStore controlled(*store_);
  ConnectionHistoryConfig cfg;
  cfg.queue_capacity = 3;
  cfg.now_ms = clock_.fn();
  auto h = ConnectionHistory::open(controlled, cfg);
  ASSERT_TRUE(h.has_value());
  controlled.block();
  ConnectionId first = (*h)->connected({"first", "c", "", "10.0.0.1"});
  ASSERT_TRUE(controlled.wait_blocked());  // the history thread holds `first` in a blocked commit
  std::vector<ConnectionId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back((*h)->connected({"q" + std::to_string(i), "c", "", "10.0.0.1"}));
  EXPECT_EQ((*h)->connected({"dropped", "c", "", "10.0.0.1"}), kNoConnection);
  EXPECT_EQ((*h)->stats().dropped, 1u);
  (*h)->disconnected(first, DisconnectReason::ClientInitiated);  // over capacity, still kept
  controlled.release();
  (*h)->flush();
  auto all = (*h)->list({});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_FALSE(all[0].open());
  for (const auto& r : all) EXPECT_NE(r.info.client_id, "dropped");
}

TEST_F(ConnectionHistoryTest, RetriesAFailedCommitWithTheNextBatch) {
  history_.reset();
  ControlledStore controlled(*store_);
  ConnectionHistoryConfig cfg;
  cfg.now_ms = clock_.fn();
  {
    auto h = ConnectionHistory::open(controlled, cfg);
    ASSERT_TRUE(h.has_value());
    controlled.fail_next(1);
    (*h)->connected({"a", "c", "", "10.0.0.1"});
    (*h)->flush();
    EXPECT_EQ((*h)->stats().store_errors, 1u);
    EXPECT_EQ((*h)->list({}).size(), 1u);  // the working copy has it anyway
    (*h)->connected({"b", "c", "", "10.0.0.1"});
    (*h)->flush();
  }
  reopen();
  auto all = history_->list({});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].info.client_id, "a");
  EXPECT_EQ(all[1].info.client_id, "b");
}

}  // namespace
}  // namespace fg::eventlog
