#include "identity/certificate.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>

#include "identity/certificate_authority.hpp"
#include "unit/identity/identity_test_support.hpp"

namespace fg::identity {
namespace {

using testing::TempDir;

std::vector<uint8_t> der_of(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  std::vector<uint8_t> out(der, der + len);
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

std::string sha256_hex(const std::vector<uint8_t>& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  char hex[3];
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

class CertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::load_or_create(dir_.str());
    ASSERT_TRUE(ca) << ca.error();
    ca_ = std::make_unique<CertificateAuthority>(std::move(ca).value());
  }
  TempDir dir_;
  std::unique_ptr<CertificateAuthority> ca_;
};

TEST_F(CertificateTest, IdIsSha256OfDerComputedIndependently) {
  const auto& info = ca_->certificate();
  auto der = der_of(info.pem);
  EXPECT_EQ(info.id, sha256_hex(der));
  EXPECT_EQ(info.id.size(), 64u);
  EXPECT_EQ(info.id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(certificate_id_of_der(der), info.id);
}

TEST_F(CertificateTest, IdMatchesOpensslCommandLine) {
  auto r = testing::run_command("openssl x509 -in " + dir_.sub("ca.pem") + " -outform der | sha256sum");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 64), ca_->certificate().id);
}

TEST_F(CertificateTest, DerAndPemParsesAgree) {
  auto der = der_of(ca_->certificate().pem);
  auto from_der = parse_certificate_der(der);
  ASSERT_TRUE(from_der) << from_der.error();
  EXPECT_EQ(from_der->id, ca_->certificate().id);
  EXPECT_EQ(from_der->subject, ca_->certificate().subject);
  EXPECT_EQ(from_der->serial_hex, ca_->certificate().serial_hex);
}

TEST_F(CertificateTest, SubjectAndIssuerFieldsParsed) {
  auto device = ca_->issue_device("SensorDevice01", KeyType::EcP256, 30);
  ASSERT_TRUE(device) << device.error();
  const auto& c = device->certificate;
  EXPECT_EQ(c.subject, "CN=SensorDevice01");
  EXPECT_EQ(c.subject_fields.at("CN"), "SensorDevice01");
  EXPECT_EQ(c.issuer, "CN=fleetguard Root CA, O=fleetguard");
  EXPECT_EQ(c.issuer_fields.at("CN"), "fleetguard Root CA");
  EXPECT_EQ(c.issuer_fields.at("O"), "fleetguard");
  EXPECT_FALSE(c.is_ca);
  EXPECT_EQ(c.serial_hex.size(), 32u);
  EXPECT_NEAR(static_cast<double>(c.not_after - c.not_before), 30 * 86400.0, 600.0);
}

TEST(CertificateParse, EmptyInputIsAnError) {
  auto r = parse_certificate_pem("");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("empty"), std::string::npos) << r.error();
  EXPECT_FALSE(parse_certificate_pem("  \n"));
  EXPECT_FALSE(parse_certificate_der({}));
}

TEST(CertificateParse, GarbageIsAnError) {
  auto r = parse_certificate_pem("hello, I am not a certificate");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("BEGIN CERTIFICATE"), std::string::npos) << r.error();
  std::vector<uint8_t> junk{0x30, 0x82, 0xff, 0xff, 0x01, 0x02};
  EXPECT_FALSE(parse_certificate_der(junk));
}

TEST(CertificateParse, MalformedPemIsAnError) {
  auto r = parse_certificate_pem("-----BEGIN CERTIFICATE-----\nMIIB!!!notbase64\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("malformed"), std::string::npos) << r.error();
  // Valid base64 that is not a certificate.
  EXPECT_FALSE(parse_certificate_pem("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"));
}

TEST_F(CertificateTest, TruncatedPemIsAnError) {
  std::string pem = ca_->certificate().pem;
  EXPECT_FALSE(parse_certificate_pem(pem.substr(0, pem.size() / 2)));
  auto der = der_of(pem);
  der.resize(der.size() - 10);
  EXPECT_FALSE(parse_certificate_der(der));
}

TEST_F(CertificateTest, TrailingBytesAfterDerAreAnError) {
  auto der = der_of(ca_->certificate().pem);
  der.push_back(0);
  EXPECT_FALSE(parse_certificate_der(der));
}

}  // namespace
}  // namespace fg::identity
