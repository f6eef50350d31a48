// Listener: a TCP acceptor that hands each accepted socket to the next worker
// (round robin). The acceptor runs on the control io_context; the accepted
// socket is already bound to its worker's io_context.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <string>

#include "common/result.hpp"
#include "net/worker_pool.hpp"

namespace fg::net {

// A TCP socket bound to a worker's io_context with its concrete executor type:
// no type-erased executor per operation (smaller handlers, less indirection).
using WorkerSocket =
    boost::asio::ip::tcp::socket::rebind_executor<boost::asio::io_context::executor_type>::other;

class Listener {
 public:
  using AcceptHandler = std::function<void(WorkerSocket socket, unsigned worker)>;

  // Binds and listens; port 0 picks a free port. Errors are returned, not thrown.
  static Result<std::unique_ptr<Listener>, std::string> open(boost::asio::io_context& control,
                                                             WorkerPool& workers,
                                                             const std::string& bind_address,
                                                             uint16_t port, AcceptHandler on_accept);

  uint16_t port() const { return port_; }
  void start() { accept_next(); }
  void close();

 private:
  Listener(boost::asio::io_context& control, WorkerPool& workers, AcceptHandler on_accept);
  void accept_next();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // after an accept error (e.g. out of file descriptors)
  WorkerPool& workers_;
  AcceptHandler on_accept_;
  unsigned next_worker_ = 0;
  uint16_t port_ = 0;
};

}  // namespace fg::net
