#include "bench/run_monitor.hpp"

namespace fg::bench {

void RunMonitor::on_ready() {
  {
    std::lock_guard lock(mutex_);
    ++state_.ready;
  }
  changed_.notify_all();
}

void RunMonitor::record_error(std::string_view what) {
  if (state_.first_error.empty()) state_.first_error = std::string(what);
}

void RunMonitor::on_failed(std::string_view what) {
  {
    std::lock_guard lock(mutex_);
    ++state_.failed;
    record_error(what);
  }
  changed_.notify_all();
}

void RunMonitor::on_lost(std::string_view what) {
  {
    std::lock_guard lock(mutex_);
    ++state_.lost;
    record_error(what);
  }
  changed_.notify_all();
}

void RunMonitor::on_closed() {
  {
    std::lock_guard lock(mutex_);
    ++state_.closed;
  }
  changed_.notify_all();
}

void RunMonitor::interrupt() {
  {
    std::lock_guard lock(mutex_);
    state_.interrupted = true;
  }
  changed_.notify_all();
}

RunMonitor::Snapshot RunMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  return state_;
}

}  // namespace fg::bench
