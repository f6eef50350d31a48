// Device certificates and thing-principal attachments in the Registry, with a
// real built-in CA in a temporary directory and the real SQLite store.
#include "registry/registry.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "identity/certificate.hpp"
#include "identity/certificate_authority.hpp"
#include "store/store.hpp"
#include "registry_fixture.hpp"

namespace fg::registry {
namespace {

using namespace fixture;  // NOLINT: the shared fixture (registry_fixture.hpp)

// A PEM CSR for a fresh P-256 key with the given CN, signed by that key.
std::string make_csr(const std::string& common_name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  if (!key || !req) return "";
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.get());
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

TEST_F(CertificateTest, CreateKeysAndCertificateDescribesItLikeAws) {
  auto created = reg().create_keys_and_certificate(ActivationOnCreate::Active);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const Certificate& c = created->certificate;

  auto parsed = identity::parse_certificate_pem(c.pem);
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(c.id, parsed->id);
  EXPECT_EQ(c.id.size(), 64u);
  EXPECT_EQ(c.arn, "arn:aws:iot:us-east-1:123456789012:cert/" + c.id);
  EXPECT_EQ(c.status, CertificateStatus::Active);
  EXPECT_EQ(c.ca_certificate_id, ca_->certificate().id);
  EXPECT_EQ(c.owned_by, "123456789012");
  EXPECT_EQ(c.creation_date, now_);
  EXPECT_EQ(c.last_modified_date, now_);
  EXPECT_EQ(c.not_before, parsed->not_before);
  EXPECT_EQ(c.not_after, parsed->not_after);
  EXPECT_LT(c.not_before, c.not_after);
  EXPECT_NE(c.subject.find("CN=AWS IoT Certificate"), std::string::npos) << c.subject;
  EXPECT_EQ(c.issuer, ca_->certificate().subject);
  EXPECT_EQ(c.key_algorithm, "EC");
  EXPECT_EQ(c.key_bits, 256);
  EXPECT_EQ(c.version, 1);
  EXPECT_NE(created->private_key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(created->public_key_pem.find("PUBLIC KEY"), std::string::npos);
  EXPECT_TRUE(ca_->verify(*parsed));

  auto described = reg().describe_certificate(c.id);
  ASSERT_TRUE(described.has_value());
  EXPECT_EQ(*described, c);
  EXPECT_EQ(reg().find_certificate(c.id), c);
  EXPECT_FALSE(reg().find_certificate(std::string(64, '0')).has_value());

  auto inactive = create(ActivationOnCreate::Inactive);
  EXPECT_EQ(inactive.status, CertificateStatus::Inactive);
  EXPECT_NE(inactive.id, c.id);
  EXPECT_EQ(reg().list_certificates().size(), 2u);
}

TEST_F(CertificateTest, StatusTextForms) {
  for (auto s : {CertificateStatus::Active, CertificateStatus::Inactive, CertificateStatus::Revoked,
                 CertificateStatus::PendingTransfer, CertificateStatus::RegisterInactive,
                 CertificateStatus::PendingActivation}) {
    EXPECT_EQ(parse_certificate_status(to_string(s)), s);
  }
  EXPECT_EQ(to_string(CertificateStatus::PendingTransfer), "PENDING_TRANSFER");
  EXPECT_FALSE(parse_certificate_status("active").has_value());
}

TEST_F(CertificateTest, CreateCertificateFromCsrKeepsSubjectAndKey) {
  std::string csr = make_csr("sensor-7");
  ASSERT_FALSE(csr.empty());
  auto c = reg().create_certificate_from_csr(csr, ActivationOnCreate::Inactive);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->status, CertificateStatus::Inactive);
  EXPECT_NE(c->subject.find("CN=sensor-7"), std::string::npos) << c->subject;
  auto parsed = identity::parse_certificate_pem(c->pem);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->id, c->id);
  EXPECT_TRUE(ca_->verify(*parsed));

