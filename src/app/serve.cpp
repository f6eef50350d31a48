#include "app/serve.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <sys/resource.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "broker/broker.hpp"
#include "common/log.hpp"
#include "identity/certificate_authority.hpp"
#include "identity/server_credentials.hpp"
#include "registry/registry.hpp"
#include "store/store.hpp"
#include "net/listener.hpp"
#include "net/tls.hpp"
#include "net/worker_pool.hpp"

namespace fg::app {
namespace {

struct ServeOptions {
  std::string data_dir = "./fleetguard-data";
  std::string bind = "0.0.0.0";
  int mqtt_port = -1;     // plaintext; off unless asked for
  int mqtts_port = 8883;  // TLS; -1 = off
  unsigned workers = 0;   // 0 = number of cores
  std::string log_level = "info";
  std::vector<std::string> hostnames;  // extra names for the server certificate
  broker::BrokerConfig broker;
};

// Devices hold one socket each: use every file descriptor we are allowed.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int run_serve(ServeOptions opts) {
  log::Level level;
  if (!log::parse_level(opts.log_level, level)) {
    std::cerr << "fleetguard: unknown --log-level '" << opts.log_level << "'\n";
    return 2;
  }
  log::init(level);
  raise_fd_limit();
  // OpenSSL writes TLS records with write(2): a peer that vanished must cost
  // an EPIPE on that connection, not a SIGPIPE for the whole process.
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  std::filesystem::create_directories(opts.data_dir, ec);
  if (ec) {
    log::error("cannot create data directory {}: {}", opts.data_dir, ec.message());
    return 1;
  }
  if (opts.mqtt_port < 0 && opts.mqtts_port < 0) {
    log::error("no listener: give --mqtt-port and/or --mqtts-port");
    return 2;
  }

  // The built-in CA: devices trust ca.pem (fleetguard's AmazonRootCA1).
  auto ca = identity::CertificateAuthority::load_or_create(opts.data_dir);
  if (!ca) {
    log::error("{}", ca.error());
    return 1;
  }
  log::info("certificate authority {} ({}/ca.pem)", ca->certificate().id, opts.data_dir);

  // The durable registry: SQLite in the data directory, served from memory.
  auto started = std::chrono::steady_clock::now();
  auto db = store::open_sqlite_store(opts.data_dir + "/fleetguard.db");
  if (!db) {
    log::error("cannot open {}/fleetguard.db: {}", opts.data_dir, db.error().message);
    return 1;
  }
  registry::RegistryConfig rcfg;
  rcfg.certificate_authority = &*ca;
  auto reg = registry::Registry::open(**db, rcfg);
  if (!reg) {
    log::error("cannot load the registry: {}", reg.error().message);
    return 1;
  }
  log::info("registry: {} things, {} certificates, loaded in {} ms", (*reg)->list_things({}).size(),
            (*reg)->list_certificates().size(),
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());

  std::shared_ptr<boost::asio::ssl::context> tls;
  if (opts.mqtts_port >= 0) {
    auto files = identity::ensure_server_credentials(*ca, opts.data_dir, opts.hostnames);
    if (!files) {
      log::error("{}", files.error());
      return 1;
    }
    auto ctx = net::make_server_tls_context(net::TlsFiles{files->cert_file, files->key_file});
    if (!ctx) {
      log::error("{}", ctx.error());
      return 1;
    }
    tls = *ctx;
  }

  unsigned workers = opts.workers ? opts.workers : std::max(1u, std::thread::hardware_concurrency());
  net::WorkerPool pool(workers);
  broker::Broker broker(opts.broker, pool);
  boost::asio::io_context control(1);

  std::vector<std::unique_ptr<net::Listener>> listeners;
  auto open = [&](int port, const char* what, std::shared_ptr<boost::asio::ssl::context> ctx) -> bool {
    if (port < 0) return true;
    auto l = net::Listener::open(control, pool, opts.bind, static_cast<uint16_t>(port),
                                 [&broker, ctx](net::WorkerSocket s, unsigned w) {
                                   broker.accept(std::move(s), w, ctx);
                                 });
    if (!l) {
      log::error("{}", l.error());
      return false;
    }
    std::printf("%s listening on %s:%u\n", what, opts.bind.c_str(), (*l)->port());
    listeners.push_back(std::move(*l));
    return true;
  };
  if (!open(opts.mqtt_port, "MQTT", nullptr) || !open(opts.mqtts_port, "MQTTS", tls)) return 1;
  std::fflush(stdout);

  broker.start();
  pool.start();
  for (auto& l : listeners) l->start();
  log::info("fleetguard serving with {} workers, data in {}", workers, opts.data_dir);

  boost::asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    log::info("signal {}: shutting down", sig);
    for (auto& l : listeners) l->close();
    broker.shutdown();
    control.stop();
  });
  control.run();
  pool.stop();
  auto st = broker.stats();
  log::info("stopped: {} messages in, {} out, {} dropped, {} connections", st.messages_in,
            st.messages_out, st.messages_dropped, st.connections);
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the fleetguard server (MQTT broker)");
  cmd->add_option("--data-dir", opts->data_dir, "Where state lives (created if missing)")
      ->capture_default_str();
  cmd->add_option("--bind", opts->bind, "Address the MQTT listeners bind to")->capture_default_str();
  cmd->add_option("--mqtt-port", opts->mqtt_port,
                  "Plaintext MQTT port (0 = pick a free port; off unless given)")
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--mqtts-port", opts->mqtts_port, "MQTT over TLS port (0 = free port, -1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--workers", opts->workers, "Worker threads (default: one per core)");
  cmd->add_option("--hostname", opts->hostnames,
                  "Extra DNS name or IP for the server certificate (repeatable; localhost, 127.0.0.1, ::1 "
                  "and this machine's hostname are always included)");
  cmd->add_option("--log-level", opts->log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  auto& b = opts->broker;
  cmd->add_option("--max-packet-size", b.max_packet_size, "Largest packet accepted (bytes)")
      ->capture_default_str()
      ->check(CLI::Range(64u, 268435460u));
  cmd->add_option("--max-inflight", b.max_inflight, "Outbound QoS 1/2 messages in flight per client")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--max-queued-messages", b.max_queued_messages,
                  "QoS 1/2 messages queued per session beyond the in-flight window")
      ->capture_default_str();
  cmd->add_option("--max-outbound-bytes", b.max_outbound_bytes,
                  "Write backlog per connection past which QoS 0 messages are dropped")
      ->capture_default_str();
  cmd->add_option("--receive-maximum", b.receive_maximum, "Unreleased inbound QoS 2 messages per client")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--topic-alias-maximum", b.topic_alias_maximum, "Topic aliases a v5 client may use")
      ->capture_default_str();
  cmd->add_option("--max-keepalive", b.max_keepalive, "Largest keep alive granted (0 = any)")
      ->capture_default_str();
  cmd->callback([opts] {
    int rc = run_serve(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace fg::app
