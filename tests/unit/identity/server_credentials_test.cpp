#include "identity/server_credentials.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "unit/identity/identity_test_support.hpp"

namespace fg::identity {
namespace {

using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class ServerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::load_or_create(ca_dir_.str());
    ASSERT_TRUE(ca) << ca.error();
    ca_ = std::make_unique<CertificateAuthority>(std::move(ca).value());
  }
  CertificateInfo leaf() {
    auto info = parse_certificate_pem(read_file(dir_.sub("server.crt")));
    EXPECT_TRUE(info) << info.error();
    return info ? *info : CertificateInfo{};
  }
  TempDir ca_dir_;
  TempDir dir_;
  std::unique_ptr<CertificateAuthority> ca_;
};

TEST_F(ServerCredentialsTest, WritesChainWithSansAndOwnerOnlyKey) {
  auto files = ensure_server_credentials(*ca_, dir_.str(), {"broker.example.com", "10.1.2.3"});
  ASSERT_TRUE(files) << files.error();
  EXPECT_EQ(files->cert_file, dir_.sub("server.crt"));
  EXPECT_EQ(files->key_file, dir_.sub("server.key"));

  auto c = leaf();
  EXPECT_TRUE(has(c.dns_names, "localhost"));
  EXPECT_TRUE(has(c.dns_names, "broker.example.com"));
  EXPECT_TRUE(has(c.ip_addresses, "127.0.0.1"));
  EXPECT_TRUE(has(c.ip_addresses, "::1"));
  EXPECT_TRUE(has(c.ip_addresses, "10.1.2.3"));
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  std::string h = host;
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::tolower(ch); });
  EXPECT_TRUE(has(c.dns_names, h)) << h;
  EXPECT_EQ(c.subject_fields.at("CN"), "localhost");
  EXPECT_TRUE(ca_->verify(c));

  // The file is leaf then CA.
  std::string chain = read_file(files->cert_file);
  EXPECT_EQ(chain.find(ca_->certificate().pem), chain.size() - ca_->certificate().pem.size());

  struct stat st {};
  ASSERT_EQ(::stat(files->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ServerCredentialsTest, OpensslVerifiesServerCertificate) {
  auto files = ensure_server_credentials(*ca_, dir_.str(), {});
  ASSERT_TRUE(files) << files.error();
  auto r = testing::run_command("openssl verify -purpose sslserver -CAfile " + ca_dir_.sub("ca.pem") + " " +
                                files->cert_file);
  EXPECT_EQ(r.status, 0) << r.output;
  auto m = testing::run_command("openssl x509 -noout -pubkey -in " + files->cert_file + " | sha256sum; " +
                                "openssl pkey -pubout -in " + files->key_file + " | sha256sum");
  ASSERT_EQ(m.status, 0) << m.output;
  auto nl = m.output.find('\n');
  EXPECT_EQ(m.output.substr(0, 64), m.output.substr(nl + 1, 64)) << "key does not match certificate";
}

TEST_F(ServerCredentialsTest, ReusesValidCertificate) {
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {"a.example"}));
  std::string first = leaf().id;
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {"a.example"}));
  EXPECT_EQ(leaf().id, first);
  // A subset of the names already covered is also kept.
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  EXPECT_EQ(leaf().id, first);
}

TEST_F(ServerCredentialsTest, ReissuesForNewHostname) {
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {"a.example"}));
  std::string first = leaf().id;
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {"b.example"}));
  auto c = leaf();
  EXPECT_NE(c.id, first);
  EXPECT_TRUE(has(c.dns_names, "b.example"));
}

TEST_F(ServerCredentialsTest, ReissuesWhenSignedByAnotherCa) {
  TempDir other_dir;
  auto other = CertificateAuthority::load_or_create(other_dir.str());
  ASSERT_TRUE(other) << other.error();
  ASSERT_TRUE(ensure_server_credentials(*other, dir_.str(), {}));
  EXPECT_FALSE(ca_->verify(leaf()));
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  EXPECT_TRUE(ca_->verify(leaf()));
}

TEST_F(ServerCredentialsTest, ReissuesWhenFilesMissingOrCorrupt) {
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  std::string first = leaf().id;
  std::filesystem::remove(dir_.sub("server.key"));
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  std::string second = leaf().id;
  EXPECT_NE(second, first);
  EXPECT_TRUE(std::filesystem::exists(dir_.sub("server.key")));
  std::ofstream(dir_.sub("server.crt"), std::ios::trunc) << "junk";
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  EXPECT_NE(leaf().id, second);
}

TEST_F(ServerCredentialsTest, ReissuesWhenExpiringSoon) {
  // Plant a certificate valid for only 10 days: inside the 30-day window.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto planted = ca_->issue_server({"localhost", host}, {"127.0.0.1", "::1"}, 10);
  ASSERT_TRUE(planted) << planted.error();
  std::ofstream(dir_.sub("server.crt")) << planted->certificate.pem;
  std::ofstream(dir_.sub("server.key")) << planted->private_key_pem;
  ASSERT_TRUE(ensure_server_credentials(*ca_, dir_.str(), {}));
  EXPECT_NE(leaf().id, planted->certificate.id);
}

}  // namespace
}  // namespace fg::identity
