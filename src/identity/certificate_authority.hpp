// The built-in certificate authority, like AWS IoT's Amazon-managed CA: it
// signs device certificates (CreateKeysAndCertificate,
// CreateCertificateFromCsr) and the broker's own TLS server certificate.
//
// Ownership: the CA owns its private key and certificate in memory; on disk
// they live in <dir>/ca.key (mode 0600) and <dir>/ca.pem.
// Threading: after load_or_create returns, every method is const and may be
// called from several threads at once (OpenSSL 3 keys are safe for
// concurrent signing). Moving a CA is not thread-safe.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "identity/certificate.hpp"
#include "identity/openssl_handles.hpp"

namespace fg::identity {

struct IssuedCertificate {
  CertificateInfo certificate;
  std::string private_key_pem;  // PKCS#8, unencrypted: the caller hands it to the device once.
  std::string public_key_pem;
};

class CertificateAuthority {
 public:
  static constexpr int kRootValidityDays = 7305;  // 20 years.

  // First use creates an EC P-256 self-signed root in `dir`; later uses load
  // it and check that key and certificate belong together.
  static Result<CertificateAuthority, std::string> load_or_create(const std::string& dir);

  const CertificateInfo& certificate() const { return info_; }

  // A TLS server leaf: serverAuth, SANs from the arguments, CN = first DNS name.
  Result<IssuedCertificate, std::string> issue_server(const std::vector<std::string>& dns_names,
                                                      const std::vector<std::string>& ip_addresses,
                                                      int days) const;

  // A device leaf with a key generated here (AWS CreateKeysAndCertificate).
  Result<IssuedCertificate, std::string> issue_device(const std::string& common_name, KeyType type,
                                                      int days) const;

  // Signs a device CSR (AWS CreateCertificateFromCsr). Only the subject and
  // public key are taken from the CSR; requested extensions are ignored so a
  // device cannot ask for CA:TRUE or serverAuth.
  Result<CertificateInfo, std::string> sign_csr(std::string_view csr_pem, int days) const;

  // True when `leaf` was signed by this CA and is currently valid.
  bool verify(const CertificateInfo& leaf) const;
  bool verify_pem(std::string_view leaf_pem) const;

 private:
  CertificateAuthority(EvpPkeyPtr key, X509Ptr cert, CertificateInfo info)
      : key_(std::move(key)), cert_(std::move(cert)), info_(std::move(info)) {}

  EvpPkeyPtr key_;
  X509Ptr cert_;
  CertificateInfo info_;
};

}  // namespace fg::identity
