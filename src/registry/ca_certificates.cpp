// CA certificates (AWS RegisterCACertificate, DescribeCACertificate,
// UpdateCACertificate, DeleteCACertificate, ListCACertificates,
// ListCertificatesByCA, GetRegistrationCode) and just-in-time registration of
// device certificates signed by a registered CA.
//
// Same rules as registry.cpp: validate, write one store batch under the
// exclusive lock, then update memory; observers run after the lock is released.
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "identity/certificate.hpp"
#include "identity/trust_store.hpp"
#include "registry/registry.hpp"
#include "registry/registry_records.hpp"

namespace fg::registry {
namespace {

using json = nlohmann::json;
using Kind = RegistryError::Kind;
using records::check_certificate_id;
using records::erase;
using records::fail;
using records::kMaxCertificatePemLength;
using records::put;

constexpr const char* kCaKind = "ca_certificate";
constexpr const char* kRegistrationCodeKind = "registration_code";
constexpr const char* kRegistrationCodeKey = "account";
constexpr std::size_t kMaxCasPerSubject = 10;  // AWS: 10 CA certificates with the same subject

json to_json(const CaCertificate& c) {
  return {{"id", c.id},
          {"arn", c.arn},
          {"pem", c.pem},
          {"status", to_string(c.status)},
          {"auto_registration", to_string(c.auto_registration)},
          {"certificate_mode", c.certificate_mode},
          {"owned_by", c.owned_by},
          {"creation_date", c.creation_date},
          {"last_modified_date", c.last_modified_date},
          {"not_before", c.not_before},
          {"not_after", c.not_after},
          {"subject", c.subject},
          {"key_algorithm", c.key_algorithm},
          {"key_bits", c.key_bits},
          {"version", c.version}};
}

// Throws nlohmann exceptions on malformed input; the loader catches them.
CaCertificate ca_from_json(const json& j) {
  CaCertificate c;
  j.at("id").get_to(c.id);
  j.at("arn").get_to(c.arn);
  j.at("pem").get_to(c.pem);
  auto status = parse_ca_certificate_status(j.at("status").get<std::string>());
  auto autoreg = parse_auto_registration(j.at("auto_registration").get<std::string>());
  if (!status || !autoreg) throw json::other_error::create(501, "unknown CA certificate status", &j);
  c.status = *status;
  c.auto_registration = *autoreg;
  j.at("certificate_mode").get_to(c.certificate_mode);
  j.at("owned_by").get_to(c.owned_by);
  j.at("creation_date").get_to(c.creation_date);
  j.at("last_modified_date").get_to(c.last_modified_date);
  j.at("not_before").get_to(c.not_before);
  j.at("not_after").get_to(c.not_after);
  j.at("subject").get_to(c.subject);
  j.at("key_algorithm").get_to(c.key_algorithm);
  j.at("key_bits").get_to(c.key_bits);
  j.at("version").get_to(c.version);
  return c;
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

}  // namespace

std::string to_string(CaCertificateStatus status) {
  return status == CaCertificateStatus::Active ? "ACTIVE" : "INACTIVE";
}

std::string to_string(AutoRegistration status) { return status == AutoRegistration::Enable ? "ENABLE" : "DISABLE"; }

std::optional<CaCertificateStatus> parse_ca_certificate_status(const std::string& text) {
  if (text == "ACTIVE") return CaCertificateStatus::Active;
  if (text == "INACTIVE") return CaCertificateStatus::Inactive;
  return std::nullopt;
}

std::optional<AutoRegistration> parse_auto_registration(const std::string& text) {
  if (text == "ENABLE") return AutoRegistration::Enable;
  if (text == "DISABLE") return AutoRegistration::Disable;
  return std::nullopt;
}

Result<store::Done, RegistryError> Registry::load_ca_certificates_locked() {
  auto loaded = records::for_each_record(store_, kCaKind, [&](const store::Record& r) -> std::optional<std::string> {
    auto c = ca_from_json(json::parse(r.value));
    if (c.id != r.key) return "id does not match key";
    ca_certificates_[c.id] = std::move(c);
    return std::nullopt;
  });
  if (!loaded) return loaded;
  auto code = store_.get(kRegistrationCodeKind, kRegistrationCodeKey);
  if (!code) return fail(Kind::Internal, "cannot read the registration code: " + code.error().message);
  if (*code) {
    try {
      registration_code_ = json::parse((*code)->value).at("code").get<std::string>();
    } catch (const json::exception& e) {
      return fail(Kind::Internal, std::string("corrupt registration code record: ") + e.what());
    }
  }
  return store::Done{};
}

std::string Registry::issuing_ca_locked(const identity::CertificateInfo& info) const {
  if (cfg_.certificate_authority != nullptr && cfg_.certificate_authority->verify(info)) {
    return cfg_.certificate_authority->certificate().id;
  }
  for (const auto& [id, ca] : ca_certificates_) {
    if (identity::issued_by(info.pem, ca.pem)) return id;
  }
  return {};
}

Result<std::string, RegistryError> Registry::registration_code() {
  std::unique_lock lock(mu_);
  if (!registration_code_.empty()) return registration_code_;
  std::string code = random_hex(32);
  if (code.empty()) return fail(Kind::Internal, "cannot generate a registration code");
  auto written = write({put(kRegistrationCodeKind, kRegistrationCodeKey, json{{"code", code}})});
  if (!written) return fg::unexpected(std::move(written.error()));
  registration_code_ = code;
  return code;
}

Result<store::Done, RegistryError> Registry::delete_registration_code() {
  std::unique_lock lock(mu_);
  if (registration_code_.empty()) return store::Done{};
  auto written = write({erase(kRegistrationCodeKind, kRegistrationCodeKey)});
  if (!written) return fg::unexpected(std::move(written.error()));
  registration_code_.clear();
  return store::Done{};
}

Result<CaCertificate, RegistryError> Registry::register_ca_certificate(const RegisterCaCertificateRequest& request) {
  const std::string& pem = request.ca_certificate_pem;
  if (pem.empty() || pem.size() > kMaxCertificatePemLength) {
    return fail(Kind::InvalidRequest, "caCertificate must be 1-65536 characters");
  }
  auto info = identity::parse_certificate_pem(pem);
  if (!info) return fail(Kind::InvalidRequest, "invalid caCertificate: " + info.error());
  if (!info->is_ca) {
    return fail(Kind::InvalidRequest, "caCertificate is not a CA certificate (basicConstraints CA:TRUE is missing)");
  }
  const int64_t t = now();
  if (t < info->not_before || t > info->not_after) {
    return fail(Kind::InvalidRequest, "caCertificate is not currently valid");
  }
  if (cfg_.certificate_authority != nullptr && info->id == cfg_.certificate_authority->certificate().id) {
    return fail(Kind::InvalidRequest, "caCertificate is fleetguard's built-in CA, which is always trusted");
  }
  std::string mode = "SNI_ONLY";
  if (request.verification_certificate_pem) {
    mode = "DEFAULT";
    const std::string& vpem = *request.verification_certificate_pem;
    if (vpem.empty() || vpem.size() > kMaxCertificatePemLength) {
      return fail(Kind::InvalidRequest, "verificationCertificate must be 1-65536 characters");
    }
    auto v = identity::parse_certificate_pem(vpem);
    if (!v) return fail(Kind::InvalidRequest, "invalid verificationCertificate: " + v.error());
    std::string code;
    {
      std::shared_lock lock(mu_);
      code = registration_code_;
    }
    auto cn = v->subject_fields.find("CN");
    if (code.empty() || cn == v->subject_fields.end() || cn->second != code) {
      return fail(Kind::InvalidRequest,
                  "verificationCertificate's common name must be the registration code (GetRegistrationCode)");
    }
    if (!identity::signed_with_key_of(vpem, pem)) {
      return fail(Kind::InvalidRequest, "verificationCertificate is not signed by the CA certificate's private key");
    }
  }

  CaCertificate c;
  c.id = info->id;
  c.arn = arn("cacert", info->id);
  c.pem = info->pem;
  c.status = request.activation == ActivationOnCreate::Active ? CaCertificateStatus::Active : CaCertificateStatus::Inactive;
  c.auto_registration = request.auto_registration;
  c.certificate_mode = mode;
  c.owned_by = cfg_.account_id;
  c.creation_date = t;
  c.last_modified_date = t;
  c.not_before = info->not_before;
  c.not_after = info->not_after;
  c.subject = info->subject;
  c.key_algorithm = info->key.algorithm;
  c.key_bits = info->key.bits;
  {
    std::unique_lock lock(mu_);
    if (ca_certificates_.contains(c.id)) {
      return fail(Kind::ResourceAlreadyExists, "CA certificate " + c.id + " is already registered");
    }
    auto same_subject = std::count_if(ca_certificates_.begin(), ca_certificates_.end(),
                                      [&](const auto& kv) { return kv.second.subject == c.subject; });
    if (static_cast<std::size_t>(same_subject) >= kMaxCasPerSubject) {
      return fail(Kind::LimitExceeded, "at most 10 CA certificates may share the subject '" + c.subject + "'");
    }
    auto written = write({put(kCaKind, c.id, to_json(c))});
    if (!written) return fg::unexpected(std::move(written.error()));
    ca_certificates_[c.id] = c;
  }
  notify_ca(c.id, c.status);
  return c;
}

Result<CaCertificate, RegistryError> Registry::describe_ca_certificate(const std::string& id) const {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  std::shared_lock lock(mu_);
  auto it = ca_certificates_.find(id);
  if (it == ca_certificates_.end()) return fail(Kind::ResourceNotFound, "CA certificate " + id + " does not exist");
  return it->second;
}

std::optional<CaCertificate> Registry::find_ca_certificate(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = ca_certificates_.find(id);
  if (it == ca_certificates_.end()) return std::nullopt;
  return it->second;
}

Result<CaCertificate, RegistryError> Registry::update_ca_certificate(const std::string& id,
                                                                   const CaCertificateUpdate& update) {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  CaCertificate c;
  bool status_changed = false;
  {
    std::unique_lock lock(mu_);
    auto it = ca_certificates_.find(id);
    if (it == ca_certificates_.end()) return fail(Kind::ResourceNotFound, "CA certificate " + id + " does not exist");
    c = it->second;
    if (update.status && *update.status != c.status) {
      c.status = *update.status;
      status_changed = true;
    }
    if (update.auto_registration) c.auto_registration = *update.auto_registration;
    if (c == it->second) return c;
    c.last_modified_date = now();
    ++c.version;
    auto written = write({put(kCaKind, c.id, to_json(c))});
    if (!written) return fg::unexpected(std::move(written.error()));
    it->second = c;
  }
  if (status_changed) notify_ca(c.id, c.status);
  return c;
}

Result<store::Done, RegistryError> Registry::delete_ca_certificate(const std::string& id) {
  if (auto e = check_certificate_id(id)) return fg::unexpected(*e);
  {
    std::unique_lock lock(mu_);
    auto it = ca_certificates_.find(id);
    if (it == ca_certificates_.end()) return fail(Kind::ResourceNotFound, "CA certificate " + id + " does not exist");
    if (it->second.status == CaCertificateStatus::Active) {
      return fail(Kind::CertificateState, "CA certificate " + id + " is ACTIVE; set it INACTIVE before deleting it");
    }
    auto signed_count = std::count_if(certificates_.begin(), certificates_.end(),
                                      [&](const auto& kv) { return kv.second.ca_certificate_id == id; });
    if (signed_count > 0) {
      return fail(Kind::CertificateState, "CA certificate " + id + " still has " + std::to_string(signed_count) +
                                              " registered device certificate(s); delete them first");
    }
    auto written = write({erase(kCaKind, id)});
    if (!written) return fg::unexpected(std::move(written.error()));
    ca_certificates_.erase(it);
  }
  notify_ca(id, CaCertificateStatus::Inactive);
  return store::Done{};
}

std::vector<CaCertificate> Registry::list_ca_certificates() const {
  std::vector<CaCertificate> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, c] : ca_certificates_) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const CaCertificate& a, const CaCertificate& b) {
    return a.creation_date != b.creation_date ? a.creation_date < b.creation_date : a.id < b.id;
  });
  return out;
}

