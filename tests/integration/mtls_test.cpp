// Mutual TLS, in one process with real sockets: the broker's TLS listener on
// port 0, the registry on SQLite in a temporary directory, and an OpenSSL
// client presenting device certificates. Checks who gets in (a registered
// ACTIVE certificate) and who does not (no certificate, unknown, INACTIVE,
// REVOKED, expired, another CA), and that deactivating a certificate closes
// its live connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "identity/certificate_authority.hpp"
#include "identity/openssl_handles.hpp"
#include "identity/server_credentials.hpp"
#include "net/listener.hpp"
#include "net/tls.hpp"
#include "net/worker_pool.hpp"
#include "registry/device_authenticator.hpp"
#include "registry/policy_authorizer.hpp"
#include "registry/registry.hpp"
#include "store/sqlite_store.hpp"

namespace fg {
namespace {

namespace fs = std::filesystem;

fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "fg-mtls-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  return fs::path(tmpl);
}

// A v3.1.1 CONNECT, clean session, keep alive 60 (client ids below 100 bytes).
std::string connect_packet(const std::string& client_id) {
  std::string p{"\x10\x00\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14};
  p[1] = static_cast<char>(12 + client_id.size());
  p[13] = static_cast<char>(client_id.size());
  return p + client_id;
}

struct DeviceCredentials {
  std::string cert_pem;
  std::string key_pem;
};

enum class Outcome { Connected, Refused };

// One device connection: TLS handshake, CONNECT, CONNACK.
class DeviceConnection {
 public:
  DeviceConnection(uint16_t port, const std::string& ca_pem, const DeviceCredentials* creds,
                   std::string client_id = "dev1")
      : connect_(connect_packet(client_id)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), identity::read_x509_pem(ca_pem).get());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (creds) {
      SSL_CTX_use_certificate(ctx_, identity::read_x509_pem(creds->cert_pem).get());
      SSL_CTX_use_PrivateKey(ctx_, identity::read_private_key_pem(creds->key_pem).get());
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    // Every read below has a deadline: a broker that never answers fails the test.
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
  }
  ~DeviceConnection() {
    // A clean close keeps the session resumable (OpenSSL marks it bad otherwise).
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
    ERR_clear_error();
  }

  // Handshake + CONNECT; Connected only when a CONNACK "accepted" comes back.
  Outcome connect() {
    if (SSL_connect(ssl_) != 1) return Outcome::Refused;
    if (SSL_write(ssl_, connect_.data(), static_cast<int>(connect_.size())) <= 0) return Outcome::Refused;
    unsigned char connack[4] = {};
    if (!read_exactly(connack, sizeof connack)) return Outcome::Refused;
    return connack[0] == 0x20 && connack[3] == 0 ? Outcome::Connected : Outcome::Refused;
  }

  // SUBSCRIBE one filter at QoS 0; returns the SUBACK's return code.
  int subscribe(const std::string& filter) {
    std::string p{"\x82\x00\x00\x01\x00\x00", 6};
    p[1] = static_cast<char>(2 + 2 + filter.size() + 1);
    p[5] = static_cast<char>(filter.size());
    p += filter;
    p += '\x00';
    if (SSL_write(ssl_, p.data(), static_cast<int>(p.size())) <= 0) return -1;
    unsigned char suback[5] = {};
    if (!read_exactly(suback, sizeof suback) || suback[0] != 0x90) return -1;
    return suback[4];
  }

  // PUBLISH at QoS 0 (topic + payload below 100 bytes).
  bool publish(const std::string& topic, const std::string& payload) {
    std::string p{"\x30\x00\x00\x00", 4};
    p[1] = static_cast<char>(2 + topic.size() + payload.size());
    p[3] = static_cast<char>(topic.size());
    p += topic + payload;
    return SSL_write(ssl_, p.data(), static_cast<int>(p.size())) > 0;
  }

  // The next PUBLISH's topic, or nullopt when the connection closed (or the
  // read deadline passed).
  std::optional<std::string> next_publish_topic() {
    unsigned char head[2] = {};
    if (!read_exactly(head, 2) || (head[0] & 0xf0) != 0x30) return std::nullopt;
    std::string body(head[1], '\0');
    if (!read_exactly(reinterpret_cast<unsigned char*>(body.data()), body.size())) return std::nullopt;
    size_t len = (static_cast<unsigned char>(body[0]) << 8) | static_cast<unsigned char>(body[1]);
    return body.substr(2, len);
  }

  // CONNACK return code of a refused CONNECT (after a successful handshake).
  int connack_code() {
    if (SSL_connect(ssl_) != 1) return -1;
    if (SSL_write(ssl_, connect_.data(), static_cast<int>(connect_.size())) <= 0) return -1;
    unsigned char connack[4] = {};
    if (!read_exactly(connack, sizeof connack)) return -1;
    return connack[3];
  }

  // PINGREQ answered by PINGRESP: the connection is alive.
  bool ping() {
    const char pingreq[2] = {'\xc0', 0};
    if (SSL_write(ssl_, pingreq, 2) != 2) return false;
    unsigned char resp[2] = {};
    return read_exactly(resp, 2) && resp[0] == 0xd0 && resp[1] == 0;
  }

  // True when the broker closes the connection before the read deadline.
  bool closed_by_broker() {
    char buf[16];
    for (;;) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) continue;  // e.g. a v5 DISCONNECT (not for 3.1.1) or session tickets
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) return true;
      if (err == SSL_ERROR_SYSCALL) return errno != EAGAIN && errno != EWOULDBLOCK;
      return err == SSL_ERROR_SSL;
    }
  }

  bool session_reused() const { return SSL_session_reused(ssl_) == 1; }
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }
  void resume(SSL_SESSION* s) { SSL_set_session(ssl_, s); }

 private:
  bool read_exactly(unsigned char* buf, size_t len) {
    size_t got = 0;
    while (got < len) {
      int n = SSL_read(ssl_, buf + got, static_cast<int>(len - got));
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  std::string connect_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A client writing to a connection the broker refused gets EPIPE, not a
    // signal that would end the test program.
    std::signal(SIGPIPE, SIG_IGN);
    dir_ = make_temp_dir();
    auto ca = identity::CertificateAuthority::load_or_create(dir_.string());
    ASSERT_TRUE(ca) << ca.error();
    ca_.emplace(std::move(*ca));
    auto db = store::open_sqlite_store((dir_ / "fleetguard.db").string());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    registry::RegistryConfig cfg;
    cfg.certificate_authority = &*ca_;
    auto reg = registry::Registry::open(*db_, cfg);
    ASSERT_TRUE(reg) << reg.error().message;
    registry_ = std::move(*reg);
    auto auth = registry::RegistryAuthenticator::create(*registry_, *ca_, [this] { return now_.load(); });
    ASSERT_TRUE(auth) << auth.error();
    authenticator_ = std::move(*auth);

    auto files = identity::ensure_server_credentials(*ca_, dir_.string(), {});
    ASSERT_TRUE(files) << files.error();
    auto tls = net::make_server_tls_context(net::TlsFiles{files->cert_file, files->key_file});
    ASSERT_TRUE(tls) << tls.error();
    broker::require_client_certificates(**tls);

    pool_ = std::make_unique<net::WorkerPool>(2);
    broker_ = std::make_unique<broker::Broker>(broker::BrokerConfig{}, *pool_);
    broker_->set_device_authenticator(authenticator_.get());
    registry_->on_certificate_status_change([this](const std::string& id, registry::CertificateStatus st) {
      if (st != registry::CertificateStatus::Active) broker_->close_certificate_connections(id, "test");
    });
    if (with_policies_) {
      authorizer_ = std::make_unique<registry::RegistryAuthorizer>(*registry_, "us-east-1", "123456789012");
      broker_->set_authorizer(authorizer_.get());
      registry_->on_authorization_change([this] { broker_->refresh_policies(); });
    }
    auto listener = net::Listener::open(control_, *pool_, "127.0.0.1", 0,
                                        [this, ctx = *tls](net::WorkerSocket s, unsigned w) {
                                          broker_->accept(std::move(s), w, ctx);
                                        });
    ASSERT_TRUE(listener) << listener.error();
    listener_ = std::move(*listener);
    broker_->start();
    pool_->start();
    listener_->start();
    control_thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(control_);
      control_.run();
    });
  }

  void TearDown() override {
    if (listener_) listener_->close();
    if (broker_) broker_->shutdown();
    control_.stop();
    if (control_thread_.joinable()) control_thread_.join();
    // The listener's cancelled accept holds a socket of a worker's context:
    // complete it (and drop the listener) while the workers still exist.
    control_.restart();
    control_.poll();
    listener_.reset();
    if (pool_) pool_->stop();
    broker_.reset();
    pool_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  DeviceCredentials new_device(registry::ActivationOnCreate activation) {
    auto made = registry_->create_keys_and_certificate(activation);
    EXPECT_TRUE(made) << made.error().message;
    last_certificate_id_ = made->certificate.id;
    return {made->certificate.pem, made->private_key_pem};
  }

  Outcome connect_with(const DeviceCredentials* creds) {
    DeviceConnection c(listener_->port(), ca_->certificate().pem, creds);
    return c.connect();
  }

  fs::path dir_;
  std::optional<identity::CertificateAuthority> ca_;
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<registry::RegistryAuthenticator> authenticator_;
  std::atomic<int64_t> now_{static_cast<int64_t>(std::time(nullptr))};
  std::unique_ptr<net::WorkerPool> pool_;
  std::unique_ptr<broker::Broker> broker_;
  boost::asio::io_context control_{1};
  std::unique_ptr<net::Listener> listener_;
  std::thread control_thread_;
  std::string last_certificate_id_;
  bool with_policies_ = false;  // derived fixtures set it in their constructor
  std::unique_ptr<registry::RegistryAuthorizer> authorizer_;
};

