// MQTT 3.1.1 / 5.0 wire codec. Sans-I/O and stateless: frame bytes, decode one
// packet, encode one packet. Decoding validates everything the spec makes the
// receiver check on a single packet (reserved flags, remaining length, UTF-8,
// property sets per packet type, QoS 3, packet id 0, empty SUBSCRIBE, ...) and
// reports the reason code the spec requires (Malformed Packet, Protocol Error,
// Unsupported Protocol Version, ...). Checks that need connection state (first
// packet must be CONNECT, topic alias ranges, receive maximum) live in
// server_protocol.hpp. Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"
#include "mqtt/packet.hpp"

namespace fg::mqtt {

struct DecodeError {
  ReasonCode reason = ReasonCode::MalformedPacket;
  std::string message;  // for logs and reason strings; never contains payload bytes
};

// The fixed header of one packet, read before its body is complete.
struct FrameHeader {
  uint8_t first_byte = 0;          // packet type (high nibble) and flags (low nibble)
  uint32_t remaining_length = 0;   // length of variable header + payload
  uint8_t header_length = 0;       // 2..5 bytes
  PacketType type() const { return static_cast<PacketType>(first_byte >> 4); }
  uint8_t flags() const { return first_byte & 0x0F; }
  size_t total_length() const { return size_t{header_length} + remaining_length; }
};

// Reads the fixed header at the start of `data`. Returns:
//  - a header with header_length > 0 when the fixed header is complete (the body may not be);
//  - a header with header_length == 0 when more bytes are needed;
//  - an error for a remaining length longer than 4 bytes or packet type 0.
Result<FrameHeader, DecodeError> peek_frame(std::span<const uint8_t> data);

// Decodes one complete packet. `frame` is the complete packet including its fixed header
// (exactly header.total_length() bytes). `version` is the connection's negotiated version;
// CONNECT carries its own version and ignores it.
Result<Packet, DecodeError> decode(const FrameHeader& header, std::span<const uint8_t> frame,
                                   ProtocolVersion version);

// Convenience for tests and fuzzing: frame and decode the first packet of `data`, which must
// hold it whole. A packet that needs more bytes is a Malformed Packet error.
Result<Packet, DecodeError> decode_one(std::span<const uint8_t> data, ProtocolVersion version,
                                       size_t* consumed = nullptr);

// Appends the encoding of `packet` for `version` to `out`. Properties are written only for v5.
void encode(const Packet& packet, ProtocolVersion version, std::string& out);

// Size in bytes of the encoding of `packet` (fixed header included), without encoding it.
size_t encoded_size(const Packet& packet, ProtocolVersion version);

// Variable byte integer helpers (used by the codec and by tests).
// Appends `value` (< 268435456) as a variable byte integer.
void put_varint(uint32_t value, std::string& out);
size_t varint_size(uint32_t value);

}  // namespace fg::mqtt

namespace fg::mqtt {

// A PUBLISH to encode from borrowed parts: the broker's delivery path encodes
// one shared message for many subscribers without copying topic or payload.
// The overrides replace the same-named fields of *properties.
struct PublishView {
  bool dup = false;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  std::string_view topic;
  uint16_t packet_id = 0;
  const Properties* properties = nullptr;   // forwarded v5 properties, may be null
  std::string_view payload;
  uint16_t topic_alias = 0;                 // 0 = none
  std::optional<uint32_t> message_expiry_interval;
  uint32_t subscription_identifier = 0;     // 0 = none
};

// A view of a whole Publish (no overrides).
PublishView publish_view(const Publish& p);

// Appends the PUBLISH encoding of `p` to `out`.
void encode_publish(const PublishView& p, ProtocolVersion version, std::string& out);
size_t encoded_publish_size(const PublishView& p, ProtocolVersion version);

}  // namespace fg::mqtt
