#include "mqtt/server_protocol.hpp"

#include <cstring>

namespace fg::mqtt {
namespace {

// Best effort: the protocol level byte of a (possibly malformed) CONNECT frame,
// so that a failed CONNECT can be answered in the client's own version.
std::optional<ProtocolVersion> connect_level(std::span<const uint8_t> frame, size_t header_len) {
  // Variable header: 00 04 'M' 'Q' 'T' 'T' <level>
  if (frame.size() < header_len + 7) return std::nullopt;
  const uint8_t* p = frame.data() + header_len;
  if (p[0] != 0 || p[1] != 4 || std::memcmp(p + 2, "MQTT", 4) != 0) return std::nullopt;
  if (p[6] == 5) return ProtocolVersion::V5;
  if (p[6] == 4) return ProtocolVersion::V311;
  return std::nullopt;
}

bool is_server_to_client(PacketType t) {
  return t == PacketType::Connack || t == PacketType::Suback || t == PacketType::Unsuback ||
         t == PacketType::Pingresp;
}

}  // namespace

void ServerProtocol::receive(std::span<const uint8_t> bytes) {
  auto dst = prepare(bytes.size());
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<uint8_t> ServerProtocol::prepare(size_t n) {
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 0 && in_pos_ >= in_.size() / 2) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  prepared_at_ = static_cast<uint32_t>(in_.size());
  prepare_pending_ = true;
  in_.resize(prepared_at_ + n);
  return {reinterpret_cast<uint8_t*>(in_.data()) + prepared_at_, n};
}

void ServerProtocol::commit(size_t n) {
  // prepare() grew the buffer by its n; keep only what was actually written.
  in_.resize(prepared_at_ + n);
  prepare_pending_ = false;
}

void ServerProtocol::shrink() {
  if (!prepare_pending_ && in_pos_ == in_.size()) {
    std::string().swap(in_);
    in_pos_ = 0;
  }
}

Result<std::optional<Packet>, ProtocolFailure> ServerProtocol::fail(ReasonCode rc, std::string msg) {
  failed_ = true;
  ProtocolFailure f;
  f.reason = rc;
  f.message = std::move(msg);
  f.before_connect = false;
  return unexpected(std::move(f));
}

Result<std::optional<Packet>, ProtocolFailure> ServerProtocol::next() {
  if (failed_) return fail(ReasonCode::ProtocolError, "connection already failed");
  // While a read into prepare()d space is pending, that space holds no data yet.
  const size_t end = prepare_pending_ ? prepared_at_ : in_.size();
  std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(in_.data()) + in_pos_,
                                end - in_pos_);
  if (data.empty()) return std::optional<Packet>{};
  auto header = peek_frame(data);
  if (!header) return fail(header.error().reason, header.error().message);
  if (header->header_length == 0) return std::optional<Packet>{};
  if (header->total_length() > limits_.max_packet_size) {
    return fail(ReasonCode::PacketTooLarge, "packet of " + std::to_string(header->total_length()) +
                                                " bytes exceeds the maximum packet size");
  }
  // Decided on the fixed header alone: a peer that is not speaking MQTT is
  // dropped at once instead of being waited for.
  if (!connected_ && header->type() != PacketType::Connect) {
    return fail(ReasonCode::ProtocolError, "first packet is not CONNECT");
  }
  if (connected_ && header->type() == PacketType::Connect) {
    return fail(ReasonCode::ProtocolError, "second CONNECT on one connection");
  }
  if (data.size() < header->total_length()) return std::optional<Packet>{};
  auto frame = data.first(header->total_length());
  in_pos_ += static_cast<uint32_t>(frame.size());