  expect_error(reg().create_certificate_from_csr("not a csr", ActivationOnCreate::Active), Kind::InvalidRequest,
               "certificateSigningRequest");
  EXPECT_EQ(reg().list_certificates().size(), 1u);
}

TEST_F(CertificateTest, RegisterAcceptsCertificatesOfTheBuiltInOrARegisteredCa) {
  auto issued = ca_->issue_device("external-device", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(issued.has_value()) << issued.error();
  auto registered = reg().register_certificate(issued->certificate.pem, CertificateStatus::Active);
  ASSERT_TRUE(registered.has_value()) << registered.error().message;
  EXPECT_EQ(registered->id, issued->certificate.id);
  EXPECT_EQ(registered->status, CertificateStatus::Active);

  expect_error(reg().register_certificate(issued->certificate.pem), Kind::ResourceAlreadyExists,
               issued->certificate.id);

  fs::create_directories(dir_ / "other_ca");
  auto other = identity::CertificateAuthority::load_or_create((dir_ / "other_ca").string());
  ASSERT_TRUE(other.has_value()) << other.error();
  auto foreign = other->issue_device("foreign-device", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(foreign.has_value()) << foreign.error();
  expect_error(reg().register_certificate(foreign->certificate.pem), Kind::InvalidRequest,
               "not signed by the built-in CA or a registered CA");
  expect_error(reg().register_certificate(ca_->certificate().pem), Kind::InvalidRequest, "CA certificate");
  expect_error(reg().register_certificate("garbage"), Kind::InvalidRequest, "certificatePem");
  expect_error(reg().register_certificate(issued->certificate.pem, CertificateStatus::PendingTransfer),
               Kind::InvalidRequest, "status");
  EXPECT_EQ(reg().list_certificates().size(), 1u);

  // Once its CA is registered, the foreign certificate is accepted and
  // recorded as that CA's.
  now_ = static_cast<int64_t>(std::time(nullptr));  // CA validity is checked against the registry clock
  RegisterCaCertificateRequest ca_request;
  ca_request.ca_certificate_pem = other->certificate().pem;
  ASSERT_TRUE(reg().register_ca_certificate(ca_request).has_value());
  auto accepted = reg().register_certificate(foreign->certificate.pem, CertificateStatus::Active);
  ASSERT_TRUE(accepted.has_value()) << accepted.error().message;
  EXPECT_EQ(accepted->ca_certificate_id, other->certificate().id);
  EXPECT_EQ(reg().list_certificates_by_ca(other->certificate().id).size(), 1u);
}

TEST_F(CertificateTest, WithoutCertificateAuthorityCertificateOperationsAreRefused) {
  RegistryConfig cfg;
  auto r = Registry::open(*store_, cfg);
  ASSERT_TRUE(r.has_value());
  expect_error((*r)->create_keys_and_certificate(ActivationOnCreate::Active), Kind::InvalidRequest,
               "no certificate authority configured");
  expect_error((*r)->create_certificate_from_csr(make_csr("x"), ActivationOnCreate::Active), Kind::InvalidRequest,
               "no certificate authority configured");
  expect_error((*r)->register_certificate("x"), Kind::InvalidRequest, "no certificate authority configured");
}

TEST_F(CertificateTest, StatusTransitionsAndRevokedIsFinal) {
  auto c = create(ActivationOnCreate::Inactive);
  now_ += 10;
  auto active = reg().update_certificate(c.id, CertificateStatus::Active);
  ASSERT_TRUE(active.has_value()) << active.error().message;
  EXPECT_EQ(active->status, CertificateStatus::Active);
  EXPECT_EQ(active->version, 2);
  EXPECT_EQ(active->last_modified_date, now_);
  EXPECT_EQ(active->creation_date, now_ - 10);

  auto again = reg().update_certificate(c.id, CertificateStatus::Active);  // idempotent
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->version, 2);

  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Inactive).has_value());
  expect_error(reg().update_certificate(c.id, CertificateStatus::PendingTransfer), Kind::InvalidRequest,
               "PENDING_TRANSFER");
  expect_error(reg().update_certificate(c.id, CertificateStatus::PendingActivation), Kind::InvalidRequest,
               "PENDING_ACTIVATION");
  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Revoked).has_value());
  EXPECT_TRUE(reg().update_certificate(c.id, CertificateStatus::Revoked).has_value());
  expect_error(reg().update_certificate(c.id, CertificateStatus::Active), Kind::CertificateState,
               "CertificateStateException");
  expect_error(reg().update_certificate(c.id, CertificateStatus::Inactive), Kind::CertificateState, "REVOKED");
  EXPECT_EQ(reg().describe_certificate(c.id)->status, CertificateStatus::Revoked);

  expect_error(reg().update_certificate(std::string(64, 'a'), CertificateStatus::Active), Kind::ResourceNotFound);
  expect_error(reg().update_certificate("nothex", CertificateStatus::Active), Kind::InvalidRequest, "certificateId");
  expect_error(reg().describe_certificate(std::string(64, 'a')), Kind::ResourceNotFound);
}

