#include "broker/broker.hpp"

#include <boost/asio/post.hpp>

#include <future>
#include <random>

#include "broker/client.hpp"
#include "common/log.hpp"

namespace fg::broker {

Broker::Broker(BrokerConfig config, net::WorkerPool& pool) : config_(config), pool_(pool) {
  config_.workers = pool.size();
  for (unsigned i = 0; i < pool.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i, pool.context(i)));
  }
}

Broker::~Broker() = default;

void Broker::start() {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    boost::asio::post(worker->context(), [worker] { worker->start(); });
  }
}

void Broker::shutdown() {
  std::vector<std::future<void>> done;
  for (auto& w : workers_) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    Worker* worker = w.get();
    boost::asio::post(worker->context(), [worker, p] {
      worker->disconnect_all();
      worker->stop();
      p->set_value();
    });
  }
  for (auto& f : done) f.wait();
}

void Broker::accept(net::WorkerSocket socket, unsigned worker,
                    std::shared_ptr<boost::asio::ssl::context> tls) {
  Worker& w = *workers_[worker];
  w.post([&w, s = std::move(socket), tls = std::move(tls)]() mutable {
    auto c = tls ? make_tls_client(w, std::move(s), std::move(tls)) : make_tcp_client(w, std::move(s));
    w.add_client(c);
    c->start();
  });
}

std::shared_ptr<Session> Broker::create_session(const std::string& client_id, unsigned owner) {
  return std::make_shared<Session>(next_session_id_.fetch_add(1, std::memory_order_relaxed), client_id,
                                   owner);
}

void Broker::open_session(const std::shared_ptr<Client>& client, const std::string& client_id,
                          bool clean_start) {
  const unsigned here = client->worker().index();
  std::shared_ptr<Session> existing;
  std::shared_ptr<Session> fresh;
  {
    std::lock_guard lock(sessions_mu_);
    auto it = sessions_.find(client_id);
    if (it == sessions_.end()) {
      fresh = create_session(client_id, here);
      sessions_.emplace(fresh->client_id(), fresh);
    } else {
      existing = it->second;
    }
  }
  if (fresh) {
    if (!client->attach_session(fresh, false)) workers_[here]->session_offline(fresh);
    return;
  }
  // The session exists: its owner hands it over (and disconnects the old connection).
  unsigned owner = existing->owner.load(std::memory_order_acquire);
  std::weak_ptr<Client> weak = client;
  workers_[owner]->post([this, owner, existing, weak, here, clean_start] {
    takeover(owner, existing, weak, here, clean_start);
  });
}

void Broker::takeover(unsigned at, std::shared_ptr<Session> s, std::weak_ptr<Client> client,
                      unsigned client_worker, bool clean_start) {
  unsigned owner = s->owner.load(std::memory_order_acquire);
  if (owner != at) {  // moved meanwhile: follow it
    workers_[owner]->post([this, owner, s, client, client_worker, clean_start] {
      takeover(owner, s, client, client_worker, clean_start);
    });
    return;
  }
  Worker& here = *workers_[at];
  const bool present = s->alive && !clean_start;
  if (s->client) {
    std::shared_ptr<Client> old = std::move(s->client);
    s->online.store(false, std::memory_order_relaxed);
    old->taken_over(/*session_ended=*/!present);
  }
  std::shared_ptr<Session> target = s;
  if (!present) {
    here.end_session(s);
    target = create_session(s->client_id(), client_worker);
    std::lock_guard lock(sessions_mu_);
    sessions_.erase(s->client_id());
    sessions_.emplace(target->client_id(), target);
  } else {
    s->expires_at = Clock::time_point::max();
    s->owner.store(client_worker, std::memory_order_release);
  }
  Worker& dst = *workers_[client_worker];
  dst.post([&dst, target, client, present] {
    auto c = client.lock();
    if (c && c->attach_session(target, present)) return;
    // The new connection went away meanwhile: the session stays, offline.
    dst.session_offline(target);
  });
}

void Broker::forget_session(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(s->client_id());
  if (it != sessions_.end() && it->second == s) sessions_.erase(it);
}

