// EpollLoop: readiness notification for many plaintext sockets on one worker,
// with no per-socket allocation. Asio's reactor keeps ~400 bytes per socket
// (descriptor state plus a pending wait operation); an idle IoT device costs
// only what its epoll registration costs here. The loop's own epoll fd is
// watched through the worker's io_context, so handlers run on the worker
// thread like everything else.
//
// Level-triggered: a handler may stop reading at any point (fairness,
// backpressure) and is called again while data remains, unless it removed
// EPOLLIN from its interest.
// Lifetime: a handler must stay alive until the current dispatch returns,
// even if it removes itself (owners defer their destruction with a post).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>

namespace fg::net {

class EpollHandler {
 public:
  virtual ~EpollHandler() = default;
  virtual void on_epoll(uint32_t events) = 0;
};

class EpollLoop {
 public:
  explicit EpollLoop(boost::asio::io_context& ioc);
  ~EpollLoop();
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;

  // Each returns false (errno set) on failure.
  bool add(int fd, EpollHandler* handler, uint32_t events);
  bool modify(int fd, EpollHandler* handler, uint32_t events);
  void remove(int fd);

  void start();
  void stop();

 private:
  void arm();
  void dispatch();

  int epfd_ = -1;
  boost::asio::posix::stream_descriptor watcher_;
  bool stopped_ = false;
};

}  // namespace fg::net