TEST_F(CertificateTest, DeleteRefusedWhileActiveOrAttached) {
  ASSERT_TRUE(reg().create_thing("pump-1", "", {}).has_value());
  auto c = create(ActivationOnCreate::Active);
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", c.arn).has_value());

  expect_error(reg().delete_certificate(c.id), Kind::CertificateState, "ACTIVE");
  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Inactive).has_value());
  expect_error(reg().delete_certificate(c.id), Kind::DeleteConflict, "pump-1");
  expect_error(reg().delete_certificate(c.id, ForceDelete::Yes), Kind::DeleteConflict, "DeleteConflictException");
  EXPECT_TRUE(reg().find_certificate(c.id).has_value());

  ASSERT_TRUE(reg().detach_thing_principal("pump-1", c.arn).has_value());
  ASSERT_TRUE(reg().delete_certificate(c.id).has_value());
  EXPECT_FALSE(reg().find_certificate(c.id).has_value());
  expect_error(reg().describe_certificate(c.id), Kind::ResourceNotFound);
  expect_error(reg().delete_certificate(c.id), Kind::ResourceNotFound);
  EXPECT_TRUE(reg().list_certificates().empty());
}

TEST_F(CertificateTest, AttachDetachAndListBothWays) {
  for (const char* t : {"pump-1", "pump-2"}) ASSERT_TRUE(reg().create_thing(t, "", {}).has_value());
  auto a = create(ActivationOnCreate::Active);
  auto b = create(ActivationOnCreate::Active);
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", a.arn).has_value());
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", a.arn).has_value());  // idempotent
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", b.arn).has_value());
  ASSERT_TRUE(reg().attach_thing_principal("pump-2", a.arn).has_value());

  std::vector<std::string> both{a.arn, b.arn};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(*reg().list_thing_principals("pump-1"), both);
  EXPECT_EQ(*reg().list_thing_principals("pump-2"), std::vector<std::string>{a.arn});
  EXPECT_EQ(*reg().list_principal_things(a.arn), (std::vector<std::string>{"pump-1", "pump-2"}));
  EXPECT_EQ(*reg().list_principal_things(b.arn), std::vector<std::string>{"pump-1"});

  ASSERT_TRUE(reg().detach_thing_principal("pump-1", a.arn).has_value());
  ASSERT_TRUE(reg().detach_thing_principal("pump-1", a.arn).has_value());  // not attached: fine
  EXPECT_EQ(*reg().list_thing_principals("pump-1"), std::vector<std::string>{b.arn});
  EXPECT_EQ(*reg().list_principal_things(a.arn), std::vector<std::string>{"pump-2"});

  expect_error(reg().attach_thing_principal("missing", a.arn), Kind::ResourceNotFound, "missing");
  std::string unknown = "arn:aws:iot:us-east-1:123456789012:cert/" + std::string(64, 'a');
  expect_error(reg().attach_thing_principal("pump-1", unknown), Kind::ResourceNotFound, "principal");
  expect_error(reg().attach_thing_principal("pump-1", "arn:aws:iam::123456789012:role/x"), Kind::ResourceNotFound);
  expect_error(reg().attach_thing_principal("pump-1", a.id), Kind::ResourceNotFound);  // an id is not an ARN
  expect_error(reg().detach_thing_principal("missing", a.arn), Kind::ResourceNotFound);
  expect_error(reg().list_thing_principals("missing"), Kind::ResourceNotFound);
  expect_error(reg().list_principal_things(unknown), Kind::ResourceNotFound);
}

