// The two transports of a Client: plaintext TCP and TLS. They only move
// bytes; all MQTT handling is in client.cpp.
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

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

// Plaintext: waits for readability and then reads into the worker's shared
// buffer, so an idle connection owns no read buffer. Writes are tried
// synchronously first (the common case: the socket buffer has room) and fall
// back to an async write for the rest.
class TcpClient final : public Client {
 public:
  TcpClient(Worker& w, WorkerSocket s) : Client(w), sock_(std::move(s)) {}

  std::string remote_address() const override { return endpoint_text(sock_); }

  void resume_reading() override {
    process_buffered();
    if (state() == State::Closing || state() == State::Closed) return;
    if (take_throttle()) return worker().pause_reading(shared_from_this());
    wait_readable();
  }

  void start() override {
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    sock_.non_blocking(true, ec);
    wait_readable();
  }

 protected:
  void write_bytes() override {
    boost::system::error_code ec;
    size_t n = sock_.write_some(asio::buffer(out_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      n = 0;
    } else if (ec) {
      out_.clear();
      return on_transport_error(ec.message());
    }
    if (n == out_.size()) {
      out_.clear();
      return;
    }
    writing_buf_.assign(out_, n, std::string::npos);
    out_.clear();
    writing_ = true;
    asio::async_write(sock_, asio::buffer(writing_buf_),
                      [self = shared_from_this(), this](boost::system::error_code wec, size_t) {
                        writing_ = false;
                        writing_buf_.clear();
                        if (wec) return on_transport_error(wec.message());
                        on_write_done();
                        worker().flush();
                      });
  }

  void close_transport() override {
    boost::system::error_code ec;
    sock_.close(ec);
  }

  size_t writing_size() const override { return writing_buf_.size(); }

 private:
  void wait_readable() {
    sock_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), this](boost::system::error_code ec) {
      if (ec) {
        on_transport_error(ec.message());
      } else {
        read_available();
      }
      worker().flush();
    });
  }

  void read_available() {
    auto buf = worker().scratch();
    // A few reads per wake-up at most, so one busy client cannot starve the others.
    for (int i = 0; i < 4; ++i) {
      boost::system::error_code ec;
      size_t n = sock_.read_some(asio::buffer(buf.data(), buf.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) return on_transport_error(ec == asio::error::eof ? "closed by peer" : ec.message());
      on_bytes(buf.first(n));
      if (state() == State::Closing || state() == State::Closed) return;
      if (throttled_ || n < buf.size()) break;
    }
    if (take_throttle()) return worker().pause_reading(shared_from_this());
    wait_readable();
  }

  WorkerSocket sock_;
  std::string writing_buf_;
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
  return std::make_shared<TcpClient>(worker, std::move(socket));
}

std::shared_ptr<Client> make_tls_client(Worker& worker, WorkerSocket socket,
                                        std::shared_ptr<asio::ssl::context> tls) {
  return std::make_shared<TlsClient>(worker, std::move(socket), std::move(tls));
}

}  // namespace fg::broker
