// RetainedStore: the last retained message of every topic, shared by all broker workers.
//
// Written by PUBLISHes with the retain flag and read when a client subscribes, so it is
// off the per-message hot path but on every worker: one instance, guarded by a
// std::shared_mutex (readers in parallel, writers exclusive). No callback ever runs
// under the lock, so a caller may publish or subscribe from what it does with a result.
//
// Messages are immutable and shared (shared_ptr<const RetainedMessage>): a subscriber
// being sent a retained message keeps it alive even if it is replaced meanwhile.
//
// Topics are kept in a trie of levels so that a wildcard subscription visits only the
// branches its filter can match ("sensors/dc1/+/temp" reads one level of "dc1", not
// every retained topic). Messages with an expiry are also indexed by expiry time, so
// purge_expired() costs the number of expired messages, not the size of the store.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message.hpp"
#include "mqtt/packet.hpp"

namespace fg::broker {

// A retained message is the routed Message itself (same fields: topic, payload,
// QoS, forwarded v5 properties, expiry), so retaining one costs no copy.
using RetainedMessage = Message;

class RetainedStore {
 public:
  using Clock = std::chrono::steady_clock;
  using MessagePtr = std::shared_ptr<const RetainedMessage>;

  RetainedStore();
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Stores `msg` as the retained message of msg->topic (a valid topic name), replacing
  // any previous one; an empty payload clears the topic instead [MQTT-3.3.1-6]. A null
  // pointer is ignored.
  void set(MessagePtr msg);

  // The unexpired retained messages whose topic matches `filter` (a valid topic filter),
  // in no particular order. Topics starting with '$' are not matched by a filter that
  // starts with a wildcard. A shared filter ("$share/...") yields nothing: the server
  // does not send retained messages for shared subscriptions [MQTT-3.8.4 / 4.8.2].
  std::vector<MessagePtr> match(std::string_view filter, Clock::time_point now) const;

  // Same, calling f(const MessagePtr&) for each; f runs after the lock is released.
  template <class F>
  void match(std::string_view filter, Clock::time_point now, F&& f) const {
    for (const MessagePtr& m : match(filter, now)) f(m);
  }

  // The unexpired retained message of exactly `topic`, or null.
  MessagePtr get(std::string_view topic, Clock::time_point now) const;

  // Number of stored messages, expired ones not yet purged included.
  size_t size() const;

  // Removes every message whose expiry is at or before `now`; returns how many. Meant
  // for the broker's periodic tick; match() and get() already skip expired messages.
  size_t purge_expired(Clock::time_point now);

  // Trie nodes below the root; 0 when the store is empty. For tests and stats.
  size_t node_count() const;

 private:
  struct Node;
  using ExpiryIndex = std::multimap<Clock::time_point, Node*>;

  // Both expect the caller to hold mutex_ exclusively.
  void erase_locked(std::string_view topic);
  void unindex_expiry(Node& node);

  mutable std::shared_mutex mutex_;
  std::unique_ptr<Node> root_;
  ExpiryIndex expiries_;
  size_t size_ = 0;
  size_t node_count_ = 0;
};

}  // namespace fg::broker
