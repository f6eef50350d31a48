// The two transports of a Client, plaintext TCP and TLS, both on the worker's
// EpollLoop. They only move bytes; all MQTT handling is in client.cpp.
//
// An idle connection is one epoll registration and its Client object: no read
// buffer (reads go to the worker's shared buffer), no pending Asio operation,
// and for TLS an OpenSSL object that reads the socket itself and releases its
// record buffers while idle (SSL_MODE_RELEASE_BUFFERS). Asio's SSL stream
// would hold ~70 KB of buffers per connection instead.
//
// Writes are tried directly; what the socket does not take waits for EPOLLOUT.
// Lifetime: `self_` keeps the connection alive while its fd is registered; it
// is released by a post after close, so an epoll batch that still names this
// connection never sees freed memory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstring>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "broker/worker.hpp"
#include "common/log.hpp"
#include "net/listener.hpp"

namespace fg::broker {

using net::WorkerSocket;

namespace {

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

// What one read or write attempt did.
struct Io {
  enum class Status : uint8_t {
    Ok,         // n bytes moved
    WantRead,   // try again when the socket is readable
    WantWrite,  // try again when the socket is writable
    Closed,     // orderly end of stream
    Error,      // `error` says why
  };
  Status status = Status::Ok;
  size_t n = 0;
  std::string error;
};

// The epoll-driven connection; subclasses provide the byte primitives.
class EpollClient : public Client, public net::EpollHandler {
 public:
  EpollClient(Worker& w, int fd) : Client(w), fd_(fd) {}
  ~EpollClient() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::string remote_address() const override { return fd_ < 0 ? "closed" : fd_peer_text(fd_); }

  void start() override {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The descriptor came from Asio in blocking mode; every read and write here
    // must return at once.
    int flags = ::fcntl(fd_, F_GETFL, 0);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) return on_transport_error("cannot make the socket non-blocking");
    self_ = shared_from_this();
    interest_ = EPOLLIN | EPOLLRDHUP;
    if (!worker().epoll().add(fd_, this, interest_)) return on_transport_error("epoll registration failed");
    if (!handshake()) update_interest();
  }

  void resume_reading() override {
    paused_ = false;
    process_buffered();
    if (state() == State::Closing || state() == State::Closed) return;
    if (take_throttle()) {
      pause();
      return;
    }
    update_interest();
    read_available();  // a TLS layer may hold decrypted bytes the socket no longer signals
  }

  void on_epoll(uint32_t events) override {
    if (state() == State::Closed) return;
    if (events & EPOLLERR) {
      on_transport_error("socket error");
    } else if ((events & EPOLLHUP) && (paused_ || !handshake_done_)) {
      // Reported even with no interest: a paused reader must not spin on it.
      on_transport_error("closed by peer");
    } else if (!handshake_done_) {
      handshake();
    } else {
      const bool readable = events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP);
      const bool writable = events & EPOLLOUT;
      if (writing_ && ((writable && !write_wants_read_) || (readable && write_wants_read_))) continue_write();
      if (state() != State::Closed && !paused_ && ((readable && !read_wants_write_) || (writable && read_wants_write_))) {
        read_available();
      }
    }
    worker().flush();
  }

  void on_worker_shutdown() override { release_fd(); }

 protected:
  virtual Io io_read(char* buf, size_t len) = 0;
  virtual Io io_write(const char* buf, size_t len) = 0;
  // Advances the handshake; Ok when done, WantRead/WantWrite to wait, Error.
  virtual Io io_handshake() { return {}; }
  virtual void io_close() {}
  // After the handshake: false when the peer is refused (the connection is
  // then already closing).
  virtual bool on_handshake_complete() { return true; }
  virtual void on_handshake_failed(const std::string& /*error*/) {}

  int fd() const { return fd_; }

