// WorkerPool: N Boost.Asio io_contexts, one thread each. The data plane runs
// here: a connection is accepted onto one worker and lives there for its whole
// life; workers talk to each other only by posting tasks (no shared mutable
// state on the hot path). Start/stop from one control thread.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace fg::net {

class WorkerPool {
 public:
  explicit WorkerPool(unsigned workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  boost::asio::io_context& context(unsigned index) { return *contexts_[index]; }

  // Starts one thread per io_context. Runs until stop().
  void start();
  // Stops every io_context and joins the threads. Idempotent.
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::optional<Guard>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace fg::net
