// ConnectionHold: the idle-connections mode of `fleetguard bench`
// (--connections-only N). It opens N MQTT connections (CONNECT/CONNACK, a
// long keep-alive, no traffic) at a bounded rate and concurrency, spread over
// the given source addresses, reports when all are up, then holds them for a
// while or until SIGINT/SIGTERM so a script can measure the broker's memory.
//
// Threading as in LoadRun: the caller's thread coordinates through the
// RunMonitor and posted commands; clients live on the IoPool's threads.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "bench/bench_client.hpp"
#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"
#include "bench/client_environment.hpp"
#include "bench/io_pool.hpp"
#include "bench/run_monitor.hpp"

namespace fg::bench {

class ConnectionHold {
 public:
  // Throws BenchFailure for bad source addresses or TLS files.
  explicit ConnectionHold(const BenchOptions& options);
  ~ConnectionHold();
  ConnectionHold(const ConnectionHold&) = delete;
  ConnectionHold& operator=(const ConnectionHold&) = delete;

  // Connects everything, calls `on_all_connected(n)` (which prints "READY n"),
  // holds, disconnects. Throws BenchFailure when a connection fails or the
  // user interrupts before all are connected.
  ConnectionResult run(const std::function<void(unsigned)>& on_all_connected);

 private:
  void disconnect_all();
  [[noreturn]] void abort(ExitCode code, const std::string& message);

  BenchOptions options_;
  RunMonitor monitor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  ClientEnvironment env_;
  std::vector<boost::asio::ip::address> sources_;
  IoPool pool_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::vector<std::unique_ptr<BenchClient>> clients_;
};

}  // namespace fg::bench
