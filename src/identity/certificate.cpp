#include "identity/certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cctype>
#include <ctime>

#include "identity/openssl_handles.hpp"

namespace fg::identity {
namespace {

constexpr std::string_view kPemCertificateHeader = "-----BEGIN CERTIFICATE-----";

std::string to_hex(const unsigned char* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

std::string asn1_string_utf8(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// Builds both the one-line form and the field map in one pass. Repeated
// attributes (two OUs) are kept, joined with ", ", rather than silently
// dropping all but one.
void describe_name(const X509_NAME* name, std::string& line, std::map<std::string, std::string>& fields) {
  line.clear();
  fields.clear();
  int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(entry);
    int nid = OBJ_obj2nid(obj);
    std::string key;
    if (nid != NID_undef) {
      key = OBJ_nid2sn(nid);
    } else {
      char buf[128];
      OBJ_obj2txt(buf, sizeof buf, obj, 1);
      key = buf;
    }
    std::string value = asn1_string_utf8(X509_NAME_ENTRY_get_data(entry));
    if (!line.empty()) line += ", ";
    line += key + "=" + value;
    auto [it, inserted] = fields.emplace(key, value);
    if (!inserted) it->second += ", " + value;
  }
}

bool asn1_time_to_unix(const ASN1_TIME* t, int64_t& out) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}


KeyInfo key_info_of(const EVP_PKEY* key) {
  KeyInfo info;
  if (key == nullptr) return info;
  info.bits = EVP_PKEY_get_bits(key);
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) {
    info.algorithm = "EC";
    char group[80] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
      info.curve.assign(group, len);
    }
  } else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
    info.algorithm = "RSA";
  } else {
    const char* sn = OBJ_nid2sn(id);
    info.algorithm = sn != nullptr ? sn : "unknown";
  }
  return info;
}

void subject_alt_names_of(const X509* cert, CertificateInfo& info) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      info.dns_names.push_back(asn1_string_utf8(gn->d.dNSName));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(ip);
      const unsigned char* bytes = ASN1_STRING_get0_data(ip);
      if (len == 4 && inet_ntop(AF_INET, bytes, text, sizeof text) != nullptr) {
        info.ip_addresses.emplace_back(text);
      } else if (len == 16 && inet_ntop(AF_INET6, bytes, text, sizeof text) != nullptr) {
        info.ip_addresses.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
}

bool basic_constraints_ca(const X509* cert) {
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr));
  if (bc == nullptr) return false;
  bool ca = bc->ca != 0;
  BASIC_CONSTRAINTS_free(bc);
  return ca;
}

}  // namespace

std::string certificate_id_of_der(std::span<const uint8_t> der) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return to_hex(digest, len);
}

Result<CertificateInfo, std::string> parse_certificate_der(std::span<const uint8_t> der) {
  ERR_clear_error();
  if (der.empty()) return unexpected(std::string("certificate is empty: expected DER-encoded X.509 bytes"));
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    return unexpected("certificate is not valid DER-encoded X.509: " + take_openssl_error());
  }
  if (p != der.data() + der.size()) {
    return unexpected(std::string("certificate DER has trailing bytes after the certificate"));
  }

  // The id is taken over OpenSSL's own re-encoding, not the input bytes: a
  // certificate sent in a TLS handshake and the same certificate registered
  // as PEM must get one id even if one copy used a non-canonical encoding.
  unsigned char* canonical = nullptr;
  const int canonical_len = i2d_X509(cert.get(), &canonical);
  if (canonical_len <= 0) return unexpected("certificate could not be DER-encoded: " + take_openssl_error());
  CertificateInfo info;
  info.id = certificate_id_of_der(std::span<const uint8_t>(canonical, static_cast<size_t>(canonical_len)));
  OPENSSL_free(canonical);
  info.pem = x509_to_pem(cert.get());
  describe_name(X509_get_subject_name(cert.get()), info.subject, info.subject_fields);
  describe_name(X509_get_issuer_name(cert.get()), info.issuer, info.issuer_fields);
  if (!asn1_time_to_unix(X509_get0_notBefore(cert.get()), info.not_before) ||
      !asn1_time_to_unix(X509_get0_notAfter(cert.get()), info.not_after)) {
    ERR_clear_error();
    return unexpected(std::string("certificate validity dates cannot be read"));
  }
  info.serial_hex = serial_hex_of(cert.get());
  info.key = key_info_of(X509_get0_pubkey(cert.get()));
  if (info.key.algorithm.empty()) {
    ERR_clear_error();
    return unexpected(std::string("certificate public key is missing or uses an unsupported encoding"));
  }
  info.is_ca = basic_constraints_ca(cert.get());
  subject_alt_names_of(cert.get(), info);
  ERR_clear_error();
  if (info.id.empty() || info.pem.empty()) {
    return unexpected(std::string("certificate could not be re-encoded"));
  }
  return info;
}

std::string serial_hex_of(const X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string certificate_id_of(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  std::string id = certificate_id_of_der(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return id;
}

DistinguishedName subject_of(X509* cert) {
  DistinguishedName dn;
  describe_name(X509_get_subject_name(cert), dn.line, dn.fields);
  return dn;
}

DistinguishedName issuer_of(X509* cert) {
  DistinguishedName dn;
  describe_name(X509_get_issuer_name(cert), dn.line, dn.fields);
  return dn;
}

Result<CertificateInfo, std::string> parse_certificate_pem(std::string_view pem) {
  ERR_clear_error();
  if (pem.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return unexpected(std::string("certificate is empty: expected PEM text starting with ") +
                      std::string(kPemCertificateHeader));
  }
  if (pem.find(kPemCertificateHeader) == std::string_view::npos) {
    return unexpected(std::string("no PEM certificate found: expected a block starting with ") +
                      std::string(kPemCertificateHeader));
  }
  X509Ptr cert = read_x509_pem(pem);
  if (!cert) {
    return unexpected("PEM certificate is malformed (bad base64 or not X.509): " + take_openssl_error());
  }
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) {
    return unexpected("certificate could not be DER-encoded: " + take_openssl_error());
  }
  auto result = parse_certificate_der(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return result;
}

}  // namespace fg::identity
