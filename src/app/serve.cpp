#include "app/serve.hpp"

#include "app/connection_events.hpp"
#include "app/identity_wiring.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "api/access_keys.hpp"  // API (issue 5)
#include "api/http_server.hpp"
#include "api/logging_operations.hpp"
#include "api/registry_operations.hpp"
#include "api/service.hpp"
#include "broker/broker.hpp"
#include "eventlog/connection_history.hpp"
#include "eventlog/event_log.hpp"
#include "eventlog/logging_options.hpp"
#include "broker/client.hpp"
#include "common/log.hpp"
#include "identity/certificate_authority.hpp"
#include "identity/server_credentials.hpp"
#include "registry/device_authenticator.hpp"
#include "registry/policy_authorizer.hpp"
#include "registry/registry.hpp"
#include "store/message_store.hpp"
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
  std::string anonymous_policy;        // policy for plaintext clients; empty = refuse them
  // AWS-compatible control-plane API (issue 5).
  int api_port = 8080;  // 0 = free port, -1 = off
  int api_tls_port = -1;  // HTTPS API; off unless asked for
  std::string api_bind = "127.0.0.1";
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
  // ---- API (issue 5): the AWS account id, generated on first start.
  {
    auto account = api::load_or_create_account_id(**db);
    if (!account) {
      log::error("{}", account.error());
      return 1;
    }
    rcfg.account_id = *account;
  }
  // ---- end API
  rcfg.certificate_authority = &*ca;
  auto reg = registry::Registry::open(**db, rcfg);
  if (!reg) {
    log::error("cannot load the registry: {}", reg.error().message);
    return 1;
  }
  log::info("registry: {} things, {} certificates, loaded in {} ms", (*reg)->list_things({}).size(),
            (*reg)->list_certificates().size(),
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());

  // Logging (AWS IoT logging options), the JSON-lines event log in
  // <data-dir>/events, and the always-on connection history (31 days) that
  // the audit reads. They outlive the broker, which reports into them.
  auto logging = eventlog::LoggingOptions::open(**db);
  if (!logging) {
    log::error("cannot load the logging options: {}", logging.error().message);
    return 1;
  }
  eventlog::EventLogConfig event_cfg;
  event_cfg.directory = opts.data_dir + "/events";
  auto events = eventlog::EventLog::open(event_cfg, logging->get());
  if (!events) {
    log::error("cannot open the event log: {}", events.error().message);
    return 1;
  }
  auto history = eventlog::ConnectionHistory::open(**db, {});
  if (!history) {
    log::error("cannot open the connection history: {}", history.error().message);
    return 1;
  }
  EventRecorder recorder(**events, **history);
  (*reg)->on_certificate_status_change([log = events->get()](const std::string& id, registry::CertificateStatus st) {
    if (log->enabled()) log->record(eventlog::Event::certificate_status_change(id, "", registry::to_string(st)));
  });

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
    // Mutual TLS: a device is its certificate (see registry/device_authenticator).
    broker::require_client_certificates(*tls);
  }

  unsigned workers = opts.workers ? opts.workers : std::max(1u, std::thread::hardware_concurrency());
  net::WorkerPool pool(workers);
  broker::Broker broker(opts.broker, pool);
  broker.set_connection_events(&recorder);

  // ---- durable broker state (messages.db): retained messages and persistent
  // sessions, loaded before any listener opens; written through from then on.
  {
    auto load_started = std::chrono::steady_clock::now();
    auto mdb = store::open_sqlite_message_store(opts.data_dir + "/messages.db");
    if (!mdb) {
      log::error("cannot open {}/messages.db: {}", opts.data_dir, mdb.error().message);
      return 1;
    }
    auto restored = broker.attach_store(std::move(*mdb));
    if (!restored) {
      log::error("cannot load {}/messages.db: {}", opts.data_dir, restored.error().message);
      return 1;
    }
    log::info("messages.db: {} retained messages, {} sessions, {} subscriptions, {} queued messages, loaded in {} ms",
              restored->retained, restored->sessions, restored->subscriptions, restored->messages,
              std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - load_started)
                  .count());
  }
  // ---- end durable broker state

  // Device authentication (mutual TLS) and live enforcement of certificate
  // and CA status changes; see identity_wiring.hpp.
  auto authenticator = registry::RegistryAuthenticator::create(**reg, *ca);
  if (!authenticator) {
    log::error("cannot build the trust store: {}", authenticator.error());
    return 1;
  }
  broker.set_device_authenticator(authenticator->get());
  // AWS IoT policies on every connect, publish, subscribe and delivery.
  registry::RegistryAuthorizer authorizer(**reg, rcfg.region, rcfg.account_id, opts.anonymous_policy);
  broker.set_authorizer(&authorizer);
  boost::asio::io_context control(1);
  wire_device_identity(**reg, **authenticator, broker, control, rcfg.account_id);
  wire_authorization(**reg, broker);

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
  // ---- API (issue 5): SigV4-authenticated AWS IoT control plane on its own
  // threads. Keys live in the store; the admin pair is written to
  // <data-dir>/admin-credentials on first start.
  std::unique_ptr<api::AccessKeyStore> api_keys;
  std::unique_ptr<api::ApiService> api_service;
  std::unique_ptr<api::HttpServer> api_server;
  std::unique_ptr<api::HttpServer> api_tls_server;
  if (opts.api_port >= 0) {
    api_keys = std::make_unique<api::AccessKeyStore>(**db);
    auto admin = api_keys->ensure_admin(opts.data_dir);
    if (!admin) {
      log::error("API credentials: {}", admin.error());
      return 1;
    }
    api_service = std::make_unique<api::ApiService>(
        api::Model::iot(), [keys = api_keys.get()](const std::string& id) { return keys->find(id); });
    api::RegistryApiConfig api_cfg;
    // The MQTTS listener is opened last (see open() above). Devices should
    // use a name the server certificate covers: the first --hostname, else
    // the bind address, else localhost.
    if (opts.mqtts_port >= 0 && !listeners.empty()) {
      std::string host = !opts.hostnames.empty()                        ? opts.hostnames.front()
                         : (opts.bind == "0.0.0.0" || opts.bind == "::") ? std::string("localhost")
                                                                         : opts.bind;
      api_cfg.data_endpoint = host + ":" + std::to_string(listeners.back()->port());
    }
    api::add_registry_operations(*api_service, **reg, api_cfg);
    api::add_logging_operations(*api_service, **logging);
    api::HttpServerConfig hcfg;
    hcfg.bind = opts.api_bind;
    hcfg.port = static_cast<uint16_t>(opts.api_port);
    auto server = api::HttpServer::open(hcfg, [svc = api_service.get()](const api::HttpRequest& r) { return svc->handle(r); });
    if (!server) {
      log::error("{}", server.error());
      return 1;
    }
    api_server = std::move(*server);
    std::printf("API listening on %s:%u\n", opts.api_bind.c_str(), api_server->port());
    if (opts.api_tls_port >= 0) {
      // HTTPS with a server certificate from the built-in CA (its own
      // context: the MQTT one asks devices for client certificates).
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
      api::HttpServerConfig tcfg = hcfg;
      tcfg.port = static_cast<uint16_t>(opts.api_tls_port);
      tcfg.tls = *ctx;
      auto tls_server =
          api::HttpServer::open(tcfg, [svc = api_service.get()](const api::HttpRequest& r) { return svc->handle(r); });
      if (!tls_server) {
        log::error("{}", tls_server.error());
        return 1;
      }
      api_tls_server = std::move(*tls_server);
      std::printf("APIS listening on %s:%u\n", opts.api_bind.c_str(), api_tls_server->port());
    }
    log::info("API credentials in {}/admin-credentials", opts.data_dir);
  }
  // ---- end API
  std::fflush(stdout);

  broker.start();
  pool.start();
  for (auto& l : listeners) l->start();
  if (api_server) api_server->start();  // API (issue 5)
  if (api_tls_server) api_tls_server->start();
  log::info("fleetguard serving with {} workers, data in {}", workers, opts.data_dir);

  // The connection history keeps 31 days: purge what is older, hourly.
  boost::asio::steady_timer purge_timer(control);
  std::function<void()> schedule_purge = [&] {
    purge_timer.expires_after(std::chrono::hours(1));
    purge_timer.async_wait([&](boost::system::error_code error) {
      if (error) return;
      size_t purged = (*history)->purge();
      if (purged) log::info("connection history: purged {} entries older than 31 days", purged);
      schedule_purge();
    });
  };
  schedule_purge();

  boost::asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    log::info("signal {}: shutting down", sig);
    for (auto& l : listeners) l->close();
    broker.shutdown();
    control.stop();
  });
  control.run();
  if (api_server) api_server->stop();  // API (issue 5)
  if (api_tls_server) api_tls_server->stop();
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
  cmd->add_option("--api-port", opts->api_port, "AWS-compatible API port (0 = free port, -1 = off)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--api-bind", opts->api_bind, "Address the API listens on")->capture_default_str();
  cmd->add_option("--api-tls-port", opts->api_tls_port,
                  "HTTPS API port, certificate from the built-in CA (0 = free port; off unless given)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--log-level", opts->log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  cmd->add_option("--anonymous-policy", opts->anonymous_policy,
                  "Policy that authorises clients of the plaintext listener (they have no certificate); "
                  "without it they are refused");
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
