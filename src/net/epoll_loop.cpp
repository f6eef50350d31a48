#include "net/epoll_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <stdexcept>

namespace fg::net {

namespace {
constexpr int kBatch = 256;
}  // namespace

EpollLoop::EpollLoop(boost::asio::io_context& ioc) : watcher_(ioc) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error("epoll_create1 failed");
  // Asio watches the epoll fd itself (it becomes readable when any
  // registered socket is ready). The descriptor keeps its own dup so that
  // closing one does not close the other.
  watcher_.assign(::dup(epfd_));
}

EpollLoop::~EpollLoop() {
  boost::system::error_code ec;
  watcher_.close(ec);
  if (epfd_ >= 0) ::close(epfd_);
}

bool EpollLoop::add(int fd, EpollHandler* handler, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EpollLoop::modify(int fd, EpollHandler* handler, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EpollLoop::remove(int fd) {
  epoll_event ev{};
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
}

void EpollLoop::start() {
  stopped_ = false;
  arm();
}

void EpollLoop::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  watcher_.cancel(ec);
}

void EpollLoop::arm() {
  watcher_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    dispatch();
    arm();
  });
}

void EpollLoop::dispatch() {
  epoll_event events[kBatch];
  // One batch per wake-up keeps other work on this worker flowing; level
  // triggering brings back whatever is left.
  int n = ::epoll_wait(epfd_, events, kBatch, 0);
  for (int i = 0; i < n; ++i) {
    static_cast<EpollHandler*>(events[i].data.ptr)->on_epoll(events[i].events);
  }
}

}  // namespace fg::net
