// DESIGN
//
// Decoding walks the packet with a bounds-checked Reader. Field readers return
// bool and every failure of a Reader (truncation, bad UTF-8, over-long varint)
// is a Malformed Packet, so the per-packet decoders only spell out the checks
// that map to a different reason code. Errors travel as a Status holding a
// static message; the std::string in DecodeError is built once, at the end.
//
// Encoding is one template per packet, instantiated twice: with a SizeSink that
// only counts bytes (encoded_size) and with a WriteSink that stores them. The
// size and the bytes therefore come from the same code and cannot disagree,
// which lets encode() grow the output once and write through a raw pointer.
#include "mqtt/codec.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <type_traits>

#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace fg::mqtt {

namespace {

constexpr size_t kMaxStringLength = 65535;

// ---------------------------------------------------------------------------
// Property identifiers and the sets each packet allows (MQTT 5 table 2.2.2.2).

enum PropertyId : uint8_t {
  kPayloadFormatIndicator = 0x01,
  kMessageExpiryInterval = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionIdentifier = 0x0B,
  kSessionExpiryInterval = 0x11,
  kAssignedClientIdentifier = 0x12,
  kServerKeepAlive = 0x13,
  kAuthenticationMethod = 0x15,
  kAuthenticationData = 0x16,
  kRequestProblemInformation = 0x17,
  kWillDelayInterval = 0x18,
  kRequestResponseInformation = 0x19,
  kResponseInformation = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQoS = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubscriptionAvailable = 0x28,
  kSubscriptionIdentifiersAvailable = 0x29,
  kSharedSubscriptionAvailable = 0x2A,
};

// Property sets are bit masks indexed by identifier; every identifier is below 64.
using PropertyMask = uint64_t;

constexpr PropertyMask mask_of(std::initializer_list<PropertyId> ids) {
  PropertyMask m = 0;
  for (const PropertyId id : ids) m |= PropertyMask{1} << id;
  return m;
}

constexpr bool in_mask(PropertyMask m, uint32_t id) {
  return id < 64 && (m & (PropertyMask{1} << id)) != 0;
}

constexpr PropertyMask kKnownProperties = mask_of({
    kPayloadFormatIndicator, kMessageExpiryInterval, kContentType, kResponseTopic,
    kCorrelationData, kSubscriptionIdentifier, kSessionExpiryInterval,
    kAssignedClientIdentifier, kServerKeepAlive, kAuthenticationMethod, kAuthenticationData,
    kRequestProblemInformation, kWillDelayInterval, kRequestResponseInformation,
    kResponseInformation, kServerReference, kReasonString, kReceiveMaximum,
    kTopicAliasMaximum, kTopicAlias, kMaximumQoS, kRetainAvailable, kUserProperty,
    kMaximumPacketSize, kWildcardSubscriptionAvailable, kSubscriptionIdentifiersAvailable,
    kSharedSubscriptionAvailable,
});
constexpr PropertyMask kRepeatableProperties = mask_of({kSubscriptionIdentifier, kUserProperty});

constexpr PropertyMask kConnectProperties = mask_of({
    kSessionExpiryInterval, kReceiveMaximum, kMaximumPacketSize, kTopicAliasMaximum,
    kRequestResponseInformation, kRequestProblemInformation, kUserProperty,
    kAuthenticationMethod, kAuthenticationData,
});
constexpr PropertyMask kWillProperties = mask_of({
    kWillDelayInterval, kPayloadFormatIndicator, kMessageExpiryInterval, kContentType,
    kResponseTopic, kCorrelationData, kUserProperty,
});
constexpr PropertyMask kConnackProperties = mask_of({
    kSessionExpiryInterval, kReceiveMaximum, kMaximumQoS, kRetainAvailable,
    kMaximumPacketSize, kAssignedClientIdentifier, kTopicAliasMaximum, kReasonString,
    kUserProperty, kWildcardSubscriptionAvailable, kSubscriptionIdentifiersAvailable,
    kSharedSubscriptionAvailable, kServerKeepAlive, kResponseInformation, kServerReference,
    kAuthenticationMethod, kAuthenticationData,
});
constexpr PropertyMask kPublishProperties = mask_of({
    kPayloadFormatIndicator, kMessageExpiryInterval, kTopicAlias, kResponseTopic,
    kCorrelationData, kUserProperty, kSubscriptionIdentifier, kContentType,
});
// PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
constexpr PropertyMask kAckProperties = mask_of({kReasonString, kUserProperty});
constexpr PropertyMask kSubscribeProperties = mask_of({kSubscriptionIdentifier, kUserProperty});
constexpr PropertyMask kUnsubscribeProperties = mask_of({kUserProperty});
constexpr PropertyMask kDisconnectProperties =
    mask_of({kSessionExpiryInterval, kReasonString, kUserProperty, kServerReference});
constexpr PropertyMask kAuthProperties =
    mask_of({kAuthenticationMethod, kAuthenticationData, kReasonString, kUserProperty});

// ---------------------------------------------------------------------------
// Reason codes each packet may carry (MQTT 5 section 2.4 and the packet sections).

class ReasonSet {
 public:
  constexpr ReasonSet(std::initializer_list<uint8_t> codes) {
    for (const uint8_t c : codes) bits_[c >> 6] |= uint64_t{1} << (c & 63);
  }
  constexpr bool contains(uint8_t c) const { return (bits_[c >> 6] >> (c & 63)) & 1; }

