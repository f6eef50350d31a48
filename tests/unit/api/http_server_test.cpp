// The API's HTTP server over real sockets (port 0): keep-alive, the body size
// limit, the read timeout for a client that never sends a request, and
// concurrent connections on the server's own threads.
#include "api/http_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace fg::api {
namespace {

using boost::asio::ip::tcp;

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerConfig cfg = {}) {
    cfg.port = 0;
    auto s = HttpServer::open(cfg, [this](const HttpRequest& r) {
      ++requests_;
      HttpResponse res;
      res.headers.emplace_back("Content-Type", "text/plain");
      res.body = r.method + " " + r.target + " " + std::to_string(r.body.size());
      return res;
    });
    ASSERT_TRUE(s) << s.error();
    server_ = std::move(*s);
    server_->start();
  }

  tcp::socket connect() {
    tcp::socket sock(ioc_);
    sock.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server_->port()));
    return sock;
  }

  // Reads one response (headers + Content-Length body); "" on EOF.
  static std::string read_response(tcp::socket& s) {
    std::string data;
    char buf[4096];
    boost::system::error_code ec;
    while (true) {
      auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto cl = data.find("Content-Length: ");
        std::size_t len = cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 16));
        if (data.size() >= end + 4 + len) return data.substr(0, end + 4 + len);
      }
      std::size_t n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec) return data;
      data.append(buf, n);
    }
  }

  boost::asio::io_context ioc_;
  std::atomic<int> requests_{0};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  auto s = connect();
  for (int i = 0; i < 5; ++i) {
    std::string req = "POST /things/t" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    boost::asio::write(s, boost::asio::buffer(req));
    std::string res = read_response(s);
    ASSERT_EQ(res.substr(0, 15), "HTTP/1.1 200 OK") << res;
    EXPECT_NE(res.find("POST /things/t" + std::to_string(i) + " 2"), std::string::npos);
  }
  EXPECT_EQ(requests_.load(), 5);
}

TEST_F(HttpServerTest, OversizedBodyIs413WithoutReachingTheHandler) {
  HttpServerConfig cfg;
  cfg.body_limit = 1024;
  start(cfg);
  auto s = connect();
  std::string req = "POST /things/t HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  std::string res = read_response(s);
  EXPECT_EQ(res.substr(0, 12), "HTTP/1.1 413") << res;
  EXPECT_NE(res.find("x-amzn-ErrorType: RequestEntityTooLargeException"), std::string::npos);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpServerTest, SilentClientsAreDisconnectedAfterTheReadTimeout) {
  HttpServerConfig cfg;
  cfg.read_timeout = std::chrono::milliseconds(200);
  start(cfg);
  auto s = connect();
  boost::asio::write(s, boost::asio::buffer(std::string("GET /things HTTP/1.1\r\nHost:")));  // never finished
  auto t0 = std::chrono::steady_clock::now();
  std::string res = read_response(s);  // returns at EOF
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(res, "");
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndConcurrentClientsAreServed) {
  start();
  {
    auto s = connect();
    boost::asio::write(s, boost::asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
    std::string res = read_response(s);
    EXPECT_EQ(res.substr(0, 12), "HTTP/1.1 400") << res;
  }
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      boost::asio::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server_->port()));
      for (int i = 0; i < 20; ++i) {
        std::string req = "GET /things/c" + std::to_string(c) + " HTTP/1.1\r\nHost: x\r\n\r\n";
        boost::asio::write(s, boost::asio::buffer(req));
        if (read_response(s).substr(0, 15) == "HTTP/1.1 200 OK") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 160);
  server_->stop();
  server_->stop();  // idempotent
}

}  // namespace
}  // namespace fg::api
