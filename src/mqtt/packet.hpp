// MQTT 3.1.1 and 5.0 packets as plain values. The codec (codec.hpp) turns bytes
// into these and back; nothing here does I/O. One struct per control packet;
// `Packet` is the variant of all of them. Fields that exist only in MQTT 5 are
// ignored when encoding for 3.1.1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fg::mqtt {

enum class ProtocolVersion : uint8_t { V311 = 4, V5 = 5 };

enum class PacketType : uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  Auth = 15,
};

enum class QoS : uint8_t { AtMostOnce = 0, AtLeastOnce = 1, ExactlyOnce = 2 };

// MQTT 5 reason codes (section 2.4). Several names share a value, as in the spec.
enum class ReasonCode : uint8_t {
  Success = 0x00,
  NormalDisconnection = 0x00,
  GrantedQoS0 = 0x00,
  GrantedQoS1 = 0x01,
  GrantedQoS2 = 0x02,
  DisconnectWithWillMessage = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QoSNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

// Human-readable name of a reason code ("Malformed Packet"), for logs and reason strings.
std::string_view reason_name(ReasonCode rc);
// MQTT 3.1.1 CONNACK return code (0..5) closest to a v5 reason code.
uint8_t to_v311_connack_code(ReasonCode rc);

struct UserProperty {
  std::string key;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// MQTT 5 properties (section 2.2.2). Each packet type allows a subset; the
// decoder rejects properties not allowed for the packet and duplicates of
// single-valued properties (Protocol Error).
struct Properties {
  std::optional<uint8_t> payload_format_indicator;             // 0x01
  std::optional<uint32_t> message_expiry_interval;             // 0x02
  std::optional<std::string> content_type;                     // 0x03
  std::optional<std::string> response_topic;                   // 0x08
  std::optional<std::string> correlation_data;                 // 0x09 (binary)
  std::vector<uint32_t> subscription_identifiers;              // 0x0B (several in PUBLISH)
  std::optional<uint32_t> session_expiry_interval;             // 0x11
  std::optional<std::string> assigned_client_identifier;       // 0x12
  std::optional<uint16_t> server_keep_alive;                   // 0x13
  std::optional<std::string> authentication_method;            // 0x15
  std::optional<std::string> authentication_data;              // 0x16 (binary)
  std::optional<uint8_t> request_problem_information;          // 0x17
  std::optional<uint32_t> will_delay_interval;                 // 0x18
  std::optional<uint8_t> request_response_information;         // 0x19
  std::optional<std::string> response_information;             // 0x1A
  std::optional<std::string> server_reference;                 // 0x1C
  std::optional<std::string> reason_string;                    // 0x1F
  std::optional<uint16_t> receive_maximum;                     // 0x21
  std::optional<uint16_t> topic_alias_maximum;                 // 0x22
  std::optional<uint16_t> topic_alias;                         // 0x23
  std::optional<uint8_t> maximum_qos;                          // 0x24
  std::optional<uint8_t> retain_available;                     // 0x25
  std::vector<UserProperty> user_properties;                   // 0x26
  std::optional<uint32_t> maximum_packet_size;                 // 0x27
  std::optional<uint8_t> wildcard_subscription_available;      // 0x28
  std::optional<uint8_t> subscription_identifiers_available;   // 0x29
  std::optional<uint8_t> shared_subscription_available;        // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  Properties properties;  // will properties (v5)
  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::V311;
  bool clean_start = true;  // "clean session" in 3.1.1
  uint16_t keep_alive = 60;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  ReasonCode reason = ReasonCode::Success;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
  std::string topic;       // may be empty in v5 when a topic alias is used
  uint16_t packet_id = 0;  // 0 for QoS 0
  Properties properties;
  std::string payload;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
template <PacketType kType>
struct AckPacket {
  static constexpr PacketType type = kType;
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::Success;
  Properties properties;
  bool operator==(const AckPacket&) const = default;
};
using Puback = AckPacket<PacketType::Puback>;
using Pubrec = AckPacket<PacketType::Pubrec>;
using Pubrel = AckPacket<PacketType::Pubrel>;
using Pubcomp = AckPacket<PacketType::Pubcomp>;

// Retain handling (v5 subscription option): 0 send retained on subscribe,
// 1 only if the subscription is new, 2 never.
enum class RetainHandling : uint8_t { SendOnSubscribe = 0, SendIfNew = 1, DoNotSend = 2 };

struct SubscribeOptions {
  QoS max_qos = QoS::AtMostOnce;
  bool no_local = false;
  bool retain_as_published = false;
  RetainHandling retain_handling = RetainHandling::SendOnSubscribe;
  bool operator==(const SubscribeOptions&) const = default;
};

struct TopicSubscription {
  std::string filter;
  SubscribeOptions options;
  bool operator==(const TopicSubscription&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<TopicSubscription> subscriptions;
  Properties properties;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  uint16_t packet_id = 0;
  std::vector<ReasonCode> reasons;  // v3.1.1: 0x00/0x01/0x02/0x80
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packet_id = 0;
  std::vector<ReasonCode> reasons;  // v5 only; 3.1.1 UNSUBACK has no payload
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::NormalDisconnection;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  ReasonCode reason = ReasonCode::Success;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packet_type(const Packet& p);
std::string_view packet_type_name(PacketType t);

}  // namespace fg::mqtt
