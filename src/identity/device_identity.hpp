// Device authentication for mutual TLS: who is at the other end of a
// connection (DeviceIdentity) and the interface the broker asks during the
// TLS handshake (DeviceAuthenticator). The broker knows nothing of the
// registry; the registry implements the interface (registry/device_authenticator).
//
// Threading: DeviceIdentity is immutable once built and shared by pointer
// (a connection holds one; the policy engine reads it). DeviceAuthenticator
// methods are called from every broker worker thread at once, in the TLS
// handshake: implementations serve them from memory, never from disk.
#pragma once

#include <openssl/types.h>
#include <openssl/x509.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace fg::identity {

struct DeviceIdentity {
  std::string certificate_id;     // AWS certificate id (SHA-256 of the DER)
  std::string ca_certificate_id;  // the registered or built-in CA it chains to
  std::string subject, issuer;    // one-line forms
  std::map<std::string, std::string> subject_fields, issuer_fields;  // CN, O, OU, ...
  std::string serial_hex;
  int64_t not_after = 0;            // Unix seconds
  std::vector<std::string> things;  // attached when the device authenticated, ordered
};
using DeviceIdentityPtr = std::shared_ptr<const DeviceIdentity>;

struct AuthenticationFailure {
  enum class Reason : uint8_t {
    NoCertificate,      // the client sent none
    UntrustedChain,     // does not chain to the built-in CA or an ACTIVE registered CA
    Expired,            // outside its validity (or a CA in the chain is)
    NotRegistered,      // chains to a trusted CA but was never registered
    PendingActivation,  // just-in-time registered now, waits for activation
    NotActive,          // registered, status not ACTIVE
    CaNotActive,        // its registered CA was deactivated or removed
    Internal,
  };
  Reason reason = Reason::Internal;
  std::string message;         // for the log: says what is wrong, never a secret
  std::string certificate_id;  // when known
};

// "no-certificate", "untrusted-chain", ... (stable names for logs and counters).
const char* to_string(AuthenticationFailure::Reason reason);

class DeviceAuthenticator {
 public:
  virtual ~DeviceAuthenticator() = default;

  // A full TLS handshake: verifies `leaf` and the intermediates the client
  // sent (`presented`, may be null) against the trusted CAs, then checks the
  // registry (registered, ACTIVE, its CA ACTIVE). `source` is the peer's
  // "ip:port", for just-in-time registration events and logs.
  virtual Result<DeviceIdentityPtr, AuthenticationFailure> authenticate(X509* leaf, STACK_OF(X509) * presented,
                                                                         const std::string& source) = 0;

  // A resumed TLS session: the chain was verified when the session began, so
  // only the registry checks and the validity dates are repeated.
  virtual Result<DeviceIdentityPtr, AuthenticationFailure> reauthenticate(X509* leaf) = 0;
};

}  // namespace fg::identity
