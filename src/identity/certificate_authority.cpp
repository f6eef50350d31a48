#include "identity/certificate_authority.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <system_error>

#include "identity/file_io.hpp"

namespace fg::identity {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxLeafDays = 3650 * 3;
// Leaves start a few minutes in the past so a device whose clock is slightly
// behind does not reject a certificate it was just given.
constexpr long kBackdateSeconds = 300;

enum class Profile { Root, ServerLeaf, ClientLeaf };

struct Fail {
  std::string message;
};

// Internal code throws Fail so each OpenSSL step is one line; the public
// functions catch it and return an error value.
void check(bool ok, std::string_view what) {
  if (!ok) throw Fail{std::string(what) + ": " + take_openssl_error()};
}

X509NamePtr make_name(const std::vector<std::pair<std::string, std::string>>& entries) {
  X509NamePtr name(X509_NAME_new());
  check(name != nullptr, "allocating a name");
  for (const auto& [field, value] : entries) {
    check(X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0) == 1,
          "invalid " + field + " \"" + value + "\"");
  }
  return name;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, std::string("building extension ") + OBJ_nid2sn(nid));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok == 1, std::string("adding extension ") + OBJ_nid2sn(nid));
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes) == 1, "generating a serial number");
  bytes[0] &= 0x7f;  // DER INTEGER must stay positive...
  bytes[0] |= 0x40;  // ...and keep all 16 bytes so serials have a fixed length.
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  check(bn != nullptr, "generating a serial number");
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  check(serial != nullptr, "setting the serial number");
}

bool is_ip_address(const std::string& text) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(text.c_str());
  if (ip == nullptr) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

bool is_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_' || c == '*';
    if (!ok) return false;
  }
  return true;
}

void add_subject_alt_names(X509* cert, const std::vector<std::string>& dns_names,
                           const std::vector<std::string>& ip_addresses) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  check(names != nullptr, "allocating subjectAltName");
  auto push = [&](int type, ASN1_STRING* value) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr || value == nullptr) {
      GENERAL_NAME_free(gn);
      ASN1_STRING_free(value);
      GENERAL_NAMES_free(names);
      check(false, "building subjectAltName");
    }
    GENERAL_NAME_set0_value(gn, type, value);
    sk_GENERAL_NAME_push(names, gn);
  };
  for (const auto& dns : dns_names) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (s != nullptr) ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size()));
    push(GEN_DNS, s);
  }
  for (const auto& ip : ip_addresses) push(GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
  int ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  check(ok == 1, "adding subjectAltName");
}

// Builds and signs a certificate. For Profile::Root, `issuer_cert` is null and
// the certificate is self-signed with `signing_key`.
X509Ptr build_certificate(const X509_NAME* subject, EVP_PKEY* subject_key, X509* issuer_cert,
                          EVP_PKEY* signing_key, Profile profile, long days,
                          const std::vector<std::string>& dns_names = {},
                          const std::vector<std::string>& ip_addresses = {}) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "allocating a certificate");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "setting the version");
  set_random_serial(cert.get());
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) != nullptr, "setting notBefore");
  check(X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, nullptr) != nullptr,
        "setting notAfter");
  check(X509_set_subject_name(cert.get(), subject) == 1, "setting the subject");
  X509* issuer = issuer_cert != nullptr ? issuer_cert : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) == 1, "setting the issuer");
  check(X509_set_pubkey(cert.get(), subject_key) == 1, "setting the public key");

  bool rsa = EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA;
  switch (profile) {
    case Profile::Root:
      add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
      add_ext(cert.get(), issuer, NID_subject_key_identifier, "hash");
      break;
    case Profile::ServerLeaf:
    case Profile::ClientLeaf:
      add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
      // keyEncipherment only means something for RSA key transport.
      add_ext(cert.get(), issuer, NID_key_usage,
              rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
      add_ext(cert.get(), issuer, NID_ext_key_usage,
              profile == Profile::ServerLeaf ? "serverAuth" : "clientAuth");
      add_ext(cert.get(), issuer, NID_subject_key_identifier, "hash");
      add_ext(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
      if (!dns_names.empty() || !ip_addresses.empty()) {
        add_subject_alt_names(cert.get(), dns_names, ip_addresses);
      }
      break;
  }
  check(X509_sign(cert.get(), signing_key, EVP_sha256()) > 0, "signing the certificate");
  return cert;
}

CertificateInfo describe(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  check(len > 0, "encoding the certificate");
  auto info = parse_certificate_der(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  if (!info) throw Fail{info.error()};
  return std::move(info).value();
}

EvpPkeyPtr generate_key(KeyType type) {
  EVP_PKEY* key = type == KeyType::EcP256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  check(key != nullptr, "generating a key");
  return EvpPkeyPtr(key);
}

void check_days(int days) {
  if (days <= 0 || days > kMaxLeafDays) {
    throw Fail{"validity must be between 1 and " + std::to_string(kMaxLeafDays) + " days, got " +
               std::to_string(days)};
  }
}

// The key strengths AWS IoT accepts for device certificates.
void check_key_strength(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048) throw Fail{"RSA key of " + std::to_string(bits) + " bits is too weak; use at least 2048"};
    return;
  }
  if (id == EVP_PKEY_EC) {
    char group[80] = {};
    size_t len = 0;
    EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len);
    std::string curve(group, len);
    if (curve != "prime256v1" && curve != "secp384r1") {
      throw Fail{"EC curve \"" + curve + "\" is not accepted; use P-256 or P-384"};
    }
    return;
  }
  const char* sn = OBJ_nid2sn(id);
  throw Fail{std::string("key algorithm ") + (sn != nullptr ? sn : "unknown") + " is not accepted; use RSA or EC"};
}

