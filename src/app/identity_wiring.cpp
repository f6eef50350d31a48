#include "app/identity_wiring.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <chrono>

#include "common/log.hpp"

namespace fg::app {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void wire_device_identity(registry::Registry& registry, registry::RegistryAuthenticator& authenticator,
                          broker::Broker& broker, boost::asio::io_context& control, std::string account_id) {
  registry.on_certificate_status_change([&broker](const std::string& id, registry::CertificateStatus status) {
    if (status != registry::CertificateStatus::Active) {
      broker.close_certificate_connections(id, "certificate " + id + " is now " + registry::to_string(status));
    }
  });

  registry.on_ca_certificate_status_change(
      [&broker, &authenticator](const std::string& id, registry::CaCertificateStatus status) {
        if (auto r = authenticator.refresh_trust(); !r) log::error("cannot rebuild the trust store: {}", r.error());
        if (status != registry::CaCertificateStatus::Active) {
          broker.close_ca_connections(id, "CA certificate " + id + " is no longer ACTIVE");
        }
      });

  authenticator.on_unregistered_device([&registry, &broker, &control,
                                        account_id](registry::RegistryAuthenticator::UnregisteredDevice d) {
    boost::asio::post(control, [&registry, &broker, account_id, d = std::move(d)] {
      auto cert = registry.register_pending_certificate(d.certificate_pem, d.ca_certificate_id);
      if (!cert) {
        // A device retrying before activation finds itself registered already.
        if (cert.error().kind != registry::RegistryError::Kind::ResourceAlreadyExists) {
          log::warn("just-in-time registration of {} from {} failed: {}", d.certificate_id, d.source,
                    cert.error().message);
        }
        return;
      }
      log::info("just-in-time registration: certificate {} from {} (CA {}) is PENDING_ACTIVATION", cert->id,
                d.source, d.ca_certificate_id);
      const int64_t t = now_ms();
      nlohmann::json event = {{"certificateId", cert->id},
                              {"caCertificateId", d.ca_certificate_id},
                              {"timestamp", t},
                              {"certificateStatus", "PENDING_ACTIVATION"},
                              {"awsAccountId", account_id},
                              {"certificateRegistrationTimestamp", std::to_string(cert->creation_date * 1000)}};
      broker.publish_event("$aws/events/certificates/registered/" + d.ca_certificate_id, event.dump());
    });
  });
}

void wire_authorization(registry::Registry& registry, broker::Broker& broker) {
  registry.on_authorization_change([&broker] { broker.refresh_policies(); });
}

}  // namespace fg::app