TEST_F(CertificateTest, ThingWithPrincipalsCannotBeDeletedLikeAws) {
  ASSERT_TRUE(reg().create_thing("pump-1", "", {}).has_value());
  auto c = create(ActivationOnCreate::Active);
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", c.arn).has_value());
  expect_error(reg().delete_thing("pump-1"), Kind::InvalidRequest, "still attached to one or more principals");
  EXPECT_TRUE(reg().describe_thing("pump-1").has_value());
  ASSERT_TRUE(reg().detach_thing_principal("pump-1", c.arn).has_value());
  ASSERT_TRUE(reg().delete_thing("pump-1").has_value());
  EXPECT_TRUE(reg().list_principal_things(c.arn)->empty());
}

TEST_F(CertificateTest, ObserverFiresOnStatusChangeAndDelete) {
  std::vector<std::pair<std::string, CertificateStatus>> seen;
  reg().on_certificate_status_change([&](const std::string& id, CertificateStatus s) {
    // The registry lock is released: reading back must not deadlock and must
    // already show the change.
    auto current = reg().find_certificate(id);
    if (current) {
      EXPECT_EQ(current->status, s);
    }
    seen.emplace_back(id, s);
  });
  auto c = create(ActivationOnCreate::Active);
  EXPECT_TRUE(seen.empty());  // creation is not a status change

  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Active).has_value());  // no change
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Inactive).has_value());
  ASSERT_TRUE(reg().update_certificate(c.id, CertificateStatus::Revoked).has_value());
  EXPECT_FALSE(reg().update_certificate(c.id, CertificateStatus::Active).has_value());  // refused: no event
  ASSERT_TRUE(reg().delete_certificate(c.id).has_value());

  std::vector<std::pair<std::string, CertificateStatus>> expected{
      {c.id, CertificateStatus::Inactive}, {c.id, CertificateStatus::Revoked}, {c.id, CertificateStatus::Revoked}};
  EXPECT_EQ(seen, expected);
}

TEST_F(CertificateTest, EverythingSurvivesReopen) {
  ASSERT_TRUE(reg().create_thing("pump-1", "", {}).has_value());
  auto a = create(ActivationOnCreate::Active);
  auto b = create(ActivationOnCreate::Inactive);
  ASSERT_TRUE(reg().update_certificate(b.id, CertificateStatus::Revoked).has_value());
  ASSERT_TRUE(reg().attach_thing_principal("pump-1", a.arn).has_value());
  auto before = reg().list_certificates();

  reopen();
  EXPECT_EQ(reg().list_certificates(), before);
  EXPECT_EQ(reg().describe_certificate(b.id)->status, CertificateStatus::Revoked);
  EXPECT_EQ(reg().describe_certificate(b.id)->version, 2);
  EXPECT_EQ(*reg().list_thing_principals("pump-1"), std::vector<std::string>{a.arn});
  EXPECT_EQ(*reg().list_principal_things(a.arn), std::vector<std::string>{"pump-1"});
  expect_error(reg().delete_certificate(a.id), Kind::CertificateState);
  expect_error(reg().delete_thing("pump-1"), Kind::InvalidRequest, "principals");
}

