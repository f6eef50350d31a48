// TLS for the data plane: server contexts (TLS 1.2 and newer only, forward-
// secret AEAD cipher suites). The certificates come from the identity module.
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

// A server TLS context from PEM files. TLS 1.2+ only.
Result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_server_tls_context(
    const TlsFiles& files);

}  // namespace fg::net
