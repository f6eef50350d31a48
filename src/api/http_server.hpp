// HttpServer: the API's HTTP/1.1 listener (Boost.Beast; HTTPS when given a
// TLS context), on its OWN
// io_context and threads, never the broker's workers. Keep-alive, a body size
// limit (413 past it), a header size limit (431), a timeout for reading a
// request (408-style close) and an idle keep-alive timeout; each connection is
// served by one strand-free session (requests on one connection are
// sequential; connections run concurrently on the server's threads).
//
// The request handler is called on one of the server's threads and must be
// thread-safe; it never throws (ApiService::handle catches everything).
//
// Ownership: open() returns the server; start() launches its threads; stop()
// (also run by the destructor) closes the listener and every connection and
// joins the threads. Not copyable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/http_message.hpp"

namespace boost::asio::ssl {
class context;
}
#include "common/result.hpp"

namespace fg::api {

struct HttpServerConfig {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;  // 0 = pick a free port
  unsigned threads = 2;
  std::size_t body_limit = 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds read_timeout{15000};   // to receive a whole request
  std::chrono::milliseconds idle_timeout{60000};   // between keep-alive requests
  // When set, every connection is HTTPS (TLS handshake first, within
  // read_timeout). Shared, not modified.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>, std::string> open(HttpServerConfig cfg, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  void start();
  void stop();

  struct Impl;  // defined in http_server.cpp

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fg::api