  void write_bytes() override {
    Io r = handshake_done_ ? io_write(out_.data(), out_.size()) : Io{Io::Status::WantWrite, 0, {}};
    if (r.status == Io::Status::Error || r.status == Io::Status::Closed) {
      out_.clear();
      return on_transport_error(r.error.empty() ? "write failed" : r.error);
    }
    if (r.status == Io::Status::Ok && r.n == out_.size()) {
      out_.clear();
      return;
    }
    // Rare (the socket buffer is full): the rest waits in its own buffer. A TLS
    // write that wants to be retried is retried with these same bytes.
    pending_ = std::make_unique<std::string>(out_, r.status == Io::Status::Ok ? r.n : 0);
    write_pos_ = 0;
    write_wants_read_ = r.status == Io::Status::WantRead;
    out_.clear();
    writing_ = true;
    update_interest();
  }

  void close_transport() override { release_fd(); }

  size_t writing_size() const override { return pending_ ? pending_->size() - write_pos_ : 0; }

 private:
  // Returns true when the connection is past its handshake (or failed).
  bool handshake() {
    if (handshake_done_) return true;
    Io r = io_handshake();
    switch (r.status) {
      case Io::Status::Ok:
        handshake_done_ = true;
        handshake_wants_write_ = false;
        if (!on_handshake_complete()) return true;
        update_interest();
        flush_output();  // anything queued meanwhile
        read_available();
        return true;
      case Io::Status::WantRead:
      case Io::Status::WantWrite:
        handshake_wants_write_ = r.status == Io::Status::WantWrite;
        update_interest();
        return false;
      default:
        on_handshake_failed(r.error);
        on_transport_error(r.error);
        return true;
    }
  }

  void release_fd() {
    if (fd_ >= 0) {
      io_close();
      worker().epoll().remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    if (self_) {
      // Not now: the epoll batch being dispatched may still name us.
      boost::asio::post(worker().context(), [s = std::move(self_)] {});
    }
  }

  void pause() {
    paused_ = true;
    update_interest();
    worker().pause_reading(shared_from_this());
  }

  void update_interest() {
    if (fd_ < 0) return;
    uint32_t want = 0;
    if (!handshake_done_) {
      want = handshake_wants_write_ ? uint32_t{EPOLLOUT} : uint32_t{EPOLLIN | EPOLLRDHUP};
    } else {
      if (!paused_) want |= read_wants_write_ ? uint32_t{EPOLLOUT} : uint32_t{EPOLLIN | EPOLLRDHUP};
      if (writing_) want |= write_wants_read_ ? uint32_t{EPOLLIN} : uint32_t{EPOLLOUT};
    }
    if (want == interest_) return;
    interest_ = want;
    worker().epoll().modify(fd_, this, want);
  }

  void continue_write() {
    if (!writing_ || !pending_) return;
    while (write_pos_ < pending_->size()) {
      Io r = io_write(pending_->data() + write_pos_, pending_->size() - write_pos_);
      if (r.status == Io::Status::Ok) {
        write_pos_ += static_cast<uint32_t>(r.n);
        continue;
      }
      if (r.status == Io::Status::WantRead || r.status == Io::Status::WantWrite) {
        write_wants_read_ = r.status == Io::Status::WantRead;
        update_interest();
        return;
      }
      return on_transport_error(r.error.empty() ? "write failed" : r.error);
    }
    writing_ = false;
    write_wants_read_ = false;
    pending_.reset();
    write_pos_ = 0;
    update_interest();
    on_write_done();
  }

  void read_available() {
    auto buf = worker().scratch();
    read_wants_write_ = false;
    // Bounded per wake-up, so one busy client cannot starve the others; level
    // triggering (or resume_reading) brings us back for the rest.
    for (int i = 0; i < 8; ++i) {
      Io r = io_read(reinterpret_cast<char*>(buf.data()), buf.size());
      if (r.status == Io::Status::WantRead) break;
      if (r.status == Io::Status::WantWrite) {
        read_wants_write_ = true;
        break;
      }
      if (r.status == Io::Status::Closed) return on_transport_error("closed by peer");
      if (r.status == Io::Status::Error) return on_transport_error(r.error);
      on_bytes(buf.first(r.n));
      if (state() == State::Closing || state() == State::Closed) return;
      if (throttled_) break;
    }
    if (take_throttle()) return pause();
    update_interest();
  }

  int fd_;
  uint32_t interest_ = 0;
  bool paused_ = false;
  bool handshake_done_ = false;
  bool handshake_wants_write_ = false;
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  uint32_t write_pos_ = 0;
  std::unique_ptr<std::string> pending_;  // bytes the socket has not taken yet
  std::shared_ptr<Client> self_;
};

class TcpClient final : public EpollClient {
 public:
  using EpollClient::EpollClient;

