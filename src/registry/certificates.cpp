// Device certificates and thing-principal attachments (AWS CreateKeysAndCertificate,
// CreateCertificateFromCsr, RegisterCertificate, DescribeCertificate,
// UpdateCertificate, DeleteCertificate, ListCertificates, AttachThingPrincipal,
// DetachThingPrincipal, ListThingPrincipals, ListPrincipalThings).
//
// Same rules as registry.cpp: validate, write one store batch under the
// exclusive lock, then update memory. Status observers run after the lock is
// released so they may call back into the registry.
#include "registry/registry.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "registry/registry_records.hpp"

namespace fg::registry {
namespace {

using json = nlohmann::json;
using Kind = RegistryError::Kind;
using records::erase;
using records::fail;
using records::check_certificate_id;
using records::is_certificate_id;
using records::put;

constexpr const char* kCertificateKind = "certificate";
constexpr const char* kThingPrincipalKind = "thing_principal";
constexpr const char* kDeviceCommonName = "AWS IoT Certificate";  // what AWS puts in its device certificates
constexpr int kDeviceCertificateDays = 3650;
using records::kMaxCertificatePemLength;
constexpr std::size_t kMaxPrincipalLength = 2048;        // generous; AWS Principal has no explicit bound

constexpr std::array<std::pair<CertificateStatus, const char*>, 6> kStatusNames{{
    {CertificateStatus::Active, "ACTIVE"},
    {CertificateStatus::Inactive, "INACTIVE"},
    {CertificateStatus::Revoked, "REVOKED"},
    {CertificateStatus::PendingTransfer, "PENDING_TRANSFER"},
    {CertificateStatus::RegisterInactive, "REGISTER_INACTIVE"},
    {CertificateStatus::PendingActivation, "PENDING_ACTIVATION"},
}};

json to_json(const Certificate& c) {
  return {{"id", c.id},
          {"arn", c.arn},
          {"pem", c.pem},
          {"status", to_string(c.status)},
          {"ca_certificate_id", c.ca_certificate_id},
          {"owned_by", c.owned_by},
          {"creation_date", c.creation_date},
          {"last_modified_date", c.last_modified_date},
          {"not_before", c.not_before},
          {"not_after", c.not_after},
          {"subject", c.subject},
          {"issuer", c.issuer},
          {"key_algorithm", c.key_algorithm},
          {"key_bits", c.key_bits},
          {"version", c.version}};
}

// Throws nlohmann exceptions on malformed input; the loader catches them.
Certificate certificate_from_json(const json& j) {
  Certificate c;
  j.at("id").get_to(c.id);
  j.at("arn").get_to(c.arn);
  j.at("pem").get_to(c.pem);
  auto status = parse_certificate_status(j.at("status").get<std::string>());
  if (!status) throw json::other_error::create(501, "unknown certificate status", &j);
  c.status = *status;
  j.at("ca_certificate_id").get_to(c.ca_certificate_id);
  j.at("owned_by").get_to(c.owned_by);
  j.at("creation_date").get_to(c.creation_date);
  j.at("last_modified_date").get_to(c.last_modified_date);
  j.at("not_before").get_to(c.not_before);
  j.at("not_after").get_to(c.not_after);
  j.at("subject").get_to(c.subject);
  j.at("issuer").get_to(c.issuer);
  j.at("key_algorithm").get_to(c.key_algorithm);
  j.at("key_bits").get_to(c.key_bits);
  j.at("version").get_to(c.version);
  return c;
}

std::string principal_key(const std::string& thing, const std::string& certificate_id) {
  return thing + "/" + certificate_id;
}

RegistryError no_authority() {
  return RegistryError{Kind::InvalidRequest, "no certificate authority configured"};
}

}  // namespace

std::string to_string(CertificateStatus status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "UNKNOWN";
}

std::optional<CertificateStatus> parse_certificate_status(const std::string& text) {
  for (const auto& [s, name] : kStatusNames) {
    if (text == name) return s;
  }
  return std::nullopt;
}

Result<store::Done, RegistryError> Registry::load_certificates_locked() {
  if (auto cas = load_ca_certificates_locked(); !cas) return cas;
  auto loaded = records::for_each_record(store_, kCertificateKind, [&](const store::Record& r) -> std::optional<std::string> {
    auto c = certificate_from_json(json::parse(r.value));
    if (c.id != r.key || !is_certificate_id(c.id)) return "id does not match key";
    certificates_[c.id] = std::move(c);
    return std::nullopt;
  });
  if (!loaded) return loaded;
  return records::for_each_record(store_, kThingPrincipalKind, [&](const store::Record& r) -> std::optional<std::string> {
    auto slash = r.key.rfind('/');
    std::string thing = r.key.substr(0, slash);
    std::string id = slash == std::string::npos ? "" : r.key.substr(slash + 1);
    if (!things_.contains(thing) || !certificates_.contains(id)) return "unknown thing or certificate";
    principals_of_thing_[thing].insert(id);
    things_of_certificate_[id].insert(thing);
    return std::nullopt;
  });
}

void Registry::notify(const std::string& id, CertificateStatus status) const {
  std::vector<CertificateObserver> observers;
  {
    std::lock_guard lock(observers_mu_);
    observers = observers_;
  }
  for (const auto& observer : observers) observer(id, status);
}

void Registry::on_certificate_status_change(CertificateObserver observer) {
  if (!observer) return;
  std::lock_guard lock(observers_mu_);
  observers_.push_back(std::move(observer));
}

Result<Certificate, RegistryError> Registry::add_certificate(const identity::CertificateInfo& info,
                                                             CertificateStatus status, const std::string& ca_id) {
  std::unique_lock lock(mu_);
  if (certificates_.contains(info.id)) {
    return fail(Kind::ResourceAlreadyExists, "certificate " + info.id + " is already registered");
  }
  int64_t t = now();
  Certificate c;
  c.id = info.id;
  c.arn = arn("cert", info.id);
  c.pem = info.pem;
  c.status = status;
  c.ca_certificate_id = ca_id;
  c.owned_by = cfg_.account_id;
  c.creation_date = t;
  c.last_modified_date = t;
  c.not_before = info.not_before;
  c.not_after = info.not_after;
  c.subject = info.subject;
  c.issuer = info.issuer;
  c.key_algorithm = info.key.algorithm;
  c.key_bits = info.key.bits;
  c.version = 1;
  auto written = write({put(kCertificateKind, c.id, to_json(c))});
  if (!written) return fg::unexpected(std::move(written.error()));
  certificates_[c.id] = c;
  return c;
}

Result<CreatedKeysAndCertificate, RegistryError> Registry::create_keys_and_certificate(
    ActivationOnCreate activation) {
  if (cfg_.certificate_authority == nullptr) return fg::unexpected(no_authority());
  auto issued = cfg_.certificate_authority->issue_device(kDeviceCommonName, identity::KeyType::EcP256,
                                                         kDeviceCertificateDays);
  if (!issued) return fail(Kind::Internal, "cannot issue a device certificate: " + issued.error());
  auto status = activation == ActivationOnCreate::Active ? CertificateStatus::Active : CertificateStatus::Inactive;
  auto cert = add_certificate(issued->certificate, status, cfg_.certificate_authority->certificate().id);
  if (!cert) return fg::unexpected(std::move(cert.error()));
  return CreatedKeysAndCertificate{std::move(cert.value()), std::move(issued->private_key_pem),
                                   std::move(issued->public_key_pem)};
}

Result<Certificate, RegistryError> Registry::create_certificate_from_csr(const std::string& csr_pem,
                                                                         ActivationOnCreate activation) {
  if (cfg_.certificate_authority == nullptr) return fg::unexpected(no_authority());
  if (csr_pem.empty() || csr_pem.size() > kMaxCertificatePemLength) {
    return fail(Kind::InvalidRequest, "certificateSigningRequest must be 1-65536 characters");
  }
  auto signed_cert = cfg_.certificate_authority->sign_csr(csr_pem, kDeviceCertificateDays);
  if (!signed_cert) return fail(Kind::InvalidRequest, "invalid certificateSigningRequest: " + signed_cert.error());
  auto status = activation == ActivationOnCreate::Active ? CertificateStatus::Active : CertificateStatus::Inactive;
  return add_certificate(*signed_cert, status, cfg_.certificate_authority->certificate().id);
}

Result<Certificate, RegistryError> Registry::register_certificate(const std::string& pem, CertificateStatus status) {
  if (cfg_.certificate_authority == nullptr) return fg::unexpected(no_authority());
  if (status != CertificateStatus::Active && status != CertificateStatus::Inactive &&
      status != CertificateStatus::RegisterInactive) {
    return fail(Kind::InvalidRequest, "status of a registered certificate must be ACTIVE, INACTIVE or "
                                      "REGISTER_INACTIVE, got " + to_string(status));
  }
  if (pem.empty() || pem.size() > kMaxCertificatePemLength) {
    return fail(Kind::InvalidRequest, "certificatePem must be 1-65536 characters");
  }
  auto info = identity::parse_certificate_pem(pem);
  if (!info) return fail(Kind::InvalidRequest, "invalid certificatePem: " + info.error());
  if (info->is_ca) {
    return fail(Kind::InvalidRequest, "certificatePem is a CA certificate; register device certificates only");
  }
  std::string ca_id;
  {
    std::shared_lock lock(mu_);
    ca_id = issuing_ca_locked(*info);
  }
  if (ca_id.empty()) {
    return fail(Kind::InvalidRequest,
                "certificate is not signed by the built-in CA or a registered CA certificate, or is not currently "
                "valid (register its CA first with RegisterCACertificate)");
  }
  return add_certificate(*info, status, ca_id);
}

Result<Certificate, RegistryError> Registry::describe_certificate(const std::string& id) const {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  std::shared_lock lock(mu_);
  auto it = certificates_.find(id);
  if (it == certificates_.end()) return fail(Kind::ResourceNotFound, "certificate " + id + " does not exist");
  return it->second;
}

std::optional<Certificate> Registry::find_certificate(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = certificates_.find(id);
  if (it == certificates_.end()) return std::nullopt;
  return it->second;
}

std::optional<CertificateAuthState> Registry::certificate_auth_state(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = certificates_.find(id);
  if (it == certificates_.end()) return std::nullopt;
  const Certificate& c = it->second;
  CertificateAuthState st{c.status, c.ca_certificate_id, c.not_before, c.not_after, false, {}};
  if (cfg_.certificate_authority != nullptr && c.ca_certificate_id == cfg_.certificate_authority->certificate().id) {
    st.ca_active = true;
  } else if (auto ca = ca_certificates_.find(c.ca_certificate_id); ca != ca_certificates_.end()) {
    st.ca_active = ca->second.status == CaCertificateStatus::Active;
  }
  if (auto t = things_of_certificate_.find(id); t != things_of_certificate_.end()) {
    st.things.assign(t->second.begin(), t->second.end());
  }
  return st;
}

Result<Certificate, RegistryError> Registry::update_certificate(const std::string& id,
                                                                CertificateStatus new_status) {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  if (new_status == CertificateStatus::PendingTransfer || new_status == CertificateStatus::PendingActivation) {
    return fail(Kind::InvalidRequest, "newStatus " + to_string(new_status) +
                                          " is used internally and cannot be set");
  }
  Certificate next;
  {
    std::unique_lock lock(mu_);
    auto it = certificates_.find(id);
    if (it == certificates_.end()) return fail(Kind::ResourceNotFound, "certificate " + id + " does not exist");
    if (it->second.status == new_status) return it->second;  // idempotent, like AWS
    if (it->second.status == CertificateStatus::Revoked) {
      return fail(Kind::CertificateState, "CertificateStateException: certificate " + id +
                                              " is REVOKED, which is final; it cannot become " +
                                              to_string(new_status));
    }
    if (it->second.status == CertificateStatus::PendingTransfer) {
      return fail(Kind::CertificateState,
                  "CertificateStateException: certificate " + id + " is PENDING_TRANSFER");
    }
    next = it->second;
    next.status = new_status;
    next.last_modified_date = now();
    next.version += 1;
    auto written = write({put(kCertificateKind, id, to_json(next))});
    if (!written) return fg::unexpected(std::move(written.error()));
    it->second = next;
  }
  notify(id, new_status);
  return next;
}

Result<store::Done, RegistryError> Registry::delete_certificate(const std::string& id, ForceDelete force_delete) {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  CertificateStatus last = CertificateStatus::Inactive;
  {
    std::unique_lock lock(mu_);
    auto it = certificates_.find(id);
    if (it == certificates_.end()) return fail(Kind::ResourceNotFound, "certificate " + id + " does not exist");
    if (it->second.status == CertificateStatus::Active) {
      return fail(Kind::CertificateState, "CertificateStateException: certificate must be deactivated (not ACTIVE) "
                                          "before deletion. Id: " + id);
    }
    if (auto t = things_of_certificate_.find(id); t != things_of_certificate_.end() && !t->second.empty()) {
      return fail(Kind::DeleteConflict, "DeleteConflictException: certificate " + id +
                                            " is attached to thing '" + *t->second.begin() +
                                            "'; detach it from every thing first");
    }
    last = it->second.status;
    std::vector<store::Mutation> batch{erase(kCertificateKind, id)};
    const std::string cert_arn = it->second.arn;
    auto attached = policies_of_target_.find(cert_arn);
    if (attached != policies_of_target_.end() && !attached->second.empty()) {
      if (force_delete == ForceDelete::No) {
        return fail(Kind::DeleteConflict, "DeleteConflictException: certificate " + id + " has policy '" +
                                              *attached->second.begin() +
                                              "' attached; detach its policies first (or use forceDelete)");
      }
      for (const auto& policy : attached->second) batch.push_back(erase("policy_attachment", policy + "|" + cert_arn));
    }
    auto written = write(batch);
    if (!written) return fg::unexpected(std::move(written.error()));
    if (attached != policies_of_target_.end()) {
      for (const auto& policy : attached->second) targets_of_policy_[policy].erase(cert_arn);
      policies_of_target_.erase(attached);
    }
    certificates_.erase(it);
    things_of_certificate_.erase(id);
  }
  notify(id, last);
  return store::Done{};
}

std::vector<Certificate> Registry::list_certificates() const {
  std::shared_lock lock(mu_);
  std::vector<Certificate> out;
  out.reserve(certificates_.size());
  for (const auto& [id, c] : certificates_) out.push_back(c);
  std::stable_sort(out.begin(), out.end(),
                   [](const Certificate& a, const Certificate& b) { return a.creation_date < b.creation_date; });
  return out;
}

// ---------------------------------------------------------------- thing principals

Result<std::string, RegistryError> Registry::certificate_id_of_arn_locked(const std::string& principal) const {
  if (principal.empty() || principal.size() > kMaxPrincipalLength) {
    return fail(Kind::InvalidRequest, "principal must be 1-2048 characters");
  }
  std::string prefix = arn("cert", "");
  if (principal.starts_with(prefix)) {
    std::string id = principal.substr(prefix.size());
    if (certificates_.contains(id)) return id;
  }
  return fail(Kind::ResourceNotFound, "principal '" + principal.substr(0, 200) + "' is not a registered certificate");
}

Result<store::Done, RegistryError> Registry::attach_thing_principal(const std::string& thing,
                                                                    const std::string& principal) {
  std::unique_lock lock(mu_);
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing.substr(0, 200) + "' does not exist");
  auto id = certificate_id_of_arn_locked(principal);
  if (!id) return fg::unexpected(std::move(id.error()));
  auto& attached = principals_of_thing_[thing];
  if (attached.contains(*id)) return store::Done{};
  json value = {{"thing", thing}, {"certificate_id", *id}};
  auto written = write({put(kThingPrincipalKind, principal_key(thing, *id), value)});
  if (!written) return fg::unexpected(std::move(written.error()));
  attached.insert(*id);
  things_of_certificate_[*id].insert(thing);
  lock.unlock();
  notify_authorization();  // IsAttached and the thing's variables
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::detach_thing_principal(const std::string& thing,
                                                                    const std::string& principal) {
  std::unique_lock lock(mu_);
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing.substr(0, 200) + "' does not exist");
  auto id = certificate_id_of_arn_locked(principal);
  if (!id) return fg::unexpected(std::move(id.error()));
  auto attached = principals_of_thing_.find(thing);
  if (attached == principals_of_thing_.end() || !attached->second.contains(*id)) return store::Done{};
  auto written = write({erase(kThingPrincipalKind, principal_key(thing, *id))});
  if (!written) return fg::unexpected(std::move(written.error()));
  attached->second.erase(*id);
  if (attached->second.empty()) principals_of_thing_.erase(attached);
  auto things = things_of_certificate_.find(*id);
  if (things != things_of_certificate_.end()) {
    things->second.erase(thing);
    if (things->second.empty()) things_of_certificate_.erase(things);
  }
  lock.unlock();
  notify_authorization();
  return store::Done{};
}

Result<std::vector<std::string>, RegistryError> Registry::list_thing_principals(const std::string& thing) const {
  std::shared_lock lock(mu_);
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing.substr(0, 200) + "' does not exist");
  std::vector<std::string> out;
  if (auto it = principals_of_thing_.find(thing); it != principals_of_thing_.end()) {
    for (const auto& id : it->second) out.push_back(certificates_.at(id).arn);
  }
  return out;
}

Result<std::vector<std::string>, RegistryError> Registry::list_principal_things(const std::string& principal) const {
  std::shared_lock lock(mu_);
  auto id = certificate_id_of_arn_locked(principal);
  if (!id) return fg::unexpected(std::move(id.error()));
  auto it = things_of_certificate_.find(*id);
  if (it == things_of_certificate_.end()) return std::vector<std::string>{};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

}  // namespace fg::registry
