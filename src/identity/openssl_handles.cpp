#include "identity/openssl_handles.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace fg::identity {

void X509Free::operator()(X509* p) const { X509_free(p); }
void EvpPkeyFree::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
void BioFree::operator()(BIO* p) const { BIO_free(p); }
void X509ReqFree::operator()(X509_REQ* p) const { X509_REQ_free(p); }
void X509NameFree::operator()(X509_NAME* p) const { X509_NAME_free(p); }

std::string take_openssl_error(std::string_view fallback) {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string(fallback) : out;
}

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

namespace {

// Refuses pass phrases instead of prompting: nothing here may block on a tty.
int no_pass_phrase(char*, int, int, void*) { return -1; }

}  // namespace

X509Ptr read_x509_pem(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, no_pass_phrase, nullptr));
}

EvpPkeyPtr read_private_key_pem(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return nullptr;
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass_phrase, nullptr));
}

std::string x509_to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return bio_contents(bio.get());
}

std::string private_key_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bio_contents(bio.get());
}

std::string public_key_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return {};
  return bio_contents(bio.get());
}

}  // namespace fg::identity
