#include "net/tls.hpp"

#include <openssl/ssl.h>

namespace fg::net {

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
