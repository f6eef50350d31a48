#include "bench/bench_cli.hpp"

#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "bench/bench_options.hpp"
#include "bench/bench_report.hpp"
#include "bench/connection_hold.hpp"
#include "bench/load_run.hpp"

namespace fg::bench {

namespace {

// File descriptors the tool needs besides its connections: stdio, epoll,
// eventfd and timerfd per io thread, the signal pipe, and some slack.
constexpr unsigned kReservedDescriptors = 64;

// Idle-connection runs want thousands of sockets; the soft limit is often
// 1024 while the hard limit allows far more, and raising soft to hard needs no
// privilege. Returns the soft limit in force afterwards.
rlim_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

void check_option_combinations(const BenchOptions& o) {
  if (!o.tls && (!o.cafile.empty() || !o.cert.empty() || !o.key.empty() || o.insecure)) {
    throw BenchFailure(ExitCode::InvalidOptions, "--cafile, --cert, --key and --insecure need --tls");
  }
  if (!o.key.empty() && o.cert.empty()) throw BenchFailure(ExitCode::InvalidOptions, "--key needs --cert");
  if (o.connections_only == 0 && !o.source_ips.empty()) {
    throw BenchFailure(ExitCode::InvalidOptions, "--source-ips applies to --connections-only runs");
  }
}

void run_connections(const BenchOptions& options) {
  const rlim_t limit = raise_open_file_limit();
  if (options.connections_only + kReservedDescriptors > limit) {
    throw BenchFailure(ExitCode::InvalidOptions,
                       "--connections-only " + std::to_string(options.connections_only) + " needs about " +
                           std::to_string(options.connections_only + kReservedDescriptors) +
                           " open files, but this process may open " + std::to_string(limit) +
                           " (ulimit -Hn); run several bench processes, e.g. with different --source-ips");
  }
  ConnectionHold hold(options);
  const auto result = hold.run([](unsigned n) { std::cout << "READY " << n << std::endl; });
  std::cout << (options.json ? to_json(result) + "\n" : to_table(result)) << std::flush;
  if (result.dropped > 0) {
    throw BenchFailure(ExitCode::RunFailed, std::to_string(result.dropped) +
                                                " connection(s) were closed by the broker while held: " +
                                                result.first_error);
  }
}

void run_load(const BenchOptions& options) {
  raise_open_file_limit();
  LoadRun run(options);
  const auto result = run.run();
  std::cout << (options.json ? to_json(result) + "\n" : to_table(result)) << std::flush;
}

void run_bench_command(const BenchOptions& options) {
  try {
    check_option_combinations(options);
    if (options.connections_only > 0) {
      run_connections(options);
    } else {
      run_load(options);
    }
  } catch (const BenchFailure& failure) {
    std::cout << std::flush;
    std::cerr << "fleetguard bench: " << failure.what() << std::endl;
    throw CLI::RuntimeError(static_cast<int>(failure.code()));
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  // The options live as long as the App: the callback owns them.
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench", "Load-test an MQTT broker (fleetguard, mosquitto, ...): throughput, latency, idle connections");

  const char* broker = "Broker";
  cmd->add_option("--host", o->host, "Broker host name or IP address")->capture_default_str()->group(broker);
  cmd->add_option("--port", o->port, "Broker port")->capture_default_str()->group(broker);
  cmd->add_flag("--tls", o->tls, "Connect with TLS")->group(broker);
  cmd->add_option("--cafile", o->cafile, "CA certificates (PEM) to verify the broker; default: system store")
      ->check(CLI::ExistingFile)
      ->group(broker);
  cmd->add_option("--cert", o->cert, "Client certificate chain (PEM)")->check(CLI::ExistingFile)->group(broker);
  cmd->add_option("--key", o->key, "Client private key (PEM); default: the --cert file")
      ->check(CLI::ExistingFile)
      ->group(broker);
  cmd->add_flag("--insecure", o->insecure, "Do not verify the broker's certificate")->group(broker);
  cmd->add_option("--protocol", o->protocol, "MQTT version: 311 or 5")
      ->check(CLI::IsMember({311, 5}))
      ->capture_default_str()
      ->group(broker);
  cmd->add_option_function<std::string>("--username", [o](const std::string& v) { o->username = v; },
                                        "MQTT user name")
      ->group(broker);
  cmd->add_option_function<std::string>("--password", [o](const std::string& v) { o->password = v; },
                                        "MQTT password")
      ->group(broker);
  cmd->add_option("--client-id-prefix", o->client_id_prefix,
                  "Client identifiers are <prefix>-p<i>, -s<i>, -c<i>; default fgbench-<pid>")
      ->group(broker);
  cmd->add_option("--keepalive", o->keep_alive, "MQTT keep-alive in seconds (the tool pings at half of it)")
      ->capture_default_str()
      ->group(broker);
  cmd->add_option("--connect-timeout", o->connect_timeout, "Seconds allowed per connection (TCP+TLS+CONNACK)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(broker);
  cmd->add_option("--threads", o->threads, "I/O threads of the tool")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str()
      ->group(broker);
  cmd->add_flag("--json", o->json, "Print the result as one JSON object line")->group(broker);

  const char* load = "Load";
  cmd->add_option("--publishers", o->publishers, "Publishing connections")
      ->check(CLI::Range(1u, 65535u))
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--subscribers", o->subscribers, "Subscribing connections")->capture_default_str()->group(load);
  cmd->add_flag("--persistent-subscribers", o->persistent_subscribers,
                "Subscribers use persistent sessions (3.1.1 clean session 0, v5 session expiry 1 h)")
      ->group(load);
  cmd->add_option("--topic", o->topic, "Publish topic; %i is the publisher index")->capture_default_str()->group(load);
  cmd->add_option("--sub-topic", o->sub_topic, "Subscription filter")->capture_default_str()->group(load);
  cmd->add_option("--qos", o->qos, "QoS of publishes and subscriptions")
      ->check(CLI::Range(0, 2))
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--payload", o->payload, "Payload bytes (>= 16: send time and sequence number)")
      ->check(CLI::Range(16u, 64u * 1024u * 1024u))
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--rate", o->rate, "Messages/s per publisher; 0 = as fast as possible")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--duration", o->duration, "Measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--warmup", o->warmup, "Seconds of load before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(load);
  cmd->add_option("--inflight", o->inflight, "Unacknowledged QoS 1/2 messages per publisher")
      ->check(CLI::Range(1u, 65535u))
      ->capture_default_str()
      ->group(load);

  const char* idle = "Idle connections";
  cmd->add_option("--connections-only", o->connections_only,
                  "Open N idle connections, print READY <N>, hold them; no publish/subscribe load")
      ->group(idle);
  cmd->add_option("--connect-rate", o->connect_rate, "New connections/s; 0 = as fast as possible")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(idle);
  cmd->add_option("--connect-concurrency", o->connect_concurrency, "Connections being set up at once, at most")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str()
      ->group(idle);
  cmd->add_option("--source-ips", o->source_ips,
                  "Local addresses to connect from, round-robin (e.g. 127.0.0.2,127.0.0.3)")
      ->delimiter(',')
      ->group(idle);
  cmd->add_option("--hold", o->hold, "Seconds to hold the connections; default until SIGINT/SIGTERM")
      ->check(CLI::NonNegativeNumber)
      ->group(idle);

  cmd->callback([o] { run_bench_command(*o); });
}

}  // namespace fg::bench
