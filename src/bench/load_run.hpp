// LoadRun: the publish/subscribe load of `fleetguard bench`. It connects the
// subscribers, then the publishers, opens the measurement window after the
// warm-up, lets the publishers run for the duration, drains what is still in
// flight, disconnects everyone and adds up what the clients counted.
//
// The coordinating thread (the caller of run()) never touches a client's
// state while the io threads run: it posts commands, waits on the RunMonitor,
// and polls the clients' relaxed progress counters while draining. Per-client
// statistics are read only after the io threads have stopped.
#pragma once

#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <vector>

#include "bench/bench_client.hpp"
#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"
#include "bench/client_environment.hpp"
#include "bench/io_pool.hpp"
#include "bench/run_monitor.hpp"

namespace fg::bench {

class LoadRun {
 public:
  // Validates the options against each other and builds the clients. Throws BenchFailure.
  explicit LoadRun(const BenchOptions& options);
  ~LoadRun();
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;

  // Runs the load to completion. Throws BenchFailure when a client cannot
  // connect, a connection drops mid-run, or the user interrupts.
  LoadResult run();

 private:
  void connect_all(const std::vector<BenchClient*>& group, const char* what);
  void check_run_health(const RunMonitor::Snapshot& snapshot);
  bool drain();
  void disconnect_all();
  [[noreturn]] void abort(ExitCode code, const std::string& message);
  uint64_t expected_deliveries(const std::vector<uint64_t>& per_publisher) const;
  LoadResult collect(bool drained) const;

  BenchOptions options_;
  RunMonitor monitor_;
  RunSchedule schedule_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  ClientEnvironment env_;
  // Declared before the clients and the signal set, so destroyed after them.
  IoPool pool_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::vector<std::unique_ptr<BenchClient>> clients_;
  std::vector<BenchClient*> publishers_;
  std::vector<BenchClient*> subscribers_;
  std::vector<std::string> topics_;  // per publisher
  std::vector<uint32_t> matching_subscribers_;  // per publisher: deliveries one message should make
};

// "bench/%i" -> "bench/3": %i is the publisher index, %% a literal percent sign.
std::string expand_topic(const std::string& pattern, unsigned index);

}  // namespace fg::bench