 protected:
  Io io_read(char* buf, size_t len) override {
    ssize_t n = ::recv(fd(), buf, len, 0);
    if (n > 0) return {Io::Status::Ok, static_cast<size_t>(n), {}};
    if (n == 0) return {Io::Status::Closed, 0, {}};
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {Io::Status::WantRead, 0, {}};
    return {Io::Status::Error, 0, std::strerror(errno)};
  }

  Io io_write(const char* buf, size_t len) override {
    ssize_t n = ::send(fd(), buf, len, MSG_NOSIGNAL);
    if (n >= 0) return {Io::Status::Ok, static_cast<size_t>(n), {}};
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {Io::Status::WantWrite, 0, {}};
    return {Io::Status::Error, 0, std::strerror(errno)};
  }
};

// TLS with OpenSSL on the socket itself (no BIO pair, no extra buffers).
//
// Mutual TLS: when the broker has a DeviceAuthenticator, the context asks
// for a client certificate and OpenSSL hands the presented chain to
// verify_device_chain (below) instead of verifying it itself; the
// authenticator's answer becomes this connection's identity, or a refusal
// that fails the handshake. A resumed session skips that callback, so the
// registry is asked again once the handshake completes.
class TlsClient final : public EpollClient {
 public:
  TlsClient(Worker& w, int fd, std::shared_ptr<boost::asio::ssl::context> ctx)
      : EpollClient(w, fd), ctx_(std::move(ctx)), ssl_(SSL_new(ctx_->native_handle())) {
    if (ssl_) {
      SSL_set_app_data(ssl_, this);
      SSL_set_fd(ssl_, fd);
      SSL_set_accept_state(ssl_);
      SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS);
    }
  }
  ~TlsClient() override {
    if (ssl_) SSL_free(ssl_);
  }

 protected:
  Io io_handshake() override {
    if (!ssl_) return {Io::Status::Error, 0, "TLS: cannot allocate a session"};
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return {};
    Io r = status_of(rc);
    if (r.status == Io::Status::Error || r.status == Io::Status::Closed) {
      r.status = Io::Status::Error;
      r.error = "TLS handshake failed: " + r.error;
    }
    return r;
  }

