// Settings of one `fleetguard bench` run, as parsed from the command line, and
// the failure type the runs throw. The bench tool is control plane from the
// broker's point of view: setup errors are exceptions that carry the process
// exit code; the per-message path inside BenchClient never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fg::bench {

// Process exit codes of `fleetguard bench`, documented in bench/README.md so
// scripts can tell a misconfigured run from a broker that refused or failed.
enum class ExitCode : int {
  Ok = 0,
  InvalidOptions = 2,    // options that make no sense together, unreadable TLS files
  ConnectFailed = 3,     // TCP/TLS connect, CONNACK or SUBACK refused, timeout
  RunFailed = 4,         // a connection dropped or the broker misbehaved mid-run
  Interrupted = 130,     // SIGINT/SIGTERM during a load run
};

// A run that cannot go on. `what()` is a sentence for a person.
class BenchFailure : public std::runtime_error {
 public:
  BenchFailure(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

struct BenchOptions {
  // Broker address and transport.
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  bool tls = false;
  std::string cafile;  // empty: the system trust store
  std::string cert;    // client certificate chain (PEM), optional
  std::string key;     // client private key (PEM), needed with cert
  bool insecure = false;
  int protocol = 311;  // 311 or 5
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::string client_id_prefix;  // empty: "fgbench-<pid>"
  uint16_t keep_alive = 600;     // seconds; the tool pings at half of it
  double connect_timeout = 10;   // seconds per connection (TCP + TLS + CONNACK + SUBACK)

  // Load mode.
  unsigned publishers = 1;
  unsigned subscribers = 1;
  bool persistent_subscribers = false;  // clean session 0 (v5: session expiry 1 h)
  std::string topic = "bench/%i";  // %i: publisher index
  std::string sub_topic = "bench/#";
  int qos = 0;
  unsigned payload = 100;  // bytes, >= 16 (send time + sequence number)
  double rate = 0;         // messages/s per publisher, 0: as fast as possible
  double duration = 10;    // measured seconds
  double warmup = 2;       // seconds before the measurement window opens
  unsigned inflight = 64;  // unacknowledged QoS 1/2 messages per publisher
  unsigned threads = 1;

  // Idle-connections mode (enabled by connections_only > 0).
  unsigned connections_only = 0;
  double connect_rate = 0;  // new connections/s, 0: as fast as possible
  // Small on purpose: mosquitto listens with a backlog of 100, and SYNs beyond
  // it are retried only after a second; 16-32 gave the best rates locally.
  unsigned connect_concurrency = 32;
  std::vector<std::string> source_ips;
  double hold = -1;  // seconds to hold once all are connected; < 0: until SIGINT/SIGTERM

  bool json = false;
};

}  // namespace fg::bench
