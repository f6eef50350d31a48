#include "identity/certificate_authority.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>

#include "unit/identity/identity_test_support.hpp"

namespace fg::identity {
namespace {

using testing::TempDir;

CertificateAuthority make_ca(const std::string& dir) {
  auto ca = CertificateAuthority::load_or_create(dir);
  if (!ca) throw std::runtime_error(ca.error());
  return std::move(ca).value();
}

// Builds a PEM CSR for `key` with the given CN, signed by the key itself.
std::string make_csr(EVP_PKEY* key, const std::string& cn) {
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_NAME* name = X509_REQ_get_subject_name(req);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Acme"), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_REQ_free(req);
  return pem;
}

std::string der_to_pem_csr(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (req == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_REQ_free(req);
  return pem;
}

std::vector<unsigned char> csr_der(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  X509_REQ_free(req);
  return out;
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(CertificateAuthorityTest, CreatesRootWithExpectedProperties) {
  auto ca = make_ca(dir_.str());
  const auto& c = ca.certificate();
  EXPECT_EQ(c.subject, "CN=fleetguard Root CA, O=fleetguard");
  EXPECT_EQ(c.issuer, c.subject);
  EXPECT_TRUE(c.is_ca);
  EXPECT_EQ(c.key.algorithm, "EC");
  EXPECT_EQ(c.key.curve, "prime256v1");
  EXPECT_EQ(c.key.bits, 256);
  EXPECT_EQ(c.serial_hex.size(), 32u);
  EXPECT_NEAR(static_cast<double>(c.not_after - c.not_before), 7305 * 86400.0, 600.0);
  EXPECT_TRUE(std::filesystem::exists(dir_.sub("ca.pem")));
}

TEST_F(CertificateAuthorityTest, RootExtensionsSeenByOpenssl) {
  auto ca = make_ca(dir_.str());
  auto r = testing::run_command("openssl x509 -noout -text -in " + dir_.sub("ca.pem"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("X509v3 Basic Constraints: critical"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CA:TRUE"), std::string::npos);
  EXPECT_NE(r.output.find("X509v3 Key Usage: critical"), std::string::npos);
  EXPECT_NE(r.output.find("Certificate Sign, CRL Sign"), std::string::npos);
  EXPECT_NE(r.output.find("X509v3 Subject Key Identifier"), std::string::npos);
}

TEST_F(CertificateAuthorityTest, ReloadGivesSameCa) {
  std::string id, subject;
  {
    auto ca = make_ca(dir_.str());
    id = ca.certificate().id;
    subject = ca.certificate().subject;
  }
  auto again = make_ca(dir_.str());
  EXPECT_EQ(again.certificate().id, id);
  EXPECT_EQ(again.certificate().subject, subject);
  // A device issued after reload still verifies against the reloaded CA.
  auto device = again.issue_device("d1", KeyType::EcP256, 10);
  ASSERT_TRUE(device) << device.error();
  EXPECT_TRUE(again.verify(device->certificate));
}

TEST_F(CertificateAuthorityTest, KeyFileIsOwnerOnly) {
  auto ca = make_ca(dir_.str());
  struct stat st {};
  ASSERT_EQ(::stat(dir_.sub("ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CertificateAuthorityTest, CorruptCertificateOnLoadIsAnError) {
  make_ca(dir_.str());
  std::ofstream(dir_.sub("ca.pem"), std::ios::trunc) << "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n";
  auto ca = CertificateAuthority::load_or_create(dir_.str());
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().find("ca.pem"), std::string::npos) << ca.error();
}

TEST_F(CertificateAuthorityTest, CorruptKeyOnLoadIsAnError) {
  make_ca(dir_.str());
  std::ofstream(dir_.sub("ca.key"), std::ios::trunc) << "not a key";
  auto ca = CertificateAuthority::load_or_create(dir_.str());
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().find("ca.key"), std::string::npos) << ca.error();
}

TEST_F(CertificateAuthorityTest, MismatchedKeyOnLoadIsAnError) {
  TempDir other;
  make_ca(dir_.str());
  make_ca(other.str());
  std::filesystem::copy_file(other.sub("ca.key"), dir_.sub("ca.key"),
                             std::filesystem::copy_options::overwrite_existing);
  auto ca = CertificateAuthority::load_or_create(dir_.str());
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().find("does not match"), std::string::npos) << ca.error();
}

TEST_F(CertificateAuthorityTest, MissingKeyIsAnErrorNotANewCa) {
  make_ca(dir_.str());
  std::filesystem::remove(dir_.sub("ca.key"));
  auto ca = CertificateAuthority::load_or_create(dir_.str());
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().find("missing"), std::string::npos) << ca.error();
}

TEST_F(CertificateAuthorityTest, CaIsMovable) {
  auto ca = make_ca(dir_.str());
  std::string id = ca.certificate().id;
  CertificateAuthority moved = std::move(ca);
  EXPECT_EQ(moved.certificate().id, id);
  EXPECT_TRUE(moved.issue_device("m", KeyType::EcP256, 1));
}

TEST_F(CertificateAuthorityTest, EcDeviceCertificate) {
  auto ca = make_ca(dir_.str());
  auto device = ca.issue_device("AWS IoT Certificate", KeyType::EcP256, 365);
  ASSERT_TRUE(device) << device.error();
  EXPECT_EQ(device->certificate.key.algorithm, "EC");
  EXPECT_EQ(device->certificate.key.curve, "prime256v1");
  EXPECT_EQ(device->certificate.key.bits, 256);
  EXPECT_EQ(device->certificate.subject_fields.at("CN"), "AWS IoT Certificate");
  EXPECT_NE(device->private_key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(device->public_key_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_TRUE(ca.verify(device->certificate));
}

TEST_F(CertificateAuthorityTest, RsaDeviceCertificate) {
  auto ca = make_ca(dir_.str());
  auto device = ca.issue_device("rsa-device", KeyType::Rsa2048, 365);
  ASSERT_TRUE(device) << device.error();
  EXPECT_EQ(device->certificate.key.algorithm, "RSA");
  EXPECT_EQ(device->certificate.key.bits, 2048);
  EXPECT_TRUE(device->certificate.key.curve.empty());
  EXPECT_TRUE(ca.verify(device->certificate));
}

TEST_F(CertificateAuthorityTest, DeviceDoesNotVerifyAgainstAnotherCa) {
  TempDir other_dir;
  auto ca = make_ca(dir_.str());
  auto other = make_ca(other_dir.str());
  for (KeyType type : {KeyType::EcP256, KeyType::Rsa2048}) {
    auto device = ca.issue_device("d", type, 30);
    ASSERT_TRUE(device) << device.error();
    EXPECT_TRUE(ca.verify(device->certificate));
    EXPECT_FALSE(other.verify(device->certificate));
  }
}

TEST_F(CertificateAuthorityTest, DeviceHasClientAuthAndVerifiesWithOpenssl) {
  auto ca = make_ca(dir_.str());
  auto device = ca.issue_device("cli", KeyType::EcP256, 30);
  ASSERT_TRUE(device) << device.error();
  std::ofstream(dir_.sub("device.pem")) << device->certificate.pem;
  auto r = testing::run_command("openssl verify -purpose sslclient -CAfile " + dir_.sub("ca.pem") + " " +
                                dir_.sub("device.pem"));
  EXPECT_EQ(r.status, 0) << r.output;
  auto s = testing::run_command("openssl verify -purpose sslserver -CAfile " + dir_.sub("ca.pem") + " " +
                                dir_.sub("device.pem"));
  EXPECT_NE(s.status, 0) << "a device certificate must not be usable as a server: " << s.output;
}

TEST_F(CertificateAuthorityTest, InvalidDeviceRequestsAreRefused) {
  auto ca = make_ca(dir_.str());
  EXPECT_FALSE(ca.issue_device("", KeyType::EcP256, 30));
  EXPECT_FALSE(ca.issue_device(std::string(65, 'a'), KeyType::EcP256, 30));
  EXPECT_FALSE(ca.issue_device("d", KeyType::EcP256, 0));
  EXPECT_FALSE(ca.issue_server({"bad,name"}, {}, 30));
  EXPECT_FALSE(ca.issue_server({"ok"}, {"not-an-ip"}, 30));
}

TEST_F(CertificateAuthorityTest, SignsEcCsrCopyingSubjectAndKey) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_EC_gen("P-384");
  std::string csr = make_csr(key, "csr-device");
  auto cert = ca.sign_csr(csr, 30);
  ASSERT_TRUE(cert) << cert.error();
  EXPECT_EQ(cert->subject, "CN=csr-device, O=Acme");
  EXPECT_EQ(cert->key.curve, "secp384r1");
  EXPECT_FALSE(cert->is_ca);
  EXPECT_TRUE(ca.verify(*cert));
  // The certificate carries the CSR's public key, not a new one.
  BIO* bio = BIO_new_mem_buf(cert->pem.data(), static_cast<int>(cert->pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_EQ(X509_check_private_key(x, key), 1);
  X509_free(x);
  EVP_PKEY_free(key);
}

TEST_F(CertificateAuthorityTest, SignsRsa2048Csr) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_RSA_gen(2048);
  auto cert = ca.sign_csr(make_csr(key, "rsa"), 30);
  EVP_PKEY_free(key);
  ASSERT_TRUE(cert) << cert.error();
  EXPECT_EQ(cert->key.algorithm, "RSA");
}

TEST_F(CertificateAuthorityTest, TamperedCsrSignatureIsRefused) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_EC_gen("P-256");
  auto der = csr_der(make_csr(key, "tamper"));
  EVP_PKEY_free(key);
  // The signature BIT STRING is the last element; flipping its last byte
  // keeps the DER well-formed but breaks the signature.
  der.back() ^= 0x01;
  std::string pem = der_to_pem_csr(der);
  ASSERT_FALSE(pem.empty());
  auto cert = ca.sign_csr(pem, 30);
  ASSERT_FALSE(cert);
  EXPECT_NE(cert.error().find("signature"), std::string::npos) << cert.error();
}

TEST_F(CertificateAuthorityTest, TamperedCsrSubjectIsRefused) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_EC_gen("P-256");
  auto der = csr_der(make_csr(key, "aaaa"));
  EVP_PKEY_free(key);
  std::string text(der.begin(), der.end());
  auto pos = text.find("aaaa");
  ASSERT_NE(pos, std::string::npos);
  der[pos] = 'b';
  auto cert = ca.sign_csr(der_to_pem_csr(der), 30);
  EXPECT_FALSE(cert);
}

TEST_F(CertificateAuthorityTest, WeakRsaCsrIsRefused) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_RSA_gen(1024);
  ASSERT_NE(key, nullptr);
  auto cert = ca.sign_csr(make_csr(key, "weak"), 30);
  EVP_PKEY_free(key);
  ASSERT_FALSE(cert);
  EXPECT_NE(cert.error().find("too weak"), std::string::npos) << cert.error();
}

TEST_F(CertificateAuthorityTest, UnacceptedCurveCsrIsRefused) {
  auto ca = make_ca(dir_.str());
  EVP_PKEY* key = EVP_EC_gen("secp256k1");
  ASSERT_NE(key, nullptr);
  auto cert = ca.sign_csr(make_csr(key, "k1"), 30);
  EVP_PKEY_free(key);
  EXPECT_FALSE(cert);
}

TEST_F(CertificateAuthorityTest, MalformedCsrIsRefused) {
  auto ca = make_ca(dir_.str());
  EXPECT_FALSE(ca.sign_csr("", 30));
  EXPECT_FALSE(ca.sign_csr("garbage", 30));
  EXPECT_FALSE(ca.sign_csr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", 30));
  EXPECT_FALSE(ca.verify_pem("garbage"));
}

}  // namespace
}  // namespace fg::identity
