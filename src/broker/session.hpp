// Session: the MQTT session state of one client id; it outlives connections
// (persistent sessions, v5 session expiry).
//
// Threading: a session is owned by exactly one worker at a time (`owner`).
// Only the owner touches anything but `owner`, `online` and the immutable
// `id`/`client_id`. Ownership moves only when a client reconnects on another
// worker: the old owner finishes with the session, stores the new owner
// (release) and posts the session to it. Any worker holding a session pointer
// (from its subscription tree) reads `owner` (acquire) and posts deliveries
// there; a worker receiving a delivery for a session it no longer owns
// forwards it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/message.hpp"
#include "common/ring_queue.hpp"
#include "mqtt/packet.hpp"

namespace fg::broker {

class Client;

// One copy of a message for one subscription of one session.
struct Delivery {
  MessagePtr msg;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  bool retain = false;       // RETAIN flag as sent to this subscriber
  uint32_t subscription_id = 0;
  // Durability (persistent sessions only): the store's record of this copy
  // (0 = not stored), deleted once the subscriber has acknowledged it; and
  // whether it may have been sent before (restored after a restart: DUP).
  int64_t seq = 0;
  bool redelivery = false;
};

struct Inflight {
  enum class State : uint8_t { AwaitPuback, AwaitPubrec, AwaitPubcomp };
  uint16_t packet_id = 0;
  State state = State::AwaitPuback;
  Delivery delivery;
};

struct SubscriptionRecord {
  mqtt::SubscribeOptions options;
  uint32_t subscription_id = 0;
};

// A will message waiting for its v5 Will Delay Interval.
struct PendingWill {
  MessagePtr msg;
  Clock::time_point due;
};

class Session {
 public:
  Session(uint64_t id, std::string client_id, unsigned owner_worker)
      : id_(id), client_id_(std::move(client_id)), owner(owner_worker) {}

  uint64_t id() const { return id_; }
  const std::string& client_id() const { return client_id_; }

 private:
  const uint64_t id_;
  const std::string client_id_;

 public:
  std::atomic<unsigned> owner;
  std::atomic<bool> online{false};  // a connection is attached (hint for shared subscriptions)
  // The queue is past its high-water mark: publishers routing QoS 1/2 messages
  // here pause reading briefly (backpressure) instead of overflowing it.
  std::atomic<bool> congested{false};
  // QoS 1/2 deliveries posted to the owner by other workers and not yet
  // received: counted so that congestion is seen before the batches land.
  std::atomic<uint32_t> in_transit{0};
  // The session is persistent and written to the message store (set by the
  // owner; read by any worker routing to it, to store QoS 1/2 copies first).
  std::atomic<bool> durable{false};

  // ---- owner worker only ----
  bool alive = true;                    // false once ended; late deliveries are dropped
  std::shared_ptr<Client> client;       // attached connection, if any
  uint32_t expiry_interval = 0;         // seconds; 0xFFFFFFFF = never
  Clock::time_point expires_at = Clock::time_point::max();  // while offline
  using SubscriptionMap = std::unordered_map<std::string, SubscriptionRecord>;  // filter -> options
  // Allocated on first SUBSCRIBE (publish-only devices never need it).
  SubscriptionMap& subscriptions() {
    if (!subscriptions_) subscriptions_ = std::make_unique<SubscriptionMap>();
    return *subscriptions_;
  }
  std::unique_ptr<SubscriptionMap> subscriptions_;
  RingQueue<Inflight> inflight;         // outbound QoS 1/2, in send order
  RingQueue<Delivery> queue;            // waiting for the in-flight window / a connection
  std::vector<uint16_t> inbound_qos2;   // PUBREC sent, waiting for PUBREL
  uint16_t last_packet_id = 0;
  std::unique_ptr<PendingWill> will;    // delayed will (v5)


  // Next free outbound packet id (skips ids in flight).
  uint16_t next_packet_id();
  // Index in `inflight` of packet `id` in `state`, or -1.
  ptrdiff_t find_inflight(uint16_t id, Inflight::State state) const;
  // Every change to `inflight` goes through these, so ids in use stay indexed.
  void add_inflight(Inflight f);
  void erase_inflight(size_t index);
  void clear_inflight();
  // Gives back queue memory while idle.
  void shrink();

 private:
  bool id_in_use(uint16_t id) const;
  // Ids in flight, as a bitmap, only while the window is large (a linear scan
  // is cheaper for the usual few in flight; 8 KB per busy session otherwise).
  std::unique_ptr<std::vector<bool>> used_ids_;
};

// What a worker's subscription tree stores per subscription.
struct SubscriberRef {
  std::shared_ptr<Session> session;
  mqtt::SubscribeOptions options;
  uint32_t subscription_id = 0;
};

}  // namespace fg::broker