TEST_F(MutualTlsTest, RegisteredActiveCertificateConnects) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  EXPECT_EQ(connect_with(&dev), Outcome::Connected);
  EXPECT_EQ(broker_->stats().auth_failures, 0u);
}

TEST_F(MutualTlsTest, NoCertificateIsRefusedAndCounted) {
  EXPECT_EQ(connect_with(nullptr), Outcome::Refused);
  // The failure is counted on the worker once the handshake failed there.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (broker_->stats().auth_failures == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(broker_->stats().auth_failures, 1u);
}

TEST_F(MutualTlsTest, InactiveCertificateIsRefused) {
  auto dev = new_device(registry::ActivationOnCreate::Inactive);
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
}

TEST_F(MutualTlsTest, RevokedCertificateIsRefused) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  ASSERT_TRUE(registry_->update_certificate(last_certificate_id_, registry::CertificateStatus::Revoked));
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
}

TEST_F(MutualTlsTest, UnregisteredCertificateFromTheBuiltInCaIsRefused) {
  // Signed by our CA but never registered (e.g. deleted since).
  auto issued = ca_->issue_device("stray", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(issued) << issued.error();
  DeviceCredentials dev{issued->certificate.pem, issued->private_key_pem};
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
}

TEST_F(MutualTlsTest, CertificateFromAnotherCaIsRefused) {
  auto other_dir = make_temp_dir();
  auto other = identity::CertificateAuthority::load_or_create(other_dir.string());
  ASSERT_TRUE(other) << other.error();
  auto issued = other->issue_device("intruder", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(issued) << issued.error();
  DeviceCredentials dev{issued->certificate.pem, issued->private_key_pem};
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
  fs::remove_all(other_dir);
}

TEST_F(MutualTlsTest, ExpiredCertificateIsRefused) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  auto cert = registry_->describe_certificate(last_certificate_id_);
  ASSERT_TRUE(cert);
  EXPECT_EQ(connect_with(&dev), Outcome::Connected);
  now_ = cert->not_after + 60;  // the authenticator's clock moves past the validity
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
}

TEST_F(MutualTlsTest, DeactivatingACertificateClosesItsConnection) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  auto other = new_device(registry::ActivationOnCreate::Active);
  const std::string other_id = last_certificate_id_;
  DeviceConnection bystander(listener_->port(), ca_->certificate().pem, &dev, "bystander");
  ASSERT_EQ(bystander.connect(), Outcome::Connected);
  DeviceConnection c(listener_->port(), ca_->certificate().pem, &other, "target");
  ASSERT_EQ(c.connect(), Outcome::Connected);
  ASSERT_TRUE(registry_->update_certificate(other_id, registry::CertificateStatus::Inactive));
  // The read deadline (2 s) bounds the wait; the broker acts within a turn.
  EXPECT_TRUE(c.closed_by_broker());
  EXPECT_EQ(connect_with(&other), Outcome::Refused);
  EXPECT_TRUE(bystander.ping()) << "a connection with another certificate must stay";
}

