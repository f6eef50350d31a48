// ConnectionHistory: the always-on record of device connections (client id,
// certificate id, thing, source IP, connect and disconnect times and reason),
// independent of the logging options. The audit checks read it:
// DEVICE_CERTIFICATE_SHARED_CHECK (shared_certificates), CONFLICTING_CLIENT_IDS_CHECK
// (conflicting_client_ids) and "device certificate unused for N days"
// (certificate_usage).
//
// Storage and durability (the design choice): entries live in memory (the
// working copy every query reads) and in the borrowed store::Store, one record
// of kind "connection_history" per connection keyed by its zero-padded id,
// plus "certificate_last_seen" per certificate (kept past the retention, so
// that "unused for 90 days" can be answered with 31 days of history) and
// "connection_history_meta"/"heartbeat". All store writes happen on one
// background thread, batched: every operation queued while the previous batch
// was being committed goes into the next one (one SQLite transaction). A batch
// is durable once committed (SQLite WAL, synchronous=FULL); what was still
// queued at a kill -9 is lost, which is normally the last few milliseconds and
// at most the last second or so under heavy load. Connections left open by a
// crash are closed when the history is reopened, with reason SERVER_RESTART
// and the time of the last heartbeat (written with every batch and at least
// every heartbeat_interval_ms), so they do not look like ongoing connections.
//
// Bounds: entries closed more than retention_ms ago are removed by purge()
// (call it periodically, e.g. hourly, from the control plane). At most
// max_entries are kept; past that the oldest closed entries are dropped first
// (then the oldest open ones). The operation queue is bounded too: when it is
// full, connected() returns kNoConnection and the connection is not recorded
// (counted in stats().dropped); disconnected() is never refused, so a
// recorded connection always gets its end (the queue may exceed its capacity
// by at most the number of live connections). A failed store commit is
// counted (stats().store_errors), logged once, and retried with the next batch.
//
// Threading: connected() and disconnected() may be called from any thread
// (the broker's workers): they stamp the time, take a mutex for a push_back and
// return; no disk I/O. Queries, flush() and purge() are for the control plane;
// queries see an operation once the background thread has applied it (a few
// milliseconds; flush() waits for it).
//
// Ownership: the Store is borrowed and must outlive the ConnectionHistory; the
// destructor writes what is queued and joins the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "eventlog/eventlog_error.hpp"
#include "store/store.hpp"

namespace fg::eventlog {

// Why a connection ended: AWS IoT lifecycle events' disconnectReason values,
// plus SERVER_RESTART for connections that were open when fleetguard stopped
// without closing them (crash, kill -9).
enum class DisconnectReason : uint8_t {
  ClientInitiated,    // CLIENT_INITIATED_DISCONNECT
  ConnectionLost,     // CONNECTION_LOST
  DuplicateClientId,  // DUPLICATE_CLIENTID (taken over by a new connection with the same client id)
  AuthError,          // AUTH_ERROR
  ForbiddenAccess,    // FORBIDDEN_ACCESS
  KeepAliveTimeout,   // MQTT_KEEP_ALIVE_TIMEOUT
  ClientError,        // CLIENT_ERROR
  ServerError,        // SERVER_ERROR
  ServerInitiated,    // SERVER_INITIATED_DISCONNECT (shutdown, certificate deactivated, ...)
  Throttled,          // THROTTLED
  ServerRestart,      // SERVER_RESTART (fleetguard)
};
std::string_view to_string(DisconnectReason reason);
std::optional<DisconnectReason> parse_disconnect_reason(std::string_view text);

using ConnectionId = uint64_t;
inline constexpr ConnectionId kNoConnection = 0;

struct ConnectionInfo {
  std::string client_id;
  std::string certificate_id;
  std::string thing_name;
  std::string source_ip;
};

struct ConnectionRecord {
  ConnectionId id = kNoConnection;
  ConnectionInfo info;
  int64_t connected_ms = 0;
  std::optional<int64_t> disconnected_ms;  // nullopt: still connected
  std::optional<DisconnectReason> reason;
  bool open() const { return !disconnected_ms.has_value(); }
  // The end of [connected_ms, end) for overlap tests; open = +infinity.
  int64_t end_ms() const { return disconnected_ms.value_or(std::numeric_limits<int64_t>::max()); }
};

// [from_ms, to_ms): a connection is in the range when its interval meets it.
struct TimeRange {
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();
};

// One certificate used by connections with different client ids at the same time.
struct SharedCertificate {
  std::string certificate_id;
  std::vector<ConnectionRecord> connections;  // those that overlapped another, by connect time
  std::vector<std::string> client_ids;        // distinct, sorted
  std::vector<std::string> source_ips;        // distinct, sorted
};

// One client id used by different devices (certificates or source IPs) at the
// same time or in quick succession.
struct ConflictingClientId {
  std::string client_id;
  std::vector<ConnectionRecord> connections;  // those involved, by connect time
  std::vector<std::string> certificate_ids;   // distinct, sorted
  std::vector<std::string> source_ips;        // distinct, sorted
};

struct CertificateUsage {
  int64_t last_connected_ms = 0;
  std::optional<int64_t> last_disconnected_ms;
  uint32_t open_connections = 0;  // connected right now (as far as applied)
};

struct HistoryFilter {
  std::string client_id;       // empty: any
  std::string certificate_id;  // empty: any
  TimeRange range;
  size_t limit = 0;  // 0: no limit; the oldest first
};

struct ConnectionHistoryConfig {
  int64_t retention_ms = 31LL * 24 * 3600 * 1000;
  size_t max_entries = 500000;
  size_t queue_capacity = 100000;
  int64_t heartbeat_interval_ms = 10000;
  // Milliseconds since the Unix epoch; injectable for tests. Empty = system clock.
  std::function<int64_t()> now_ms;
};

class ConnectionHistory {
 public:
  static constexpr const char* kEntryKind = "connection_history";
  static constexpr const char* kLastSeenKind = "certificate_last_seen";
  static constexpr const char* kMetaKind = "connection_history_meta";

