// IoPool: the bench tool's event loops, one io_context per thread (FlashMQ
// style: a connection lives on one thread and never needs a lock). Clients are
// spread round-robin. The pool must outlive every socket and timer created on
// its io_contexts; stop() joins the threads so their owners can then be freed.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace fg::bench {

class IoPool {
 public:
  explicit IoPool(unsigned threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Starts the threads. Separate from construction so that objects created on
  // the io_contexts can be set up before any handler runs.
  void run();
  // Stops the loops and joins the threads. Idempotent.
  void stop();

  size_t size() const { return contexts_.size(); }
  boost::asio::io_context& at(size_t i) { return *contexts_[i % contexts_.size()]; }

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace fg::bench
