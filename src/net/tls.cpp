#include "net/tls.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

namespace fg::net {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { if (f) std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

bool add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

}  // namespace

Result<TlsFiles, std::string> ensure_server_certificate(const std::string& dir) {
  namespace fs = std::filesystem;
  TlsFiles files{dir + "/server.crt", dir + "/server.key"};
  std::error_code ec;
  if (fs::exists(files.cert_file, ec) && fs::exists(files.key_file, ec)) return files;
  fs::create_directories(dir, ec);
  if (ec) return unexpected("cannot create " + dir + ": " + ec.message());

  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return unexpected(std::string("cannot generate an EC P-256 key"));
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_guard(key, EVP_PKEY_free);
  X509* cert = X509_new();
  std::unique_ptr<X509, decltype(&X509_free)> cert_guard(cert, X509_free);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 825L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fleetguard"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fleetguard"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  if (!add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") ||
      !add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert, NID_ext_key_usage, "serverAuth")) {
    return unexpected(std::string("cannot set certificate extensions"));
  }
  if (X509_sign(cert, key, EVP_sha256()) == 0) return unexpected(std::string("cannot sign certificate"));

  // The key file is created 0600 before anything is written to it.
  mode_t old = umask(077);
  FilePtr kf(std::fopen(files.key_file.c_str(), "wx"));
  umask(old);
  if (!kf || PEM_write_PrivateKey(kf.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return unexpected("cannot write " + files.key_file);
  }
  FilePtr cf(std::fopen(files.cert_file.c_str(), "w"));
  if (!cf || PEM_write_X509(cf.get(), cert) != 1) return unexpected("cannot write " + files.cert_file);
  return files;
}

Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_server_tls_context(
    const TlsFiles& files) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(raw, "ECDHE+AESGCM:ECDHE+CHACHA20");
  // Idle TLS connections should not hold 2 x 16 KB buffers.
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) return unexpected("cannot load certificate " + files.cert_file + ": " + ec.message());
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  if (ec) return unexpected("cannot load private key " + files.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(raw) != 1) {
    return unexpected("private key " + files.key_file + " does not match " + files.cert_file);
  }
  return ctx;
}

}  // namespace fg::net
