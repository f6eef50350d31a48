#include "bench/connection_hold.hpp"

#include <boost/asio/post.hpp>

#include <unistd.h>

#include <csignal>

namespace fg::bench {

namespace asio = boost::asio;

namespace {
constexpr auto kDisconnectLimit = std::chrono::seconds(20);

// "Forever" for condition waits; time_point::max() risks overflow in conversions.
Clock::time_point far_future() { return Clock::now() + std::chrono::hours(24 * 365); }
}  // namespace

ConnectionHold::ConnectionHold(const BenchOptions& options)
    : options_(options), env_(make_environment(options)), pool_(options.threads) {
  for (const auto& text : options_.source_ips) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(text, ec);
    if (ec) throw BenchFailure(ExitCode::InvalidOptions, "--source-ips: '" + text + "' is not an IP address");
    if (address.is_v6() != env_.broker.address().is_v6()) {
      throw BenchFailure(ExitCode::InvalidOptions,
                         "--source-ips: " + text + " is not in the broker address's family");
    }
    sources_.push_back(address);
  }
  if (options_.tls) env_.tls = (tls_ = make_tls_context(options_)).get();
  env_.monitor = &monitor_;

  const std::string prefix =
      options_.client_id_prefix.empty() ? "fgbench-" + std::to_string(::getpid()) : options_.client_id_prefix;
  clients_.reserve(options_.connections_only);
  for (unsigned i = 0; i < options_.connections_only; ++i) {
    std::optional<asio::ip::address> source;
    if (!sources_.empty()) source = sources_[i % sources_.size()];
    clients_.push_back(std::make_unique<BenchClient>(pool_.at(i), env_, ClientRole::Idle,
                                                     prefix + "-c" + std::to_string(i), source));
  }

  signals_ = std::make_unique<asio::signal_set>(pool_.at(0), SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) monitor_.interrupt();
  });
}

ConnectionHold::~ConnectionHold() { pool_.stop(); }

void ConnectionHold::abort(ExitCode code, const std::string& message) {
  disconnect_all();
  pool_.stop();
  throw BenchFailure(code, message);
}

void ConnectionHold::disconnect_all() {
  const size_t target = monitor_.snapshot().closed + clients_.size();
  for (auto& client : clients_) {
    BenchClient* c = client.get();
    asio::post(c->io(), [c] { c->disconnect(); });
  }
  monitor_.wait_until(Clock::now() + kDisconnectLimit,
                      [&](const RunMonitor::Snapshot& snap) { return snap.closed >= target; });
}

ConnectionResult ConnectionHold::run(const std::function<void(unsigned)>& on_all_connected) {
  ConnectionResult result;
  result.broker = env_.broker_text;
  result.tls = options_.tls;
  result.protocol = options_.protocol;
  result.requested = options_.connections_only;

  pool_.run();
  const size_t total = clients_.size();
  const size_t concurrency = std::max(1u, options_.connect_concurrency);
  const auto started = Clock::now();
  const auto stop_launching = [](const RunMonitor::Snapshot& s) { return s.failed > 0 || s.interrupted; };

  // Launch at the requested rate, but never with more than `concurrency`
  // handshakes pending: a burst of SYNs beyond the broker's listen backlog
  // would be dropped and retried a second later, which measures the kernel's
  // retry timer rather than the broker.
  for (size_t i = 0; i < total; ++i) {
    auto s = monitor_.wait_until(far_future(), [&](const RunMonitor::Snapshot& snap) {
      return stop_launching(snap) || i - (snap.ready + snap.failed) < concurrency;
    });
    if (stop_launching(s)) break;
    if (options_.connect_rate > 0) {
      const auto due = started + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(i) / options_.connect_rate));
      s = monitor_.wait_until(due, stop_launching);
      if (stop_launching(s)) break;
    }
    BenchClient* c = clients_[i].get();
    asio::post(c->io(), [c] { c->start(); });
  }

  const auto s = monitor_.wait_until(far_future(), [&](const RunMonitor::Snapshot& snap) {
    return snap.interrupted || snap.failed > 0 || snap.ready >= total;
  });
  const auto connected_at = Clock::now();
  result.connected = static_cast<unsigned>(s.ready);
  result.connect_seconds = std::chrono::duration<double>(connected_at - started).count();
  result.connect_rate = result.connect_seconds > 0 ? static_cast<double>(s.ready) / result.connect_seconds : 0;
  if (s.interrupted) abort(ExitCode::Interrupted, "interrupted after " + std::to_string(s.ready) + " of " +
                                                      std::to_string(total) + " connections");
  if (s.failed > 0) {
    // Let the connections already under way settle so the count is meaningful.
    const auto settled = monitor_.wait_until(Clock::now() + env_.connect_timeout, [&](const RunMonitor::Snapshot& snap) {
      return snap.ready + snap.failed >= total || snap.interrupted;
    });
    abort(ExitCode::ConnectFailed, "connected " + std::to_string(settled.ready) + " of " + std::to_string(total) +
                                       " connections; first failure: " + settled.first_error);
  }

  on_all_connected(static_cast<unsigned>(total));

  const auto hold_until = options_.hold < 0
                              ? far_future()
                              : connected_at + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(options_.hold));
  const auto held = monitor_.wait_until(hold_until, [](const RunMonitor::Snapshot& snap) { return snap.interrupted; });
  result.held_seconds = std::chrono::duration<double>(Clock::now() - connected_at).count();
  result.dropped = static_cast<unsigned>(held.lost);
  result.first_error = held.first_error;

  disconnect_all();
  pool_.stop();
  return result;
}

}  // namespace fg::bench