std::vector<Certificate> Registry::list_certificates_by_ca(const std::string& ca_id) const {
  auto all = list_certificates();
  std::erase_if(all, [&](const Certificate& c) { return c.ca_certificate_id != ca_id; });
  return all;
}

Result<Certificate, RegistryError> Registry::register_pending_certificate(const std::string& pem,
                                                                          const std::string& ca_id) {
  auto info = identity::parse_certificate_pem(pem);
  if (!info) return fail(Kind::InvalidRequest, "invalid certificate: " + info.error());
  {
    std::shared_lock lock(mu_);
    auto it = ca_certificates_.find(ca_id);
    if (it == ca_certificates_.end()) return fail(Kind::ResourceNotFound, "CA certificate " + ca_id + " does not exist");
    if (it->second.auto_registration != AutoRegistration::Enable) {
      return fail(Kind::InvalidRequest, "CA certificate " + ca_id + " does not allow auto-registration");
    }
    if (!identity::issued_by(info->pem, it->second.pem)) {
      return fail(Kind::InvalidRequest, "certificate is not signed by CA certificate " + ca_id);
    }
  }
  return add_certificate(*info, CertificateStatus::PendingActivation, ca_id);
}

void Registry::notify_ca(const std::string& id, CaCertificateStatus status) const {
  std::vector<CaCertificateObserver> observers;
  {
    std::lock_guard lock(observers_mu_);
    observers = ca_observers_;
  }
  for (const auto& observer : observers) observer(id, status);
}

void Registry::on_ca_certificate_status_change(CaCertificateObserver observer) {
  if (!observer) return;
  std::lock_guard lock(observers_mu_);
  ca_observers_.push_back(std::move(observer));
}

}  // namespace fg::registry