TEST_F(CertificateTest, CorruptCertificateRecordsFailOpen) {
  auto c = create(ActivationOnCreate::Active);
  registry_.reset();
  ASSERT_TRUE(store_->apply({{store::Mutation::Op::Put, "certificate", c.id, "{\"id\":1}", std::nullopt}}).has_value());
  expect_error(Registry::open(*store_, RegistryConfig{}), Kind::Internal, "certificate/" + c.id);

  ASSERT_TRUE(store_->apply({{store::Mutation::Op::Delete, "certificate", c.id, "", std::nullopt},
                             {store::Mutation::Op::Put, "thing_principal", "ghost/" + c.id, "{}", std::nullopt}})
                  .has_value());
  expect_error(Registry::open(*store_, RegistryConfig{}), Kind::Internal, "thing_principal/ghost/");
}

// ---------------------------------------------------------------- CA certificates

class CaCertificateTest : public CertificateTest {
 protected:
  void SetUp() override {
    CertificateTest::SetUp();
    now_ = static_cast<int64_t>(std::time(nullptr));
    fs::create_directories(dir_ / "device_ca");
    auto other = identity::CertificateAuthority::load_or_create((dir_ / "device_ca").string());
    ASSERT_TRUE(other.has_value()) << other.error();
    device_ca_ = std::make_unique<identity::CertificateAuthority>(std::move(other.value()));
  }
  // A verification certificate: CN = `code`, signed by `signer`'s key.
  std::string verification(const identity::CertificateAuthority& signer, const std::string& code) {
    auto v = signer.issue_device(code, identity::KeyType::EcP256, 1);
    EXPECT_TRUE(v.has_value()) << v.error();
    return v.has_value() ? v->certificate.pem : "";
  }
  std::unique_ptr<identity::CertificateAuthority> device_ca_;
};

TEST_F(CaCertificateTest, RegisterWithVerificationCertificate) {
  auto code = reg().registration_code();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(code->size(), 64u);
  EXPECT_EQ(*reg().registration_code(), *code) << "the code is stable";

  RegisterCaCertificateRequest r;
  r.ca_certificate_pem = device_ca_->certificate().pem;
  r.verification_certificate_pem = verification(*device_ca_, "not-the-code");
  expect_error(reg().register_ca_certificate(r), Kind::InvalidRequest, "registration code");
  r.verification_certificate_pem = verification(*ca_, *code);  // right CN, wrong key
  expect_error(reg().register_ca_certificate(r), Kind::InvalidRequest, "private key");
  r.verification_certificate_pem = verification(*device_ca_, *code);
  r.activation = ActivationOnCreate::Active;
  r.auto_registration = AutoRegistration::Enable;
  auto ca = reg().register_ca_certificate(r);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  EXPECT_EQ(ca->id, device_ca_->certificate().id);
  EXPECT_EQ(ca->arn, "arn:aws:iot:us-east-1:123456789012:cacert/" + ca->id);
  EXPECT_EQ(ca->status, CaCertificateStatus::Active);
  EXPECT_EQ(ca->auto_registration, AutoRegistration::Enable);
  EXPECT_EQ(ca->certificate_mode, "DEFAULT");
  expect_error(reg().register_ca_certificate(r), Kind::ResourceAlreadyExists, ca->id);

  reopen();  // durable, with the registration code
  auto again = reg().describe_ca_certificate(device_ca_->certificate().id);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *ca);
  EXPECT_EQ(*reg().registration_code(), *code);
}

