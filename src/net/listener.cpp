#include "net/listener.hpp"

#include "common/log.hpp"

namespace fg::net {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(asio::io_context& control, WorkerPool& workers, AcceptHandler on_accept)
    : acceptor_(control), backoff_(control), workers_(workers), on_accept_(std::move(on_accept)) {}

Result<std::unique_ptr<Listener>, std::string> Listener::open(asio::io_context& control,
                                                              WorkerPool& workers,
                                                              const std::string& bind_address,
                                                              uint16_t port, AcceptHandler on_accept) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind_address, ec);
  if (ec) return unexpected("invalid bind address '" + bind_address + "': " + ec.message());
  std::unique_ptr<Listener> l(new Listener(control, workers, std::move(on_accept)));
  tcp::endpoint ep(addr, port);
  l->acceptor_.open(ep.protocol(), ec);
  if (!ec) l->acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor_.bind(ep, ec);
  if (!ec) l->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return unexpected("cannot listen on " + bind_address + ":" + std::to_string(port) + ": " +
                      ec.message());
  }
  l->port_ = l->acceptor_.local_endpoint().port();
  return l;
}

void Listener::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void Listener::accept_next() {
  unsigned w = next_worker_;
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_.async_accept(workers_.context(w), [this, w](boost::system::error_code ec, WorkerSocket s) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and friends: log, pause briefly, keep accepting (the listener
      // must neither die nor spin while descriptors are exhausted).
      log::warn("accept failed: {}", ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](boost::system::error_code tec) {
        if (!tec) accept_next();
      });
      return;
    }
    on_accept_(std::move(s), w);
    accept_next();
  });
}

}  // namespace fg::net