  // Loads the history from `store` and closes connections a previous run left open.
  static Result<std::unique_ptr<ConnectionHistory>, LoggingError> open(store::Store& store,
                                                                        ConnectionHistoryConfig config);
  ~ConnectionHistory();
  ConnectionHistory(const ConnectionHistory&) = delete;
  ConnectionHistory& operator=(const ConnectionHistory&) = delete;

  // ---- data plane ----
  // Records a new connection now; returns its id, or kNoConnection when the
  // queue was full (then disconnected(kNoConnection, ...) is a no-op).
  ConnectionId connected(ConnectionInfo info);
  void disconnected(ConnectionId id, DisconnectReason reason);

  // ---- control plane ----
  // Waits until every operation queued before the call is applied and committed.
  void flush();
  // Removes entries closed more than retention_ms ago; returns how many.
  size_t purge();

  std::vector<SharedCertificate> shared_certificates(TimeRange range = {}) const;
  // Pairs of connections with the same client id where the second connected
  // before the first ended or within `succession_window_ms` after it, and the
  // two differ in certificate id or source IP (a device reconnecting from the
  // same address with the same certificate is not a conflict).
  std::vector<ConflictingClientId> conflicting_client_ids(TimeRange range = {},
                                                          int64_t succession_window_ms = 2000) const;
  // Every certificate ever seen (kept past the retention), or one.
  std::map<std::string, CertificateUsage> certificate_usage() const;
  std::optional<CertificateUsage> certificate_usage(const std::string& certificate_id) const;
  std::vector<ConnectionRecord> list(const HistoryFilter& filter) const;

  struct Stats {
    size_t entries = 0;
    uint64_t dropped = 0;       // connections not recorded because the queue was full
    uint64_t store_errors = 0;  // failed batches (retried with the next one)
    uint64_t batches = 0;
  };
  Stats stats() const;

 private:
  struct Op {
    enum class Type : uint8_t { Connect, Disconnect } type = Type::Connect;
    ConnectionId id = kNoConnection;
    int64_t time_ms = 0;
    ConnectionInfo info;
    DisconnectReason reason = DisconnectReason::ClientInitiated;
  };

  ConnectionHistory(store::Store& store, ConnectionHistoryConfig config);
  Result<store::Done, LoggingError> load();
  void run();
  // Applies queued operations (and a purge when asked) to memory and the store.
  void cycle(std::vector<Op>& ops, bool purge, bool heartbeat);
  int64_t now_ms() const;
  void enforce_cap_locked(std::vector<ConnectionId>& removed);

  store::Store& store_;
  ConnectionHistoryConfig config_;

  // The queue between callers and the background thread.
  mutable std::mutex mu_;
  std::condition_variable wake_, progress_;
  std::vector<Op> ops_;
  ConnectionId next_id_ = 1;
  uint64_t queued_seq_ = 0, applied_seq_ = 0;
  uint64_t purge_requested_ = 0, purge_done_ = 0;
  size_t last_purged_ = 0;
  uint64_t dropped_ = 0;
  bool stopping_ = false;

  // The working copy; the background thread writes, queries read.
  mutable std::mutex index_mu_;
  std::map<ConnectionId, ConnectionRecord> entries_;
  std::map<std::string, CertificateUsage> usage_;

  // Background thread only: mutations not yet committed (retried after a failure).
  std::map<std::pair<std::string, std::string>, store::Mutation> pending_;
  int64_t last_heartbeat_ms_ = 0;
  uint64_t store_errors_ = 0, batches_ = 0;  // under mu_

  std::thread thread_;
};

}  // namespace fg::eventlog
