// What every client of one bench run shares: the broker endpoint, the TLS
// context, the CONNECT parameters, the run's schedule and its monitor. The
// coordinator builds it before any client starts and it is read-only from then
// on, except RunSchedule, whose atomics the coordinator sets once the clients
// are connected. The coordinator owns it; it outlives the io threads.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "bench/bench_options.hpp"
#include "bench/run_monitor.hpp"
#include "mqtt/packet.hpp"

namespace fg::bench {

inline int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The measurement window, as steady_clock nanoseconds. Until the coordinator
// opens it, it lies in the infinite future, so nothing counts.
struct RunSchedule {
  std::atomic<int64_t> window_start_ns{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> window_end_ns{std::numeric_limits<int64_t>::max()};
};

// A packet encoded once by the codec whose packet identifier is patched in
// place for each use, so replies on the hot path cost a copy of a few bytes.
struct AckTemplate {
  std::string bytes;
  size_t id_offset = 0;  // the big-endian packet identifier's first byte
};

// The small fixed packets every client sends, encoded for the run's version.
struct WireTemplates {
  AckTemplate puback;
  AckTemplate pubrec;
  AckTemplate pubrel;
  AckTemplate pubcomp;
  std::string pingreq;
  std::string disconnect;
};

// Encodes the templates with mqtt::encode and checks where the packet id landed.
WireTemplates make_wire_templates(mqtt::ProtocolVersion version);

struct ClientEnvironment {
  boost::asio::ip::tcp::endpoint broker;
  std::string broker_text;  // "host:port", for messages
  boost::asio::ssl::context* tls = nullptr;  // null: plain TCP
  std::string tls_host;     // SNI and the name (or IP) the certificate must carry
  bool verify_peer = true;
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::V311;
  uint16_t keep_alive = 600;
  bool persistent_subscribers = false;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::chrono::milliseconds connect_timeout{10000};
  WireTemplates templates;
  RunMonitor* monitor = nullptr;
  RunSchedule* schedule = nullptr;
};

// Resolves --host/--port (an address or a DNS name) to the endpoint to connect
// to. With source addresses, prefers the same address family. Throws
// BenchFailure(ConnectFailed) when the name does not resolve.
boost::asio::ip::tcp::endpoint resolve_broker(const BenchOptions& options);

// The client TLS context from --cafile/--cert/--key/--insecure. Throws
// BenchFailure(InvalidOptions) naming the file that could not be loaded.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const BenchOptions& options);

// Fills everything but monitor, schedule and tls from the options.
ClientEnvironment make_environment(const BenchOptions& options);

}  // namespace fg::bench
