#include "api/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "api/service.hpp"
#include "common/log.hpp"

namespace fg::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close() = 0;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerConfig cfg;
  RequestHandler handler;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::weak_ptr<SessionBase>, std::owner_less<std::weak_ptr<SessionBase>>> sessions;
  bool stopped = false;

  void accept();
};

namespace {

// One connection. Stream is beast::tcp_stream (HTTP) or
// beast::ssl_stream<beast::tcp_stream> (HTTPS).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(HttpServer::Impl& server, Args&&... args) : stream_(std::forward<Args>(args)...), server_(server) {}

  void run() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read(true);
    } else {
      beast::get_lowest_layer(stream_).expires_after(server_.cfg.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->shutdown();
        self->read(true);
      });
    }
  }

  void close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ec;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  void read(bool first) {
    parser_.emplace();
    parser_->body_limit(server_.cfg.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(server_.cfg.header_limit));
    // The idle timeout covers the wait for the next request on a kept-alive
    // connection; the read timeout bounds a whole request once it starts.
    beast::get_lowest_layer(stream_).expires_after(first ? server_.cfg.read_timeout : server_.cfg.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_error(ec);
    beast::get_lowest_layer(stream_).expires_after(server_.cfg.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec2, std::size_t) { self->on_read(ec2); });
  }

  void on_error(beast::error_code ec) {
    if (ec == http::error::body_limit) return reply_error(413, "RequestEntityTooLargeException", "Request body too large");
    if (ec == http::error::header_limit) return reply_error(431, "RequestHeaderFieldsTooLarge", "Request headers too large");
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
      return shutdown();
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
      return reply_error(400, "BadRequestException", "Malformed HTTP request");
    shutdown();
  }

  void reply_error(int status, const char* type, const char* message) {
    HttpResponse r = error_response(ApiError{status, type, message});
    send(r, false);
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error(ec);
    auto& msg = parser_->get();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    bool keep_alive = msg.keep_alive();
    HttpResponse r = server_.handler(req);
    // Never the Authorization header or bodies: they carry signatures and keys.
    if (r.status >= 500) {
      log::warn("api: {} {} -> {}", req.method, req.target.substr(0, 200), r.status);
    } else {
      log::debug("api: {} {} -> {}", req.method, req.target.substr(0, 200), r.status);
    }
    send(r, keep_alive);
  }

  void send(const HttpResponse& r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "fleetguard");
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = r.body;
    res->keep_alive(keep_alive);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.cfg.read_timeout);
    http::async_write(stream_, *res, [self = this->shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
      if (ec || !keep_alive) return self->shutdown();
      self->read(false);
    });
  }

  void shutdown() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    beast::get_lowest_layer(stream_).close();
  }

  Stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      log::warn("api: accept failed: {}", ec.message());
    } else {
      auto track = [this](const std::shared_ptr<SessionBase>& s) {
        std::lock_guard lock(mu);
        if (stopped) return false;
        // Forget sessions that have ended, so the set stays small.
        for (auto it = sessions.begin(); it != sessions.end();) it = it->expired() ? sessions.erase(it) : std::next(it);
        sessions.insert(s);
        return true;
      };
      if (cfg.tls) {
        auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket), *cfg.tls);
        if (!track(s)) return;
        s->run();
      } else {
        auto s = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket));
        if (!track(s)) return;
        s->run();
      }
    }
    accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>, std::string> HttpServer::open(HttpServerConfig cfg, RequestHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(cfg);
  impl->handler = std::move(handler);
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl->cfg.bind, ec);
  if (ec) return fg::unexpected("API bind address '" + impl->cfg.bind + "': " + ec.message());
  tcp::endpoint ep(addr, impl->cfg.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fg::unexpected("cannot listen for the API on " + impl->cfg.bind + ":" + std::to_string(impl->cfg.port) +
                          ": " + ec.message());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::start() {
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->accept();
  unsigned n = std::max(1u, impl_->cfg.threads);
  for (unsigned i = 0; i < n; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void HttpServer::stop() {
  if (!impl_) return;
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& w : impl_->sessions)
      if (auto s = w.lock()) live.push_back(std::move(s));
    impl_->sessions.clear();
  }
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  for (auto& s : live) s->close();
  live.clear();
  impl_->work.reset();
  if (impl_->threads.empty()) {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  }
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace fg::api
