#include "eventlog/connection_history.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "common/log.hpp"

namespace fg::eventlog {
namespace {

using json = nlohmann::json;
using Kind = LoggingError::Kind;

constexpr std::array<std::string_view, 11> kReasonNames = {
    "CLIENT_INITIATED_DISCONNECT", "CONNECTION_LOST", "DUPLICATE_CLIENTID",        "AUTH_ERROR",
    "FORBIDDEN_ACCESS",            "MQTT_KEEP_ALIVE_TIMEOUT", "CLIENT_ERROR",     "SERVER_ERROR",
    "SERVER_INITIATED_DISCONNECT", "THROTTLED",       "SERVER_RESTART"};

std::string entry_key(ConnectionId id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(id));
  return buf;
}

std::string encode(const ConnectionRecord& r) {
  json j = {{"clientId", r.info.client_id},
            {"certificateId", r.info.certificate_id},
            {"thingName", r.info.thing_name},
            {"sourceIp", r.info.source_ip},
            {"connectedMs", r.connected_ms}};
  if (r.disconnected_ms) j["disconnectedMs"] = *r.disconnected_ms;
  if (r.reason) j["disconnectReason"] = std::string(to_string(*r.reason));
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ConnectionRecord decode(ConnectionId id, const std::string& text) {
  json j = json::parse(text);
  ConnectionRecord r;
  r.id = id;
  r.info.client_id = j.at("clientId").get<std::string>();
  r.info.certificate_id = j.at("certificateId").get<std::string>();
  r.info.thing_name = j.at("thingName").get<std::string>();
  r.info.source_ip = j.at("sourceIp").get<std::string>();
  r.connected_ms = j.at("connectedMs").get<int64_t>();
  if (j.contains("disconnectedMs")) r.disconnected_ms = j.at("disconnectedMs").get<int64_t>();
  if (j.contains("disconnectReason")) {
    r.reason = parse_disconnect_reason(j.at("disconnectReason").get<std::string>());
    if (!r.reason) throw std::runtime_error("unknown disconnectReason");
  }
  return r;
}

std::string encode_usage(const CertificateUsage& u) {
  json j = {{"lastConnectedMs", u.last_connected_ms}};
  if (u.last_disconnected_ms) j["lastDisconnectedMs"] = *u.last_disconnected_ms;
  return j.dump();
}

store::Mutation put(std::string kind, std::string key, std::string value) {
  store::Mutation m;
  m.op = store::Mutation::Op::Put;
  m.kind = std::move(kind);
  m.key = std::move(key);
  m.value = std::move(value);
  return m;
}

store::Mutation del(std::string kind, std::string key) {
  store::Mutation m;
  m.op = store::Mutation::Op::Delete;
  m.kind = std::move(kind);
  m.key = std::move(key);
  return m;
}

bool in_range(const ConnectionRecord& r, const TimeRange& range) {
  return r.connected_ms < range.to_ms && r.end_ms() > range.from_ms;
}

bool by_connect_time(const ConnectionRecord& a, const ConnectionRecord& b) {
  return a.connected_ms != b.connected_ms ? a.connected_ms < b.connected_ms : a.id < b.id;
}

// The sorted distinct values of one field of `records`.
template <class F>
std::vector<std::string> distinct(const std::vector<ConnectionRecord>& records, F field) {
  std::set<std::string> s;
  for (const auto& r : records) s.insert(field(r));
  return {s.begin(), s.end()};
}

int64_t saturating_add(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) return std::numeric_limits<int64_t>::max();
  return a + b;
}

// Groups the records in `range` by a key, each group ordered by connect time.
template <class F>
std::map<std::string, std::vector<ConnectionRecord>> group_by(const std::map<ConnectionId, ConnectionRecord>& entries,
                                                              const TimeRange& range, F key) {
  std::map<std::string, std::vector<ConnectionRecord>> groups;
  for (const auto& [id, r] : entries) {
    const std::string& k = key(r);
    if (k.empty() || !in_range(r, range)) continue;
    groups[k].push_back(r);
  }
  for (auto& [k, v] : groups) std::sort(v.begin(), v.end(), by_connect_time);
  return groups;
}

}  // namespace

std::string_view to_string(DisconnectReason reason) { return kReasonNames[static_cast<size_t>(reason)]; }

std::optional<DisconnectReason> parse_disconnect_reason(std::string_view text) {
  for (size_t i = 0; i < kReasonNames.size(); ++i)
    if (kReasonNames[i] == text) return static_cast<DisconnectReason>(i);
  return std::nullopt;
}

ConnectionHistory::ConnectionHistory(store::Store& store, ConnectionHistoryConfig config)
    : store_(store), config_(std::move(config)) {
  if (config_.queue_capacity == 0) config_.queue_capacity = 1;
  if (config_.max_entries == 0) config_.max_entries = 1;
  if (config_.heartbeat_interval_ms <= 0) config_.heartbeat_interval_ms = 10000;
}