  auto decoded = decode(*header, frame, version_);
  if (!decoded) {
    if (header->type() == PacketType::Connect) {
      failed_ = true;
      ProtocolFailure f;
      f.reason = decoded.error().reason;
      f.message = decoded.error().message;
      if (f.reason == ReasonCode::UnsupportedProtocolVersion) {
        version_ = ProtocolVersion::V311;  // answer with the 3.1.1 code 0x01
        f.before_connect = true;
      } else if (auto level = connect_level(frame, header->header_length)) {
        version_ = *level;
        // 3.1.1 has no CONNACK code for a malformed CONNECT: just close.
        f.before_connect = *level == ProtocolVersion::V5;
      }
      return unexpected(std::move(f));
    }
    return fail(decoded.error().reason, decoded.error().message);
  }
  Packet& packet = *decoded;
  if (is_server_to_client(header->type())) {
    return fail(ReasonCode::ProtocolError,
                std::string(packet_type_name(header->type())) + " is not sent by clients");
  }
  if (auto* c = std::get_if<Connect>(&packet)) {
    on_connect(*c);
    return std::optional<Packet>(std::move(packet));
  }
  if (auto* p = std::get_if<Publish>(&packet)) {
    auto r = on_publish(*p);
    if (!r) return r;
    return std::optional<Packet>(std::move(packet));
  }
  if (std::holds_alternative<Auth>(packet)) {
    return fail(ReasonCode::ProtocolError, "enhanced authentication is not supported");
  }
  return std::optional<Packet>(std::move(packet));
}

void ServerProtocol::on_connect(const Connect& c) {
  version_ = c.version;
  connected_ = true;
  if (c.version == ProtocolVersion::V5) {
    client_max_packet_size_ = c.properties.maximum_packet_size.value_or(0);
    client_topic_alias_max_ = c.properties.topic_alias_maximum.value_or(0);
  }
  aliases_.reset();
}

Result<std::optional<Packet>, ProtocolFailure> ServerProtocol::on_publish(Publish& p) {
  if (version_ != ProtocolVersion::V5) return std::optional<Packet>{};
  auto& alias = p.properties.topic_alias;
  if (!alias) return std::optional<Packet>{};
  if (*alias == 0 || *alias > limits_.topic_alias_maximum) {
    return fail(ReasonCode::TopicAliasInvalid,
                "topic alias " + std::to_string(*alias) + " is outside 1.." +
                    std::to_string(limits_.topic_alias_maximum));
  }
  size_t idx = *alias - 1u;
  auto& inbound = aliases().inbound;
  if (p.topic.empty()) {
    if (idx >= inbound.size() || inbound[idx].empty()) {
      return fail(ReasonCode::ProtocolError, "unknown topic alias " + std::to_string(*alias));
    }
    p.topic = inbound[idx];
  } else {
    if (idx >= inbound.size()) inbound.resize(idx + 1);
    inbound[idx] = p.topic;
  }
  alias.reset();  // resolved: never forwarded
  return std::optional<Packet>{};
}

bool ServerProtocol::send(const Packet& packet, std::string& out) {
  if (const auto* pub = std::get_if<Publish>(&packet)) return send_publish(publish_view(*pub), out);
  if (client_max_packet_size_ != 0 && encoded_size(packet, version_) > client_max_packet_size_) {
    // MQTT 5 3.x: drop the reason string and user properties before giving up.
    Packet trimmed = packet;
    std::visit(
        [](auto& p) {
          if constexpr (requires { p.properties; }) {
            p.properties.reason_string.reset();
            p.properties.user_properties.clear();
          }
        },
        trimmed);
    if (encoded_size(trimmed, version_) > client_max_packet_size_) return false;
    encode(trimmed, version_, out);
    return true;
  }
  encode(packet, version_, out);
  return true;
}

bool ServerProtocol::send_publish(PublishView v, std::string& out) {
  if (version_ == ProtocolVersion::V5 && client_topic_alias_max_ > 0) {
    auto& outbound = aliases().outbound;
    auto it = outbound.find(v.topic);
    if (it != outbound.end()) {
      v.topic_alias = it->second;
      v.topic = {};
    } else if (outbound.size() < client_topic_alias_max_) {
      v.topic_alias = static_cast<uint16_t>(outbound.size() + 1);
      if (client_max_packet_size_ != 0 && encoded_publish_size(v, version_) > client_max_packet_size_) {
        return false;
      }
      outbound.emplace(std::string(v.topic), v.topic_alias);
      encode_publish(v, version_, out);
      return true;
    }
  }
  if (client_max_packet_size_ != 0 && encoded_publish_size(v, version_) > client_max_packet_size_) {
    return false;
  }
  encode_publish(v, version_, out);
  return true;
}

}  // namespace fg::mqtt
