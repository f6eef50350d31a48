// EventLog: fleetguard's structured event log, the equivalent of what AWS IoT
// writes to CloudWatch when logging is on. One JSON object per line in
// <dir>/events.log (normally <data-dir>/events/events.log), for example
//
//   {"timestamp":"2026-11-27T23:35:00.123Z","logLevel":"ERROR",
//    "eventType":"AuthenticationFailure","clientId":"dev-7","sourceIp":"10.0.0.9",
//    "reason":"certificate not registered"}
//
// Keys: timestamp (ISO-8601 UTC, milliseconds), logLevel, eventType, then
// clientId, thingName, certificateId, sourceIp when known, then the event's
// own fields (reason, action, resource, ...). Events that were dropped because
// the queue was full are reported by a line with eventType "EventsDropped" and
// a "count" field, written as soon as the writer catches up.
//
// What is written follows LoggingOptions: nothing while logging is disabled
// (the default), otherwise only events whose level passes the effective level
// of their client id / source IP / principal / thing groups.
// Never put secrets or message payloads into an Event.
//
// Files: size-bounded with rotation; when writing a line would take
// events.log past max_file_bytes it is renamed events.log.1 (events.log.1 to
// .2, ...), and at most max_files files exist (events.log and .1 to
// .<max_files-1>); the oldest is deleted. A file exceeds max_file_bytes only
// if a single line is longer than that (each value is cut at 1 KiB).
//
// Threading: record() may be called from any thread, typically the broker's
// workers on the hot path. It never touches the disk: it checks the logging
// policy, then moves the event into a bounded in-memory queue under a mutex
// held for a push_back. One background thread formats and writes. flush()
// waits until every event recorded before it is written to the file (not
// fsynced). The destructor drains the queue, writes everything and joins the
// thread.
//
// Ownership: the LoggingOptions is borrowed (may be null: then every event is
// written) and must outlive the EventLog.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "eventlog/eventlog_error.hpp"
#include "eventlog/logging_options.hpp"

namespace fg::eventlog {

enum class EventType : uint8_t {
  Connect,
  Disconnect,
  AuthenticationFailure,
  AuthorizationFailure,
  CertificateStatusChange,
  Other,  // anything else; name it with the "event" field
};

std::string_view to_string(EventType type);  // "Connect", "Disconnect", ...

struct Event {
  EventType type = EventType::Other;
  LogLevel level = LogLevel::Info;
  int64_t time_ms = 0;  // ms since the Unix epoch; 0 = stamped by record()
  std::string client_id;
  std::string thing_name;
  std::string certificate_id;  // the principal id
  std::string source_ip;
  // Used to find the effective level only; not written. Most specific first.
  std::vector<std::string> thing_groups;
  // Event-specific fields, written after the common ones, in this order.
  std::vector<std::pair<std::string, std::string>> fields;

  // Convenience constructors for the events the broker and registry emit.
  static Event connect(std::string client_id, std::string certificate_id, std::string thing_name,
                       std::string source_ip);
  static Event disconnect(std::string client_id, std::string certificate_id, std::string thing_name,
                          std::string source_ip, std::string reason);
  static Event authentication_failure(std::string source_ip, std::string reason, std::string client_id = {},
                                      std::string certificate_id = {});
  static Event authorization_failure(std::string client_id, std::string certificate_id, std::string source_ip,
                                     std::string action, std::string resource);
  static Event certificate_status_change(std::string certificate_id, std::string old_status,
                                         std::string new_status);
};

struct EventLogConfig {
  std::string directory;  // created if missing; the file is <directory>/events.log
  uint64_t max_file_bytes = 10ull << 20;
  uint32_t max_files = 5;  // events.log plus up to max_files-1 rotated files
  size_t queue_capacity = 65536;
  // Milliseconds since the Unix epoch; injectable for tests. Empty = system clock.
  std::function<int64_t()> now_ms;
  enum class Writer {
    Background,  // a thread writes (production)
    Manual,      // no thread: flush() writes on the caller's thread (tests)
  };
  Writer writer = Writer::Background;
};

class EventLog {
 public:
  static constexpr const char* kFileName = "events.log";

  // Creates the directory and opens (appending to) events.log.
  static Result<std::unique_ptr<EventLog>, LoggingError> open(EventLogConfig config,
                                                               const LoggingOptions* options);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Hot path: filter by the logging policy, stamp the time, enqueue. Returns
  // true when the event was queued, false when filtered out or dropped.
  bool record(Event event);
  // One relaxed atomic load: false when nothing at all can be written (logging
  // disabled, the default). Callers check it before building an Event, which
  // costs string copies, so that a disabled log costs nothing.
  bool enabled() const { return options_ == nullptr || options_->enabled(); }
  // Blocks until every event queued before the call is written to the file.
  void flush();

  struct Stats {
    uint64_t queued = 0;     // accepted by record()
    uint64_t written = 0;    // lines of events written
    uint64_t dropped = 0;    // refused because the queue was full
    uint64_t write_errors = 0;
    uint64_t rotations = 0;
  };
  Stats stats() const;
  const std::string& path() const { return path_; }

  // Formats one event as its JSON line (without the newline); exposed for tests.
  static std::string format(const Event& event);
  // "2026-11-27T23:35:00.123Z"
  static std::string iso8601_utc(int64_t time_ms);

 private:
  EventLog(EventLogConfig config, const LoggingOptions* options);
  Result<store::Done, LoggingError> open_file();
  void run();
  // Writes a batch (and the drop notice); called by the writer only.
  void write_batch(std::vector<Event>& batch, uint64_t dropped);
  // Takes what is queued and writes it; returns false when there was nothing.
  bool drain_once();
  void write_line(const std::string& line);
  void rotate();
  int64_t now_ms() const;

  EventLogConfig config_;
  const LoggingOptions* options_;
  std::string path_;
  std::FILE* file_ = nullptr;  // writer only
  uint64_t file_bytes_ = 0;    // writer only

  mutable std::mutex mu_;
  std::condition_variable wake_;      // the writer waits for work
  std::condition_variable progress_;  // flush() waits for written_seq_
  std::vector<Event> queue_;
  uint64_t pending_drops_ = 0;  // drops not yet reported in the file
  uint64_t queued_seq_ = 0;     // events accepted so far
  uint64_t written_seq_ = 0;    // events handled by the writer so far
  uint64_t dropped_seq_ = 0;    // drops counted so far
  uint64_t reported_seq_ = 0;   // drops reported in the file so far
  bool stopping_ = false;
  std::mutex write_mu_;  // serialises writers in Manual mode

  std::atomic<uint64_t> written_{0}, write_errors_{0}, rotations_{0};
  std::thread thread_;
};

}  // namespace fg::eventlog
