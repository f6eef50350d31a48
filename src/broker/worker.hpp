// Worker: the per-thread half of the broker. Each worker owns an io_context
// (run by one thread), the connections accepted onto it, the sessions it owns,
// and its own replica of the subscription tree. Routing a message reads only
// the local tree; deliveries for sessions owned by another worker are batched
// per destination and posted once per event-loop turn. Every handler that runs
// on a worker ends with flush(), which writes coalesced output and posts the
// batches. Nothing here is locked; everything is touched on the worker thread
// only, except post() and the stats (relaxed atomics, single writer).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "broker/message.hpp"
#include "broker/persister.hpp"
#include "broker/session.hpp"
#include "broker/topic_tree.hpp"
#include "identity/device_identity.hpp"
#include "net/epoll_loop.hpp"

namespace fg::broker {

class Broker;
class Client;

// Counters of one worker: written only by that worker, read by anyone.
struct WorkerStats {
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> messages_out{0};
  std::atomic<uint64_t> messages_dropped{0};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> auth_failures{0};  // refused TLS clients (no, bad or unknown certificate)
  std::atomic<uint64_t> authz_failures{0};  // actions denied by policy (connect, publish, subscribe, receive)

  static void inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class Worker {
 public:
  Worker(Broker& broker, unsigned index, boost::asio::io_context& ioc);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& context() { return ioc_; }
  Broker& broker() { return broker_; }
  TopicTree<SubscriberRef>& tree() { return tree_; }
  WorkerStats& stats() { return stats_; }
  // Readiness for this worker's plaintext connections.
  net::EpollLoop& epoll() { return epoll_; }
  // A read buffer shared by this worker's plaintext connections (they read
  // only when readable, so idle connections hold no buffer of their own).
  std::span<uint8_t> scratch() { return {scratch_.data(), scratch_.size()}; }

  // Runs `fn` on this worker (from any thread), then flush().
  template <class F>
  void post(F&& fn) {
    boost::asio::post(ioc_, [this, f = std::forward<F>(fn)]() mutable {
      f();
      flush();
    });
  }

  void start();  // periodic sweep (keepalive, connect timeout, session expiry, wills)
  void stop();

  void add_client(const std::shared_ptr<Client>& c);
  void remove_client(Client* c);
  void mark_dirty(Client* c);
  // Writes every dirty connection's output and posts cross-worker batches.
  void flush();

  // Routes a message published on this worker to every matching subscription.
  // Returns the number of subscriptions it was delivered (or queued) to.
  // `congested` is set when a QoS 1/2 copy went to a session whose queue is
  // past its high-water mark.
  // `persisted` (if given) counts the copies stored for persistent sessions:
  // the publisher's acknowledgement must wait for them (after_durable).
  size_t route(const MessagePtr& msg, bool* congested = nullptr, size_t* persisted = nullptr);
  // Resumes reading from `c` after a short pause (publisher backpressure).
  void pause_reading(const std::shared_ptr<Client>& c);
  // Hands a delivery to its session: now if this worker owns it, else batched.
  void deliver(const std::shared_ptr<Session>& s, Delivery d);
  // Delivers to a session owned by this worker.
  void deliver_local(Session& s, Delivery d);

  // Session lifecycle; the session must be owned by this worker.
  void end_session(const std::shared_ptr<Session>& s);
  // The session's connection went away: start its expiry clock (or end it).
  void session_offline(const std::shared_ptr<Session>& s);
  // Publishes a will now.
  void publish_will(const MessagePtr& will);

  // Disconnects every connection (server shutting down).
  void disconnect_all();

  // ---- durability (no-ops without a message store; see persister.hpp) ----
  bool persisting() const { return persister_ != nullptr; }
  // Queues a record write; submitted to the persistence thread at flush().
  void persist(store::MessageOp op);
  // Runs `fn` on this worker once everything this worker queued so far (and
  // everything submitted before it by any worker) is durable (ok) or failed.
  void after_durable(Persister::Completion fn);
  // The store's write queue is long: publishers should pause reading.
  bool persist_congested() const { return persister_ != nullptr && persister_->congested(); }
  // A stored delivery was acknowledged or dropped: forget its record.
  void forget_delivery(const Delivery& d);
  // Writes (or deletes, for an empty payload) the retained message of its
  // topic; returns true if a store is attached.
  bool persist_retained(const MessagePtr& msg);
  // A connection attached to `s` (owned here): records the session when it is
  // persistent (returns true: CONNACK waits for after_durable), or deletes
  // its records when it stopped being persistent.
  bool persist_session_attach(Session& s);
  // At load: a restored offline session owned by this worker.
  void restore_offline(std::shared_ptr<Session> s);
  // Closes every connection whose device identity matches `match` (a
  // certificate deactivated, a CA deactivated); returns how many.
  size_t close_matching(const std::function<bool(const identity::DeviceIdentity&)>& match,
                        mqtt::ReasonCode reason, const std::string& why);
  // Recompiles every connection's policy snapshot; returns how many.
  size_t refresh_policies();
  // A refresh_policies task is posted and has not started (Broker coalesces).
  std::atomic<bool> refresh_pending{false};

 private:
  struct Remote {
    std::shared_ptr<Session> session;
    Delivery delivery;
  };
  void receive_batch(std::vector<Remote>& batch);
  void resume_paused();
  void sweep();
  void schedule_sweep();

  Broker& broker_;
  const unsigned index_;
  boost::asio::io_context& ioc_;
  net::EpollLoop epoll_;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer pause_timer_;
  std::vector<std::shared_ptr<Client>> paused_;
  const size_t high_water_;  // session queue length that makes it congested
  TopicTree<SubscriberRef> tree_;
  std::vector<std::vector<Remote>> outbox_;  // per destination worker
  bool outbox_pending_ = false;
  std::vector<std::shared_ptr<Client>> dirty_;
  Client* clients_ = nullptr;  // intrusive list (Client::prev_/next_); I/O handlers own the clients
  size_t client_count_ = 0;
  std::vector<std::shared_ptr<Client>> all_clients();
  std::vector<std::shared_ptr<Session>> offline_;  // sessions with an expiry clock or a delayed will
  std::vector<uint8_t> scratch_;
  WorkerStats stats_;
  bool stopping_ = false;
  Persister* persister_ = nullptr;  // set at start() when the broker has a store
  std::vector<store::MessageOp> persist_ops_;         // this turn's records
  std::vector<Persister::Completion> persist_done_;  // and what waits for them
  void submit_persisted();
};

}  // namespace fg::broker
