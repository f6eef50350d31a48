// Client: one MQTT network connection on one worker. It reads bytes, runs
// them through the sans-I/O ServerProtocol, and acts on the packets (CONNECT,
// PUBLISH, SUBSCRIBE, ...) using its worker and the broker. Output is appended
// to a buffer and written once per event-loop turn (Worker::flush), so many
// packets go out in one write.
//
// The transport (plain TCP or TLS) is a subclass; everything MQTT is here.
// Lifetime: shared_ptr held by the worker's client set and by pending I/O.
// Threading: touched only on its worker thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <optional>
#include <string>

#include "broker/connection_events.hpp"
#include "broker/message.hpp"
#include "broker/session.hpp"
#include "identity/device_identity.hpp"
#include "policy/policy.hpp"
#include "mqtt/server_protocol.hpp"
#include "net/listener.hpp"

namespace fg::broker {

class Worker;

class Client : public std::enable_shared_from_this<Client> {
 public:
  enum class State : uint8_t { AwaitConnect, Connecting, Connected, Closing, Closed };

  explicit Client(Worker& worker);
  virtual ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the transport (TLS handshake, then reading).
  virtual void start() = 0;
  // Reading was paused for backpressure (see Worker::pause_reading): go on.
  virtual void resume_reading() = 0;

  Worker& worker() { return worker_; }
  State state() const { return state_; }
  // "ip:port" of the peer (computed on demand: not stored per connection).
  virtual std::string remote_address() const = 0;
  mqtt::ProtocolVersion version() const { return proto_.version(); }
  const std::string& client_id() const;
  // The device's certificate identity (mutual TLS); null for plaintext clients.
  const identity::DeviceIdentityPtr& identity() const { return identity_; }
  // Recompiles this connection's policy snapshot (the control plane changed
  // something it depends on). No-op without an authorizer or before CONNECT.
  void refresh_policy();

  // ---- called by the worker/broker (on this worker) ----
  // The session registry answered our CONNECT: the session is now ours.
  // Returns false if this connection is gone meanwhile (the caller keeps the session).
  bool attach_session(const std::shared_ptr<Session>& s, bool session_present);
  // Sends a delivery (QoS 0, or QoS 1/2 with its packet id already assigned).
  // Returns false when it was dropped (too large for the client).
  bool send_delivery(const Delivery& d, uint16_t packet_id, bool dup);
  void send_pubrel(uint16_t packet_id);
  // Bytes waiting to be written (slow-subscriber policy).
  size_t backlog() const { return out_.size() + writing_size(); }
  // Closes the connection; for v5 clients a DISCONNECT with `reason` is sent first.
  // Publishes the will unless `reason` is a normal disconnection by the client.
  void disconnect(mqtt::ReasonCode reason, const std::string& why);
  // The session was taken over by a new connection: close without touching it.
  // `session_ended`: the new connection started clean, so the old session is
  // gone and a delayed will is due now.
  void taken_over(bool session_ended);
  // Drops the session link (process shutdown: breaks the ownership cycle).
  void detach_for_shutdown() {
    if (session_) session_->client.reset();
    session_.reset();
    on_worker_shutdown();
  }
  // The worker is going away: release what the transport holds on to.
  virtual void on_worker_shutdown() {}
  // Writes pending output (called by Worker::flush).
  void flush_output();
  // Periodic check: keepalive and connect timeout. Returns false if closed.
  void check_timeouts(Clock::time_point now);
  // Outbound in-flight window for this connection.
  uint16_t inflight_window() const { return inflight_window_; }

 protected:
  // Transport hooks.
  virtual void write_bytes() = 0;       // start writing writing_ (out_ was moved there)
  virtual void close_transport() = 0;   // close the socket
  virtual size_t writing_size() const = 0;

  // Transport calls these.
  void on_bytes(std::span<const uint8_t> bytes);
  void on_write_done();
  void on_transport_error(const std::string& what);
  // Handles packets still buffered (after a backpressure pause).
  void process_buffered();

