#include "bench/load_run.hpp"

#include <boost/asio/post.hpp>

#include <unistd.h>

#include <csignal>

#include "mqtt/topic.hpp"

namespace fg::bench {

namespace asio = boost::asio;

namespace {

// Draining ends when nothing has arrived for this long...
constexpr auto kDrainIdle = std::chrono::seconds(1);
// ...or at the latest after this long.
constexpr auto kDrainLimit = std::chrono::seconds(30);
constexpr auto kDrainPoll = std::chrono::milliseconds(20);
constexpr auto kDisconnectLimit = std::chrono::seconds(5);

Clock::duration from_seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

std::string expand_topic(const std::string& pattern, unsigned index) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'i') {
        out += std::to_string(index);
        ++i;
        continue;
      }
      if (pattern[i + 1] == '%') {
        out += '%';
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

LoadRun::LoadRun(const BenchOptions& options)
    : options_(options), env_(make_environment(options)), pool_(options.threads) {
  if (options_.publishers == 0) {
    throw BenchFailure(ExitCode::InvalidOptions, "--publishers must be at least 1 (or use --connections-only)");
  }
  if (options_.publishers > 65535) throw BenchFailure(ExitCode::InvalidOptions, "--publishers is at most 65535");
  if (options_.payload < 16) {
    throw BenchFailure(ExitCode::InvalidOptions,
                       "--payload must be at least 16 bytes: the send time and sequence number live there");
  }
  if (options_.inflight == 0 || options_.inflight > 65535) {
    throw BenchFailure(ExitCode::InvalidOptions, "--inflight must be between 1 and 65535");
  }
  if (!(options_.duration > 0) || options_.warmup < 0) {
    throw BenchFailure(ExitCode::InvalidOptions, "--duration must be positive and --warmup not negative");
  }
  if (options_.subscribers > 0 && !mqtt::valid_topic_filter(options_.sub_topic)) {
    throw BenchFailure(ExitCode::InvalidOptions, "--sub-topic '" + options_.sub_topic + "' is not a valid topic filter");
  }

  if (options_.tls) env_.tls = (tls_ = make_tls_context(options_)).get();
  env_.monitor = &monitor_;
  env_.schedule = &schedule_;

  // Which publishers' messages each subscriber should see: what loss is measured against.
  const auto shared = mqtt::parse_shared_filter(options_.sub_topic);
  const std::string plain_filter = shared ? std::string(shared->filter) : options_.sub_topic;
  for (unsigned i = 0; i < options_.publishers; ++i) {
    topics_.push_back(expand_topic(options_.topic, i));
    if (!mqtt::valid_topic_name(topics_.back())) {
      throw BenchFailure(ExitCode::InvalidOptions, "--topic gives '" + topics_.back() + "', not a valid topic name");
    }
    const bool matches = options_.subscribers > 0 && mqtt::topic_matches(plain_filter, topics_.back());
    // A shared subscription delivers each message to one member of the group.
    matching_subscribers_.push_back(!matches ? 0 : shared ? 1 : options_.subscribers);
  }

  const std::string prefix =
      options_.client_id_prefix.empty() ? "fgbench-" + std::to_string(::getpid()) : options_.client_id_prefix;
  const auto qos = static_cast<mqtt::QoS>(options_.qos);
  size_t next_io = 0;
  for (unsigned i = 0; i < options_.subscribers; ++i) {
    auto client = std::make_unique<BenchClient>(pool_.at(next_io++), env_, ClientRole::Subscriber,
                                                prefix + "-s" + std::to_string(i));
    client->configure_subscriber({.filter = options_.sub_topic, .qos = qos, .publishers = options_.publishers});
    subscribers_.push_back(client.get());
    clients_.push_back(std::move(client));
  }
  for (unsigned i = 0; i < options_.publishers; ++i) {
    auto client = std::make_unique<BenchClient>(pool_.at(next_io++), env_, ClientRole::Publisher,
                                                prefix + "-p" + std::to_string(i));
    client->configure_publisher({.index = i,
                                 .topic = topics_[i],
                                 .qos = qos,
                                 .payload_bytes = options_.payload,
                                 .rate = options_.rate,
                                 .inflight = options_.inflight,
                                 .tick_phase = static_cast<double>(i) / options_.publishers});
    publishers_.push_back(client.get());
    clients_.push_back(std::move(client));
  }

  signals_ = std::make_unique<asio::signal_set>(pool_.at(0), SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) monitor_.interrupt();
  });
}

LoadRun::~LoadRun() { pool_.stop(); }

void LoadRun::abort(ExitCode code, const std::string& message) {
  disconnect_all();
  pool_.stop();
  throw BenchFailure(code, message);
}

void LoadRun::check_run_health(const RunMonitor::Snapshot& s) {
  if (s.interrupted) abort(ExitCode::Interrupted, "interrupted");
  if (s.failed > 0) abort(ExitCode::ConnectFailed, s.first_error);
  if (s.lost > 0) abort(ExitCode::RunFailed, "a connection was lost during the run: " + s.first_error);
}

void LoadRun::connect_all(const std::vector<BenchClient*>& group, const char* what) {
  const size_t target = monitor_.snapshot().ready + group.size();
  for (auto* client : group) asio::post(client->io(), [client] { client->start(); });
  // Each client enforces its own connect timeout; this deadline is only a backstop.
  const auto deadline = Clock::now() + env_.connect_timeout + std::chrono::seconds(5);
  const auto s = monitor_.wait_until(deadline, [&](const RunMonitor::Snapshot& snap) {
    return snap.ready >= target || snap.failed > 0 || snap.lost > 0 || snap.interrupted;
  });
  check_run_health(s);
  if (s.ready < target) {
    abort(ExitCode::ConnectFailed, std::string("timed out connecting the ") + what + " to " + env_.broker_text);
  }
}

