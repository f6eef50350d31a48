#include "identity/trust_store.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace fg::identity {

const char* to_string(AuthenticationFailure::Reason reason) {
  using R = AuthenticationFailure::Reason;
  switch (reason) {
    case R::NoCertificate: return "no-certificate";
    case R::UntrustedChain: return "untrusted-chain";
    case R::Expired: return "expired";
    case R::NotRegistered: return "not-registered";
    case R::PendingActivation: return "pending-activation";
    case R::NotActive: return "not-active";
    case R::CaNotActive: return "ca-not-active";
    case R::Internal: return "internal";
  }
  return "internal";
}

bool issued_by(std::string_view leaf_pem, std::string_view ca_pem) {
  X509Ptr leaf = read_x509_pem(leaf_pem);
  auto ts = TrustStore::build({{"ca", std::string(ca_pem)}});
  ERR_clear_error();
  return leaf && ts && (*ts)->verify(leaf.get(), nullptr).has_value();
}

bool signed_with_key_of(std::string_view cert_pem, std::string_view ca_pem) {
  X509Ptr cert = read_x509_pem(cert_pem);
  X509Ptr ca = read_x509_pem(ca_pem);
  const bool ok = cert && ca && X509_verify(cert.get(), X509_get0_pubkey(ca.get())) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::shared_ptr<const TrustStore>, std::string> TrustStore::build(const std::vector<Anchor>& anchors) {
  std::shared_ptr<TrustStore> ts(new TrustStore());
  ts->store_ = X509_STORE_new();
  if (ts->store_ == nullptr) return unexpected(take_openssl_error("cannot allocate a certificate store"));
  // A registered intermediate CA is trusted by itself: the chain may end there.
  X509_STORE_set_flags(ts->store_, X509_V_FLAG_PARTIAL_CHAIN);
  for (const auto& a : anchors) {
    X509Ptr cert = read_x509_pem(a.pem);
    if (!cert) return unexpected("CA certificate " + a.id + " cannot be read: " + take_openssl_error());
    if (X509_STORE_add_cert(ts->store_, cert.get()) != 1) {
      // Two anchors with the same certificate: the second adds nothing.
      ERR_clear_error();
    }
    ts->ids_.emplace(cert.get(), a.id);
    ts->anchors_.push_back(std::move(cert));
  }
  return std::shared_ptr<const TrustStore>(std::move(ts));
}

TrustStore::~TrustStore() {
  if (store_ != nullptr) X509_STORE_free(store_);
}

Result<std::string, AuthenticationFailure> TrustStore::verify(X509* leaf, STACK_OF(X509) * presented,
                                                             std::optional<int64_t> at) const {
  using R = AuthenticationFailure::Reason;
  if (leaf == nullptr) return unexpected(AuthenticationFailure{R::NoCertificate, "no client certificate", {}});
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (ctx == nullptr || X509_STORE_CTX_init(ctx, store_, leaf, presented) != 1) {
    X509_STORE_CTX_free(ctx);
    return unexpected(AuthenticationFailure{R::Internal, take_openssl_error("cannot set up verification"), {}});
  }
  // Devices authenticate as TLS clients.
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  if (at) X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), static_cast<time_t>(*at));
  const int ok = X509_verify_cert(ctx);
  if (ok != 1) {
    const int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    std::string why = X509_verify_cert_error_string(err);
    if (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID) {
      return unexpected(AuthenticationFailure{R::Expired, "certificate " + why, {}});
    }
    return unexpected(AuthenticationFailure{R::UntrustedChain, "certificate chain not trusted: " + why, {}});
  }
  // The anchor is the last certificate of the verified chain that is one of
  // ours (with partial chains that may be an intermediate).
  std::string anchor;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  for (int i = sk_X509_num(chain) - 1; i >= 0 && anchor.empty(); --i) {
    X509* c = sk_X509_value(chain, i);
    for (const auto& a : anchors_) {
      if (X509_cmp(a.get(), c) == 0) {
        anchor = ids_.at(a.get());
        break;
      }
    }
  }
  X509_STORE_CTX_free(ctx);
  if (anchor.empty()) return unexpected(AuthenticationFailure{R::UntrustedChain, "chain ends at an unknown CA", {}});
  return anchor;
}

}  // namespace fg::identity