Result<std::unique_ptr<ConnectionHistory>, LoggingError> ConnectionHistory::open(store::Store& store,
                                                                                 ConnectionHistoryConfig config) {
  std::unique_ptr<ConnectionHistory> self(new ConnectionHistory(store, std::move(config)));
  if (auto r = self->load(); !r) return fg::unexpected(r.error());
  self->thread_ = std::thread([p = self.get()] { p->run(); });
  return self;
}

int64_t ConnectionHistory::now_ms() const {
  if (config_.now_ms) return config_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<store::Done, LoggingError> ConnectionHistory::load() {
  int64_t last_alive = 0;
  auto meta = store_.get(kMetaKind, "heartbeat");
  if (!meta) return logging_error(Kind::Internal, "cannot read connection history: " + meta.error().message);
  if (*meta) {
    try {
      last_alive = json::parse((*meta)->value).at("lastAliveMs").get<int64_t>();
    } catch (const std::exception& e) {
      return logging_error(Kind::Internal, std::string("malformed connection history heartbeat: ") + e.what());
    }
  }
  auto records = store_.list(kEntryKind);
  if (!records) return logging_error(Kind::Internal, "cannot read connection history: " + records.error().message);
  std::vector<store::Mutation> closing;
  for (const auto& rec : *records) {
    ConnectionRecord r;
    try {
      r = decode(std::stoull(rec.key), rec.value);
    } catch (const std::exception& e) {
      return logging_error(Kind::Internal, "malformed connection history record '" + rec.key + "': " + e.what());
    }
    if (r.open()) {
      // Left open by a crash: it ended at the latest when we last wrote.
      r.disconnected_ms = std::max(r.connected_ms, last_alive);
      r.reason = DisconnectReason::ServerRestart;
      closing.push_back(put(kEntryKind, rec.key, encode(r)));
    }
    next_id_ = std::max(next_id_, r.id + 1);
    entries_.emplace(r.id, std::move(r));
  }
  auto seen = store_.list(kLastSeenKind);
  if (!seen) return logging_error(Kind::Internal, "cannot read certificate last-seen times: " + seen.error().message);
  for (const auto& rec : *seen) {
    try {
      json j = json::parse(rec.value);
      CertificateUsage u;
      u.last_connected_ms = j.at("lastConnectedMs").get<int64_t>();
      if (j.contains("lastDisconnectedMs")) u.last_disconnected_ms = j.at("lastDisconnectedMs").get<int64_t>();
      usage_[rec.key] = u;
    } catch (const std::exception& e) {
      return logging_error(Kind::Internal, "malformed certificate_last_seen record '" + rec.key + "': " + e.what());
    }
  }
  if (!closing.empty()) {
    auto r = store_.apply(closing);
    if (!r) return logging_error(Kind::Internal, "cannot close stale connections: " + r.error().message);
    for (const auto& m : closing) {
      const auto& e = entries_.at(std::stoull(m.key));
      if (e.info.certificate_id.empty()) continue;
      auto& u = usage_[e.info.certificate_id];
      u.last_disconnected_ms = std::max(u.last_disconnected_ms.value_or(0), *e.disconnected_ms);
    }
  }
  return store::Done{};
}

ConnectionHistory::~ConnectionHistory() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

ConnectionId ConnectionHistory::connected(ConnectionInfo info) {
  Op op;
  op.type = Op::Type::Connect;
  op.time_ms = now_ms();
  op.info = std::move(info);
  bool first;
  ConnectionId id;
  {
    std::lock_guard lock(mu_);
    if (ops_.size() >= config_.queue_capacity) {
      ++dropped_;
      return kNoConnection;
    }
    id = op.id = next_id_++;
    ops_.push_back(std::move(op));
    ++queued_seq_;
    first = ops_.size() == 1;
  }
  if (first) wake_.notify_one();
  return id;
}

void ConnectionHistory::disconnected(ConnectionId id, DisconnectReason reason) {
  if (id == kNoConnection) return;
  Op op;
  op.type = Op::Type::Disconnect;
  op.id = id;
  op.time_ms = now_ms();
  op.reason = reason;
  bool first;
  {
    std::lock_guard lock(mu_);
    // A disconnect is never dropped for a full queue: losing it would leave an
    // open interval that looks like an ongoing connection to the audit. The
    // queue can exceed its capacity by at most the number of live connections.
    ops_.push_back(std::move(op));
    ++queued_seq_;
    first = ops_.size() == 1;
  }
  if (first) wake_.notify_one();
}

void ConnectionHistory::run() {
  std::vector<Op> ops;
  for (;;) {
    bool purge = false, heartbeat = false, last = false;
    uint64_t taken = 0, purge_req = 0;
    {
      std::unique_lock lock(mu_);
      bool woke = wake_.wait_for(lock, std::chrono::milliseconds(config_.heartbeat_interval_ms), [&] {
        return stopping_ || !ops_.empty() || purge_requested_ > purge_done_;
      });
      // Shutting down with nothing queued: one last batch (what is pending and
      // a heartbeat), then stop even if the store keeps failing.
      last = stopping_ && ops_.empty() && purge_requested_ == purge_done_;
      heartbeat = !woke || last;
      ops.swap(ops_);
      taken = ops.size();
      purge_req = purge_requested_;
      purge = purge_requested_ > purge_done_;
    }
    cycle(ops, purge, heartbeat);
    ops.clear();
    {
      std::lock_guard lock(mu_);
      applied_seq_ += taken;
      purge_done_ = purge_req;
    }
    progress_.notify_all();
    if (last) return;
  }
}

void ConnectionHistory::cycle(std::vector<Op>& ops, bool purge, bool heartbeat) {
  const int64_t now = now_ms();
  std::vector<ConnectionId> touched, removed;
  std::set<std::string> touched_certs;
  size_t purged = 0;
  {
    std::lock_guard lock(index_mu_);
    for (auto& op : ops) {
      if (op.type == Op::Type::Connect) {
        ConnectionRecord r;
        r.id = op.id;
        r.info = std::move(op.info);
        r.connected_ms = op.time_ms;
        if (!r.info.certificate_id.empty()) {
          auto& u = usage_[r.info.certificate_id];
          u.last_connected_ms = std::max(u.last_connected_ms, r.connected_ms);
          ++u.open_connections;
          touched_certs.insert(r.info.certificate_id);
        }
        entries_.emplace(r.id, std::move(r));
        touched.push_back(op.id);
      } else {
        auto it = entries_.find(op.id);
        if (it == entries_.end() || !it->second.open()) continue;  // evicted, or already closed
        it->second.disconnected_ms = std::max(op.time_ms, it->second.connected_ms);
        it->second.reason = op.reason;
        const std::string& cert = it->second.info.certificate_id;
        if (!cert.empty()) {
          auto& u = usage_[cert];
          u.last_disconnected_ms = std::max(u.last_disconnected_ms.value_or(0), *it->second.disconnected_ms);
          if (u.open_connections > 0) --u.open_connections;
          touched_certs.insert(cert);
        }
        touched.push_back(op.id);
      }
    }
    if (purge) {
      const int64_t cutoff = now - config_.retention_ms;
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (!it->second.open() && *it->second.disconnected_ms < cutoff) {
          removed.push_back(it->first);
          it = entries_.erase(it);
          ++purged;
        } else {
          ++it;
        }
      }
    }
    enforce_cap_locked(removed);
    // Queue the store writes (the latest state of each touched record wins).
    for (ConnectionId id : touched) {
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      pending_[{kEntryKind, entry_key(id)}] = put(kEntryKind, entry_key(id), encode(it->second));
    }
    for (ConnectionId id : removed) pending_[{kEntryKind, entry_key(id)}] = del(kEntryKind, entry_key(id));
    for (const auto& cert : touched_certs)
      pending_[{kLastSeenKind, cert}] = put(kLastSeenKind, cert, encode_usage(usage_.at(cert)));
  }
  if (pending_.empty() && !heartbeat && now - last_heartbeat_ms_ < config_.heartbeat_interval_ms) {
    std::lock_guard lock(mu_);
    if (purge) last_purged_ = purged;
    return;
  }
  std::vector<store::Mutation> batch;
  batch.reserve(pending_.size() + 1);
  for (const auto& [key, m] : pending_) batch.push_back(m);
  batch.push_back(put(kMetaKind, "heartbeat", json{{"lastAliveMs", now}}.dump()));
  auto r = store_.apply(batch);
  std::lock_guard lock(mu_);
  if (purge) last_purged_ = purged;
  if (r) {
    pending_.clear();
    last_heartbeat_ms_ = now;
    ++batches_;
  } else {
    // Kept in pending_ and retried with the next batch.
    if (store_errors_++ == 0) fg::log::error("connection history: cannot write to the store: {}", r.error().message);
  }
}