Result<CertificateAuthority, std::string> fail(const std::string& message) {
  ERR_clear_error();
  return unexpected(message);
}

}  // namespace

Result<CertificateAuthority, std::string> CertificateAuthority::load_or_create(const std::string& dir) {
  const std::string cert_path = (fs::path(dir) / "ca.pem").string();
  const std::string key_path = (fs::path(dir) / "ca.key").string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create CA directory " + dir + ": " + ec.message());
  bool have_cert = fs::exists(cert_path, ec);
  bool have_key = fs::exists(key_path, ec);

  try {
    if (!have_cert && !have_key) {
      EvpPkeyPtr key = generate_key(KeyType::EcP256);
      X509NamePtr name = make_name({{"CN", "fleetguard Root CA"}, {"O", "fleetguard"}});
      X509Ptr cert = build_certificate(name.get(), key.get(), nullptr, key.get(), Profile::Root,
                                       kRootValidityDays);
      CertificateInfo info = describe(cert.get());
      // Key first: a ca.pem on disk always has its key beside it.
      auto wrote_key = write_file_atomically(key_path, private_key_to_pem(key.get()), 0600);
      if (!wrote_key) return fail(wrote_key.error());
      auto wrote_cert = write_file_atomically(cert_path, info.pem, 0644);
      if (!wrote_cert) return fail(wrote_cert.error());
      return CertificateAuthority(std::move(key), std::move(cert), std::move(info));
    }
    if (!have_cert) {
      return fail("CA key " + key_path + " exists but its certificate " + cert_path +
                  " is missing; restore ca.pem or remove ca.key to create a new CA (existing device "
                  "certificates will stop working)");
    }
    if (!have_key) {
      return fail("CA certificate " + cert_path + " exists but its key " + key_path +
                  " is missing; restore ca.key from backup");
    }
    auto cert_text = read_whole_file(cert_path);
    if (!cert_text) return fail(cert_text.error());
    auto key_text = read_whole_file(key_path);
    if (!key_text) return fail(key_text.error());
    ERR_clear_error();
    X509Ptr cert = read_x509_pem(*cert_text);
    if (!cert) return fail(cert_path + " is not a valid PEM certificate: " + take_openssl_error());
    EvpPkeyPtr key = read_private_key_pem(*key_text);
    if (!key) {
      return fail(key_path + " is not a valid unencrypted PEM private key: " + take_openssl_error());
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return fail("CA key " + key_path + " does not match certificate " + cert_path);
    }
    CertificateInfo info = describe(cert.get());
    if (!info.is_ca) return fail(cert_path + " is not a CA certificate (basicConstraints CA:TRUE missing)");
    return CertificateAuthority(std::move(key), std::move(cert), std::move(info));
  } catch (const Fail& f) {
    return fail("certificate authority in " + dir + ": " + f.message);
  }
}

