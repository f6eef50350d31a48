// Owning handles for the OpenSSL objects the identity module passes around,
// and the one place that turns OpenSSL's error queue into text.
// Internal to fg::identity; stateless and safe to use from any thread.
#pragma once

#include <openssl/types.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace fg::identity {

struct X509Free {
  void operator()(X509* p) const;
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const;
};
struct BioFree {
  void operator()(BIO* p) const;
};
struct X509ReqFree {
  void operator()(X509_REQ* p) const;
};
struct X509NameFree {
  void operator()(X509_NAME* p) const;
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509ReqFree>;
using X509NamePtr = std::unique_ptr<X509_NAME, X509NameFree>;

// Drains the thread's OpenSSL error queue. Returns the reasons joined with
// "; ", or `fallback` when the queue was empty. Draining matters: a stale
// error left in the queue would be blamed on the next, unrelated call.
std::string take_openssl_error(std::string_view fallback = "unknown OpenSSL error");

// A read-only memory BIO over `data` (which must outlive the BIO).
BioPtr memory_bio(std::string_view data);

// Everything written to a memory BIO so far.
std::string bio_contents(BIO* bio);

// PEM readers that never prompt for a pass phrase on the terminal (the
// default OpenSSL callback would block a server reading an encrypted key).
X509Ptr read_x509_pem(std::string_view pem);
EvpPkeyPtr read_private_key_pem(std::string_view pem);

std::string x509_to_pem(X509* cert);
std::string private_key_to_pem(EVP_PKEY* key);
std::string public_key_to_pem(EVP_PKEY* key);

}  // namespace fg::identity
