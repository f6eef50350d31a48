#include "eventlog/event_log.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/log.hpp"

namespace fg::eventlog {
namespace {

namespace fs = std::filesystem;
using Kind = LoggingError::Kind;

constexpr std::array<std::string_view, 6> kEventTypeNames = {
    "Connect", "Disconnect", "AuthenticationFailure", "AuthorizationFailure", "CertificateStatusChange", "Other"};

// No single value of an event may make a line unreasonably long.
constexpr size_t kMaxValueBytes = 1024;

std::string bounded(const std::string& s) { return s.size() <= kMaxValueBytes ? s : s.substr(0, kMaxValueBytes); }

}  // namespace

std::string_view to_string(EventType type) { return kEventTypeNames[static_cast<size_t>(type)]; }

// ---- Event constructors ----

Event Event::connect(std::string client_id, std::string certificate_id, std::string thing_name,
                     std::string source_ip) {
  Event e;
  e.type = EventType::Connect;
  e.level = LogLevel::Info;
  e.client_id = std::move(client_id);
  e.certificate_id = std::move(certificate_id);
  e.thing_name = std::move(thing_name);
  e.source_ip = std::move(source_ip);
  return e;
}

Event Event::disconnect(std::string client_id, std::string certificate_id, std::string thing_name,
                        std::string source_ip, std::string reason) {
  Event e = connect(std::move(client_id), std::move(certificate_id), std::move(thing_name), std::move(source_ip));
  e.type = EventType::Disconnect;
  e.fields.emplace_back("disconnectReason", std::move(reason));
  return e;
}

Event Event::authentication_failure(std::string source_ip, std::string reason, std::string client_id,
                                    std::string certificate_id) {
  Event e;
  e.type = EventType::AuthenticationFailure;
  e.level = LogLevel::Error;
  e.source_ip = std::move(source_ip);
  e.client_id = std::move(client_id);
  e.certificate_id = std::move(certificate_id);
  e.fields.emplace_back("reason", std::move(reason));
  return e;
}

Event Event::authorization_failure(std::string client_id, std::string certificate_id, std::string source_ip,
                                   std::string action, std::string resource) {
  Event e;
  e.type = EventType::AuthorizationFailure;
  e.level = LogLevel::Error;
  e.client_id = std::move(client_id);
  e.certificate_id = std::move(certificate_id);
  e.source_ip = std::move(source_ip);
  e.fields.emplace_back("action", std::move(action));
  e.fields.emplace_back("resource", std::move(resource));
  return e;
}

Event Event::certificate_status_change(std::string certificate_id, std::string old_status, std::string new_status) {
  Event e;
  e.type = EventType::CertificateStatusChange;
  e.level = LogLevel::Info;
  e.certificate_id = std::move(certificate_id);
  e.fields.emplace_back("oldStatus", std::move(old_status));
  e.fields.emplace_back("newStatus", std::move(new_status));
  return e;
}

// ---- formatting ----

std::string EventLog::iso8601_utc(int64_t time_ms) {
  int64_t secs = time_ms / 1000;
  int64_t ms = time_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string EventLog::format(const Event& event) {
  nlohmann::ordered_json j;
  j["timestamp"] = iso8601_utc(event.time_ms);
  j["logLevel"] = std::string(to_string(event.level));
  j["eventType"] = std::string(to_string(event.type));
  if (!event.client_id.empty()) j["clientId"] = bounded(event.client_id);
  if (!event.thing_name.empty()) j["thingName"] = bounded(event.thing_name);
  if (!event.certificate_id.empty()) j["certificateId"] = bounded(event.certificate_id);
  if (!event.source_ip.empty()) j["sourceIp"] = bounded(event.source_ip);
  for (const auto& [key, value] : event.fields) j[bounded(key)] = bounded(value);
  // Client ids come from devices: replace invalid UTF-8 rather than throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// ---- EventLog ----

EventLog::EventLog(EventLogConfig config, const LoggingOptions* options)
    : config_(std::move(config)), options_(options) {
  if (config_.max_files == 0) config_.max_files = 1;
  if (config_.max_file_bytes == 0) config_.max_file_bytes = 1;
  if (config_.queue_capacity == 0) config_.queue_capacity = 1;
  path_ = (fs::path(config_.directory) / kFileName).string();
}

Result<std::unique_ptr<EventLog>, LoggingError> EventLog::open(EventLogConfig config, const LoggingOptions* options) {
  if (config.directory.empty()) return logging_error(Kind::InvalidRequest, "event log directory is empty");
  std::unique_ptr<EventLog> self(new EventLog(std::move(config), options));
  if (auto r = self->open_file(); !r) return fg::unexpected(r.error());
  self->queue_.reserve(std::min<size_t>(self->config_.queue_capacity, 1024));
  if (self->config_.writer == EventLogConfig::Writer::Background) self->thread_ = std::thread([p = self.get()] { p->run(); });
  return self;
}

Result<store::Done, LoggingError> EventLog::open_file() {
  std::error_code ec;
  fs::create_directories(config_.directory, ec);
  if (ec) return logging_error(Kind::Internal, "cannot create event log directory " + config_.directory + ": " + ec.message());
  file_ = std::fopen(path_.c_str(), "ae");
  if (!file_) return logging_error(Kind::Internal, "cannot open " + path_ + ": " + std::strerror(errno));
  auto size = fs::file_size(path_, ec);
  file_bytes_ = ec ? 0 : size;
  return store::Done{};
}

EventLog::~EventLog() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  } else {
    while (drain_once()) {
    }
  }
  if (file_) std::fclose(file_);
}

int64_t EventLog::now_ms() const {
  if (config_.now_ms) return config_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool EventLog::record(Event event) {
  if (options_) {
    // Fast exit for the default (logging disabled): one relaxed load.
    if (!options_->enabled()) return false;
    auto policy = options_->policy();
    LogSubject subject{event.client_id, event.source_ip, event.certificate_id, event.thing_groups};
    if (!policy->should_log(event.level, subject)) return false;
  }
  if (event.time_ms == 0) event.time_ms = now_ms();
  bool first;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= config_.queue_capacity) {
      ++dropped_seq_;
      return false;
    }
    queue_.push_back(std::move(event));
    ++queued_seq_;
    first = queue_.size() == 1;
  }
  if (first) wake_.notify_one();
  return true;
}

