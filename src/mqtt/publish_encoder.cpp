// encode_publish: every PUBLISH the codec writes (encode() of a Publish comes
// here too), and the broker's delivery hot path. Writes a PUBLISH from
// borrowed parts in one pass into a buffer reserved to the exact size.
#include "mqtt/codec.hpp"

#include <algorithm>

namespace fg::mqtt {
namespace {

constexpr uint8_t kPayloadFormatIndicator = 0x01;
constexpr uint8_t kMessageExpiryInterval = 0x02;
constexpr uint8_t kContentType = 0x03;
constexpr uint8_t kResponseTopic = 0x08;
constexpr uint8_t kCorrelationData = 0x09;
constexpr uint8_t kSubscriptionIdentifier = 0x0B;
constexpr uint8_t kTopicAlias = 0x23;
constexpr uint8_t kUserProperty = 0x26;

// Longer strings cannot be framed; they are cut (callers check sizes first).
constexpr size_t kMaxString = 0xFFFF;
std::string_view clamp(std::string_view s) { return s.substr(0, std::min(s.size(), kMaxString)); }
size_t string_size(std::string_view s) { return 2 + clamp(s).size(); }

void put_u16(uint16_t v, std::string& out) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_u32(uint32_t v, std::string& out) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>((v >> 16) & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_string(std::string_view s, std::string& out) {
  s = clamp(s);
  put_u16(static_cast<uint16_t>(s.size()), out);
  out.append(s);
}

// The view's overrides win over the forwarded properties.
std::optional<uint32_t> expiry_of(const PublishView& p) {
  if (p.message_expiry_interval) return p.message_expiry_interval;
  return p.properties ? p.properties->message_expiry_interval : std::nullopt;
}
uint16_t alias_of(const PublishView& p) {
  if (p.topic_alias != 0) return p.topic_alias;
  return p.properties ? p.properties->topic_alias.value_or(0) : 0;
}

// Length of the property block (without its own length prefix).
size_t properties_size(const PublishView& p) {
  size_t n = 0;
  if (const Properties* pr = p.properties) {
    if (pr->payload_format_indicator) n += 2;
    if (pr->content_type) n += 1 + string_size(*pr->content_type);
    if (pr->response_topic) n += 1 + string_size(*pr->response_topic);
    if (pr->correlation_data) n += 1 + string_size(*pr->correlation_data);
    for (const auto& up : pr->user_properties) n += 1 + string_size(up.key) + string_size(up.value);
    for (uint32_t id : pr->subscription_identifiers) n += 1 + varint_size(id);
  }
  if (expiry_of(p)) n += 5;
  if (p.subscription_identifier != 0) n += 1 + varint_size(p.subscription_identifier);
  if (alias_of(p) != 0) n += 3;
  return n;
}

size_t remaining_length(const PublishView& p, ProtocolVersion version, size_t props) {
  size_t n = string_size(p.topic) + p.payload.size();
  if (p.qos != QoS::AtMostOnce) n += 2;
  if (version == ProtocolVersion::V5) n += varint_size(static_cast<uint32_t>(props)) + props;
  return n;
}

}  // namespace

size_t encoded_publish_size(const PublishView& p, ProtocolVersion version) {
  size_t props = version == ProtocolVersion::V5 ? properties_size(p) : 0;
  size_t rl = remaining_length(p, version, props);
  return 1 + varint_size(static_cast<uint32_t>(rl)) + rl;
}

void encode_publish(const PublishView& p, ProtocolVersion version, std::string& out) {
  const bool v5 = version == ProtocolVersion::V5;
  const size_t props = v5 ? properties_size(p) : 0;
  const size_t rl = remaining_length(p, version, props);
  out.reserve(out.size() + 1 + varint_size(static_cast<uint32_t>(rl)) + rl);

  uint8_t first = static_cast<uint8_t>(PacketType::Publish) << 4;
  if (p.dup) first |= 0x08;
  first |= static_cast<uint8_t>(static_cast<uint8_t>(p.qos) << 1);
  if (p.retain) first |= 0x01;
  out.push_back(static_cast<char>(first));
  put_varint(static_cast<uint32_t>(rl), out);
  put_string(p.topic, out);
  if (p.qos != QoS::AtMostOnce) put_u16(p.packet_id, out);
  if (v5) {
    // Identifier order, as the rest of the codec writes properties.
    put_varint(static_cast<uint32_t>(props), out);
    const Properties* pr = p.properties;
    if (pr && pr->payload_format_indicator) {
      out.push_back(static_cast<char>(kPayloadFormatIndicator));
      out.push_back(static_cast<char>(*pr->payload_format_indicator));
    }
    if (auto expiry = expiry_of(p)) {
      out.push_back(static_cast<char>(kMessageExpiryInterval));
      put_u32(*expiry, out);
    }
    if (pr && pr->content_type) {
      out.push_back(static_cast<char>(kContentType));
      put_string(*pr->content_type, out);
    }
    if (pr && pr->response_topic) {
      out.push_back(static_cast<char>(kResponseTopic));
      put_string(*pr->response_topic, out);
    }
    if (pr && pr->correlation_data) {
      out.push_back(static_cast<char>(kCorrelationData));
      put_string(*pr->correlation_data, out);
    }
    if (pr) {
      for (uint32_t id : pr->subscription_identifiers) {
        out.push_back(static_cast<char>(kSubscriptionIdentifier));
        put_varint(id, out);
      }
    }
    if (p.subscription_identifier != 0) {
      out.push_back(static_cast<char>(kSubscriptionIdentifier));
      put_varint(p.subscription_identifier, out);
    }
    if (uint16_t alias = alias_of(p); alias != 0) {
      out.push_back(static_cast<char>(kTopicAlias));
      put_u16(alias, out);
    }
    if (pr) {
      for (const auto& up : pr->user_properties) {
        out.push_back(static_cast<char>(kUserProperty));
        put_string(up.key, out);
        put_string(up.value, out);
      }
    }
  }
  out.append(p.payload);
}

}  // namespace fg::mqtt