 private:
  uint64_t bits_[4] = {};
};

constexpr ReasonSet kConnackReasons = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                       0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                       0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
constexpr ReasonSet kPubackReasons = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
constexpr ReasonSet kPubrelReasons = {0x00, 0x92};
constexpr ReasonSet kSubackReasons = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                      0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
constexpr ReasonSet kSubackReasonsV311 = {0x00, 0x01, 0x02, 0x80};
constexpr ReasonSet kUnsubackReasons = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
constexpr ReasonSet kDisconnectReasons = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89,
                                          0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                                          0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
                                          0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr ReasonSet kAuthReasons = {0x00, 0x18, 0x19};

template <PacketType kType>
constexpr const ReasonSet& ack_reasons() {
  if constexpr (kType == PacketType::Puback || kType == PacketType::Pubrec) {
    return kPubackReasons;
  } else {
    return kPubrelReasons;
  }
}

// ---------------------------------------------------------------------------
// Decoding.

struct Status {
  ReasonCode reason = ReasonCode::Success;
  const char* message = nullptr;  // static text; nullptr means success
  bool ok() const { return message == nullptr; }
};

constexpr Status kOk{};
constexpr Status malformed(const char* message) { return {ReasonCode::MalformedPacket, message}; }
constexpr Status protocol_error(const char* message) { return {ReasonCode::ProtocolError, message}; }

// Bounds-checked cursor over a packet body. Views point into the caller's frame.
class Reader {
 public:
  Reader(const uint8_t* begin, size_t size) : p_(begin), end_(begin + size) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }

  bool u8(uint8_t& v) {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = (uint32_t{p_[0]} << 24) | (uint32_t{p_[1]} << 16) | (uint32_t{p_[2]} << 8) | p_[3];
    p_ += 4;
    return true;
  }
  // At most 4 bytes. Non-minimal encodings are accepted: 3.1.1 does not forbid
  // them and the value is unambiguous.
  bool varint(uint32_t& v) {
    uint32_t value = 0;
    for (unsigned i = 0; i < 4; ++i) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      value |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * i);
      if ((b & 0x80) == 0) {
        v = value;
        return true;
      }
    }
    return false;
  }
  bool bytes(size_t n, std::string_view& out) {
    if (remaining() < n) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  // Binary Data: two-byte length, then bytes.
  bool binary(std::string_view& out) {
    uint16_t n = 0;
    return u16(n) && bytes(n, out);
  }
  // UTF-8 Encoded String: Binary Data that must be valid MQTT UTF-8.
  bool utf8(std::string_view& out) { return binary(out) && valid_mqtt_utf8(out); }
  std::string_view rest() {
    std::string_view out(reinterpret_cast<const char*>(p_), remaining());
    p_ = end_;
    return out;
  }
  // Splits off the next n bytes (n <= remaining()) as their own Reader.
  Reader take(size_t n) {
    Reader sub(p_, n);
    p_ += n;
    return sub;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status read_u8_flag(Reader& r, std::optional<uint8_t>& out) {
  uint8_t v = 0;
  if (!r.u8(v)) return malformed("truncated property");
  if (v > 1) return protocol_error("property value must be 0 or 1");
  out = v;
  return kOk;
}

Status read_u16(Reader& r, std::optional<uint16_t>& out, bool zero_allowed) {
  uint16_t v = 0;
  if (!r.u16(v)) return malformed("truncated property");
  if (v == 0 && !zero_allowed) return protocol_error("property value must not be 0");
  out = v;
  return kOk;
}

Status read_u32(Reader& r, std::optional<uint32_t>& out, bool zero_allowed) {
  uint32_t v = 0;
  if (!r.u32(v)) return malformed("truncated property");
  if (v == 0 && !zero_allowed) return protocol_error("property value must not be 0");
  out = v;
  return kOk;
}

Status read_utf8(Reader& r, std::optional<std::string>& out) {
  std::string_view v;
  if (!r.utf8(v)) return malformed("truncated property or invalid UTF-8 in property");
  out.emplace(v);
  return kOk;
}

Status read_binary(Reader& r, std::optional<std::string>& out) {
  std::string_view v;
  if (!r.binary(v)) return malformed("truncated property");
  out.emplace(v);
  return kOk;
}

Status read_property_value(Reader& r, uint32_t id, Properties& p) {
  constexpr bool kZeroAllowed = true;
  constexpr bool kNonZero = false;
  switch (id) {
    case kPayloadFormatIndicator: return read_u8_flag(r, p.payload_format_indicator);
    case kMessageExpiryInterval: return read_u32(r, p.message_expiry_interval, kZeroAllowed);
    case kContentType: return read_utf8(r, p.content_type);
    case kResponseTopic: {
      if (auto s = read_utf8(r, p.response_topic); !s.ok()) return s;
      // MQTT 5 section 3.3.2.3.5: a topic name, so no wildcards.
      if (!valid_topic_name(*p.response_topic)) return protocol_error("invalid response topic");
      return kOk;
    }
    case kCorrelationData: return read_binary(r, p.correlation_data);
    case kSubscriptionIdentifier: {
      uint32_t v = 0;
      if (!r.varint(v)) return malformed("truncated subscription identifier");
      if (v == 0) return protocol_error("subscription identifier 0");
      p.subscription_identifiers.push_back(v);
      return kOk;
    }
    case kSessionExpiryInterval: return read_u32(r, p.session_expiry_interval, kZeroAllowed);
    case kAssignedClientIdentifier: return read_utf8(r, p.assigned_client_identifier);
    case kServerKeepAlive: return read_u16(r, p.server_keep_alive, kZeroAllowed);
    case kAuthenticationMethod: return read_utf8(r, p.authentication_method);
    case kAuthenticationData: return read_binary(r, p.authentication_data);
    case kRequestProblemInformation: return read_u8_flag(r, p.request_problem_information);
    case kWillDelayInterval: return read_u32(r, p.will_delay_interval, kZeroAllowed);
    case kRequestResponseInformation: return read_u8_flag(r, p.request_response_information);
    case kResponseInformation: return read_utf8(r, p.response_information);
    case kServerReference: return read_utf8(r, p.server_reference);
    case kReasonString: return read_utf8(r, p.reason_string);
    case kReceiveMaximum: return read_u16(r, p.receive_maximum, kNonZero);
    case kTopicAliasMaximum: return read_u16(r, p.topic_alias_maximum, kZeroAllowed);
    case kTopicAlias: return read_u16(r, p.topic_alias, kNonZero);
    case kMaximumQoS: return read_u8_flag(r, p.maximum_qos);
    case kRetainAvailable: return read_u8_flag(r, p.retain_available);
    case kUserProperty: {
      std::string_view key;
      std::string_view value;
      if (!r.utf8(key) || !r.utf8(value)) {
        return malformed("truncated user property or invalid UTF-8 in user property");
      }
      p.user_properties.push_back(UserProperty{std::string(key), std::string(value)});
      return kOk;
    }
    case kMaximumPacketSize: return read_u32(r, p.maximum_packet_size, kNonZero);
    case kWildcardSubscriptionAvailable:
      return read_u8_flag(r, p.wildcard_subscription_available);
    case kSubscriptionIdentifiersAvailable:
      return read_u8_flag(r, p.subscription_identifiers_available);
    case kSharedSubscriptionAvailable: return read_u8_flag(r, p.shared_subscription_available);
    default: return malformed("unknown property identifier");
  }
}

// Property Length followed by the properties (MQTT 5 section 2.2.2).
Status read_properties(Reader& r, PropertyMask allowed, Properties& out) {
  uint32_t length = 0;
  if (!r.varint(length)) return malformed("truncated property length");
  if (length > r.remaining()) return malformed("property length exceeds packet");
  Reader pr = r.take(length);
  PropertyMask seen = 0;
  while (!pr.empty()) {
    uint32_t id = 0;
    if (!pr.varint(id)) return malformed("truncated property identifier");
    if (!in_mask(kKnownProperties, id)) return malformed("unknown property identifier");
    if (!in_mask(allowed, id)) return malformed("property not allowed in this packet");  // MQTT 5 2.2.2.2
    const PropertyMask bit = PropertyMask{1} << id;
    if ((seen & bit) != 0 && !in_mask(kRepeatableProperties, id)) {
      return protocol_error("duplicate property");
    }
    seen |= bit;
    if (auto s = read_property_value(pr, id, out); !s.ok()) return s;
  }
  return kOk;
}

Status require_end(const Reader& r) {
  return r.empty() ? kOk : malformed("unexpected bytes after the packet's last field");
}

Status read_packet_id(Reader& r, uint16_t& id) {
  if (!r.u16(id)) return malformed("truncated packet identifier");
  if (id == 0) return malformed("packet identifier 0");
  return kOk;
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion /*version*/, Connect& c) {
  std::string_view name;
  if (!r.binary(name)) return malformed("truncated protocol name");
  uint8_t level = 0;
  if (!r.u8(level)) return malformed("truncated protocol level");
  // Includes "MQIsdp"/3 (MQTT 3.1): answered with CONNACK 0x01 / 0x84 like any
  // other version we do not speak.
  if (name != "MQTT" || (level != 4 && level != 5)) {
    return {ReasonCode::UnsupportedProtocolVersion, "unsupported protocol name or level"};
  }
  c.version = static_cast<ProtocolVersion>(level);
  const bool v5 = c.version == ProtocolVersion::V5;

  uint8_t flags = 0;
  if (!r.u8(flags)) return malformed("truncated connect flags");
  if ((flags & 0x01) != 0) return malformed("reserved connect flag set");
  c.clean_start = (flags & 0x02) != 0;
  const bool has_will = (flags & 0x04) != 0;
  const uint8_t will_qos = (flags >> 3) & 0x03;
  const bool will_retain = (flags & 0x20) != 0;
  const bool has_password = (flags & 0x40) != 0;
  const bool has_username = (flags & 0x80) != 0;
  if (will_qos == 3) return malformed("will QoS 3");
  if (!has_will && (will_qos != 0 || will_retain)) {
    return malformed("will QoS or will retain set without the will flag");
  }
  // MQTT 5 dropped this rule so that a password can carry a token on its own.
  if (!v5 && has_password && !has_username) {
    return malformed("password flag set without the user name flag");
  }
  if (!r.u16(c.keep_alive)) return malformed("truncated keep alive");
  if (v5) {
    if (auto s = read_properties(r, kConnectProperties, c.properties); !s.ok()) return s;
    if (c.properties.authentication_data && !c.properties.authentication_method) {
      return protocol_error("authentication data without authentication method");
    }
  }

  std::string_view field;
  if (!r.utf8(field)) return malformed("truncated or invalid client identifier");
  c.client_id.assign(field);
  if (has_will) {
    Will& will = c.will.emplace();
    will.qos = static_cast<QoS>(will_qos);
    will.retain = will_retain;
    if (v5) {
      if (auto s = read_properties(r, kWillProperties, will.properties); !s.ok()) return s;
    }
    if (!r.utf8(field)) return malformed("truncated or invalid will topic");
    if (!valid_topic_name(field)) return {ReasonCode::TopicNameInvalid, "invalid will topic"};
    will.topic.assign(field);
    if (!r.binary(field)) return malformed("truncated will payload");
    will.payload.assign(field);
  }
  if (has_username) {
    if (!r.utf8(field)) return malformed("truncated or invalid user name");
    c.username.emplace(field);
  }
  if (has_password) {
    if (!r.binary(field)) return malformed("truncated password");
    c.password.emplace(field);
  }
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Connack& c) {
  uint8_t ack_flags = 0;
  uint8_t code = 0;
  if (!r.u8(ack_flags) || !r.u8(code)) return malformed("truncated CONNACK");
  if ((ack_flags & 0xFE) != 0) return malformed("reserved CONNACK flags set");
  c.session_present = (ack_flags & 0x01) != 0;
  if (version == ProtocolVersion::V311) {
    static constexpr ReasonCode kV311Codes[] = {
        ReasonCode::Success,           ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid, ReasonCode::ServerUnavailable,
        ReasonCode::BadUserNameOrPassword, ReasonCode::NotAuthorized,
    };
    if (code >= std::size(kV311Codes)) return malformed("invalid CONNACK return code");
    c.reason = kV311Codes[code];
    return require_end(r);
  }
  if (!kConnackReasons.contains(code)) return malformed("invalid CONNACK reason code");
  c.reason = static_cast<ReasonCode>(code);
  if (auto s = read_properties(r, kConnackProperties, c.properties); !s.ok()) return s;
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t flags, ProtocolVersion version, Publish& p) {
  p.dup = (flags & 0x08) != 0;
  const uint8_t qos = (flags >> 1) & 0x03;
  p.retain = (flags & 0x01) != 0;
  if (qos == 3) return malformed("PUBLISH QoS 3");
  if (qos == 0 && p.dup) return malformed("DUP set on a QoS 0 PUBLISH");
  p.qos = static_cast<QoS>(qos);

  std::string_view topic;
  if (!r.utf8(topic)) return malformed("truncated or invalid topic name");
  if (qos > 0) {
    if (auto s = read_packet_id(r, p.packet_id); !s.ok()) return s;
  }
  const bool v5 = version == ProtocolVersion::V5;
  if (v5) {
    if (auto s = read_properties(r, kPublishProperties, p.properties); !s.ok()) return s;
  }
  if (topic.empty()) {
    if (!v5) return malformed("empty topic name");
    // MQTT 5 section 3.3.2.1: empty only when a Topic Alias stands in for it.
    if (!p.properties.topic_alias) return protocol_error("empty topic name without topic alias");
  } else if (!valid_topic_name(topic)) {
    return {ReasonCode::TopicNameInvalid, "wildcard in topic name"};
  }
  p.topic.assign(topic);
  p.payload.assign(r.rest());
  return kOk;
}

template <PacketType kType>
Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, AckPacket<kType>& a) {
  if (auto s = read_packet_id(r, a.packet_id); !s.ok()) return s;
  if (version == ProtocolVersion::V311) return require_end(r);
  // MQTT 5 sections 3.4.2.1 and 3.4.2.2.1: remaining length 2 means Success and
  // no properties; 3 means a reason code and no properties.
  if (r.empty()) return kOk;
  uint8_t code = 0;
  (void)r.u8(code);
  if (!ack_reasons<kType>().contains(code)) return malformed("invalid reason code");
  a.reason = static_cast<ReasonCode>(code);
  if (r.empty()) return kOk;
  if (auto s = read_properties(r, kAckProperties, a.properties); !s.ok()) return s;
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Subscribe& s) {
  if (auto st = read_packet_id(r, s.packet_id); !st.ok()) return st;
  const bool v5 = version == ProtocolVersion::V5;
  if (v5) {
    if (auto st = read_properties(r, kSubscribeProperties, s.properties); !st.ok()) return st;
    if (s.properties.subscription_identifiers.size() > 1) {
      return protocol_error("more than one subscription identifier in SUBSCRIBE");
    }
  }
  if (r.empty()) {
    return v5 ? protocol_error("SUBSCRIBE without topic filters")
              : malformed("SUBSCRIBE without topic filters");
  }
  while (!r.empty()) {
    std::string_view filter;
    uint8_t options = 0;
    if (!r.utf8(filter)) return malformed("truncated or invalid topic filter");
    if (!r.u8(options)) return malformed("truncated subscription options");
    TopicSubscription sub;
    const uint8_t qos = options & 0x03;
    if (qos == 3) return malformed("subscription QoS 3");
    sub.options.max_qos = static_cast<QoS>(qos);
    if (v5) {
      if ((options & 0xC0) != 0) return malformed("reserved subscription option bits set");
      const uint8_t retain_handling = (options >> 4) & 0x03;
      if (retain_handling == 3) return malformed("retain handling 3");
      sub.options.no_local = (options & 0x04) != 0;
      sub.options.retain_as_published = (options & 0x08) != 0;
      sub.options.retain_handling = static_cast<RetainHandling>(retain_handling);
      // MQTT 5 section 3.8.3.1: a shared subscriber must receive its own messages
      // or the share could never deliver to it.
      if (sub.options.no_local && parse_shared_filter(filter)) {
        return protocol_error("no local set on a shared subscription");
      }
    } else if ((options & 0xFC) != 0) {
      return malformed("reserved subscription option bits set");
    }
    sub.filter.assign(filter);
    s.subscriptions.push_back(std::move(sub));
  }
  return kOk;
}

// SUBACK and UNSUBACK payloads: one reason code per requested filter.
Status read_reason_list(Reader& r, const ReasonSet& allowed, std::vector<ReasonCode>& out) {
  if (r.empty()) return malformed("acknowledgement without reason codes");
  out.reserve(r.remaining());
  while (!r.empty()) {
    uint8_t code = 0;
    (void)r.u8(code);
    if (!allowed.contains(code)) return malformed("invalid reason code");
    out.push_back(static_cast<ReasonCode>(code));
  }
  return kOk;
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Suback& s) {
  if (auto st = read_packet_id(r, s.packet_id); !st.ok()) return st;
  if (version == ProtocolVersion::V311) return read_reason_list(r, kSubackReasonsV311, s.reasons);
  if (auto st = read_properties(r, kAckProperties, s.properties); !st.ok()) return st;
  return read_reason_list(r, kSubackReasons, s.reasons);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Unsubscribe& u) {
  if (auto st = read_packet_id(r, u.packet_id); !st.ok()) return st;
  const bool v5 = version == ProtocolVersion::V5;
  if (v5) {
    if (auto st = read_properties(r, kUnsubscribeProperties, u.properties); !st.ok()) return st;
  }
  if (r.empty()) {
    return v5 ? protocol_error("UNSUBSCRIBE without topic filters")
              : malformed("UNSUBSCRIBE without topic filters");
  }
  while (!r.empty()) {
    std::string_view filter;
    if (!r.utf8(filter)) return malformed("truncated or invalid topic filter");
    u.filters.emplace_back(filter);
  }
  return kOk;
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Unsuback& u) {
  if (auto st = read_packet_id(r, u.packet_id); !st.ok()) return st;
  if (version == ProtocolVersion::V311) return require_end(r);
  if (auto st = read_properties(r, kAckProperties, u.properties); !st.ok()) return st;
  return read_reason_list(r, kUnsubackReasons, u.reasons);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion /*version*/, Pingreq&) {
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion /*version*/, Pingresp&) {
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion version, Disconnect& d) {
  if (version == ProtocolVersion::V311 || r.empty()) return require_end(r);
  uint8_t code = 0;
  (void)r.u8(code);
  if (!kDisconnectReasons.contains(code)) return malformed("invalid DISCONNECT reason code");
  d.reason = static_cast<ReasonCode>(code);
  // MQTT 5 section 3.14.2.2.1: with remaining length 1 the property length is 0.
  if (r.empty()) return kOk;
  if (auto s = read_properties(r, kDisconnectProperties, d.properties); !s.ok()) return s;
  return require_end(r);
}

Status decode_body(Reader& r, uint8_t /*flags*/, ProtocolVersion /*version*/, Auth& a) {
  // MQTT 5 section 3.15.2.1: remaining length 0 means Success without properties.
  // Unlike DISCONNECT, the property length may not be left out after a reason code.
  if (r.empty()) return kOk;
  uint8_t code = 0;
  (void)r.u8(code);
  if (!kAuthReasons.contains(code)) return malformed("invalid AUTH reason code");
  a.reason = static_cast<ReasonCode>(code);
  if (auto s = read_properties(r, kAuthProperties, a.properties); !s.ok()) return s;
  return require_end(r);
}

Unexpected<DecodeError> to_error(const Status& s) {
  return fg::unexpected(DecodeError{s.reason, s.message});
}

// Builds the packet inside the result, so the decoded strings are never moved.
template <class T>
Result<Packet, DecodeError> decode_as(Reader& r, uint8_t flags, ProtocolVersion version) {
  Result<Packet, DecodeError> result{Packet{std::in_place_type<T>}};
  const Status s = decode_body(r, flags, version, std::get<T>(*result));
  if (!s.ok()) result = to_error(s);
  return result;
}

// The fixed-header flags each packet must carry (MQTT 5 section 2.1.3).
constexpr uint8_t required_flags(PacketType t) {
  return (t == PacketType::Pubrel || t == PacketType::Subscribe || t == PacketType::Unsubscribe)
             ? 0x02
             : 0x00;
}

// ---------------------------------------------------------------------------
// Encoding.

size_t string_length(std::string_view s) { return std::min(s.size(), kMaxStringLength); }

// The lengths of a packet's property blocks, measured by the size pass and
// reused by the write pass, so that the 27 optional fields of Properties are
// walked once per encode. CONNECT has two blocks (its own and the will's).
struct PropertyLengths {
  uint32_t values[2] = {};
  unsigned count = 0;
};

// Counts the bytes a WriteSink would store.
class SizeSink {
 public:
  void u8(uint8_t) { n_ += 1; }
  void u16(uint16_t) { n_ += 2; }
  void u32(uint32_t) { n_ += 4; }
  void varint(uint32_t v) { n_ += varint_size(v); }
  void raw(std::string_view s) { n_ += s.size(); }
  void str(std::string_view s) { n_ += 2 + string_length(s); }
  void skip(size_t n) { n_ += n; }
  size_t size() const { return n_; }

  void record_property_length(uint32_t n) {
    assert(lengths_.count < std::size(lengths_.values));
    if (lengths_.count < std::size(lengths_.values)) lengths_.values[lengths_.count++] = n;
  }
  const PropertyLengths& property_lengths() const { return lengths_; }

 private:
  size_t n_ = 0;
  PropertyLengths lengths_;
};

// Stores bytes into space the caller sized with a SizeSink.
class WriteSink {
 public:
  WriteSink(char* p, const PropertyLengths& lengths) : p_(p), lengths_(lengths) {}
  uint32_t next_property_length() {
    assert(next_length_ < lengths_.count);
    return lengths_.values[next_length_++];
  }
  void u8(uint8_t v) { *p_++ = static_cast<char>(v); }
  void u16(uint16_t v) {
    p_[0] = static_cast<char>(v >> 8);
    p_[1] = static_cast<char>(v);
    p_ += 2;
  }
  void u32(uint32_t v) {
    p_[0] = static_cast<char>(v >> 24);
    p_[1] = static_cast<char>(v >> 16);
    p_[2] = static_cast<char>(v >> 8);
    p_[3] = static_cast<char>(v);
    p_ += 4;
  }
  void varint(uint32_t v) {
    do {
      uint8_t b = v & 0x7F;
      v >>= 7;
      if (v != 0) b |= 0x80;
      *p_++ = static_cast<char>(b);
    } while (v != 0);
  }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // Strings longer than the two-byte length allows are cut, so that the framing
  // stays intact; callers must not pass them (encode() has no error channel).
  void str(std::string_view s) {
    const size_t n = string_length(s);
    u16(static_cast<uint16_t>(n));
    raw(s.substr(0, n));
  }
  char* position() const { return p_; }

 private:
  char* p_;
  const PropertyLengths& lengths_;
  unsigned next_length_ = 0;
};

template <class Sink>
void put_value(Sink& s, uint8_t v) { s.u8(v); }
template <class Sink>
void put_value(Sink& s, uint16_t v) { s.u16(v); }
template <class Sink>
void put_value(Sink& s, uint32_t v) { s.u32(v); }
template <class Sink>
void put_value(Sink& s, const std::string& v) { s.str(v); }  // UTF-8 and binary alike

// Emits every property present in `p` and allowed by `allowed`, in identifier
// order. Properties a packet may not carry are dropped rather than sent, so that
// a caller's stray field cannot make the peer close the connection.
template <class Sink>
void emit_property_list(Sink& s, const Properties& p, PropertyMask allowed) {
  auto put = [&](PropertyId id, const auto& field) {
    if (field.has_value() && in_mask(allowed, id)) {
      s.u8(id);
      put_value(s, *field);
    }
  };
  put(kPayloadFormatIndicator, p.payload_format_indicator);
  put(kMessageExpiryInterval, p.message_expiry_interval);
  put(kContentType, p.content_type);
  put(kResponseTopic, p.response_topic);
  put(kCorrelationData, p.correlation_data);
  if (in_mask(allowed, kSubscriptionIdentifier)) {
    for (const uint32_t id : p.subscription_identifiers) {
      s.u8(kSubscriptionIdentifier);
      s.varint(id);
    }
  }
  put(kSessionExpiryInterval, p.session_expiry_interval);
  put(kAssignedClientIdentifier, p.assigned_client_identifier);
  put(kServerKeepAlive, p.server_keep_alive);
  put(kAuthenticationMethod, p.authentication_method);
  put(kAuthenticationData, p.authentication_data);
  put(kRequestProblemInformation, p.request_problem_information);
  put(kWillDelayInterval, p.will_delay_interval);
  put(kRequestResponseInformation, p.request_response_information);
  put(kResponseInformation, p.response_information);
  put(kServerReference, p.server_reference);
  put(kReasonString, p.reason_string);
  put(kReceiveMaximum, p.receive_maximum);
  put(kTopicAliasMaximum, p.topic_alias_maximum);
  put(kTopicAlias, p.topic_alias);
  put(kMaximumQoS, p.maximum_qos);
  put(kRetainAvailable, p.retain_available);
  if (in_mask(allowed, kUserProperty)) {
    for (const UserProperty& up : p.user_properties) {
      s.u8(kUserProperty);
      s.str(up.key);
      s.str(up.value);
    }
  }
  put(kMaximumPacketSize, p.maximum_packet_size);
  put(kWildcardSubscriptionAvailable, p.wildcard_subscription_available);
  put(kSubscriptionIdentifiersAvailable, p.subscription_identifiers_available);
  put(kSharedSubscriptionAvailable, p.shared_subscription_available);
}

// The Property Length of a block: measured in the size pass, replayed in the
// write pass (both passes run the same emit_body, so the order matches).
uint32_t property_length(SizeSink& s, const Properties& p, PropertyMask allowed) {
  SizeSink counter;
  emit_property_list(counter, p, allowed);
  const auto n = static_cast<uint32_t>(counter.size());
  s.record_property_length(n);
  return n;
}
uint32_t property_length(WriteSink& s, const Properties&, PropertyMask) {
  return s.next_property_length();
}

template <class Sink>
void emit_properties(Sink& s, const Properties& p, PropertyMask allowed, uint32_t length) {
  s.varint(length);
  if constexpr (std::is_same_v<Sink, SizeSink>) {
    s.skip(length);
  } else if (length != 0) {
    emit_property_list(s, p, allowed);
  }
}

template <class Sink>
void emit_properties(Sink& s, const Properties& p, PropertyMask allowed) {
  emit_properties(s, p, allowed, property_length(s, p, allowed));
}

// Fixed-header first byte of each packet (PUBLISH: see publish_encoder.cpp).
// The wire type of packet struct T: Packet lists the structs in wire-type order.
template <class T, size_t kIndex = 0>
constexpr PacketType type_of() {
  if constexpr (std::is_same_v<std::variant_alternative_t<kIndex, Packet>, T>) {
    return static_cast<PacketType>(kIndex + 1);
  } else {
    return type_of<T, kIndex + 1>();
  }
}
template <class T>
uint8_t first_byte(const T&) {
  constexpr PacketType t = type_of<T>();
  return static_cast<uint8_t>((static_cast<uint8_t>(t) << 4) | required_flags(t));
}

// The CONNECT encodes for its own version, whatever the caller passes (decode()
// likewise reads the version from the packet).
template <class Sink>
void emit_body(Sink& s, const Connect& c, ProtocolVersion /*version*/) {
  const bool v5 = c.version == ProtocolVersion::V5;
  s.str("MQTT");
  s.u8(static_cast<uint8_t>(c.version));
  uint8_t flags = c.clean_start ? 0x02 : 0x00;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<uint8_t>((static_cast<uint8_t>(c.will->qos) & 0x03) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  s.u8(flags);
  s.u16(c.keep_alive);
  if (v5) emit_properties(s, c.properties, kConnectProperties);
  s.str(c.client_id);
  if (c.will) {
    if (v5) emit_properties(s, c.will->properties, kWillProperties);
    s.str(c.will->topic);
    s.str(c.will->payload);
  }
  if (c.username) s.str(*c.username);
  if (c.password) s.str(*c.password);
}

template <class Sink>
void emit_body(Sink& s, const Connack& c, ProtocolVersion version) {
  s.u8(c.session_present ? 0x01 : 0x00);
  if (version == ProtocolVersion::V311) {
    s.u8(to_v311_connack_code(c.reason));
    return;
  }
  s.u8(static_cast<uint8_t>(c.reason));
  emit_properties(s, c.properties, kConnackProperties);
}

template <class Sink, PacketType kType>
void emit_body(Sink& s, const AckPacket<kType>& a, ProtocolVersion version) {
  s.u16(a.packet_id);
  if (version == ProtocolVersion::V311) return;
  // The short forms: older v5 peers and our own byte budget both prefer them.
  const uint32_t length = property_length(s, a.properties, kAckProperties);
  if (length == 0 && a.reason == ReasonCode::Success) return;
  s.u8(static_cast<uint8_t>(a.reason));
  if (length == 0) return;
  emit_properties(s, a.properties, kAckProperties, length);
}

template <class Sink>
void emit_body(Sink& s, const Subscribe& sub, ProtocolVersion version) {
  const bool v5 = version == ProtocolVersion::V5;
  s.u16(sub.packet_id);
  if (v5) emit_properties(s, sub.properties, kSubscribeProperties);
  for (const TopicSubscription& t : sub.subscriptions) {
    s.str(t.filter);
    uint8_t options = static_cast<uint8_t>(t.options.max_qos) & 0x03;
    if (v5) {
      if (t.options.no_local) options |= 0x04;
      if (t.options.retain_as_published) options |= 0x08;
      options |= static_cast<uint8_t>((static_cast<uint8_t>(t.options.retain_handling) & 0x03) << 4);
    }
    s.u8(options);
  }
}

// 3.1.1 has one failure code, 0x80; any v5 failure the broker chose maps to it.
uint8_t to_v311_suback_code(ReasonCode rc) {
  const auto code = static_cast<uint8_t>(rc);
  return code <= 0x02 ? code : 0x80;
}

template <class Sink>
void emit_body(Sink& s, const Suback& a, ProtocolVersion version) {
  s.u16(a.packet_id);
  if (version == ProtocolVersion::V311) {
    for (const ReasonCode rc : a.reasons) s.u8(to_v311_suback_code(rc));
    return;
  }
  emit_properties(s, a.properties, kAckProperties);
  for (const ReasonCode rc : a.reasons) s.u8(static_cast<uint8_t>(rc));
}

template <class Sink>
void emit_body(Sink& s, const Unsubscribe& u, ProtocolVersion version) {
  s.u16(u.packet_id);
  if (version == ProtocolVersion::V5) emit_properties(s, u.properties, kUnsubscribeProperties);
  for (const std::string& f : u.filters) s.str(f);
}

template <class Sink>
void emit_body(Sink& s, const Unsuback& a, ProtocolVersion version) {
  s.u16(a.packet_id);
  if (version == ProtocolVersion::V311) return;
  emit_properties(s, a.properties, kAckProperties);
  for (const ReasonCode rc : a.reasons) s.u8(static_cast<uint8_t>(rc));
}

template <class Sink>
void emit_body(Sink&, const Pingreq&, ProtocolVersion) {}

template <class Sink>
void emit_body(Sink&, const Pingresp&, ProtocolVersion) {}

template <class Sink>
void emit_body(Sink& s, const Disconnect& d, ProtocolVersion version) {
  if (version == ProtocolVersion::V311) return;
  const uint32_t length = property_length(s, d.properties, kDisconnectProperties);
  if (length == 0 && d.reason == ReasonCode::NormalDisconnection) return;
  s.u8(static_cast<uint8_t>(d.reason));
  if (length == 0) return;
  emit_properties(s, d.properties, kDisconnectProperties, length);
}

// AUTH does not exist in 3.1.1; for that version it encodes as an empty AUTH,
// which a 3.1.1 peer rejects. Callers do not send it there.
template <class Sink>
void emit_body(Sink& s, const Auth& a, ProtocolVersion version) {
  if (version == ProtocolVersion::V311) return;
  const uint32_t length = property_length(s, a.properties, kAuthProperties);
  if (length == 0 && a.reason == ReasonCode::Success) return;
  s.u8(static_cast<uint8_t>(a.reason));
  emit_properties(s, a.properties, kAuthProperties, length);
}

template <class T>
SizeSink measure_body(const T& packet, ProtocolVersion version) {
  SizeSink counter;
  emit_body(counter, packet, version);
  return counter;
}

}  // namespace

Result<FrameHeader, DecodeError> peek_frame(std::span<const uint8_t> data) {
  if (data.empty()) return FrameHeader{};
  const uint8_t b0 = data[0];
  if ((b0 >> 4) == 0) return to_error(malformed("packet type 0 is reserved"));
  uint32_t length = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (1 + i >= data.size()) return FrameHeader{};  // the length continues beyond `data`
    const uint8_t b = data[1 + i];
    length |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * i);
    if ((b & 0x80) == 0) {
      FrameHeader h;
      h.first_byte = b0;
      h.remaining_length = length;
      h.header_length = static_cast<uint8_t>(2 + i);
      return h;
    }
  }
  return to_error(malformed("remaining length longer than 4 bytes"));
}