TEST_F(MutualTlsTest, ResumedSessionIsCheckedAgainstTheRegistry) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  const std::string id = last_certificate_id_;
  SSL_SESSION* session = nullptr;
  {
    DeviceConnection first(listener_->port(), ca_->certificate().pem, &dev);
    ASSERT_EQ(first.connect(), Outcome::Connected);
    session = first.session();  // TLS 1.3: the ticket arrived with the CONNACK
  }
  ASSERT_NE(session, nullptr);
  ASSERT_EQ(SSL_SESSION_is_resumable(session), 1);
  ASSERT_EQ(SSL_SESSION_has_ticket(session), 1);
  {
    DeviceConnection again(listener_->port(), ca_->certificate().pem, &dev);
    again.resume(session);
    EXPECT_EQ(again.connect(), Outcome::Connected);
    EXPECT_TRUE(again.session_reused());
  }
  ASSERT_TRUE(registry_->update_certificate(id, registry::CertificateStatus::Inactive));
  {
    DeviceConnection resumed(listener_->port(), ca_->certificate().pem, &dev);
    resumed.resume(session);
    EXPECT_EQ(resumed.connect(), Outcome::Refused);
  }
  SSL_SESSION_free(session);
}

// ---------------------------------------------------------------- registered CAs

class RegisteredCaTest : public MutualTlsTest {
 protected:
  void SetUp() override {
    MutualTlsTest::SetUp();
    other_dir_ = make_temp_dir();
    auto other = identity::CertificateAuthority::load_or_create(other_dir_.string());
    ASSERT_TRUE(other) << other.error();
    device_ca_.emplace(std::move(*other));
    authenticator_->on_unregistered_device([this](registry::RegistryAuthenticator::UnregisteredDevice d) {
      std::lock_guard lock(mu_);
      unregistered_.push_back(std::move(d));
      cv_.notify_all();
    });
  }
  void TearDown() override {
    MutualTlsTest::TearDown();
    std::error_code ec;
    fs::remove_all(other_dir_, ec);
  }
  std::string register_device_ca(registry::AutoRegistration auto_registration) {
    registry::RegisterCaCertificateRequest r;
    r.ca_certificate_pem = device_ca_->certificate().pem;
    r.activation = registry::ActivationOnCreate::Active;
    r.auto_registration = auto_registration;
    auto ca = registry_->register_ca_certificate(r);
    EXPECT_TRUE(ca) << ca.error().message;
    EXPECT_TRUE(authenticator_->refresh_trust());
    return ca ? ca->id : "";
  }
  DeviceCredentials device_of_ca(const std::string& name) {
    auto issued = device_ca_->issue_device(name, identity::KeyType::EcP256, 30);
    EXPECT_TRUE(issued) << issued.error();
    return {issued->certificate.pem, issued->private_key_pem};
  }
  // Waits (with a deadline) for the authenticator to report an unregistered device.
  std::optional<registry::RegistryAuthenticator::UnregisteredDevice> next_unregistered() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(2), [this] { return !unregistered_.empty(); })) return std::nullopt;
    auto d = unregistered_.front();
    unregistered_.erase(unregistered_.begin());
    return d;
  }

  fs::path other_dir_;
  std::optional<identity::CertificateAuthority> device_ca_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<registry::RegistryAuthenticator::UnregisteredDevice> unregistered_;
};

