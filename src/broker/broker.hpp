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
#include "broker/retained_store.hpp"
#include "broker/session.hpp"
#include "broker/worker.hpp"
#include "net/listener.hpp"
#include "net/worker_pool.hpp"

namespace fg::broker {

struct BrokerStats {
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t messages_dropped = 0;
  uint64_t connections = 0;
  uint64_t protocol_errors = 0;
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

  BrokerStats stats() const;
  std::string new_client_id();

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
};

}  // namespace fg::broker
