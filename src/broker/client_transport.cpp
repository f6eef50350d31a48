// The two transports of a Client: plaintext TCP and TLS. They only move
// bytes; all MQTT handling is in client.cpp.
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "broker/client.hpp"
#include "broker/worker.hpp"
#include "net/listener.hpp"

namespace fg::broker {

namespace asio = boost::asio;
using asio::ip::tcp;
using net::WorkerSocket;

namespace {

std::string endpoint_text(const WorkerSocket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string fd_peer_text(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char host[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// Plaintext over the worker's EpollLoop: an idle connection is one epoll
// registration and this object, with no read buffer (reads go to the
// worker's shared buffer) and no pending Asio operation. Writes are tried
// directly; what the socket does not take waits for EPOLLOUT.
// Lifetime: `self_` keeps the connection alive while its fd is registered;
// it is released by a post after close, so an epoll batch that still names
// this connection never sees freed memory.
class TcpClient final : public Client, public net::EpollHandler {
 public:
  TcpClient(Worker& w, int fd) : Client(w), fd_(fd) {}
  ~TcpClient() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::string remote_address() const override { return fd_ < 0 ? "closed" : fd_peer_text(fd_); }

  void start() override {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    self_ = shared_from_this();
    interest_ = EPOLLIN | EPOLLRDHUP;
    if (!worker().epoll().add(fd_, this, interest_)) on_transport_error("epoll registration failed");
  }

  void resume_reading() override {
    paused_ = false;
    process_buffered();
    if (state() == State::Closing || state() == State::Closed) return;
    if (take_throttle()) {
      paused_ = true;
      worker().pause_reading(shared_from_this());
    }
    update_interest();
  }

  void on_epoll(uint32_t events) override {
    if (state() == State::Closed) return;
    if (events & EPOLLERR) {
      on_transport_error("socket error");
    } else if ((events & EPOLLHUP) && paused_) {
      // Reported even with no interest: a paused reader must not spin on it.
      on_transport_error("closed by peer");
    } else {
      if (events & EPOLLOUT) continue_write();
      if (state() != State::Closed && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && !paused_) read_available();
    }
    worker().flush();
  }

  void on_worker_shutdown() override { release_fd(); }

 protected:
  void write_bytes() override {
    ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        out_.clear();
        return on_transport_error(std::strerror(errno));
      }
      n = 0;
    }
    if (static_cast<size_t>(n) == out_.size()) {
      out_.clear();
      return;
    }
    // Rare (the socket buffer was full): the rest waits in its own buffer.
    pending_ = std::make_unique<std::string>(out_, static_cast<size_t>(n));
    write_pos_ = 0;
    out_.clear();
    writing_ = true;
    update_interest();
  }

  void close_transport() override { release_fd(); }

  size_t writing_size() const override { return pending_ ? pending_->size() - write_pos_ : 0; }

 private:
  void release_fd() {
    if (fd_ >= 0) {
      worker().epoll().remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    if (self_) {
      // Not now: the epoll batch being dispatched may still name us.
      boost::asio::post(worker().context(), [s = std::move(self_)] {});
    }
  }

  void update_interest() {
    if (fd_ < 0) return;
    uint32_t want = (paused_ ? 0u : uint32_t{EPOLLIN | EPOLLRDHUP}) | (writing_ ? uint32_t{EPOLLOUT} : 0u);
    if (want == interest_) return;
    interest_ = want;
    worker().epoll().modify(fd_, this, want);
  }

  void continue_write() {
    if (!writing_ || !pending_) return;
    while (write_pos_ < pending_->size()) {
      ssize_t n = ::send(fd_, pending_->data() + write_pos_, pending_->size() - write_pos_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return on_transport_error(std::strerror(errno));
      }
      write_pos_ += static_cast<uint32_t>(n);
    }
    writing_ = false;
    pending_.reset();
    write_pos_ = 0;
    update_interest();
    on_write_done();
  }

  void read_available() {
    auto buf = worker().scratch();
    // A few reads per wake-up at most, so one busy client cannot starve the others.
    for (int i = 0; i < 4; ++i) {
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        return on_transport_error(std::strerror(errno));
      }
      if (n == 0) return on_transport_error("closed by peer");
      on_bytes(buf.first(static_cast<size_t>(n)));
      if (state() == State::Closing || state() == State::Closed) return;
      if (throttled_ || static_cast<size_t>(n) < buf.size()) break;
    }
    if (take_throttle()) {
      paused_ = true;
      update_interest();
      worker().pause_reading(shared_from_this());
    }
  }

  int fd_;
  uint32_t interest_ = 0;
  bool paused_ = false;
  uint32_t write_pos_ = 0;
  std::unique_ptr<std::string> pending_;  // bytes the socket has not taken yet
  std::shared_ptr<Client> self_;
};

// TLS: a per-connection read buffer (inside ServerProtocol) and async
// reads/writes through the SSL stream.
class TlsClient final : public Client {
 public:
  TlsClient(Worker& w, WorkerSocket s, std::shared_ptr<asio::ssl::context> ctx)
      : Client(w), ctx_(std::move(ctx)), stream_(std::move(s), *ctx_) {}

  std::string remote_address() const override { return endpoint_text(stream_.next_layer()); }

  void resume_reading() override {
    process_buffered();
    if (state() == State::Closing || state() == State::Closed) return;
    if (take_throttle()) return worker().pause_reading(shared_from_this());
    read_next();
  }

  void start() override {
    boost::system::error_code ec;
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this(), this](boost::system::error_code hec) {
                              if (hec) {
                                on_transport_error("TLS handshake failed: " + hec.message());
                              } else {
                                read_next();
                              }
                              worker().flush();
                            });
  }

 protected:
  void write_bytes() override {
    writing_buf_.swap(out_);
    out_.clear();
    writing_ = true;
    asio::async_write(stream_, asio::buffer(writing_buf_),
                      [self = shared_from_this(), this](boost::system::error_code ec, size_t) {
                        writing_ = false;
                        writing_buf_.clear();
                        if (ec) return on_transport_error(ec.message());
                        on_write_done();
                        worker().flush();
                      });
  }

  void close_transport() override {
    boost::system::error_code ec;
    stream_.lowest_layer().close(ec);
  }

  size_t writing_size() const override { return writing_buf_.size(); }

 private:
  void read_next() {
    auto buf = prepare_read(kReadSize);
    stream_.async_read_some(asio::buffer(buf.data(), buf.size()),
                            [self = shared_from_this(), this](boost::system::error_code ec, size_t n) {
                              commit_read(ec ? 0 : n);
                              if (ec) {
                                on_transport_error(ec.message());
                              } else if (state() != State::Closing && state() != State::Closed) {
                                if (take_throttle()) {
                                  worker().pause_reading(shared_from_this());
                                } else {
                                  read_next();
                                }
                              }
                              worker().flush();
                            });
  }

  static constexpr size_t kReadSize = 4096;
  std::shared_ptr<asio::ssl::context> ctx_;
  asio::ssl::stream<WorkerSocket> stream_;
  std::string writing_buf_;
};

}  // namespace

std::shared_ptr<Client> make_tcp_client(Worker& worker, WorkerSocket socket) {
  // The socket leaves Asio: the worker's EpollLoop watches it from now on.
  return std::make_shared<TcpClient>(worker, socket.release());
}

std::shared_ptr<Client> make_tls_client(Worker& worker, WorkerSocket socket,
                                        std::shared_ptr<asio::ssl::context> tls) {
  return std::make_shared<TlsClient>(worker, std::move(socket), std::move(tls));
}

}  // namespace fg::broker
