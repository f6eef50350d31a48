// RegistryAuthenticator: the registry's answer to "may this TLS client
// connect?" (identity::DeviceAuthenticator). A device must present a
// certificate that chains to the built-in CA or an ACTIVE registered CA, is
// inside its validity, and is registered and ACTIVE; everything comes from
// memory (the trust store and the registry's in-memory maps).
//
// Threading: authenticate()/reauthenticate() run on broker worker threads,
// concurrently. The trust store is an immutable snapshot swapped under a
// small mutex by refresh_trust() (control plane, after CA changes).
// Ownership: borrows the Registry and the built-in CA; both must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "identity/certificate_authority.hpp"
#include "identity/device_identity.hpp"
#include "identity/trust_store.hpp"
#include "registry/registry.hpp"

namespace fg::registry {

class RegistryAuthenticator final : public identity::DeviceAuthenticator {
 public:
  // Fails when the trust store cannot be built.
  // `clock` (Unix seconds) replaces the system clock, for tests.
  static Result<std::unique_ptr<RegistryAuthenticator>, std::string> create(
      Registry& registry, const identity::CertificateAuthority& ca, std::function<int64_t()> clock = {});

  Result<identity::DeviceIdentityPtr, identity::AuthenticationFailure> authenticate(
      X509* leaf, STACK_OF(X509) * presented, const std::string& source) override;
  Result<identity::DeviceIdentityPtr, identity::AuthenticationFailure> reauthenticate(X509* leaf) override;

  // Rebuilds the trust store from the built-in CA and the registry's ACTIVE
  // CA certificates. Call after any CA certificate change.
  Result<store::Done, std::string> refresh_trust();

  // Just-in-time registration: a device presented `certificate_pem`, which
  // chains to the registered CA `ca_certificate_id` (auto-registration on)
  // but is not registered. The handler must not block: it runs in the TLS
  // handshake on a broker worker; it should hand the work to the control
  // plane (Registry::register_pending_certificate, then the event).
  struct UnregisteredDevice {
    std::string ca_certificate_id;
    std::string certificate_id;
    std::string certificate_pem;
    std::string source;  // "ip:port"
  };
  void on_unregistered_device(std::function<void(UnregisteredDevice)> handler) { on_unregistered_ = std::move(handler); }

 private:
  RegistryAuthenticator(Registry& registry, const identity::CertificateAuthority& ca,
                        std::function<int64_t()> clock)
      : registry_(registry), ca_(ca), clock_(std::move(clock)) {}
  std::shared_ptr<const identity::TrustStore> trust() const;
  // The registry half, shared by both paths.
  Result<identity::DeviceIdentityPtr, identity::AuthenticationFailure> check_registered(X509* leaf,
                                                                                        std::string id);
  // A trusted but unregistered certificate: just-in-time registration when
  // its CA allows it, else NotRegistered.
  identity::AuthenticationFailure unregistered(X509* leaf, const std::string& id, const std::string& anchor,
                                               const std::string& source);

  Registry& registry_;
  const identity::CertificateAuthority& ca_;
  std::function<int64_t()> clock_;  // empty: system clock
  std::function<void(UnregisteredDevice)> on_unregistered_;  // set before serving
  mutable std::mutex mu_;  // guards trust_ (the pointer, not the store)
  std::shared_ptr<const identity::TrustStore> trust_;
};

}  // namespace fg::registry