TEST_F(CaCertificateTest, BadCaCertificatesAreRefusedAndChangeNothing) {
  RegisterCaCertificateRequest r;
  r.ca_certificate_pem = "garbage";
  expect_error(reg().register_ca_certificate(r), Kind::InvalidRequest, "caCertificate");
  auto leaf = device_ca_->issue_device("leaf", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(leaf.has_value());
  r.ca_certificate_pem = leaf->certificate.pem;
  expect_error(reg().register_ca_certificate(r), Kind::InvalidRequest, "not a CA certificate");
  r.ca_certificate_pem = ca_->certificate().pem;
  expect_error(reg().register_ca_certificate(r), Kind::InvalidRequest, "built-in CA");
  EXPECT_TRUE(reg().list_ca_certificates().empty());
  expect_error(reg().describe_ca_certificate(std::string(64, 'a')), Kind::ResourceNotFound);
  expect_error(reg().describe_ca_certificate("xyz"), Kind::InvalidRequest, "certificateId");
}

TEST_F(CaCertificateTest, UpdateNotifiesAndDeleteRules) {
  std::vector<std::pair<std::string, CaCertificateStatus>> heard;
  reg().on_ca_certificate_status_change(
      [&](const std::string& id, CaCertificateStatus st) { heard.emplace_back(id, st); });
  RegisterCaCertificateRequest r;
  r.ca_certificate_pem = device_ca_->certificate().pem;
  r.activation = ActivationOnCreate::Active;
  auto ca = reg().register_ca_certificate(r);
  ASSERT_TRUE(ca.has_value()) << ca.error().message;
  EXPECT_EQ(ca->certificate_mode, "SNI_ONLY");
  const std::string id = ca->id;

  auto leaf = device_ca_->issue_device("dev", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(leaf.has_value());
  auto dev = reg().register_certificate(leaf->certificate.pem, CertificateStatus::Active);
  ASSERT_TRUE(dev.has_value()) << dev.error().message;

  expect_error(reg().delete_ca_certificate(id), Kind::CertificateState, "ACTIVE");
  auto updated = reg().update_ca_certificate(id, {CaCertificateStatus::Inactive, AutoRegistration::Enable});
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->status, CaCertificateStatus::Inactive);
  EXPECT_EQ(updated->auto_registration, AutoRegistration::Enable);
  EXPECT_EQ(updated->version, ca->version + 1);
  expect_error(reg().delete_ca_certificate(id), Kind::CertificateState, "device certificate");

  ASSERT_TRUE(reg().update_certificate(dev->id, CertificateStatus::Inactive).has_value());
  ASSERT_TRUE(reg().delete_certificate(dev->id).has_value());
  ASSERT_TRUE(reg().delete_ca_certificate(id).has_value());
  expect_error(reg().describe_ca_certificate(id), Kind::ResourceNotFound);

  ASSERT_EQ(heard.size(), 3u);  // registered ACTIVE, set INACTIVE, deleted
  EXPECT_EQ(heard[0].second, CaCertificateStatus::Active);
  EXPECT_EQ(heard[1].second, CaCertificateStatus::Inactive);
  EXPECT_EQ(heard[2].second, CaCertificateStatus::Inactive);
}

TEST_F(CaCertificateTest, JustInTimeRegistrationNeedsAutoRegistration) {
  RegisterCaCertificateRequest r;
  r.ca_certificate_pem = device_ca_->certificate().pem;
  r.activation = ActivationOnCreate::Active;
  auto ca = reg().register_ca_certificate(r);
  ASSERT_TRUE(ca.has_value());
  auto leaf = device_ca_->issue_device("jitr", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(leaf.has_value());
  expect_error(reg().register_pending_certificate(leaf->certificate.pem, ca->id), Kind::InvalidRequest,
               "auto-registration");
  ASSERT_TRUE(reg().update_ca_certificate(ca->id, {std::nullopt, AutoRegistration::Enable}).has_value());
  auto pending = reg().register_pending_certificate(leaf->certificate.pem, ca->id);
  ASSERT_TRUE(pending.has_value()) << pending.error().message;
  EXPECT_EQ(pending->status, CertificateStatus::PendingActivation);
  EXPECT_EQ(pending->ca_certificate_id, ca->id);
  expect_error(reg().register_pending_certificate(leaf->certificate.pem, ca->id), Kind::ResourceAlreadyExists);
  // A certificate of another CA cannot be slipped in under this one.
  auto foreign = ca_->issue_device("foreign", identity::KeyType::EcP256, 30);
  ASSERT_TRUE(foreign.has_value());
  expect_error(reg().register_pending_certificate(foreign->certificate.pem, ca->id), Kind::InvalidRequest,
               "not signed by");
  // The administrator activates it like any other certificate.
  auto active = reg().update_certificate(pending->id, CertificateStatus::Active);
  ASSERT_TRUE(active.has_value()) << active.error().message;
}

}  // namespace
}  // namespace fg::registry
