#include "bench/io_pool.hpp"

namespace fg::bench {

IoPool::IoPool(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    // Concurrency hint 1: each io_context is driven by exactly one thread, which
    // lets Asio queue handlers thread-privately; posts from the coordinating
    // thread still take its lock, so they stay safe.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoPool::~IoPool() { stop(); }

void IoPool::run() {
  if (!threads_.empty()) return;
  for (auto& io : contexts_) {
    threads_.emplace_back([ctx = io.get()] { ctx->run(); });
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& io : contexts_) io->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace fg::bench
