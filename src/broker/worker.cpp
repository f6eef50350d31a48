#include "broker/worker.hpp"

#include <algorithm>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "broker/persist.hpp"

namespace fg::broker {

namespace {
constexpr size_t kScratchSize = 64 * 1024;
constexpr auto kSweepInterval = std::chrono::seconds(1);
// How long a publisher stops reading when a subscriber's queue is congested.
constexpr auto kPause = std::chrono::milliseconds(1);
}  // namespace

Worker::Worker(Broker& broker, unsigned index, boost::asio::io_context& ioc)
    : broker_(broker),
      index_(index),
      ioc_(ioc),
      epoll_(ioc),
      sweep_timer_(ioc),
      pause_timer_(ioc),
      high_water_(std::max<size_t>(1, broker.config().max_queued_messages / 2)),
      scratch_(kScratchSize) {}

Worker::~Worker() {
  // Sessions and connections point at each other; break the cycles.
  // Hold every connection while unlinking, since dropping a session's link
  // may release the last reference to its connection.
  std::vector<std::shared_ptr<Client>> all = all_clients();
  for (auto& c : all) {
    c->linked_ = false;
    c->prev_ = c->next_ = nullptr;
  }
  for (auto& c : all) c->detach_for_shutdown();
  clients_ = nullptr;
  for (auto& s : offline_) s->client.reset();
}

void Worker::start() {
  outbox_.resize(broker_.worker_count());
  persister_ = broker_.persister();
  epoll_.start();
  schedule_sweep();
}

void Worker::stop() {
  stopping_ = true;
  epoll_.stop();
  sweep_timer_.cancel();
  pause_timer_.cancel();
  paused_.clear();
}

void Worker::pause_reading(const std::shared_ptr<Client>& c) {
  paused_.push_back(c);
  if (paused_.size() > 1) return;  // the timer is already armed
  pause_timer_.expires_after(kPause);
  pause_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping_) resume_paused();
  });
}

void Worker::resume_paused() {
  std::vector<std::shared_ptr<Client>> batch;
  batch.swap(paused_);
  for (auto& c : batch) c->resume_reading();
  flush();
}

void Worker::schedule_sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    sweep();
    flush();
    schedule_sweep();
  });
}

void Worker::add_client(const std::shared_ptr<Client>& c) {
  Client* p = c.get();
  if (p->linked_) return;
  p->prev_ = nullptr;
  p->next_ = clients_;
  if (clients_) clients_->prev_ = p;
  clients_ = p;
  p->linked_ = true;
  ++client_count_;
  WorkerStats::inc(stats_.connections);
}

void Worker::remove_client(Client* c) {
  if (!c->linked_) return;
  if (c->prev_) c->prev_->next_ = c->next_;
  else clients_ = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
  c->linked_ = false;
  --client_count_;
}

std::vector<std::shared_ptr<Client>> Worker::all_clients() {
  std::vector<std::shared_ptr<Client>> out;
  out.reserve(client_count_);
  for (Client* c = clients_; c != nullptr; c = c->next_) out.push_back(c->shared_from_this());
  return out;
}

void Worker::mark_dirty(Client* c) { dirty_.push_back(c->shared_from_this()); }

void Worker::flush() {
  // Index loop: flushing a client can close it, which can publish a will,
  // which can dirty more clients.
  for (size_t i = 0; i < dirty_.size(); ++i) {
    std::shared_ptr<Client> c = dirty_[i];
    c->flush_output();
  }
  dirty_.clear();
  // Records before cross-worker deliveries: a subscriber's acknowledgement
  // (which deletes a record) is then always submitted after the record.
  if (!persist_ops_.empty() || !persist_done_.empty()) submit_persisted();
  if (!outbox_pending_) return;
  outbox_pending_ = false;
  for (unsigned w = 0; w < outbox_.size(); ++w) {
    if (outbox_[w].empty()) continue;
    Worker& dst = broker_.worker(w);
    boost::asio::post(dst.ioc_, [&dst, batch = std::move(outbox_[w])]() mutable {
      dst.receive_batch(batch);
      dst.flush();
    });
    outbox_[w] = {};
  }
}

void Worker::receive_batch(std::vector<Remote>& batch) {
  for (auto& r : batch) {
    if (r.delivery.qos != mqtt::QoS::AtMostOnce) r.session->in_transit.fetch_sub(1, std::memory_order_relaxed);
    deliver(r.session, std::move(r.delivery));
  }
}

