// TrustStore: the CAs devices may chain to (the built-in CA and every ACTIVE
// registered CA), and chain verification against them.
//
// A TrustStore is immutable once built: when the set of trusted CAs changes,
// the owner builds a new one and swaps the pointer, so a handshake in progress
// keeps verifying against the set it started with. verify() may be called
// from many threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "identity/device_identity.hpp"
#include "identity/openssl_handles.hpp"

namespace fg::identity {

// True when `leaf_pem` chains to `ca_pem` (which may be an intermediate) and
// both are valid now.
bool issued_by(std::string_view leaf_pem, std::string_view ca_pem);
// True when `cert_pem` carries a signature made with the key of `ca_pem`
// (proof of possession of a CA's private key).
bool signed_with_key_of(std::string_view cert_pem, std::string_view ca_pem);

class TrustStore {
 public:
  struct Anchor {
    std::string id;   // certificate id
    std::string pem;  // the CA certificate
  };

  // Fails (naming the anchor) when a PEM cannot be read.
  static Result<std::shared_ptr<const TrustStore>, std::string> build(const std::vector<Anchor>& anchors);

  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  // Verifies `leaf` with the untrusted intermediates `presented` (may be
  // null) at the current time. A registered intermediate CA is an anchor by
  // itself (partial chains are accepted, as AWS IoT does). Returns the id of
  // the anchor the chain ended at.
  // `at` (Unix seconds) replaces the current time, for tests.
  Result<std::string, AuthenticationFailure> verify(X509* leaf, STACK_OF(X509) * presented,
                                                    std::optional<int64_t> at = std::nullopt) const;

  size_t size() const { return ids_.size(); }

 private:
  TrustStore() = default;

  X509_STORE* store_ = nullptr;
  std::vector<X509Ptr> anchors_;
  std::unordered_map<const X509*, std::string> ids_;  // anchor -> certificate id
};

}  // namespace fg::identity