void EventLog::run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || dropped_seq_ != reported_seq_; });
      if (stopping_ && queue_.empty() && dropped_seq_ == reported_seq_) return;
    }
    drain_once();
  }
}

bool EventLog::drain_once() {
  std::lock_guard writer(write_mu_);
  std::vector<Event> batch;
  uint64_t drops = 0, drops_seen = 0;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty() && dropped_seq_ == reported_seq_) return false;
    batch.swap(queue_);
    drops_seen = dropped_seq_;
    drops = dropped_seq_ - reported_seq_;
  }
  write_batch(batch, drops);
  {
    std::lock_guard lock(mu_);
    written_seq_ += batch.size();
    reported_seq_ = drops_seen;
    // Give the queue its capacity back for the next round, if it is still empty.
    if (queue_.empty() && queue_.capacity() < batch.capacity()) {
      batch.clear();
      queue_.swap(batch);
    }
  }
  progress_.notify_all();
  return true;
}

void EventLog::write_batch(std::vector<Event>& batch, uint64_t dropped) {
  for (const auto& event : batch) {
    write_line(format(event));
    written_.fetch_add(1, std::memory_order_relaxed);
  }
  if (dropped > 0) {
    nlohmann::ordered_json j;
    j["timestamp"] = iso8601_utc(now_ms());
    j["logLevel"] = "WARN";
    j["eventType"] = "EventsDropped";
    j["count"] = dropped;
    j["message"] = std::to_string(dropped) + " events dropped: the event log queue was full";
    write_line(j.dump());
  }
  if (file_ && std::fflush(file_) != 0) write_errors_.fetch_add(1, std::memory_order_relaxed);
}

void EventLog::write_line(const std::string& line) {
  if (file_bytes_ > 0 && file_bytes_ + line.size() + 1 > config_.max_file_bytes) rotate();
  if (!file_) {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  size_t n = std::fwrite(line.data(), 1, line.size(), file_);
  n += std::fwrite("\n", 1, 1, file_);
  file_bytes_ += n;
  if (n != line.size() + 1) {
    // Disk full or similar: count it, and say so the first time.
    if (write_errors_.fetch_add(1, std::memory_order_relaxed) == 0)
      fg::log::error("event log: cannot write to {}: {}", path_, std::strerror(errno));
    std::clearerr(file_);
  }
}

void EventLog::rotate() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  const uint32_t keep = config_.max_files - 1;  // rotated files kept besides events.log
  if (keep == 0) {
    fs::remove(path_, ec);
  } else {
    fs::remove(path_ + "." + std::to_string(keep), ec);
    for (uint32_t i = keep; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      fs::rename(from, path_ + "." + std::to_string(i), ec);  // a missing file is fine
    }
  }
  file_ = std::fopen(path_.c_str(), "ae");
  file_bytes_ = 0;
  rotations_.fetch_add(1, std::memory_order_relaxed);
  if (!file_) fg::log::error("event log: cannot reopen {} after rotation: {}", path_, std::strerror(errno));
}

void EventLog::flush() {
  if (!thread_.joinable()) {
    while (drain_once()) {
    }
    return;
  }
  std::unique_lock lock(mu_);
  const uint64_t want_written = queued_seq_;
  const uint64_t want_reported = dropped_seq_;
  wake_.notify_one();
  progress_.wait(lock, [&] { return written_seq_ >= want_written && reported_seq_ >= want_reported; });
}

EventLog::Stats EventLog::stats() const {
  Stats s;
  {
    std::lock_guard lock(mu_);
    s.queued = queued_seq_;
    s.dropped = dropped_seq_;
  }
  s.written = written_.load(std::memory_order_relaxed);
  s.write_errors = write_errors_.load(std::memory_order_relaxed);
  s.rotations = rotations_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace fg::eventlog
