// ServerProtocol: the per-connection MQTT state a server keeps below the
// session layer, sans-I/O. Bytes in (prepare/commit), validated packets out
// (next), packets in and bytes out (send). It owns:
//  - framing and the server's maximum packet size (oversized -> Packet Too Large);
//  - the connection state rules: the first packet must be CONNECT, a second
//    CONNECT is a Protocol Error, nothing but DISCONNECT after a fatal error;
//  - MQTT 5 topic aliases in both directions;
//  - the client's maximum packet size on the way out (too large -> not sent).
// QoS flows, receive maximum and sessions are the broker's (they outlive a
// connection). Not thread-safe: one connection, one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"

namespace fg::mqtt {

struct ServerProtocolLimits {
  uint32_t max_packet_size = 1024 * 1024;  // largest packet the server accepts
  uint16_t topic_alias_maximum = 64;       // aliases the client may use towards us (v5)
};

// Why a connection must end, and what (if anything) to tell the client first.
struct ProtocolFailure {
  ReasonCode reason = ReasonCode::ProtocolError;
  std::string message;
  // CONNECT-stage failures are answered with a CONNACK; later ones with a v5 DISCONNECT.
  bool before_connect = false;
};

class ServerProtocol {
 public:
  explicit ServerProtocol(ServerProtocolLimits limits = {}) : limits_(limits) {}

  // Input. Either copy bytes in with receive(), or read straight into the span
  // returned by prepare(n) and then commit(bytes_read).
  void receive(std::span<const uint8_t> bytes);
  std::span<uint8_t> prepare(size_t n);
  void commit(size_t n);
  // Bytes received but not yet consumed as packets (a partial packet).
  size_t buffered() const { return (prepare_pending_ ? prepared_at_ : in_.size()) - in_pos_; }

  // The next complete packet, validated for this connection's state.
  // - value with a packet: handle it, then call next() again;
  // - value with nullopt: need more bytes;
  // - error: the connection must close (see ProtocolFailure).
  // PUBLISH packets come out with their topic alias resolved (topic filled in).
  Result<std::optional<Packet>, ProtocolFailure> next();

  bool connected() const { return connected_; }
  ProtocolVersion version() const { return version_; }
  // From the client's CONNECT (v5); 0 = no limit.
  uint32_t client_max_packet_size() const { return client_max_packet_size_; }
  uint16_t client_topic_alias_maximum() const { return client_topic_alias_max_; }
  const ServerProtocolLimits& limits() const { return limits_; }

  // Output: appends the encoding of `packet` to `out`. For PUBLISH in v5 it may
  // replace the topic with an alias. Returns false (and appends nothing) when
  // the packet exceeds the client's maximum packet size; for other packets
  // the reason string and user properties are dropped first to make it fit, as
  // the spec asks.
  bool send(const Packet& packet, std::string& out);
  // Encodes a PUBLISH from borrowed parts (the broker's delivery hot path),
  // applying outbound topic aliases. Same return rule as send().
  bool send_publish(PublishView publish, std::string& out);

  // Releases buffer memory when idle (keeps idle connections small).
  void shrink();

 private:
  Result<std::optional<Packet>, ProtocolFailure> fail(ReasonCode rc, std::string msg);
  void on_connect(const Connect& c);
  Result<std::optional<Packet>, ProtocolFailure> on_publish(Publish& p);

  ServerProtocolLimits limits_;
  std::string in_;        // received bytes; [in_pos_, size) not yet consumed
  uint32_t in_pos_ = 0;       // packets are at most 256 MiB, so 32 bits suffice
  uint32_t prepared_at_ = 0;
  bool prepare_pending_ = false;
  bool connected_ = false;
  bool failed_ = false;
  ProtocolVersion version_ = ProtocolVersion::V311;
  uint32_t client_max_packet_size_ = 0;
  uint16_t client_topic_alias_max_ = 0;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Topic alias tables, allocated on first use: most devices never use aliases.
  struct Aliases {
    std::vector<std::string> inbound;                                            // index = alias - 1
    std::unordered_map<std::string, uint16_t, StringHash, std::equal_to<>> outbound;  // topic -> alias
  };
  Aliases& aliases() {
    if (!aliases_) aliases_ = std::make_unique<Aliases>();
    return *aliases_;
  }
  std::unique_ptr<Aliases> aliases_;
};

}  // namespace fg::mqtt