Result<Packet, DecodeError> decode(const FrameHeader& header, std::span<const uint8_t> frame,
                                   ProtocolVersion version) {
  if (header.header_length == 0 || frame.size() != header.total_length()) {
    return to_error(malformed("frame size does not match its fixed header"));
  }
  const PacketType type = header.type();
  const uint8_t flags = header.flags();
  if (type == PacketType{0}) return to_error(malformed("packet type 0 is reserved"));
  if (type == PacketType::Auth && version == ProtocolVersion::V311) {
    return to_error(malformed("AUTH is not an MQTT 3.1.1 packet"));
  }
  if (type != PacketType::Publish && flags != required_flags(type)) {
    return to_error(malformed("invalid fixed header flags"));
  }
  Reader r(frame.data() + header.header_length, header.remaining_length);
  switch (type) {
    case PacketType::Connect: return decode_as<Connect>(r, flags, version);
    case PacketType::Connack: return decode_as<Connack>(r, flags, version);
    case PacketType::Publish: return decode_as<Publish>(r, flags, version);
    case PacketType::Puback: return decode_as<Puback>(r, flags, version);
    case PacketType::Pubrec: return decode_as<Pubrec>(r, flags, version);
    case PacketType::Pubrel: return decode_as<Pubrel>(r, flags, version);
    case PacketType::Pubcomp: return decode_as<Pubcomp>(r, flags, version);
    case PacketType::Subscribe: return decode_as<Subscribe>(r, flags, version);
    case PacketType::Suback: return decode_as<Suback>(r, flags, version);
    case PacketType::Unsubscribe: return decode_as<Unsubscribe>(r, flags, version);
    case PacketType::Unsuback: return decode_as<Unsuback>(r, flags, version);
    case PacketType::Pingreq: return decode_as<Pingreq>(r, flags, version);
    case PacketType::Pingresp: return decode_as<Pingresp>(r, flags, version);
    case PacketType::Disconnect: return decode_as<Disconnect>(r, flags, version);
    case PacketType::Auth: return decode_as<Auth>(r, flags, version);
  }
  return to_error(malformed("packet type 0 is reserved"));
}

