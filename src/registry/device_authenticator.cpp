#include "registry/device_authenticator.hpp"

#include <ctime>

#include "identity/certificate.hpp"
#include "identity/openssl_handles.hpp"

namespace fg::registry {

using identity::AuthenticationFailure;
using identity::DeviceIdentity;
using identity::DeviceIdentityPtr;
using R = AuthenticationFailure::Reason;

Result<std::unique_ptr<RegistryAuthenticator>, std::string> RegistryAuthenticator::create(
    Registry& registry, const identity::CertificateAuthority& ca, std::function<int64_t()> clock) {
  std::unique_ptr<RegistryAuthenticator> a(new RegistryAuthenticator(registry, ca, std::move(clock)));
  if (auto r = a->refresh_trust(); !r) return unexpected(r.error());
  return a;
}

Result<store::Done, std::string> RegistryAuthenticator::refresh_trust() {
  std::vector<identity::TrustStore::Anchor> anchors;
  anchors.push_back({ca_.certificate().id, ca_.certificate().pem});
  for (const auto& c : registry_.list_ca_certificates()) {
    if (c.status == CaCertificateStatus::Active) anchors.push_back({c.id, c.pem});
  }
  auto built = identity::TrustStore::build(anchors);
  if (!built) return unexpected(built.error());
  std::lock_guard lock(mu_);
  trust_ = std::move(*built);
  return store::Done{};
}

std::shared_ptr<const identity::TrustStore> RegistryAuthenticator::trust() const {
  std::lock_guard lock(mu_);
  return trust_;
}

Result<DeviceIdentityPtr, AuthenticationFailure> RegistryAuthenticator::authenticate(X509* leaf,
                                                                                     STACK_OF(X509) * presented,
                                                                                     const std::string& source) {
  if (leaf == nullptr) return unexpected(AuthenticationFailure{R::NoCertificate, "no client certificate", {}});
  std::string id = identity::certificate_id_of(leaf);
  auto anchor = trust()->verify(leaf, presented, clock_ ? std::optional<int64_t>(clock_()) : std::nullopt);
  if (!anchor) {
    auto f = anchor.error();
    f.certificate_id = id;
    return unexpected(std::move(f));
  }
  auto identity = check_registered(leaf, id);
  if (!identity && identity.error().reason == R::NotRegistered) {
    return unexpected(unregistered(leaf, id, *anchor, source));
  }
  return identity;
}

AuthenticationFailure RegistryAuthenticator::unregistered(X509* leaf, const std::string& id, const std::string& anchor,
                                                          const std::string& source) {
  auto ca = registry_.find_ca_certificate(anchor);
  if (!ca || ca->auto_registration != AutoRegistration::Enable || !on_unregistered_) {
    return AuthenticationFailure{R::NotRegistered, "certificate is not registered", id};
  }
  on_unregistered_(UnregisteredDevice{anchor, id, identity::x509_to_pem(leaf), source});
  return AuthenticationFailure{R::PendingActivation,
                               "certificate is not registered; queued for just-in-time registration as PENDING_ACTIVATION (CA " + anchor + ")",
                               id};
}

Result<DeviceIdentityPtr, AuthenticationFailure> RegistryAuthenticator::reauthenticate(X509* leaf) {
  if (leaf == nullptr) return unexpected(AuthenticationFailure{R::NoCertificate, "no client certificate", {}});
  return check_registered(leaf, identity::certificate_id_of(leaf));
}

Result<DeviceIdentityPtr, AuthenticationFailure> RegistryAuthenticator::check_registered(X509* leaf,
                                                                                         std::string id) {
  auto st = registry_.certificate_auth_state(id);
  if (!st) return unexpected(AuthenticationFailure{R::NotRegistered, "certificate is not registered", id});
  if (st->status != CertificateStatus::Active) {
    return unexpected(AuthenticationFailure{
        st->status == CertificateStatus::PendingActivation ? R::PendingActivation : R::NotActive,
        "certificate is " + to_string(st->status), id});
  }
  if (!st->ca_active) {
    return unexpected(AuthenticationFailure{R::CaNotActive, "the certificate's CA " + st->ca_certificate_id +
                                                                " is not ACTIVE", id});
  }
  const int64_t now = clock_ ? clock_() : static_cast<int64_t>(std::time(nullptr));
  if (now < st->not_before || now > st->not_after) {
    return unexpected(AuthenticationFailure{R::Expired, "certificate is outside its validity", id});
  }
  auto d = std::make_shared<DeviceIdentity>();
  d->certificate_id = std::move(id);
  d->ca_certificate_id = std::move(st->ca_certificate_id);
  auto subject = identity::subject_of(leaf);
  auto issuer = identity::issuer_of(leaf);
  d->subject = std::move(subject.line);
  d->subject_fields = std::move(subject.fields);
  d->issuer = std::move(issuer.line);
  d->issuer_fields = std::move(issuer.fields);
  d->serial_hex = identity::serial_hex_of(leaf);
  d->not_after = st->not_after;
  d->things = std::move(st->things);
  return DeviceIdentityPtr(std::move(d));
}

}  // namespace fg::registry
