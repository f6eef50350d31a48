// Broker: the MQTT data plane. Owns the workers, the session registry and the
// retained store; accepts connections from listeners.
//
// Threading: the session registry (client id -> session) is the only
// mutex-protected structure, used at CONNECT and session end, never per
// message. Subscription changes are applied to every worker's tree by posting,
// and SUBACK is sent once all workers have applied them, so a message
// published after a client saw its SUBACK is always routed to it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/config.hpp"
#include "broker/connection_events.hpp"
#include "broker/persister.hpp"
#include "broker/retained_store.hpp"
#include "broker/session.hpp"
#include "broker/worker.hpp"
#include "net/listener.hpp"
#include "net/worker_pool.hpp"
#include "policy/authorizer.hpp"
#include "store/message_store.hpp"

namespace fg::broker {

struct BrokerStats {
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t messages_dropped = 0;
  uint64_t connections = 0;
  uint64_t protocol_errors = 0;
  uint64_t auth_failures = 0;
  uint64_t authz_failures = 0;
  size_t sessions = 0;
  size_t retained = 0;
};

class Broker {
 public:
  Broker(BrokerConfig config, net::WorkerPool& pool);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const BrokerConfig& config() const { return config_; }
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  Worker& worker(unsigned i) { return *workers_[i]; }
  RetainedStore& retained() { return retained_; }

  void start();
  // Sends v5 clients DISCONNECT (Server shutting down) and closes every
  // connection; returns when all workers have done so.
  void shutdown();

  // From a listener (any thread): creates the connection on its worker.
  void accept(net::WorkerSocket socket, unsigned worker,
              std::shared_ptr<boost::asio::ssl::context> tls);

  // CONNECT of `client` (on its worker) for `client_id`: finds or creates the
  // session, taking it over from another connection if needed, and calls
  // client->attach_session() on the client's worker.
  void open_session(const std::shared_ptr<Client>& client, const std::string& client_id,
                    bool clean_start);
  // Removes `s` from the registry if it is still the session for its client id.
  void forget_session(const std::shared_ptr<Session>& s);

  // Applies subscription changes to every worker's tree; `done` runs on
  // `origin` once every worker has applied them.
  struct TreeChange {
    std::string filter;
    bool add = true;
    SubscriberRef ref;  // for add
  };
  void change_subscriptions(unsigned origin, std::shared_ptr<Session> s,
                            std::vector<TreeChange> changes, std::function<void()> done);

  // Mutual TLS: who decides whether a client certificate may connect. Set
  // before start(); borrowed, it must outlive the broker. Without one, TLS
  // clients are not asked for certificates.
  void set_device_authenticator(identity::DeviceAuthenticator* a) { authenticator_ = a; }
  identity::DeviceAuthenticator* device_authenticator() const { return authenticator_; }

  // Authorisation: every CONNECT, PUBLISH, SUBSCRIBE and delivery is checked
  // against the connection's policy snapshot from `a`. Set before start();
  // borrowed. Without one, everything is allowed (tests of the MQTT core).
  void set_authorizer(policy::Authorizer* a) { authorizer_ = a; }
  policy::Authorizer* authorizer() const { return authorizer_; }
  // Connection events (event log, connection history); borrowed, set before
  // start(). Optional.
  void set_connection_events(ConnectionEvents* e) { events_ = e; }
  ConnectionEvents* connection_events() const { return events_; }
  // Any thread: every worker recompiles its connections' snapshots (a policy
  // version, attachment, group membership or thing changed).
  void refresh_policies();

  // Live enforcement (any thread): closes, on every worker, the connections
  // authenticated with certificate `certificate_id` / chaining to CA
  // `ca_certificate_id`. Returns at once; the workers act within one turn.
  void close_certificate_connections(const std::string& certificate_id, const std::string& why);
  void close_ca_connections(const std::string& ca_certificate_id, const std::string& why);

  // Publishes a message from fleetguard itself (e.g. AWS IoT events on
  // $aws/events/...), QoS 1, not retained; any thread.
  void publish_event(std::string topic, std::string payload);

  BrokerStats stats() const;
  std::string new_client_id();

  // ---- durability (persist.cpp) ----
  struct RestoreStats {
    size_t retained = 0;
    size_t sessions = 0;
    size_t subscriptions = 0;
    size_t messages = 0;
  };
  // Loads the retained messages and the offline persistent sessions (with
  // their subscriptions and queued messages) from `store`, and from then on
  // writes them through it on a persistence thread. Call once, before
  // start(). Without it the broker keeps everything in memory only.
  Result<RestoreStats, store::StoreError> attach_store(std::unique_ptr<store::MessageStore> store);
  // The persistence thread, or null when no store is attached.
  Persister* persister() { return persister_.get(); }
  // Ids for stored messages and deliveries (unique across restarts).
  int64_t next_store_id() { return next_store_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void takeover(unsigned at_worker, std::shared_ptr<Session> s, std::weak_ptr<Client> client,
                unsigned client_worker, bool clean_start);
  std::shared_ptr<Session> create_session(const std::string& client_id, unsigned owner);

  BrokerConfig config_;
  net::WorkerPool& pool_;
  std::vector<std::unique_ptr<Worker>> workers_;
  RetainedStore retained_;
  mutable std::mutex sessions_mu_;
  // Keys view the session's own client id (no second copy per session).
  std::unordered_map<std::string_view, std::shared_ptr<Session>> sessions_;
  std::atomic<uint64_t> next_session_id_{1};
  // Durability: declared after workers_ so the persister (which posts to
  // workers) is drained and joined first, and the store closed after it.
  std::atomic<int64_t> next_store_id_{1};
  std::unique_ptr<store::MessageStore> message_store_;
  std::unique_ptr<Persister> persister_;
  identity::DeviceAuthenticator* authenticator_ = nullptr;
  policy::Authorizer* authorizer_ = nullptr;
  ConnectionEvents* events_ = nullptr;

  void close_matching(std::function<bool(const identity::DeviceIdentity&)> match, const std::string& why);
};

}  // namespace fg::broker
