// MessageStore: the broker's durable state (retained messages and persistent
// sessions: their subscriptions and the QoS 1/2 messages queued or in flight
// for them) behind an interface, so that the embedded default (SQLite,
// sqlite_message_store.cpp, in <data-dir>/messages.db) and a later PostgreSQL
// backend are interchangeable. The broker keeps its working copy in memory,
// writes through here from one persistence thread in batches, and reads the
// store only once, at start (load()).
//
// Records are plain values; the broker decides what they mean:
//   session       one persistent MQTT session (id unique forever, client id)
//   subscription  (session id, filter) -> options
//   message       one application message kept for one or more sessions
//   delivery      one copy of a message owed to one session (seq orders a
//                 session's copies; unique across the store)
//   retained      topic -> the retained message of that topic
// Times are wall-clock milliseconds since the Unix epoch; 0 means "none".
//
// Threading: apply() and load() may be called from any one thread at a time
// (the broker's persistence thread; load() before the broker starts).
// Ownership: the store owns its connection and closes it when destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace fg::store {

struct StoredMessage {
  int64_t id = 0;                // unused for retained messages (keyed by topic)
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  std::string properties;        // forwardable v5 properties, encoded by the broker
  int64_t expires_at_ms = 0;     // message expiry; 0 = never
};

struct StoredSession {
  int64_t id = 0;
  std::string client_id;
  uint32_t expiry_interval = 0;  // seconds; 0xFFFFFFFF = never
  // When the offline session ends; 0 = not offline yet (connected when
  // written): its expiry clock starts again when the broker starts.
  int64_t expires_at_ms = 0;
};

struct StoredSubscription {
  int64_t session_id = 0;
  std::string filter;
  uint8_t options = 0;           // MQTT v5 subscription options byte
  uint32_t subscription_id = 0;
};

struct StoredDelivery {
  int64_t seq = 0;
  int64_t session_id = 0;
  int64_t message_id = 0;
  uint8_t qos = 0;
  bool retain = false;           // RETAIN flag as sent to this subscriber
  uint32_t subscription_id = 0;
};

// Write operations, applied in order within a batch.
struct PutSession { StoredSession session; };
// Deletes the session, its subscriptions, its deliveries and the messages no
// other session still needs.
struct DeleteSession { int64_t id = 0; };
struct PutSubscription { StoredSubscription subscription; };
struct DeleteSubscription { int64_t session_id = 0; std::string filter; };
struct PutMessage { StoredMessage message; };
struct PutDelivery { StoredDelivery delivery; };
// Deletes the delivery, and its message once no delivery refers to it.
struct DeleteDelivery { int64_t seq = 0; };
struct PutRetained { StoredMessage message; };
struct DeleteRetained { std::string topic; };

using MessageOp = std::variant<PutSession, DeleteSession, PutSubscription, DeleteSubscription, PutMessage,
                               PutDelivery, DeleteDelivery, PutRetained, DeleteRetained>;

// Everything a broker needs at start.
struct MessageStoreContents {
  std::vector<StoredMessage> retained;         // unexpired
  std::vector<StoredSession> sessions;         // unexpired
  std::vector<StoredSubscription> subscriptions;
  std::vector<StoredMessage> messages;         // referenced by a delivery
  std::vector<StoredDelivery> deliveries;      // ordered by seq
  int64_t max_id = 0;  // largest session id, message id or delivery seq in use
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Applies the batch in one transaction, durably: when it returns success the
  // batch survives kill -9 and power loss; on error nothing changed.
  virtual Result<Done, StoreError> apply(const std::vector<MessageOp>& batch) = 0;

  // Deletes what has expired by `now_ms` (sessions and their records,
  // retained messages, deliveries whose message expired) and what nothing
  // refers to any more, then returns the rest.
  virtual Result<MessageStoreContents, StoreError> load(int64_t now_ms) = 0;
};

// Opens (creating if needed) the SQLite message store at `path` (WAL mode,
// synchronous=FULL, schema migrations applied in order).
Result<std::unique_ptr<MessageStore>, StoreError> open_sqlite_message_store(const std::string& path);

}  // namespace fg::store