  Io io_read(char* buf, size_t len) override {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(len, INT32_MAX)));
    if (n > 0) return {Io::Status::Ok, static_cast<size_t>(n), {}};
    return status_of(n);
  }

  Io io_write(const char* buf, size_t len) override {
    ERR_clear_error();
    int n = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(len, INT32_MAX)));
    if (n > 0) return {Io::Status::Ok, static_cast<size_t>(n), {}};
    return status_of(n);
  }

  void io_close() override {
    // Best effort close_notify; the socket closes right after either way.
    if (ssl_ && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  }

 public:
  // From verify_device_chain, during SSL_do_handshake (this thread).
  int on_client_chain(X509* leaf, STACK_OF(X509) * presented) {
    auto* auth = worker().broker().device_authenticator();
    if (auth == nullptr) return 0;
    auto r = auth->authenticate(leaf, presented, remote_address());
    if (!r) {
      failure_ = std::make_unique<identity::AuthenticationFailure>(std::move(r.error()));
      return 0;
    }
    identity_ = std::move(*r);
    return 1;
  }

 protected:
  bool on_handshake_complete() override {
    auto* auth = worker().broker().device_authenticator();
    if (auth == nullptr || identity_) return true;
    // A resumed session: the chain was verified when it began; the
    // certificate's registry status may have changed since.
    auto r = auth->reauthenticate(SSL_get0_peer_certificate(ssl_));
    if (r) {
      identity_ = std::move(*r);
      return true;
    }
    failure_ = std::make_unique<identity::AuthenticationFailure>(std::move(r.error()));
    on_handshake_failed("resumed session refused");
    on_transport_error("device refused");
    return false;
  }

  void on_handshake_failed(const std::string& error) override {
    if (worker().broker().device_authenticator() == nullptr) return;
    // Every failed handshake on the mutual-TLS listener is an authentication
    // failure: no certificate, a bad one, or not a TLS client at all.
    WorkerStats::inc(worker().stats().auth_failures);
    const std::string peer = remote_address();
    if (failure_) {
      log::info("refused TLS client {}: {} ({}){}{}", peer, failure_->message,
                identity::to_string(failure_->reason), failure_->certificate_id.empty() ? "" : ", certificate ",
                failure_->certificate_id);
    } else {
      log::info("refused TLS client {}: {}", peer, error);
    }
    if (auto* events = worker().broker().connection_events()) {
      const std::string ip = peer.substr(0, peer.rfind(':'));
      events->authentication_failed(ip, failure_ ? identity::to_string(failure_->reason) : error,
                                    failure_ ? failure_->certificate_id : std::string());
    }
  }

 private:
  Io status_of(int rc) {
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ: return {Io::Status::WantRead, 0, {}};
      case SSL_ERROR_WANT_WRITE: return {Io::Status::WantWrite, 0, {}};
      case SSL_ERROR_ZERO_RETURN: return {Io::Status::Closed, 0, {}};
      case SSL_ERROR_SYSCALL: {
        if (errno == EAGAIN || errno == EINTR) return {Io::Status::WantRead, 0, {}};
        if (errno == 0) return {Io::Status::Closed, 0, "connection closed"};
        return {Io::Status::Error, 0, std::strerror(errno)};
      }
      default: {
        char text[256] = "TLS error";
        if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, text, sizeof text);
        return {Io::Status::Error, 0, text};
      }
    }
  }

  std::shared_ptr<boost::asio::ssl::context> ctx_;  // keeps the SSL_CTX alive
  SSL* ssl_;
  std::unique_ptr<identity::AuthenticationFailure> failure_;  // why the handshake refused the peer
};

// OpenSSL's whole-chain verification hook (SSL_CTX_set_cert_verify_callback):
// hands the presented chain to the connection's authenticator.
int verify_device_chain(X509_STORE_CTX* store_ctx, void* /*arg*/) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* client = ssl ? static_cast<TlsClient*>(SSL_get_app_data(ssl)) : nullptr;
  if (client == nullptr) return 0;
  if (client->on_client_chain(X509_STORE_CTX_get0_cert(store_ctx), X509_STORE_CTX_get0_untrusted(store_ctx)) == 1) {
    return 1;
  }
  X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REJECTED);
  return 0;
}

}  // namespace

std::shared_ptr<Client> make_tcp_client(Worker& worker, WorkerSocket socket) {
  // The socket leaves Asio: the worker's EpollLoop watches it from now on.
  return std::make_shared<TcpClient>(worker, socket.release());
}

void require_client_certificates(boost::asio::ssl::context& tls) {
  SSL_CTX* ctx = tls.native_handle();
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, verify_device_chain, nullptr);
  // Session resumption with client certificates needs a session id context.
  static constexpr unsigned char kSessionContext[] = "fleetguard-mqtt";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
}

std::shared_ptr<Client> make_tls_client(Worker& worker, WorkerSocket socket,
                                        std::shared_ptr<boost::asio::ssl::context> tls) {
  return std::make_shared<TlsClient>(worker, socket.release(), std::move(tls));
}

}  // namespace fg::broker
