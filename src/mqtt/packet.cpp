#include "mqtt/packet.hpp"

#include <type_traits>

namespace fg::mqtt {

// packet_type() relies on the variant listing the packets in wire-type order.
static_assert(std::variant_size_v<Packet> == 15);
static_assert(std::is_same_v<std::variant_alternative_t<0, Packet>, Connect>);
static_assert(std::is_same_v<std::variant_alternative_t<2, Packet>, Publish>);
static_assert(std::is_same_v<std::variant_alternative_t<5, Packet>, Pubrel>);
static_assert(std::is_same_v<std::variant_alternative_t<7, Packet>, Subscribe>);
static_assert(std::is_same_v<std::variant_alternative_t<13, Packet>, Disconnect>);
static_assert(std::is_same_v<std::variant_alternative_t<14, Packet>, Auth>);

std::string_view reason_name(ReasonCode rc) {
  // Values shared by several names (0x00) get the most general one.
  switch (rc) {
    case ReasonCode::Success: return "Success";
    case ReasonCode::GrantedQoS1: return "Granted QoS 1";
    case ReasonCode::GrantedQoS2: return "Granted QoS 2";
    case ReasonCode::DisconnectWithWillMessage: return "Disconnect with Will Message";
    case ReasonCode::NoMatchingSubscribers: return "No matching subscribers";
    case ReasonCode::NoSubscriptionExisted: return "No subscription existed";
    case ReasonCode::ContinueAuthentication: return "Continue authentication";
    case ReasonCode::ReAuthenticate: return "Re-authenticate";
    case ReasonCode::UnspecifiedError: return "Unspecified error";
    case ReasonCode::MalformedPacket: return "Malformed Packet";
    case ReasonCode::ProtocolError: return "Protocol Error";
    case ReasonCode::ImplementationSpecificError: return "Implementation specific error";
    case ReasonCode::UnsupportedProtocolVersion: return "Unsupported Protocol Version";
    case ReasonCode::ClientIdentifierNotValid: return "Client Identifier not valid";
    case ReasonCode::BadUserNameOrPassword: return "Bad User Name or Password";
    case ReasonCode::NotAuthorized: return "Not authorized";
    case ReasonCode::ServerUnavailable: return "Server unavailable";
    case ReasonCode::ServerBusy: return "Server busy";
    case ReasonCode::Banned: return "Banned";
    case ReasonCode::ServerShuttingDown: return "Server shutting down";
    case ReasonCode::BadAuthenticationMethod: return "Bad authentication method";
    case ReasonCode::KeepAliveTimeout: return "Keep Alive timeout";
    case ReasonCode::SessionTakenOver: return "Session taken over";
    case ReasonCode::TopicFilterInvalid: return "Topic Filter invalid";
    case ReasonCode::TopicNameInvalid: return "Topic Name invalid";
    case ReasonCode::PacketIdentifierInUse: return "Packet Identifier in use";
    case ReasonCode::PacketIdentifierNotFound: return "Packet Identifier not found";
    case ReasonCode::ReceiveMaximumExceeded: return "Receive Maximum exceeded";
    case ReasonCode::TopicAliasInvalid: return "Topic Alias invalid";
    case ReasonCode::PacketTooLarge: return "Packet too large";
    case ReasonCode::MessageRateTooHigh: return "Message rate too high";
    case ReasonCode::QuotaExceeded: return "Quota exceeded";
    case ReasonCode::AdministrativeAction: return "Administrative action";
    case ReasonCode::PayloadFormatInvalid: return "Payload format invalid";
    case ReasonCode::RetainNotSupported: return "Retain not supported";
    case ReasonCode::QoSNotSupported: return "QoS not supported";
    case ReasonCode::UseAnotherServer: return "Use another server";
    case ReasonCode::ServerMoved: return "Server moved";
    case ReasonCode::SharedSubscriptionsNotSupported: return "Shared Subscriptions not supported";
    case ReasonCode::ConnectionRateExceeded: return "Connection rate exceeded";
    case ReasonCode::MaximumConnectTime: return "Maximum connect time";
    case ReasonCode::SubscriptionIdentifiersNotSupported:
      return "Subscription Identifiers not supported";
    case ReasonCode::WildcardSubscriptionsNotSupported:
      return "Wildcard Subscriptions not supported";
  }
  // A byte off the wire that is not a defined reason code.
  return "Unknown reason code";
}

uint8_t to_v311_connack_code(ReasonCode rc) {
  // 3.1.1 return codes: 0 accepted, 1 unacceptable protocol version, 2 identifier
  // rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized.
  // Refusals with no 3.1.1 equivalent become "server unavailable", the one code a
  // 3.1.1 client treats as "try again later" rather than "fix your credentials".
  switch (rc) {
    case ReasonCode::Success: return 0;
    case ReasonCode::UnsupportedProtocolVersion: return 1;
    case ReasonCode::ClientIdentifierNotValid: return 2;
    case ReasonCode::BadUserNameOrPassword:
    case ReasonCode::BadAuthenticationMethod: return 4;
    case ReasonCode::NotAuthorized:
    case ReasonCode::Banned: return 5;
    default: return 3;
  }
}

PacketType packet_type(const Packet& p) {
  return static_cast<PacketType>(p.index() + 1);
}

std::string_view packet_type_name(PacketType t) {
  switch (t) {
    case PacketType::Connect: return "CONNECT";
    case PacketType::Connack: return "CONNACK";
    case PacketType::Publish: return "PUBLISH";
    case PacketType::Puback: return "PUBACK";
    case PacketType::Pubrec: return "PUBREC";
    case PacketType::Pubrel: return "PUBREL";
    case PacketType::Pubcomp: return "PUBCOMP";
    case PacketType::Subscribe: return "SUBSCRIBE";
    case PacketType::Suback: return "SUBACK";
    case PacketType::Unsubscribe: return "UNSUBSCRIBE";
    case PacketType::Unsuback: return "UNSUBACK";
    case PacketType::Pingreq: return "PINGREQ";
    case PacketType::Pingresp: return "PINGRESP";
    case PacketType::Disconnect: return "DISCONNECT";
    case PacketType::Auth: return "AUTH";
  }
  return "RESERVED";
}

}  // namespace fg::mqtt
