// fg_api_load: SigV4-signed CreateThing + DescribeThing requests per second
// against a running `fleetguard serve` API, over keep-alive connections.
//
//   fg_api_load <port> <credentials-file> [connections=4] [seconds=10] [mode]
//
// mode "pairs" (default): CreateThing + DescribeThing; "describe": only
// DescribeThing of one existing thing (the API's own cost without the
// durable SQLite write that every CreateThing waits for).
//
// Each connection runs on its own thread with a synchronous Beast client and
// alternates CreateThing(bench-<conn>-<n>) and DescribeThing of the same name;
// every request is signed (api::sign_request, the same code the server
// verifies with). Prints requests/s and latency percentiles.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/sigv4.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

fg::api::AccessKey read_credentials(const std::string& path) {
  std::ifstream in(path);
  fg::api::AccessKey k;
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq), value = line.substr(eq + 3);
    if (name == "aws_access_key_id") k.id = value;
    if (name == "aws_secret_access_key") k.secret = value;
  }
  return k;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <port> <credentials-file> [connections] [seconds]\n", argv[0]);
    return 2;
  }
  std::string port = argv[1];
  auto key = read_credentials(argv[2]);
  int connections = argc > 3 ? std::atoi(argv[3]) : 4;
  int seconds = argc > 4 ? std::atoi(argv[4]) : 10;
  bool describe_only = argc > 5 && std::string(argv[5]) == "describe";
  if (key.id.empty()) {
    std::fprintf(stderr, "no credentials in %s\n", argv[2]);
    return 2;
  }
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(connections));
  std::vector<std::thread> threads;
  auto started = std::chrono::steady_clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      boost::asio::io_context ioc;
      tcp::resolver resolver(ioc);
      beast::tcp_stream stream(ioc);
      stream.connect(resolver.resolve("127.0.0.1", port));
      beast::flat_buffer buffer;
      auto call = [&](const char* method, const std::string& target, const std::string& body) {
        fg::api::HttpRequest r{method, target, {{"Host", "127.0.0.1:" + port}}, body};
        if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
        fg::api::sign_request(r, key, "us-east-1", "execute-api", now_seconds());
        http::request<http::string_body> req{http::string_to_verb(method), target, 11};
        for (const auto& [k, v] : r.headers) req.set(k, v);
        req.body() = body;
        req.keep_alive(true);
        req.prepare_payload();
        auto t0 = std::chrono::steady_clock::now();
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        if (res.result_int() != 200) ++errors;
      };
      if (describe_only) {
        std::string name = "bench-describe-" + std::to_string(c);
        call("POST", "/things/" + name, "{}");
        while (!stop.load(std::memory_order_relaxed)) call("GET", "/things/" + name, "");
        return;
      }
      for (long n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        std::string name = "bench-" + std::to_string(c) + "-" + std::to_string(n);
        call("POST", "/things/" + name, R"({"attributePayload":{"attributes":{"site":"bench"}}})");
        call("GET", "/things/" + name, "");
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));  // the measured interval itself
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[static_cast<std::size_t>(p * (all.size() - 1))]; };
  std::printf("connections %d, %.1f s: %zu requests (%s), %.0f requests/s, "
              "errors %ld; latency p50 %.0f us, p99 %.0f us, max %.0f us\n",
              connections, elapsed, all.size(), describe_only ? "DescribeThing only" : "CreateThing + DescribeThing pairs", all.size() / elapsed, errors.load(), pct(0.5),
              pct(0.99), all.empty() ? 0.0 : all.back());
  return errors.load() == 0 ? 0 : 1;
}
