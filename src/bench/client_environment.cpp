#include "bench/client_environment.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <openssl/ssl.h>

#include "mqtt/codec.hpp"

namespace fg::bench {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp::endpoint resolve_broker(const BenchOptions& options) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (!ec) return {address, options.port};

  asio::io_context io;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty()) {
    throw BenchFailure(ExitCode::ConnectFailed,
                       "cannot resolve broker host '" + options.host + "': " + ec.message());
  }
  // A listener bound to 127.0.0.1 is unreachable through "localhost" -> ::1,
  // and source addresses only work within their own family.
  bool want_v6 = false;
  if (!options.source_ips.empty()) {
    const auto src = asio::ip::make_address(options.source_ips.front(), ec);
    want_v6 = !ec && src.is_v6();
  }
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_v6() == want_v6) return entry.endpoint();
  }
  return results.begin()->endpoint();
}

std::unique_ptr<asio::ssl::context> make_tls_context(const BenchOptions& options) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // Idle connections are the point of --connections-only; without this every
  // TLS connection keeps ~34 KB of OpenSSL buffers in the tool.
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);

  boost::system::error_code ec;
  if (!options.cafile.empty()) {
    ctx->load_verify_file(options.cafile, ec);
    if (ec) {
      throw BenchFailure(ExitCode::InvalidOptions,
                         "cannot load CA file '" + options.cafile + "': " + ec.message());
    }
  } else {
    ctx->set_default_verify_paths(ec);
  }
  if (!options.cert.empty()) {
    ctx->use_certificate_chain_file(options.cert, ec);
    if (ec) {
      throw BenchFailure(ExitCode::InvalidOptions,
                         "cannot load client certificate '" + options.cert + "': " + ec.message());
    }
    const std::string& key = options.key.empty() ? options.cert : options.key;
    ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) {
      throw BenchFailure(ExitCode::InvalidOptions,
                         "cannot load client private key '" + key + "': " + ec.message());
    }
  }
  ctx->set_verify_mode(options.insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
  return ctx;
}

namespace {

template <class Ack>
AckTemplate make_ack_template(mqtt::ProtocolVersion version) {
  // 0x0102 makes a misplaced offset visible: the check below would not find it.
  constexpr uint16_t kProbeId = 0x0102;
  Ack ack;
  ack.packet_id = kProbeId;
  AckTemplate t;
  mqtt::encode(mqtt::Packet{ack}, version, t.bytes);
  const auto* data = reinterpret_cast<const uint8_t*>(t.bytes.data());
  const auto header = mqtt::peek_frame({data, t.bytes.size()});
  if (!header || header->header_length == 0 || t.bytes.size() < size_t{header->header_length} + 2 ||
      data[header->header_length] != 0x01 || data[header->header_length + 1] != 0x02) {
    throw BenchFailure(ExitCode::RunFailed, "internal error: unexpected acknowledgement encoding");
  }
  t.id_offset = header->header_length;
  return t;
}

}  // namespace

WireTemplates make_wire_templates(mqtt::ProtocolVersion version) {
  WireTemplates t;
  t.puback = make_ack_template<mqtt::Puback>(version);
  t.pubrec = make_ack_template<mqtt::Pubrec>(version);
  t.pubrel = make_ack_template<mqtt::Pubrel>(version);
  t.pubcomp = make_ack_template<mqtt::Pubcomp>(version);
  mqtt::encode(mqtt::Packet{mqtt::Pingreq{}}, version, t.pingreq);
  mqtt::encode(mqtt::Packet{mqtt::Disconnect{}}, version, t.disconnect);
  return t;
}

ClientEnvironment make_environment(const BenchOptions& options) {
  ClientEnvironment env;
  env.broker = resolve_broker(options);
  env.broker_text = options.host + ":" + std::to_string(options.port);
  env.tls_host = options.host;
  env.verify_peer = !options.insecure;
  env.version = options.protocol == 5 ? mqtt::ProtocolVersion::V5 : mqtt::ProtocolVersion::V311;
  env.keep_alive = options.keep_alive;
  env.persistent_subscribers = options.persistent_subscribers;
  env.username = options.username;
  env.password = options.password;
  env.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(options.connect_timeout * 1000));
  env.templates = make_wire_templates(env.version);
  return env;
}

}  // namespace fg::bench