size_t Worker::route(const MessagePtr& msg, bool* congested, size_t* persisted) {
  size_t matched = 0;
  int64_t stored_id = 0;  // the message's record, written once for all its stored copies
  // A QoS 1/2 copy for a persistent session is recorded before it is handed
  // on (the delivery itself never waits for the disk).
  auto store_copy = [&](Delivery& d, const SubscriberRef& ref) {
    if (persister_ == nullptr || d.qos == mqtt::QoS::AtMostOnce ||
        !ref.session->durable.load(std::memory_order_relaxed)) {
      return;
    }
    if (stored_id == 0) {
      stored_id = broker_.next_store_id();
      persist(store::PutMessage{to_stored(*msg, stored_id)});
    }
    d.seq = broker_.next_store_id();
    persist(store::PutDelivery{store::StoredDelivery{d.seq, static_cast<int64_t>(ref.session->id()), stored_id,
                                                     static_cast<uint8_t>(d.qos), d.retain, d.subscription_id}});
    if (persisted) ++*persisted;
  };
  const bool queued_qos = msg->qos != mqtt::QoS::AtMostOnce;
  auto note_congestion = [&](const SubscriberRef& ref) {
    // Only connected subscribers push back: an offline session's queue just
    // fills up to its limit (otherwise one offline device could slow every
    // publisher on its topics).
    if (congested && queued_qos && ref.options.max_qos != mqtt::QoS::AtMostOnce &&
        ref.session->congested.load(std::memory_order_relaxed) &&
        ref.session->online.load(std::memory_order_relaxed)) {
      *congested = true;
    }
  };
  auto to_delivery = [&msg](const SubscriberRef& ref) {
    Delivery d;
    d.msg = msg;
    d.qos = std::min(msg->qos, ref.options.max_qos);
    d.retain = ref.options.retain_as_published ? msg->retain : false;
    d.subscription_id = ref.subscription_id;
    return d;
  };
  tree_.match(
      msg->topic,
      [&](const SubscriberRef& ref) {
        if (ref.options.no_local && ref.session->id() == msg->origin_session) return;
        ++matched;
        note_congestion(ref);
        Delivery d = to_delivery(ref);
        store_copy(d, ref);
        deliver(ref.session, std::move(d));
      },
      [&](auto& group) {
        // Shared subscription: one member per message, round robin, preferring
        // members with a connection (an offline member's queue would hold it).
        const size_t n = group.members.size();
        size_t start = group.next % n;
        size_t pick = start;
        for (size_t i = 0; i < n; ++i) {
          size_t idx = (start + i) % n;
          if (group.members[idx].value.session->online.load(std::memory_order_relaxed)) {
            pick = idx;
            break;
          }
        }
        group.next = static_cast<uint32_t>((pick + 1) % n);
        ++matched;
        const SubscriberRef& ref = group.members[pick].value;
        note_congestion(ref);
        Delivery d = to_delivery(ref);
        store_copy(d, ref);
        deliver(ref.session, std::move(d));
      });
  return matched;
}

void Worker::deliver(const std::shared_ptr<Session>& s, Delivery d) {
  unsigned owner = s->owner.load(std::memory_order_acquire);
  if (owner == index_) {
    deliver_local(*s, std::move(d));
    return;
  }
  if (d.qos != mqtt::QoS::AtMostOnce) {
    uint32_t n = s->in_transit.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n >= high_water_) s->congested.store(true, std::memory_order_relaxed);
  }
  outbox_[owner].push_back(Remote{s, std::move(d)});
  outbox_pending_ = true;
}

void Worker::deliver_local(Session& s, Delivery d) {
  if (!s.alive) return;
  if (d.msg->expires_at != Clock::time_point::max() && d.msg->expired(Clock::now())) {
    forget_delivery(d);
    return;
  }
  const BrokerConfig& cfg = broker_.config();
  Client* c = s.client.get();
  const bool connected = c != nullptr && c->state() == Client::State::Connected;
  if (d.qos == mqtt::QoS::AtMostOnce) {
    // QoS 0 is never queued: offline, or past the write backlog limit, it is dropped.
    if (!connected || c->backlog() > cfg.max_outbound_bytes) {
      WorkerStats::inc(stats_.messages_dropped);
      return;
    }
    c->send_delivery(d, 0, false);
    return;
  }
  if (connected && s.queue.empty() && s.inflight.size() < c->inflight_window()) {
    uint16_t id = s.next_packet_id();
    if (!c->send_delivery(d, id, false)) {
      forget_delivery(d);
      return;
    }
    s.add_inflight(Inflight{id,
                                  d.qos == mqtt::QoS::AtLeastOnce ? Inflight::State::AwaitPuback
                                                                  : Inflight::State::AwaitPubrec,
                                  std::move(d)});
    return;
  }
  if (s.queue.size() >= cfg.max_queued_messages) {
    WorkerStats::inc(stats_.messages_dropped);
    forget_delivery(d);
    return;
  }
  s.queue.push_back(std::move(d));
  if (s.queue.size() >= high_water_) {
    s.congested.store(true, std::memory_order_relaxed);
  }
}

void Worker::publish_will(const MessagePtr& will) {
  if (will->retain) {
    broker_.retained().set(will);
    persist_retained(will);
  }
  route(will);
}