  // After handling input: true if reading should pause (backpressure); clears it.
  bool take_throttle() {
    bool t = throttled_;
    throttled_ = false;
    return t;
  }

  identity::DeviceIdentityPtr identity_;  // set by the TLS transport after the handshake
  // What this connection may do (null: no authorizer configured). Replaced,
  // never modified, when the registry changes; read without locks.
  std::shared_ptr<const policy::PolicySnapshot> policy_;
  uint64_t event_handle_ = 0;  // from ConnectionEvents::connected; 0 = not reported
  std::string source_ip_;      // set at CONNECT
  // Why the connection is closing (the first reason wins), for the events.
  mqtt::ReasonCode close_reason_ = mqtt::ReasonCode::Success;
  bool client_disconnected_ = false;
  std::string out_;       // output accumulated this turn
  bool writing_ = false;  // a write is in progress
  bool throttled_ = false;

 private:
  void process_packets();
  void handle(mqtt::Connect& c);
  void handle(mqtt::Publish& p);
  void handle(const mqtt::Puback& p);
  void handle(const mqtt::Pubrec& p);
  void handle(const mqtt::Pubrel& p);
  void handle(const mqtt::Pubcomp& p);
  void handle(mqtt::Subscribe& s);
  void handle(const mqtt::Unsubscribe& u);
  void handle(const mqtt::Disconnect& d);
  void send(const mqtt::Packet& p);
  void refuse_connect(mqtt::ReasonCode rc, const std::string& why);
  // Counts and logs a policy denial of `action` on `resource`.
  void denied(policy::Action action, std::string_view resource);
  ConnectionFacts facts(const std::string& source_ip) const;
  std::string source_ip() const;
  void fail(mqtt::ReasonCode rc, const std::string& why);
  void close_now();
  void lost();
  void mark_dirty();
  void pump_session();
  void resend_inflight();
  // Durability: CONNACK once a persistent session is on disk; acknowledgements
  // (PUBACK/PUBREC) that wait for stored records, kept in order.
  void complete_connect(bool session_present);
  void ack_after_durable(mqtt::Packet ack);
  MessagePtr make_will_message() const;
  void release_will();

  Worker& worker_;
  Client* prev_ = nullptr;  // the worker's intrusive list of connections
  Client* next_ = nullptr;
  bool linked_ = false;
  mqtt::ServerProtocol proto_;
  State state_ = State::AwaitConnect;
  // Only between CONNECT and the session's attachment (and for logs after
  // close); otherwise the session's copy is used. Heap: keeps idle clients small.
  std::unique_ptr<std::string> client_id_;
  std::shared_ptr<Session> session_;
  std::unique_ptr<mqtt::Will> will_;  // heap: most devices have none, and it is large
  uint32_t session_expiry_ = 0;     // requested at CONNECT / DISCONNECT
  uint16_t keepalive_ = 0;          // effective, seconds
  uint16_t inflight_window_ = 0;
  uint16_t requested_keepalive_ = 0;
  uint32_t requested_expiry_ = 0;
  bool assigned_id_ = false;
  bool dirty_ = false;
  bool lost_done_ = false;
  bool will_now_ = false;  // publish the will without its delay (session ended)
  uint32_t acks_waiting_ = 0;  // PUBACK/PUBREC waiting for the message store
  Clock::time_point state_since_;  // when AwaitConnect / Closing began
  Clock::time_point last_rx_;

  friend class Worker;
};

// Creates a plaintext or TLS connection on `worker` (call on the worker thread).
std::shared_ptr<Client> make_tcp_client(Worker& worker, net::WorkerSocket socket);
std::shared_ptr<Client> make_tls_client(Worker& worker, net::WorkerSocket socket,
                                        std::shared_ptr<boost::asio::ssl::context> tls);

// Mutual TLS on `tls`: clients must present a certificate, and the chain goes
// to the broker's DeviceAuthenticator (Broker::set_device_authenticator)
// instead of OpenSSL's own verification. Call once, before listening.
void require_client_certificates(boost::asio::ssl::context& tls);

}  // namespace fg::broker