Result<Packet, DecodeError> decode_one(std::span<const uint8_t> data, ProtocolVersion version,
                                       size_t* consumed) {
  auto header = peek_frame(data);
  if (!header) return fg::unexpected(std::move(header.error()));
  if (header->header_length == 0 || header->total_length() > data.size()) {
    return to_error(malformed("incomplete packet"));
  }
  const size_t total = header->total_length();
  auto result = decode(*header, data.first(total), version);
  if (result && consumed != nullptr) *consumed = total;
  return result;
}

PublishView publish_view(const Publish& p) {
  PublishView v;
  v.dup = p.dup;
  v.qos = p.qos;
  v.retain = p.retain;
  v.topic = p.topic;
  v.packet_id = p.packet_id;
  v.properties = &p.properties;
  v.payload = p.payload;
  return v;
}

void encode(const Packet& packet, ProtocolVersion version, std::string& out) {
  std::visit(
      [&](const auto& p) {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, Publish>) {
          encode_publish(publish_view(p), version, out);  // one PUBLISH writer for all callers
          return;
        } else {
        const SizeSink measured = measure_body(p, version);
        const size_t body = measured.size();
        const size_t start = out.size();
        out.resize(start + 1 + varint_size(static_cast<uint32_t>(body)) + body);
        WriteSink w(out.data() + start, measured.property_lengths());
        w.u8(first_byte(p));
        w.varint(static_cast<uint32_t>(body));
        emit_body(w, p, version);
        assert(w.position() == out.data() + out.size());
        }
      },
      packet);
}

size_t encoded_size(const Packet& packet, ProtocolVersion version) {
  return std::visit(
      [&](const auto& p) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, Publish>) {
          return encoded_publish_size(publish_view(p), version);
        } else {
          const size_t body = measure_body(p, version).size();
          return 1 + varint_size(static_cast<uint32_t>(body)) + body;
        }
      },
      packet);
}

void put_varint(uint32_t value, std::string& out) {
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value != 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (value != 0);
}

size_t varint_size(uint32_t value) {
  if (value < (1U << 7)) return 1;
  if (value < (1U << 14)) return 2;
  if (value < (1U << 21)) return 3;
  if (value < (1U << 28)) return 4;
  return 5;  // beyond MQTT's range; kept consistent with put_varint
}

}  // namespace fg::mqtt