void Broker::change_subscriptions(unsigned origin, std::shared_ptr<Session> s,
                                  std::vector<TreeChange> changes, std::function<void()> done) {
  struct Pending {
    std::vector<TreeChange> changes;
    std::shared_ptr<Session> session;
    std::function<void()> done;
    std::atomic<unsigned> remaining;
  };
  auto pending = std::make_shared<Pending>();
  pending->changes = std::move(changes);
  pending->session = std::move(s);
  pending->done = std::move(done);
  pending->remaining.store(worker_count(), std::memory_order_relaxed);

  auto apply = [this, origin, pending](unsigned w) {
    auto& tree = workers_[w]->tree();
    const uint64_t key = pending->session->id();
    for (const auto& ch : pending->changes) {
      if (ch.add) {
        tree.insert(ch.filter, key, ch.ref);
      } else {
        tree.erase(ch.filter, key);
      }
    }
    if (pending->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1 || !pending->done) return;
    if (w == origin) {
      pending->done();
    } else {
      workers_[origin]->post([pending] { pending->done(); });
    }
  };
  // Remote workers first, so the origin's own application (which may finish
  // the change) happens last on this thread.
  for (unsigned w = 0; w < worker_count(); ++w) {
    if (w != origin) workers_[w]->post([apply, w] { apply(w); });
  }
  apply(origin);
}

void Broker::close_matching(std::function<bool(const identity::DeviceIdentity&)> match, const std::string& why) {
  auto shared = std::make_shared<std::function<bool(const identity::DeviceIdentity&)>>(std::move(match));
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker, shared, why] {
      size_t n = worker->close_matching(*shared, mqtt::ReasonCode::NotAuthorized, why);
      if (n) log::info("closed {} connection(s) on worker {}: {}", n, worker->index(), why);
    });
  }
}

void Broker::publish_event(std::string topic, std::string payload) {
  auto msg = std::make_shared<Message>();
  msg->topic = std::move(topic);
  msg->payload = std::move(payload);
  msg->qos = mqtt::QoS::AtLeastOnce;
  Worker* w = workers_.front().get();
  w->post([w, m = MessagePtr(std::move(msg))] { w->route(m); });
}

void Broker::refresh_policies() {
  if (authorizer_ == nullptr) return;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    // Coalesced: a burst of registry changes (provisioning through the API)
    // costs one recompilation per worker, not one per change. The flag is
    // cleared before the worker reads the registry, so a change made after
    // that point posts again and is never missed.
    if (worker->refresh_pending.exchange(true, std::memory_order_acq_rel)) continue;
    worker->post([worker] {
      worker->refresh_pending.store(false, std::memory_order_release);
      size_t n = worker->refresh_policies();
      log::debug("worker {}: recompiled {} policy snapshot(s)", worker->index(), n);
    });
  }
}

void Broker::close_certificate_connections(const std::string& certificate_id, const std::string& why) {
  close_matching([certificate_id](const identity::DeviceIdentity& d) { return d.certificate_id == certificate_id; },
                 why);
}

void Broker::close_ca_connections(const std::string& ca_certificate_id, const std::string& why) {
  close_matching(
      [ca_certificate_id](const identity::DeviceIdentity& d) { return d.ca_certificate_id == ca_certificate_id; },
      why);
}

BrokerStats Broker::stats() const {
  BrokerStats st;
  for (const auto& w : workers_) {
    auto& ws = w->stats();
    st.messages_in += ws.messages_in.load(std::memory_order_relaxed);
    st.messages_out += ws.messages_out.load(std::memory_order_relaxed);
    st.messages_dropped += ws.messages_dropped.load(std::memory_order_relaxed);
    st.connections += ws.connections.load(std::memory_order_relaxed);
    st.protocol_errors += ws.protocol_errors.load(std::memory_order_relaxed);
    st.auth_failures += ws.auth_failures.load(std::memory_order_relaxed);
    st.authz_failures += ws.authz_failures.load(std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(sessions_mu_);
    st.sessions = sessions_.size();
  }
  st.retained = retained_.size();
  return st;
}

std::string Broker::new_client_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "fg-";
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i) {
    id.push_back(kHex[v & 0xF]);
    v >>= 4;
  }
  return id;
}

}  // namespace fg::broker
