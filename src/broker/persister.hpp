// Persister: the broker's one persistence thread. Workers hand it batches of
// message-store records (retained messages, persistent sessions, their
// subscriptions and queued QoS 1/2 copies); it writes everything queued at
// once in one transaction with one fsync ("group commit") and then runs each
// batch's completion, which posts back to the submitting worker (e.g. to send
// the PUBACK that waited for the message to be durable).
//
// Threading: submit() from any thread; the critical section is a vector
// push_back under a mutex. Completions run on the persistence thread, in
// submission order, after the batch is durable (ok) or failed (!ok); they must
// only post. The queue is bounded softly: past `soft_limit` queued records
// congested() is true and publishers pause reading (like a congested
// subscriber) instead of the workers ever blocking.
// Ownership: the store is borrowed and must outlive the persister; the
// destructor writes what is still queued, then joins the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/message_store.hpp"

namespace fg::broker {

class Persister {
 public:
  using Completion = std::function<void(bool ok)>;

  explicit Persister(store::MessageStore& store, size_t soft_limit = 1 << 16);
  ~Persister();
  Persister(const Persister&) = delete;
  Persister& operator=(const Persister&) = delete;

  // Queues `ops` (may be empty) and, when given, `done` to run once they and
  // everything submitted before them are written.
  void submit(std::vector<store::MessageOp> ops, Completion done);

  bool congested() const { return queued_.load(std::memory_order_relaxed) > soft_limit_; }

  // Blocks until everything submitted before the call is written and its
  // completion has run (tests and shutdown; never on a worker).
  void wait_idle();

  // Transactions committed so far (group commits, for stats and tests).
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Batch {
    std::vector<store::MessageOp> ops;
    Completion done;
  };
  void run();
  // Drops the writes of copies acknowledged within the same batch.
  static void compact(std::vector<store::MessageOp>& ops);

  store::MessageStore& store_;
  const size_t soft_limit_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::vector<Batch> queue_;
  uint64_t submitted_ = 0;  // batches, under mu_
  uint64_t finished_ = 0;   // batches written and completed, under mu_
  bool stopping_ = false;
  std::atomic<size_t> queued_{0};
  std::atomic<uint64_t> commits_{0};
  std::thread thread_;
};

}  // namespace fg::broker