void ConnectionHistory::enforce_cap_locked(std::vector<ConnectionId>& removed) {
  if (entries_.size() <= config_.max_entries) return;
  // Oldest closed entries first.
  for (auto it = entries_.begin(); it != entries_.end() && entries_.size() > config_.max_entries;) {
    if (!it->second.open()) {
      removed.push_back(it->first);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  while (entries_.size() > config_.max_entries) {
    auto it = entries_.begin();
    if (!it->second.info.certificate_id.empty()) {
      auto u = usage_.find(it->second.info.certificate_id);
      if (u != usage_.end() && u->second.open_connections > 0) --u->second.open_connections;
    }
    removed.push_back(it->first);
    entries_.erase(it);
  }
}

void ConnectionHistory::flush() {
  std::unique_lock lock(mu_);
  const uint64_t want = queued_seq_;
  wake_.notify_one();
  progress_.wait(lock, [&] { return applied_seq_ >= want; });
}

size_t ConnectionHistory::purge() {
  std::unique_lock lock(mu_);
  const uint64_t want = ++purge_requested_;
  wake_.notify_one();
  progress_.wait(lock, [&] { return purge_done_ >= want; });
  return last_purged_;
}

std::vector<SharedCertificate> ConnectionHistory::shared_certificates(TimeRange range) const {
  std::lock_guard lock(index_mu_);
  auto groups = group_by(entries_, range, [](const ConnectionRecord& r) -> const std::string& {
    return r.info.certificate_id;
  });
  std::vector<SharedCertificate> out;
  for (auto& [cert, records] : groups) {
    if (records.size() < 2) continue;
    std::vector<bool> involved(records.size(), false);
    std::vector<size_t> active;  // indexes of records that may still overlap later ones
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& b = records[i];
      std::erase_if(active, [&](size_t a) { return records[a].end_ms() <= b.connected_ms; });
      for (size_t a : active) {
        if (records[a].info.client_id != b.info.client_id) involved[a] = involved[i] = true;
      }
      active.push_back(i);
    }
    SharedCertificate s;
    s.certificate_id = cert;
    for (size_t i = 0; i < records.size(); ++i)
      if (involved[i]) s.connections.push_back(records[i]);
    if (s.connections.empty()) continue;
    s.client_ids = distinct(s.connections, [](const ConnectionRecord& r) { return r.info.client_id; });
    s.source_ips = distinct(s.connections, [](const ConnectionRecord& r) { return r.info.source_ip; });
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<ConflictingClientId> ConnectionHistory::conflicting_client_ids(TimeRange range,
                                                                           int64_t succession_window_ms) const {
  std::lock_guard lock(index_mu_);
  auto groups = group_by(entries_, range, [](const ConnectionRecord& r) -> const std::string& {
    return r.info.client_id;
  });
  std::vector<ConflictingClientId> out;
  for (auto& [client, records] : groups) {
    if (records.size() < 2) continue;
    std::vector<bool> involved(records.size(), false);
    std::vector<size_t> active;
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& b = records[i];
      std::erase_if(active, [&](size_t a) {
        return saturating_add(records[a].end_ms(), succession_window_ms) <= b.connected_ms;
      });
      for (size_t a : active) {
        const auto& x = records[a];
        if (x.info.certificate_id != b.info.certificate_id || x.info.source_ip != b.info.source_ip)
          involved[a] = involved[i] = true;
      }
      active.push_back(i);
    }
    ConflictingClientId c;
    c.client_id = client;
    for (size_t i = 0; i < records.size(); ++i)
      if (involved[i]) c.connections.push_back(records[i]);
    if (c.connections.empty()) continue;
    c.certificate_ids = distinct(c.connections, [](const ConnectionRecord& r) { return r.info.certificate_id; });
    c.source_ips = distinct(c.connections, [](const ConnectionRecord& r) { return r.info.source_ip; });
    out.push_back(std::move(c));
  }
  return out;
}

std::map<std::string, CertificateUsage> ConnectionHistory::certificate_usage() const {
  std::lock_guard lock(index_mu_);
  return usage_;
}

std::optional<CertificateUsage> ConnectionHistory::certificate_usage(const std::string& certificate_id) const {
  std::lock_guard lock(index_mu_);
  auto it = usage_.find(certificate_id);
  if (it == usage_.end()) return std::nullopt;
  return it->second;
}

std::vector<ConnectionRecord> ConnectionHistory::list(const HistoryFilter& filter) const {
  std::vector<ConnectionRecord> out;
  {
    std::lock_guard lock(index_mu_);
    for (const auto& [id, r] : entries_) {
      if (!filter.client_id.empty() && r.info.client_id != filter.client_id) continue;
      if (!filter.certificate_id.empty() && r.info.certificate_id != filter.certificate_id) continue;
      if (!in_range(r, filter.range)) continue;
      out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), by_connect_time);
  if (filter.limit > 0 && out.size() > filter.limit) out.resize(filter.limit);
  return out;
}

ConnectionHistory::Stats ConnectionHistory::stats() const {
  Stats s;
  {
    std::lock_guard lock(index_mu_);
    s.entries = entries_.size();
  }
  std::lock_guard lock(mu_);
  s.dropped = dropped_;
  s.store_errors = store_errors_;
  s.batches = batches_;
  return s;
}

}  // namespace fg::eventlog
