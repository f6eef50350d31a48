// RunMonitor: how the clients of a bench run tell the coordinating thread about
// events that change what it does next (a connection became ready, failed,
// dropped or finished closing; the user pressed Ctrl-C). Clients call it from
// their io threads, rarely (never per message); the coordinator waits on it
// with a deadline. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

namespace fg::bench {

using Clock = std::chrono::steady_clock;

class RunMonitor {
 public:
  struct Snapshot {
    size_t ready = 0;   // connected (and subscribed) clients
    size_t failed = 0;  // clients that never became ready
    size_t lost = 0;    // clients that dropped after becoming ready
    size_t closed = 0;  // clients done after a requested disconnect
    bool interrupted = false;
    std::string first_error;  // the first failure or loss, for the report
  };

  void on_ready();
  void on_failed(std::string_view what);
  void on_lost(std::string_view what);
  void on_closed();
  void interrupt();

  Snapshot snapshot() const;

  // Waits until `done(snapshot)` holds or `deadline` passes; returns the last snapshot.
  template <class Pred>
  Snapshot wait_until(Clock::time_point deadline, Pred done) {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return done(state_); });
    return state_;
  }

 private:
  void record_error(std::string_view what);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Snapshot state_;
};

}  // namespace fg::bench
