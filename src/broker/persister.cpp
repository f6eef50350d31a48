#include "broker/persister.hpp"

#include <unordered_set>

#include "common/log.hpp"

namespace fg::broker {

Persister::Persister(store::MessageStore& store, size_t soft_limit)
    : store_(store), soft_limit_(soft_limit), thread_([this] { run(); }) {}

Persister::~Persister() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Persister::submit(std::vector<store::MessageOp> ops, Completion done) {
  const size_t n = ops.size();
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Batch{std::move(ops), std::move(done)});
    ++submitted_;
  }
  queued_.fetch_add(n, std::memory_order_relaxed);
  wake_.notify_one();
}

void Persister::wait_idle() {
  std::unique_lock lock(mu_);
  const uint64_t target = submitted_;
  idle_.wait(lock, [&] { return finished_ >= target; });
}

void Persister::compact(std::vector<store::MessageOp>& ops) {
  // A copy acknowledged before it was written: neither write is needed (the
  // store would end the same), and neither is the message if no other copy
  // in this batch refers to it. With an online persistent subscriber this is
  // most of the traffic.
  std::unordered_set<int64_t> acked;
  for (const auto& op : ops) {
    if (const auto* d = std::get_if<store::DeleteDelivery>(&op)) acked.insert(d->seq);
  }
  if (acked.empty()) return;
  std::unordered_set<int64_t> cancelled;
  std::unordered_set<int64_t> unneeded;    // message ids of cancelled copies
  std::unordered_set<int64_t> referenced;  // message ids still needed by a write kept
  for (const auto& op : ops) {
    if (const auto* d = std::get_if<store::PutDelivery>(&op)) {
      if (acked.count(d->delivery.seq)) {
        cancelled.insert(d->delivery.seq);
        unneeded.insert(d->delivery.message_id);
      } else {
        referenced.insert(d->delivery.message_id);
      }
    }
  }
  if (cancelled.empty()) return;
  std::erase_if(ops, [&](const store::MessageOp& op) {
    if (const auto* d = std::get_if<store::PutDelivery>(&op)) return cancelled.count(d->delivery.seq) != 0;
    if (const auto* d = std::get_if<store::DeleteDelivery>(&op)) return cancelled.count(d->seq) != 0;
    if (const auto* m = std::get_if<store::PutMessage>(&op)) {
      return unneeded.count(m->message.id) != 0 && referenced.count(m->message.id) == 0;
    }
    return false;
  });
}

void Persister::run() {
  std::vector<Batch> batches;
  std::vector<store::MessageOp> ops;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      batches.swap(queue_);
    }
    // Everything queued meanwhile goes into one transaction.
    size_t n = 0;
    for (auto& b : batches) n += b.ops.size();
    ops.clear();
    ops.reserve(n);
    for (auto& b : batches) {
      for (auto& op : b.ops) ops.push_back(std::move(op));
    }
    compact(ops);
    bool ok = true;
    if (!ops.empty()) {
      auto r = store_.apply(ops);
      ok = r.has_value();
      if (ok) {
        commits_.fetch_add(1, std::memory_order_relaxed);
      } else {
        log::error("message store: {} records not written: {}", ops.size(), r.error().message);
      }
    }
    queued_.fetch_sub(n, std::memory_order_relaxed);
    for (auto& b : batches) {
      if (b.done) b.done(ok);
    }
    const uint64_t count = batches.size();
    batches.clear();
    {
      std::lock_guard lock(mu_);
      finished_ += count;
    }
    idle_.notify_all();
  }
}

}  // namespace fg::broker
