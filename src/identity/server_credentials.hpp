// Keeps the broker's TLS server certificate, signed by the built-in CA, on
// disk and fresh. Called at startup from the main thread; not thread-safe
// with respect to other writers of the same directory.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "identity/certificate_authority.hpp"

namespace fg::identity {

struct ServerFiles {
  std::string cert_file;  // Leaf followed by the CA certificate (PEM chain).
  std::string key_file;   // Mode 0600.
};

// Re-issue when the certificate expires within this many days.
inline constexpr int kServerRenewBeforeDays = 30;
inline constexpr int kServerValidityDays = 365;

// Ensures dir/server.crt and dir/server.key exist, chain to `ca`, are valid
// for more than kServerRenewBeforeDays and cover localhost, 127.0.0.1, ::1,
// this machine's hostname and `hostnames` (entries that are IP addresses go
// into IP SANs). Keeps a certificate that already satisfies all of that.
Result<ServerFiles, std::string> ensure_server_credentials(const CertificateAuthority& ca, const std::string& dir,
                                                           std::vector<std::string> hostnames);

}  // namespace fg::identity