TEST_F(RegisteredCaTest, DeviceOfARegisteredCaConnectsUntilTheCaIsDeactivated) {
  const std::string ca_id = register_device_ca(registry::AutoRegistration::Disable);
  auto dev = device_of_ca("conveyor-7");
  // Trusted chain, but not registered yet (and no auto-registration).
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
  auto cert = registry_->register_certificate(dev.cert_pem, registry::CertificateStatus::Active);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(cert->ca_certificate_id, ca_id);

  DeviceConnection live(listener_->port(), ca_->certificate().pem, &dev, "conveyor-7");
  ASSERT_EQ(live.connect(), Outcome::Connected);
  // Deactivating the CA: new trust store, and its devices' connections close.
  registry_->on_ca_certificate_status_change([this](const std::string& id, registry::CaCertificateStatus st) {
    EXPECT_TRUE(authenticator_->refresh_trust());
    if (st != registry::CaCertificateStatus::Active) broker_->close_ca_connections(id, "test");
  });
  ASSERT_TRUE(registry_->update_ca_certificate(ca_id, {registry::CaCertificateStatus::Inactive, std::nullopt}));
  EXPECT_TRUE(live.closed_by_broker());
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
}

TEST_F(RegisteredCaTest, JustInTimeRegistration) {
  const std::string ca_id = register_device_ca(registry::AutoRegistration::Enable);
  auto dev = device_of_ca("scanner-3");
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
  auto seen = next_unregistered();
  ASSERT_TRUE(seen.has_value()) << "the authenticator did not report the unregistered device";
  EXPECT_EQ(seen->ca_certificate_id, ca_id);
  EXPECT_NE(seen->source.find("127.0.0.1:"), std::string::npos);
  // What the control plane does with it (app/identity_wiring.cpp).
  auto pending = registry_->register_pending_certificate(seen->certificate_pem, seen->ca_certificate_id);
  ASSERT_TRUE(pending) << pending.error().message;
  EXPECT_EQ(pending->id, seen->certificate_id);
  EXPECT_EQ(pending->status, registry::CertificateStatus::PendingActivation);
  // Still refused while pending; the administrator activates it; it connects.
  EXPECT_EQ(connect_with(&dev), Outcome::Refused);
  ASSERT_TRUE(registry_->update_certificate(pending->id, registry::CertificateStatus::Active));
  EXPECT_EQ(connect_with(&dev), Outcome::Connected);
}

