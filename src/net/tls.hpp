// TLS for the data plane: server contexts (TLS 1.2 and newer only, forward-
// secret AEAD cipher suites) and, until the identity module brings the
// built-in CA, a self-signed server certificate created on first start.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace fg::net {

struct TlsFiles {
  std::string cert_file;  // PEM, server certificate (chain)
  std::string key_file;   // PEM, private key (mode 0600)
};

// Creates `dir`/server.crt and `dir`/server.key (EC P-256, self-signed,
// CN=fleetguard, SAN localhost/127.0.0.1, 825 days) unless both exist.
// Returns the paths, or an error a person can act on.
Result<TlsFiles, std::string> ensure_server_certificate(const std::string& dir);

// A server TLS context from PEM files. TLS 1.2+ only.
Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_server_tls_context(
    const TlsFiles& files);

}  // namespace fg::net
