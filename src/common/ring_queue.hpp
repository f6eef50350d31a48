// RingQueue<T>: a FIFO on a power-of-two circular buffer that allocates
// nothing until first used, and gives its memory back on shrink() when empty. Used for per-session message queues: idle sessions
// are the common case (an empty std::deque already allocates ~600 bytes),
// and pop_front/push_back are O(1) on busy ones. Not thread-safe.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace fg {

template <class T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  RingQueue(RingQueue&& o) noexcept { swap(o); }
  RingQueue& operator=(RingQueue&& o) noexcept {
    RingQueue tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~RingQueue() { clear(); }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  T& operator[](size_t i) { return slot(i); }
  const T& operator[](size_t i) const { return const_cast<RingQueue*>(this)->slot(i); }
  T& front() { return slot(0); }

  void push_back(T value) {
    if (size_ == cap_) grow();
    new (&raw(size_)) T(std::move(value));
    ++size_;
  }

  void pop_front() {
    assert(size_ > 0);
    slot(0).~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }

  // Removes the element at `i`, keeping order (shifts the shorter side).
  void erase(size_t i) {
    assert(i < size_);
    if (i == 0) return pop_front();
    for (size_t j = i; j + 1 < size_; ++j) slot(j) = std::move(slot(j + 1));
    slot(size_ - 1).~T();
    --size_;
  }

  // Frees the buffer if the queue is empty (idle sessions hold no memory).
  void shrink() {
    if (size_ == 0) release();
  }

  void clear() {
    while (size_ > 0) {
      slot(size_ - 1).~T();
      --size_;
    }
    release();
  }

  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < size_; ++i) f(slot(i));
  }

 private:
  T& raw(size_t i) { return *reinterpret_cast<T*>(data_.get() + ((head_ + i) & (cap_ - 1)) * sizeof(T)); }
  T& slot(size_t i) {
    assert(i < size_);
    return raw(i);
  }

  void grow() {
    uint32_t ncap = cap_ == 0 ? 4 : cap_ * 2;
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    std::unique_ptr<std::byte[]> nd(new std::byte[ncap * sizeof(T)]);
    for (size_t i = 0; i < size_; ++i) {
      new (nd.get() + i * sizeof(T)) T(std::move(slot(i)));
      slot(i).~T();
    }
    data_ = std::move(nd);
    cap_ = ncap;
    head_ = 0;
  }

  void release() {
    data_.reset();
    cap_ = 0;
    head_ = 0;
  }

  void swap(RingQueue& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(cap_, o.cap_);
    std::swap(head_, o.head_);
    std::swap(size_, o.size_);
  }

  std::unique_ptr<std::byte[]> data_;
  uint32_t cap_ = 0;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
};

}  // namespace fg