LoadResult LoadRun::run() {
  pool_.run();
  // Subscribers first, so the first published message already has somewhere to go.
  connect_all(subscribers_, "subscribers");
  connect_all(publishers_, "publishers");

  const auto start = Clock::now() + std::chrono::milliseconds(1);
  const auto window_start = start + from_seconds(options_.warmup);
  const auto window_end = window_start + from_seconds(options_.duration);
  schedule_.window_start_ns.store(to_ns(window_start));
  schedule_.window_end_ns.store(to_ns(window_end));
  for (auto* client : publishers_) {
    asio::post(client->io(), [client, start] { client->start_publishing(start); });
  }

  const auto s = monitor_.wait_until(window_end, [](const RunMonitor::Snapshot& snap) {
    return snap.lost > 0 || snap.interrupted || snap.failed > 0;
  });
  check_run_health(s);

  const bool drained = drain();
  check_run_health(monitor_.snapshot());
  disconnect_all();
  pool_.stop();
  return collect(drained);
}

uint64_t LoadRun::expected_deliveries(const std::vector<uint64_t>& per_publisher) const {
  uint64_t expected = 0;
  for (size_t i = 0; i < per_publisher.size(); ++i) expected += per_publisher[i] * matching_subscribers_[i];
  return expected;
}

// Waits until every publisher has stopped, every QoS 1/2 flow is complete and
// the subscribers have everything the broker accepted; or until the
// deliveries stall. Returns whether everything arrived.
bool LoadRun::drain() {
  const bool acknowledged = options_.qos > 0;
  const auto limit = Clock::now() + kDrainLimit;
  auto last_change = Clock::now();
  uint64_t last_received = UINT64_MAX;
  uint64_t last_completed = UINT64_MAX;
  std::vector<uint64_t> accepted(publishers_.size());
  for (;;) {
    bool publishing = false;
    uint64_t inflight = 0;
    uint64_t completed = 0;
    for (size_t i = 0; i < publishers_.size(); ++i) {
      const auto& p = publishers_[i]->progress();
      publishing = publishing || p.publishing.load(std::memory_order_relaxed);
      inflight += p.inflight.load(std::memory_order_relaxed);
      const uint64_t acked = p.acked.load(std::memory_order_relaxed);
      completed += acked + p.rejected.load(std::memory_order_relaxed);
      accepted[i] = acknowledged ? acked : p.sent.load(std::memory_order_relaxed);
    }
    uint64_t received = 0;
    for (auto* sub : subscribers_) received += sub->progress().received.load(std::memory_order_relaxed);

    const auto now = Clock::now();
    if (!publishing && inflight == 0 && received >= expected_deliveries(accepted)) return true;
    if (received != last_received || completed != last_completed) {
      last_received = received;
      last_completed = completed;
      last_change = now;
    }
    if (now - last_change >= kDrainIdle || now >= limit) return false;
    const auto s = monitor_.wait_until(now + kDrainPoll, [](const RunMonitor::Snapshot& snap) {
      return snap.lost > 0 || snap.interrupted;
    });
    if (s.lost > 0 || s.interrupted) return false;
  }
}

void LoadRun::disconnect_all() {
  const size_t target = monitor_.snapshot().closed + clients_.size();
  for (auto& client : clients_) {
    BenchClient* c = client.get();
    asio::post(c->io(), [c] { c->disconnect(); });
  }
  monitor_.wait_until(Clock::now() + kDisconnectLimit,
                      [&](const RunMonitor::Snapshot& snap) { return snap.closed >= target; });
}

LoadResult LoadRun::collect(bool drained) const {
  LoadResult r;
  r.broker = env_.broker_text;
  r.tls = options_.tls;
  r.protocol = options_.protocol;
  r.qos = options_.qos;
  r.publishers = options_.publishers;
  r.subscribers = options_.subscribers;
  r.payload = options_.payload;
  r.rate_per_publisher = options_.rate;
  r.warmup_seconds = options_.warmup;
  r.duration_seconds = options_.duration;
  r.drained = drained;

  std::vector<uint64_t> accepted;
  for (auto* client : publishers_) {
    const auto& st = *client->publisher_stats();
    r.sent += st.sent;
    r.sent_in_window += st.sent_in_window;
    r.acked += st.acked;
    r.rejected += st.rejected;
    accepted.push_back(options_.qos > 0 ? st.acked : st.sent);
  }
  LatencyHistogram latency;
  for (auto* client : subscribers_) {
    const auto& st = *client->subscriber_stats();
    r.delivered_in_window += st.in_window;
    r.received += st.unique;
    r.duplicates += st.duplicates;
    r.foreign += st.foreign;
    latency.merge(st.latency);
  }
  r.expected = expected_deliveries(accepted);
  r.lost = r.expected > r.received ? r.expected - r.received : 0;
  r.sent_per_second = static_cast<double>(r.sent_in_window) / options_.duration;
  r.delivered_per_second = static_cast<double>(r.delivered_in_window) / options_.duration;
  r.latency_count = latency.count();
  const auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  r.latency_p50_us = us(latency.percentile(50));
  r.latency_p99_us = us(latency.percentile(99));
  r.latency_p999_us = us(latency.percentile(99.9));
  r.latency_max_us = us(latency.max());
  r.latency_mean_us = latency.mean() / 1000.0;
  return r;
}

}  // namespace fg::bench