Result<IssuedCertificate, std::string> CertificateAuthority::issue_server(
    const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses, int days) const {
  try {
    check_days(days);
    if (dns_names.empty()) throw Fail{"a server certificate needs at least one DNS name"};
    for (const auto& dns : dns_names) {
      if (!is_dns_name(dns)) throw Fail{"\"" + dns + "\" is not a valid DNS name"};
    }
    for (const auto& ip : ip_addresses) {
      if (!is_ip_address(ip)) throw Fail{"\"" + ip + "\" is not a valid IP address"};
    }
    EvpPkeyPtr key = generate_key(KeyType::EcP256);
    // CN is limited to 64 characters; the SAN carries the full name anyway.
    X509NamePtr name = make_name({{"CN", dns_names.front().substr(0, 64)}, {"O", "fleetguard"}});
    X509Ptr cert = build_certificate(name.get(), key.get(), cert_.get(), key_.get(), Profile::ServerLeaf, days,
                                     dns_names, ip_addresses);
    return IssuedCertificate{describe(cert.get()), private_key_to_pem(key.get()), public_key_to_pem(key.get())};
  } catch (const Fail& f) {
    ERR_clear_error();
    return unexpected("cannot issue server certificate: " + f.message);
  }
}

Result<IssuedCertificate, std::string> CertificateAuthority::issue_device(const std::string& common_name,
                                                                          KeyType type, int days) const {
  try {
    check_days(days);
    if (common_name.empty() || common_name.size() > 64) {
      throw Fail{"common name must be 1 to 64 characters, got " + std::to_string(common_name.size())};
    }
    EvpPkeyPtr key = generate_key(type);
    X509NamePtr name = make_name({{"CN", common_name}});
    X509Ptr cert =
        build_certificate(name.get(), key.get(), cert_.get(), key_.get(), Profile::ClientLeaf, days);
    return IssuedCertificate{describe(cert.get()), private_key_to_pem(key.get()), public_key_to_pem(key.get())};
  } catch (const Fail& f) {
    ERR_clear_error();
    return unexpected("cannot issue device certificate: " + f.message);
  }
}

Result<CertificateInfo, std::string> CertificateAuthority::sign_csr(std::string_view csr_pem, int days) const {
  try {
    check_days(days);
    ERR_clear_error();
    if (csr_pem.find("-----BEGIN CERTIFICATE REQUEST-----") == std::string_view::npos) {
      throw Fail{"no PEM certificate request found: expected a block starting with "
                 "-----BEGIN CERTIFICATE REQUEST-----"};
    }
    BioPtr bio = memory_bio(csr_pem);
    check(bio != nullptr, "reading the CSR");
    X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    check(req != nullptr, "the CSR is malformed");
    EVP_PKEY* pubkey = X509_REQ_get0_pubkey(req.get());
    check(pubkey != nullptr, "the CSR's public key cannot be read");
    if (X509_REQ_verify(req.get(), pubkey) != 1) {
      ERR_clear_error();
      throw Fail{"the CSR's signature does not match its public key; it was altered or built incorrectly"};
    }
    check_key_strength(pubkey);
    const X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    if (X509_NAME_entry_count(subject) == 0) throw Fail{"the CSR has an empty subject"};
    X509Ptr cert = build_certificate(subject, pubkey, cert_.get(), key_.get(), Profile::ClientLeaf, days);
    return describe(cert.get());
  } catch (const Fail& f) {
    ERR_clear_error();
    return unexpected("cannot sign CSR: " + f.message);
  }
}

bool CertificateAuthority::verify_pem(std::string_view leaf_pem) const {
  ERR_clear_error();
  X509Ptr leaf = read_x509_pem(leaf_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = leaf != nullptr && store != nullptr && ctx != nullptr && X509_STORE_add_cert(store, cert_.get()) == 1 &&
            X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr) == 1 && X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return ok;
}

bool CertificateAuthority::verify(const CertificateInfo& leaf) const { return verify_pem(leaf.pem); }

}  // namespace fg::identity