void Worker::end_session(const std::shared_ptr<Session>& s) {
  if (!s->alive) return;
  s->alive = false;
  s->online.store(false, std::memory_order_relaxed);
  if (s->durable.load(std::memory_order_relaxed)) {
    s->durable.store(false, std::memory_order_relaxed);
    persist(store::DeleteSession{static_cast<int64_t>(s->id())});
  }
  if (s->will) {
    MessagePtr will = s->will->msg;
    s->will.reset();
    publish_will(will);
  }
  std::vector<Broker::TreeChange> changes;
  if (s->subscriptions_) {
    changes.reserve(s->subscriptions_->size());
    for (auto& [filter, rec] : *s->subscriptions_) changes.push_back(Broker::TreeChange{filter, false, {}});
    s->subscriptions_.reset();
  }
  s->queue.clear();
  s->clear_inflight();
  s->inbound_qos2.clear();
  if (!changes.empty()) broker_.change_subscriptions(index_, s, std::move(changes), nullptr);
  broker_.forget_session(s);
}

void Worker::session_offline(const std::shared_ptr<Session>& s) {
  if (s->expiry_interval == 0) {
    end_session(s);
    return;
  }
  if (s->expiry_interval != 0xFFFFFFFF) {
    s->expires_at = Clock::now() + std::chrono::seconds(s->expiry_interval);
  }
  if (s->durable.load(std::memory_order_relaxed)) {
    // The deadline on the wall clock, so that expiry survives a restart.
    persist(store::PutSession{store::StoredSession{static_cast<int64_t>(s->id()), s->client_id(), s->expiry_interval,
                                                   to_wall_ms(s->expires_at, Clock::now(), wall_now_ms())}});
  }
  if (s->expires_at != Clock::time_point::max() || s->will) offline_.push_back(s);
}

void Worker::sweep() {
  auto now = Clock::now();
  for (auto& c : all_clients()) c->check_timeouts(now);

  size_t keep = 0;
  for (size_t i = 0; i < offline_.size(); ++i) {
    std::shared_ptr<Session> s = offline_[i];
    if (!s->alive || s->client || s->owner.load(std::memory_order_acquire) != index_) continue;
    if (s->will && now >= s->will->due) {
      MessagePtr will = s->will->msg;
      s->will.reset();
      publish_will(will);
    }
    if (now >= s->expires_at) {
      end_session(s);
      continue;
    }
    if (s->will || s->expires_at != Clock::time_point::max()) offline_[keep++] = std::move(s);
  }
  offline_.resize(keep);
  if (index_ == 0) broker_.retained().purge_expired(now);
}

size_t Worker::close_matching(const std::function<bool(const identity::DeviceIdentity&)>& match,
                              mqtt::ReasonCode reason, const std::string& why) {
  size_t closed = 0;
  for (auto& c : all_clients()) {
    const auto& id = c->identity();
    if (id && match(*id) && c->state() != Client::State::Closed) {
      c->disconnect(reason, why);
      ++closed;
    }
  }
  flush();
  return closed;
}

size_t Worker::refresh_policies() {
  size_t n = 0;
  for (auto& c : all_clients()) {
    c->refresh_policy();
    ++n;
  }
  return n;
}

void Worker::disconnect_all() {
  for (auto& c : all_clients()) c->disconnect(mqtt::ReasonCode::ServerShuttingDown, "server shutting down");
  flush();
}

// ---------------------------------------------------------------- durability

void Worker::persist(store::MessageOp op) {
  if (persister_ == nullptr) return;
  persist_ops_.push_back(std::move(op));
}

void Worker::after_durable(Persister::Completion fn) {
  if (persister_ == nullptr) {
    fn(true);
    return;
  }
  persist_done_.push_back(std::move(fn));
}

void Worker::submit_persisted() {
  Persister::Completion done;
  if (!persist_done_.empty()) {
    done = [this, waiting = std::move(persist_done_)](bool ok) mutable {
      post([waiting = std::move(waiting), ok]() mutable {
        for (auto& fn : waiting) fn(ok);
      });
    };
    persist_done_ = {};
  }
  persister_->submit(std::move(persist_ops_), std::move(done));
  persist_ops_ = {};
}

void Worker::forget_delivery(const Delivery& d) {
  if (d.seq != 0) persist(store::DeleteDelivery{d.seq});
}

bool Worker::persist_retained(const MessagePtr& msg) {
  if (persister_ == nullptr) return false;
  if (msg->payload.empty()) {
    persist(store::DeleteRetained{msg->topic});
  } else {
    persist(store::PutRetained{to_stored(*msg, 0)});
  }
  return true;
}

bool Worker::persist_session_attach(Session& s) {
  if (persister_ == nullptr) return false;
  if (s.expiry_interval == 0) {
    // Resumed without persistence (v5 expiry 0): it ends with this connection.
    if (s.durable.load(std::memory_order_relaxed)) {
      s.durable.store(false, std::memory_order_relaxed);
      persist(store::DeleteSession{static_cast<int64_t>(s.id())});
    }
    return false;
  }
  s.durable.store(true, std::memory_order_relaxed);
  persist(store::PutSession{store::StoredSession{static_cast<int64_t>(s.id()), s.client_id(), s.expiry_interval, 0}});
  return true;
}

void Worker::restore_offline(std::shared_ptr<Session> s) {
  if (s->expires_at != Clock::time_point::max()) offline_.push_back(std::move(s));
}

}  // namespace fg::broker
