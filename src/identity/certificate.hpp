// X.509 certificate parsing for device identity: turns a PEM or DER
// certificate into the plain description the control plane stores and
// returns (AWS IoT's DescribeCertificate view).
//
// Certificates come from outside (RegisterCertificate, CSRs, files), so every
// parse failure is an error value with a message a person can act on, never a
// crash. The functions are stateless and safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "common/result.hpp"

namespace fg::identity {

enum class KeyType { EcP256, Rsa2048 };

struct KeyInfo {
  std::string algorithm;  // "EC", "RSA", or OpenSSL's short name for others.
  int bits = 0;           // 256 for P-256, 2048 for RSA-2048.
  std::string curve;      // "prime256v1", "secp384r1"; empty for non-EC keys.
};

struct CertificateInfo {
  std::string id;       // Lowercase hex SHA-256 of the DER encoding (AWS certificateId).
  std::string pem;
  std::string subject;  // One line in certificate order, e.g. "CN=SensorDevice01, O=fleetguard".
  std::string issuer;
  std::map<std::string, std::string> subject_fields;  // Short names: CN, O, OU, C, ST, L, serialNumber...
  std::map<std::string, std::string> issuer_fields;
  int64_t not_before = 0;  // Unix seconds.
  int64_t not_after = 0;
  std::string serial_hex;  // Lowercase hex, no leading "0x".
  KeyInfo key;
  bool is_ca = false;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries.
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, textual ("127.0.0.1", "::1").
};

// Parses the first certificate of a PEM string.
Result<CertificateInfo, std::string> parse_certificate_pem(std::string_view pem);

// Parses one DER-encoded certificate; trailing bytes are an error.
Result<CertificateInfo, std::string> parse_certificate_der(std::span<const uint8_t> der);

// AWS certificateId: lowercase hex SHA-256 of the DER bytes.
std::string certificate_id_of_der(std::span<const uint8_t> der);

// The certificate id of a parsed certificate (a TLS peer's), over OpenSSL's
// canonical re-encoding as parse_certificate_der computes it. Empty when the
// certificate cannot be encoded.
std::string certificate_id_of(X509* cert);

// A distinguished name as one line ("CN=a, O=b") and as short-name fields.
struct DistinguishedName {
  std::string line;
  std::map<std::string, std::string> fields;
};
// Lowercase hex serial number, no leading "0x".
std::string serial_hex_of(const X509* cert);
DistinguishedName subject_of(X509* cert);
DistinguishedName issuer_of(X509* cert);

}  // namespace fg::identity
