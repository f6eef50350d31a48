#include "net/worker_pool.hpp"

#include "common/log.hpp"

namespace fg::net {

WorkerPool::WorkerPool(unsigned workers) {
  if (workers == 0) workers = 1;
  for (unsigned i = 0; i < workers; ++i) {
    // concurrency_hint 1: each io_context is driven by exactly one thread, which
    // lets Asio skip locking in its scheduler.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(boost::asio::make_work_guard(*contexts_.back()));
  }
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::start() {
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      for (;;) {
        try {
          contexts_[i]->run();
          return;
        } catch (const std::exception& e) {
          // Last resort: a handler threw. Log and keep the worker alive.
          log::error("worker {}: unhandled exception: {}", i, e.what());
        }
      }
    });
  }
}

void WorkerPool::stop() {
  for (auto& g : guards_) g.reset();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace fg::net