// ---------------------------------------------------------------- policies

class PolicyEnforcementTest : public MutualTlsTest {
 protected:
  PolicyEnforcementTest() { with_policies_ = true; }
  static constexpr const char* kDevicePolicy = R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
    {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/dc/${iot:Connection.Thing.ThingName}/*"},
    {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/dc/${iot:Connection.Thing.ThingName}/*"}]})";
  static constexpr const char* kDenyAll =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]})";

  DeviceCredentials provision(const std::string& thing) {
    auto dev = new_device(registry::ActivationOnCreate::Active);
    auto cert = registry_->describe_certificate(last_certificate_id_);
    EXPECT_TRUE(cert);
    EXPECT_TRUE(registry_->create_thing(thing, "", {}));
    EXPECT_TRUE(registry_->attach_thing_principal(thing, cert->arn));
    EXPECT_TRUE(registry_->attach_policy("DevicePolicy", cert->arn));
    return dev;
  }
};

TEST_F(PolicyEnforcementTest, ThingScopedPolicyAndLiveQuarantine) {
  ASSERT_TRUE(registry_->create_policy("DevicePolicy", kDevicePolicy));
  ASSERT_TRUE(registry_->create_policy("QuarantinePolicy", kDenyAll));
  ASSERT_TRUE(registry_->create_thing_group("Quarantine", std::nullopt, {}));
  ASSERT_TRUE(registry_->attach_policy("QuarantinePolicy", "arn:aws:iot:us-east-1:123456789012:thinggroup/Quarantine"));
  auto dev = provision("sensor-1");

  {  // Connecting under another client id is not allowed (CONNACK 5).
    DeviceConnection wrong(listener_->port(), ca_->certificate().pem, &dev, "sensor-2");
    EXPECT_EQ(wrong.connack_code(), 5);
  }
  DeviceConnection c(listener_->port(), ca_->certificate().pem, &dev, "sensor-1");
  ASSERT_EQ(c.connect(), Outcome::Connected);
  EXPECT_EQ(c.subscribe("dc/sensor-1/#"), 0);
  EXPECT_EQ(c.subscribe("dc/sensor-2/#"), 0x80) << "another device's topics";
  ASSERT_TRUE(c.publish("dc/sensor-1/temp", "21"));
  EXPECT_EQ(c.next_publish_topic(), std::optional<std::string>("dc/sensor-1/temp"));
  const uint64_t denied_before = broker_->stats().authz_failures;
  EXPECT_GE(denied_before, 2u);  // the refused CONNECT and SUBSCRIBE

  // Quarantine: the thing joins a group whose policy denies everything. Its
  // next publish (3.1.1) closes the connection, as AWS does. Until the
  // workers have the new snapshot the echo still arrives; the read deadline
  // bounds the wait.
  ASSERT_TRUE(registry_->add_thing_to_thing_group("Quarantine", "sensor-1"));
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) {
    if (!c.publish("dc/sensor-1/temp", "99")) {
      closed = true;
      break;
    }
    closed = !c.next_publish_topic().has_value();
  }
  EXPECT_TRUE(closed);
  EXPECT_GT(broker_->stats().authz_failures, denied_before);
  {
    DeviceConnection again(listener_->port(), ca_->certificate().pem, &dev, "sensor-1");
    EXPECT_EQ(again.connack_code(), 5) << "a quarantined device cannot connect";
  }
  // Released from quarantine: everything is back.
  ASSERT_TRUE(registry_->remove_thing_from_thing_group("Quarantine", "sensor-1"));
  DeviceConnection released(listener_->port(), ca_->certificate().pem, &dev, "sensor-1");
  ASSERT_EQ(released.connect(), Outcome::Connected);
  EXPECT_EQ(released.subscribe("dc/sensor-1/#"), 0);
}

TEST_F(PolicyEnforcementTest, NoPolicyMeansNothingIsAllowed) {
  auto dev = new_device(registry::ActivationOnCreate::Active);
  DeviceConnection c(listener_->port(), ca_->certificate().pem, &dev, "lonely");
  EXPECT_EQ(c.connack_code(), 5);
}

}  // namespace
}  // namespace fg
