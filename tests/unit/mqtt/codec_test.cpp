#include "mqtt/codec.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "mqtt/topic.hpp"

// Counts heap allocations while `g_counting` is set, so that the allocation
// budget of the data plane (one topic, one payload per PUBLISH) is checked.
namespace {
std::atomic<long> g_allocations{0};
std::atomic<bool> g_counting{false};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// Out of line so that g++ does not pair an inlined free() with a new-expression
// and report a mismatch (-Wmismatched-new-delete); the pairing is correct.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace fg::mqtt {

// Readable failure messages: "Malformed Packet (0x81)" rather than a byte dump.
void PrintTo(ReasonCode rc, std::ostream* os) {
  *os << reason_name(rc) << " (0x" << std::hex << static_cast<int>(rc) << std::dec << ")";
}

namespace {

using Bytes = std::vector<uint8_t>;
constexpr ProtocolVersion V3 = ProtocolVersion::V311;
constexpr ProtocolVersion V5 = ProtocolVersion::V5;

void append(Bytes& out, const Bytes& b) { out.insert(out.end(), b.begin(), b.end()); }

template <class... Parts>
Bytes cat(const Parts&... parts) {
  Bytes out;
  (append(out, parts), ...);
  return out;
}

// Raw bytes of a string, no length prefix.
Bytes raw(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A UTF-8 string / binary data field: two-byte length and the bytes.
Bytes str(std::string_view s) {
  return cat(Bytes{static_cast<uint8_t>(s.size() >> 8), static_cast<uint8_t>(s.size())}, raw(s));
}

Bytes varint(uint32_t v) {
  std::string s;
  put_varint(v, s);
  return raw(s);
}

// A whole packet: first byte, remaining length, body.
Bytes frame(uint8_t first, const Bytes& body) {
  return cat(Bytes{first}, varint(static_cast<uint32_t>(body.size())), body);
}

// A property block: property length and the properties.
Bytes props(const Bytes& list) { return cat(varint(static_cast<uint32_t>(list.size())), list); }

Bytes encode_bytes(const Packet& p, ProtocolVersion v) {
  std::string s;
  encode(p, v, s);
  return raw(s);
}

// The reason code decoding `b` fails with, or nullopt when it decodes.
std::optional<ReasonCode> decode_error(const Bytes& b, ProtocolVersion v) {
  auto r = decode_one(b, v);
  if (r) return std::nullopt;
  return r.error().reason;
}

template <class T>
T decode_as(const Bytes& b, ProtocolVersion v) {
  auto r = decode_one(b, v);
  if (!r) {
    ADD_FAILURE() << "decode failed: " << r.error().message;
    return T{};
  }
  const T* p = std::get_if<T>(&*r);
  if (p == nullptr) {
    ADD_FAILURE() << "decoded " << packet_type_name(packet_type(*r));
    return T{};
  }
  return *p;
}

// ---------------------------------------------------------------------------
// Variable byte integers and framing.

TEST(Varint, SpecBoundaries) {
  // MQTT 5 section 1.5.5, table 1-1.
  const std::vector<std::pair<uint32_t, Bytes>> cases = {
      {0, {0x00}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
      {268435455, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const auto& [value, bytes] : cases) {
    EXPECT_EQ(varint(value), bytes) << value;
    EXPECT_EQ(varint_size(value), bytes.size()) << value;
  }
}

TEST(PeekFrame, NeedsMoreBytesUntilTheLengthEnds) {
  for (const Bytes& partial : {Bytes{}, Bytes{0x30}, Bytes{0x30, 0x80}, Bytes{0x30, 0x80, 0x80},
                               Bytes{0x30, 0x80, 0x80, 0x80}}) {
    auto h = peek_frame(partial);
    ASSERT_TRUE(h) << partial.size();
    EXPECT_EQ(h->header_length, 0) << partial.size();
  }
}

TEST(PeekFrame, CompleteHeaderWithoutBody) {
  auto h = peek_frame(Bytes{0x32, 0x05});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header_length, 2);
  EXPECT_EQ(h->remaining_length, 5u);
  EXPECT_EQ(h->type(), PacketType::Publish);
  EXPECT_EQ(h->flags(), 0x02);
  EXPECT_EQ(h->total_length(), 7u);
}

TEST(PeekFrame, MaximumRemainingLength) {
  auto h = peek_frame(Bytes{0x30, 0xFF, 0xFF, 0xFF, 0x7F});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header_length, 5);
  EXPECT_EQ(h->remaining_length, 268435455u);
}

TEST(PeekFrame, FifthLengthByteIsMalformed) {
  auto h = peek_frame(Bytes{0x30, 0x80, 0x80, 0x80, 0x80});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().reason, ReasonCode::MalformedPacket);
  // Known as soon as the fourth byte says "continue", before a fifth arrives.
  EXPECT_FALSE(peek_frame(Bytes{0x30, 0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(PeekFrame, PacketTypeZeroIsMalformed) {
  for (const Bytes& b : {Bytes{0x00}, Bytes{0x00, 0x00}, Bytes{0x0F, 0x00}}) {
    auto h = peek_frame(b);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().reason, ReasonCode::MalformedPacket);
  }
}

TEST(DecodeOne, IncompletePacketIsMalformed) {
  EXPECT_EQ(decode_error(Bytes{0x30, 0x05, 0x00, 0x01, 't'}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x30}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{}, V3), ReasonCode::MalformedPacket);
}

TEST(DecodeOne, ReportsConsumedBytesAndIgnoresWhatFollows) {
  const Bytes two = cat(Bytes{0xC0, 0x00}, Bytes{0xD0, 0x00});
  size_t consumed = 0;
  auto r = decode_one(two, V3, &consumed);
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::holds_alternative<Pingreq>(*r));
  EXPECT_EQ(consumed, 2u);
}

TEST(Decode, FrameMustMatchItsHeader) {
  const Bytes ping = {0xC0, 0x00};
  auto h = peek_frame(ping);
  ASSERT_TRUE(h);
  const Bytes longer = {0xC0, 0x00, 0x00};
  auto r = decode(*h, longer, V5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ReasonCode::MalformedPacket);
  EXPECT_TRUE(decode(*h, ping, V5));
}

// ---------------------------------------------------------------------------
// Byte-exact encodings, written out by hand from the spec's field layouts.

TEST(ByteExact, ConnectV311) {
  Connect c;
  c.version = V3;
  c.clean_start = true;
  c.keep_alive = 60;
  c.client_id = "test";
  c.username = "u";
  c.password = "p";
  const Bytes wire = {0x10, 0x16,                          // CONNECT, remaining length 22
                      0x00, 0x04, 'M',  'Q', 'T', 'T',     // protocol name
                      0x04,                                // protocol level 4
                      0xC2,                                // user name, password, clean session
                      0x00, 0x3C,                          // keep alive 60
                      0x00, 0x04, 't',  'e', 's', 't',     // client identifier
                      0x00, 0x01, 'u',                     // user name
                      0x00, 0x01, 'p'};                    // password
  EXPECT_EQ(encode_bytes(c, V3), wire);
  EXPECT_EQ(decode_as<Connect>(wire, V5), c);  // CONNECT carries its own version
}

TEST(ByteExact, ConnectV311WithWill) {
  Connect c;
  c.version = V3;
  c.keep_alive = 0;
  c.client_id = "c";
  c.will = Will{"w", "bye", QoS::AtLeastOnce, true, {}};
  const Bytes wire = {0x10, 0x15, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
                      0x2E,  // will retain, will QoS 1, will flag, clean session
                      0x00, 0x00, 0x00, 0x01, 'c', 0x00, 0x01, 'w', 0x00, 0x03, 'b', 'y', 'e'};
  EXPECT_EQ(encode_bytes(c, V3), wire);
  EXPECT_EQ(decode_as<Connect>(wire, V3), c);
}

TEST(ByteExact, PublishV5WithProperties) {
  Publish p;
  p.qos = QoS::AtLeastOnce;
  p.topic = "a/b";
  p.packet_id = 10;
  p.properties.payload_format_indicator = 1;
  p.properties.message_expiry_interval = 3600;
  p.properties.subscription_identifiers = {300};
  p.properties.topic_alias = 5;
  p.properties.user_properties = {{"k", "v"}};
  p.payload = "hi";
  const Bytes wire = {0x32, 0x1E,                         // PUBLISH QoS 1, remaining length 30
                      0x00, 0x03, 'a', '/', 'b',          // topic name
                      0x00, 0x0A,                         // packet identifier 10
                      0x14,                               // property length 20
                      0x01, 0x01,                         // payload format indicator 1
                      0x02, 0x00, 0x00, 0x0E, 0x10,       // message expiry interval 3600
                      0x0B, 0xAC, 0x02,                   // subscription identifier 300
                      0x23, 0x00, 0x05,                   // topic alias 5
                      0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // user property
                      'h', 'i'};                          // payload
  EXPECT_EQ(encode_bytes(p, V5), wire);
  EXPECT_EQ(encoded_size(p, V5), wire.size());
  EXPECT_EQ(decode_as<Publish>(wire, V5), p);
}

TEST(ByteExact, PublishV311QoS0) {
  Publish p;
  p.retain = true;
  p.topic = "x";
  p.payload = "1";
  const Bytes wire = {0x31, 0x04, 0x00, 0x01, 'x', '1'};
  EXPECT_EQ(encode_bytes(p, V3), wire);
  EXPECT_EQ(decode_as<Publish>(wire, V3), p);
}

TEST(ByteExact, ConnackV5) {
  Connack c;
  c.session_present = true;
  c.properties.assigned_client_identifier = "id";
  c.properties.receive_maximum = 10;
  c.properties.topic_alias_maximum = 5;
  const Bytes wire = {0x20, 0x0E, 0x01, 0x00, 0x0B,  // flags, reason, property length 11
                      0x12, 0x00, 0x02, 'i', 'd',    // assigned client identifier
                      0x21, 0x00, 0x0A,              // receive maximum 10
                      0x22, 0x00, 0x05};             // topic alias maximum 5
  EXPECT_EQ(encode_bytes(c, V5), wire);
  EXPECT_EQ(decode_as<Connack>(wire, V5), c);
}

TEST(ByteExact, ConnackV311UsesReturnCodes) {
  EXPECT_EQ(encode_bytes(Connack{false, ReasonCode::NotAuthorized, {}}, V3),
            (Bytes{0x20, 0x02, 0x00, 0x05}));
  EXPECT_EQ(encode_bytes(Connack{false, ReasonCode::BadAuthenticationMethod, {}}, V3),
            (Bytes{0x20, 0x02, 0x00, 0x04}));
  EXPECT_EQ(encode_bytes(Connack{true, ReasonCode::Success, {}}, V3),
            (Bytes{0x20, 0x02, 0x01, 0x00}));
  const std::vector<std::pair<uint8_t, ReasonCode>> codes = {
      {0, ReasonCode::Success},
      {1, ReasonCode::UnsupportedProtocolVersion},
      {2, ReasonCode::ClientIdentifierNotValid},
      {3, ReasonCode::ServerUnavailable},
      {4, ReasonCode::BadUserNameOrPassword},
      {5, ReasonCode::NotAuthorized},
  };
  for (const auto& [code, reason] : codes) {
    EXPECT_EQ(decode_as<Connack>(Bytes{0x20, 0x02, 0x00, code}, V3).reason, reason);
  }
}

TEST(ByteExact, SubscribeV311) {
  Subscribe s;
  s.packet_id = 1;
  s.subscriptions = {{"a/#", {QoS::AtLeastOnce}}};
  const Bytes wire = {0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01};
  EXPECT_EQ(encode_bytes(s, V3), wire);
  EXPECT_EQ(decode_as<Subscribe>(wire, V3), s);
}

TEST(ByteExact, SubscribeV5Options) {
  Subscribe s;
  s.packet_id = 2;
  s.subscriptions = {{"a/+", {QoS::AtLeastOnce, true, true, RetainHandling::DoNotSend}}};
  // options 0x2D: retain handling 2, retain as published, no local, QoS 1
  const Bytes wire = {0x82, 0x09, 0x00, 0x02, 0x00, 0x00, 0x03, 'a', '/', '+', 0x2D};
  EXPECT_EQ(encode_bytes(s, V5), wire);
  EXPECT_EQ(decode_as<Subscribe>(wire, V5), s);
}

TEST(ByteExact, SubackV311MapsFailuresTo0x80) {
  Suback s;
  s.packet_id = 3;
  s.reasons = {ReasonCode::GrantedQoS1, ReasonCode::TopicFilterInvalid, ReasonCode::GrantedQoS2};
  EXPECT_EQ(encode_bytes(s, V3), (Bytes{0x90, 0x05, 0x00, 0x03, 0x01, 0x80, 0x02}));
}

TEST(ByteExact, EmptyBodies) {
  EXPECT_EQ(encode_bytes(Pingreq{}, V3), (Bytes{0xC0, 0x00}));
  EXPECT_EQ(encode_bytes(Pingresp{}, V5), (Bytes{0xD0, 0x00}));
  EXPECT_EQ(encode_bytes(Unsuback{5, {ReasonCode::Success}, {}}, V3), (Bytes{0xB0, 0x02, 0x00, 0x05}));
  // 3.1.1 DISCONNECT has no body whatever the reason.
  EXPECT_EQ(encode_bytes(Disconnect{ReasonCode::ServerShuttingDown, {}}, V3), (Bytes{0xE0, 0x00}));
}

// MQTT 5 short forms: omitted reason code (Success) and property length.
TEST(ShortForms, EncoderUsesThem) {
  EXPECT_EQ(encode_bytes(Puback{1, ReasonCode::Success, {}}, V5), (Bytes{0x40, 0x02, 0x00, 0x01}));
  EXPECT_EQ(encode_bytes(Pubrec{1, ReasonCode::NoMatchingSubscribers, {}}, V5),
            (Bytes{0x50, 0x03, 0x00, 0x01, 0x10}));
  EXPECT_EQ(encode_bytes(Pubrel{1, ReasonCode::Success, {}}, V5), (Bytes{0x62, 0x02, 0x00, 0x01}));
  Pubcomp with_reason_string{1, ReasonCode::PacketIdentifierNotFound, {}};
  with_reason_string.properties.reason_string = "x";
  EXPECT_EQ(encode_bytes(with_reason_string, V5),
            (Bytes{0x70, 0x08, 0x00, 0x01, 0x92, 0x04, 0x1F, 0x00, 0x01, 'x'}));
  EXPECT_EQ(encode_bytes(Disconnect{}, V5), (Bytes{0xE0, 0x00}));
  EXPECT_EQ(encode_bytes(Disconnect{ReasonCode::DisconnectWithWillMessage, {}}, V5),
            (Bytes{0xE0, 0x01, 0x04}));
  EXPECT_EQ(encode_bytes(Auth{}, V5), (Bytes{0xF0, 0x00}));
  // AUTH has no "reason code only" form: the property length follows the reason.
  EXPECT_EQ(encode_bytes(Auth{ReasonCode::ReAuthenticate, {}}, V5), (Bytes{0xF0, 0x02, 0x19, 0x00}));
}

TEST(ShortForms, DecoderAcceptsEveryLength) {
  EXPECT_EQ(decode_as<Puback>(Bytes{0x40, 0x02, 0x00, 0x07}, V5), (Puback{7, ReasonCode::Success, {}}));
  EXPECT_EQ(decode_as<Puback>(Bytes{0x40, 0x03, 0x00, 0x07, 0x10}, V5),
            (Puback{7, ReasonCode::NoMatchingSubscribers, {}}));
  EXPECT_EQ(decode_as<Puback>(Bytes{0x40, 0x04, 0x00, 0x07, 0x00, 0x00}, V5),
            (Puback{7, ReasonCode::Success, {}}));
  EXPECT_EQ(decode_as<Pubrel>(Bytes{0x62, 0x03, 0x00, 0x07, 0x92}, V5),
            (Pubrel{7, ReasonCode::PacketIdentifierNotFound, {}}));
  EXPECT_EQ(decode_as<Disconnect>(Bytes{0xE0, 0x00}, V5).reason, ReasonCode::NormalDisconnection);
  EXPECT_EQ(decode_as<Disconnect>(Bytes{0xE0, 0x01, 0x8E}, V5).reason, ReasonCode::SessionTakenOver);
  EXPECT_EQ(decode_as<Disconnect>(Bytes{0xE0, 0x02, 0x8E, 0x00}, V5).reason,
            ReasonCode::SessionTakenOver);
  EXPECT_EQ(decode_as<Auth>(Bytes{0xF0, 0x00}, V5).reason, ReasonCode::Success);
  EXPECT_EQ(decode_as<Auth>(Bytes{0xF0, 0x02, 0x18, 0x00}, V5).reason,
            ReasonCode::ContinueAuthentication);
  EXPECT_EQ(decode_error(Bytes{0xF0, 0x01, 0x18}, V5), ReasonCode::MalformedPacket);
}

// ---------------------------------------------------------------------------
// Round trips: every packet type, both versions, every property.

std::vector<UserProperty> some_user_properties() {
  // Repeated keys and empty strings are legal and order is significant.
  return {{"region", "eu-west-1"}, {"region", "eu-west-2"}, {"", ""}};
}

Packet full_connect(ProtocolVersion v) {
  Connect c;
  c.version = v;
  c.clean_start = false;
  c.keep_alive = 300;
  c.client_id = "device-42";
  Will w;
  w.topic = "devices/42/status";
  w.payload = std::string("off\0line", 8);
  w.qos = QoS::ExactlyOnce;
  w.retain = true;
  if (v == V5) {
    w.properties.will_delay_interval = 30;
    w.properties.payload_format_indicator = 1;
    w.properties.message_expiry_interval = 600;
    w.properties.content_type = "text/plain";
    w.properties.response_topic = "devices/42/response";
    w.properties.correlation_data = std::string("\0\xff", 2);
    w.properties.user_properties = some_user_properties();
    c.properties.session_expiry_interval = 0xFFFFFFFF;
    c.properties.receive_maximum = 100;
    c.properties.maximum_packet_size = 1 << 20;
    c.properties.topic_alias_maximum = 16;
    c.properties.request_response_information = 1;
    c.properties.request_problem_information = 0;
    c.properties.user_properties = some_user_properties();
    c.properties.authentication_method = "SCRAM-SHA-256";
    c.properties.authentication_data = std::string("\x01\x00\x02", 3);
  }
  c.will = w;
  c.username = "alice";
  c.password = std::string("p\0w", 3);
  return c;
}

Packet minimal_connect(ProtocolVersion v) {
  Connect c;
  c.version = v;
  c.client_id = "";  // empty client id: the server assigns one
  return c;
}

Packet full_connack(ProtocolVersion v) {
  Connack c;
  c.session_present = true;
  if (v == V3) {
    c.session_present = false;
    c.reason = ReasonCode::BadUserNameOrPassword;
    return c;
  }
  c.reason = ReasonCode::Success;
  Properties& p = c.properties;
  p.session_expiry_interval = 120;
  p.receive_maximum = 50;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.maximum_packet_size = 4096;
  p.assigned_client_identifier = "auto-7f3a";
  p.topic_alias_maximum = 8;
  p.reason_string = "welcome";
  p.user_properties = some_user_properties();
  p.wildcard_subscription_available = 1;
  p.subscription_identifiers_available = 0;
  p.shared_subscription_available = 1;
  p.server_keep_alive = 30;
  p.response_information = "responses/";
  p.server_reference = "other.example:1883";
  p.authentication_method = "SCRAM-SHA-256";
  p.authentication_data = "server-final";
  return c;
}

Packet full_publish(ProtocolVersion v) {
  Publish p;
  p.dup = true;
  p.qos = QoS::ExactlyOnce;
  p.retain = true;
  p.topic = "sensors/temperature/room-1";
  p.packet_id = 0xFFFF;
  p.payload = std::string("\0{\"t\":21.5}\xff", 13);
  if (v == V5) {
    p.properties.payload_format_indicator = 0;
    p.properties.message_expiry_interval = 10;
    p.properties.topic_alias = 3;
    p.properties.response_topic = "replies/1";
    p.properties.correlation_data = std::string("\0c", 2);
    p.properties.user_properties = some_user_properties();
    p.properties.subscription_identifiers = {1, 268435455};
    p.properties.content_type = "application/json";
  }
  return p;
}

Packet qos0_publish(ProtocolVersion) {
  Publish p;
  p.topic = "t";
  return p;  // empty payload is legal
}

Packet alias_only_publish(ProtocolVersion) {
  Publish p;
  p.qos = QoS::AtLeastOnce;
  p.packet_id = 1;
  p.properties.topic_alias = 7;  // empty topic: the alias stands for it (v5 only)
  p.payload = "x";
  return p;
}

template <class Ack>
Packet full_ack(ProtocolVersion v, ReasonCode reason) {
  Ack a;
  a.packet_id = 1234;
  if (v == V5) {
    a.reason = reason;
    a.properties.reason_string = "because";
    a.properties.user_properties = some_user_properties();
  }
  return a;
}

Packet full_subscribe(ProtocolVersion v) {
  Subscribe s;
  s.packet_id = 10;
  s.subscriptions.push_back({"a/b", {QoS::AtMostOnce}});
  s.subscriptions.push_back({"a/+/c", {QoS::AtLeastOnce}});
  s.subscriptions.push_back({"#", {QoS::ExactlyOnce}});
  if (v == V5) {
    s.subscriptions[0].options = {QoS::AtMostOnce, true, false, RetainHandling::SendIfNew};
    s.subscriptions[1].options = {QoS::AtLeastOnce, false, true, RetainHandling::DoNotSend};
    s.subscriptions.push_back({"$share/group/x/#", {QoS::AtLeastOnce}});
    s.properties.subscription_identifiers = {77};
    s.properties.user_properties = some_user_properties();
  }
  return s;
}

Packet full_suback(ProtocolVersion v) {
  Suback s;
  s.packet_id = 10;
  s.reasons = {ReasonCode::GrantedQoS0, ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2,
               ReasonCode::UnspecifiedError};
  if (v == V5) {
    s.reasons.push_back(ReasonCode::SharedSubscriptionsNotSupported);
    s.reasons.push_back(ReasonCode::WildcardSubscriptionsNotSupported);
    s.properties.reason_string = "partly";
    s.properties.user_properties = some_user_properties();
  }
  return s;
}

Packet full_unsubscribe(ProtocolVersion v) {
  Unsubscribe u;
  u.packet_id = 11;
  u.filters = {"a/b", "$share/g/#"};
  if (v == V5) u.properties.user_properties = some_user_properties();
  return u;
}

Packet full_unsuback(ProtocolVersion v) {
  Unsuback u;
  u.packet_id = 11;
  if (v == V5) {
    u.reasons = {ReasonCode::Success, ReasonCode::NoSubscriptionExisted};
    u.properties.reason_string = "done";
    u.properties.user_properties = some_user_properties();
  }
  return u;
}

Packet full_disconnect(ProtocolVersion v) {
  Disconnect d;
  if (v == V5) {
    d.reason = ReasonCode::ServerMoved;
    d.properties.session_expiry_interval = 0;
    d.properties.reason_string = "moving";
    d.properties.server_reference = "other.example";
    d.properties.user_properties = some_user_properties();
  }
  return d;
}

Packet full_auth(ProtocolVersion) {
  Auth a;
  a.reason = ReasonCode::ContinueAuthentication;
  a.properties.authentication_method = "SCRAM-SHA-256";
  a.properties.authentication_data = std::string("\0\1\2", 3);
  a.properties.reason_string = "continue";
  a.properties.user_properties = some_user_properties();
  return a;
}

struct RoundTripCase {
  std::string name;
  ProtocolVersion version;
  Packet packet;
};

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (const ProtocolVersion v : {V3, V5}) {
    const std::string suffix = v == V3 ? "V311" : "V5";
    auto add = [&](const std::string& name, Packet p) { cases.push_back({name + suffix, v, std::move(p)}); };
    add("Connect", full_connect(v));
    add("MinimalConnect", minimal_connect(v));
    add("Connack", full_connack(v));
    add("Publish", full_publish(v));
    add("PublishQoS0", qos0_publish(v));
    add("Puback", full_ack<Puback>(v, ReasonCode::NoMatchingSubscribers));
    add("Pubrec", full_ack<Pubrec>(v, ReasonCode::QuotaExceeded));
    add("Pubrel", full_ack<Pubrel>(v, ReasonCode::PacketIdentifierNotFound));
    add("Pubcomp", full_ack<Pubcomp>(v, ReasonCode::Success));
    add("PubackShort", Puback{9, ReasonCode::Success, {}});
    add("Subscribe", full_subscribe(v));
    add("Suback", full_suback(v));
    add("Unsubscribe", full_unsubscribe(v));
    add("Unsuback", full_unsuback(v));
    add("Pingreq", Pingreq{});
    add("Pingresp", Pingresp{});
    add("Disconnect", full_disconnect(v));
    if (v == V5) {
      add("PublishTopicAlias", alias_only_publish(v));
      add("Auth", full_auth(v));
      add("AuthShort", Auth{});
      add("DisconnectReasonOnly", Disconnect{ReasonCode::KeepAliveTimeout, {}});
      add("PubrecReasonOnly", Pubrec{3, ReasonCode::PayloadFormatInvalid, {}});
    }
  }
  return cases;
}

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, DecodeOfEncodeIsIdentity) {
  const RoundTripCase& c = GetParam();
  const Bytes wire = encode_bytes(c.packet, c.version);
  EXPECT_EQ(wire.size(), encoded_size(c.packet, c.version));
  size_t consumed = 0;
  auto decoded = decode_one(wire, c.version, &consumed);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(consumed, wire.size());
  EXPECT_EQ(packet_type(*decoded), packet_type(c.packet));
  EXPECT_TRUE(*decoded == c.packet);
  // Encoding is deterministic: the decoded packet encodes to the same bytes.
  EXPECT_EQ(encode_bytes(*decoded, c.version), wire);
}

INSTANTIATE_TEST_SUITE_P(AllPackets, RoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(Encode, AppendsToExistingOutput) {
  std::string out = "prefix";
  encode(Pingreq{}, V5, out);
  EXPECT_EQ(out, std::string("prefix\xC0\x00", 8));
}

TEST(Encode, V311DropsProperties) {
  Packet with_props = full_publish(V5);
  Packet without = full_publish(V3);
  const Bytes wire = encode_bytes(with_props, V3);
  auto decoded = decode_one(wire, V3);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == without);
}

TEST(Encode, DropsPropertiesThePacketMayNotCarry) {
  Puback a{1, ReasonCode::Success, {}};
  a.properties.topic_alias = 4;          // PUBLISH only
  a.properties.session_expiry_interval = 9;  // CONNECT, CONNACK, DISCONNECT only
  EXPECT_EQ(encode_bytes(a, V5), (Bytes{0x40, 0x02, 0x00, 0x01}));
}

TEST(Encode, LargeRemainingLengthUsesMultiByteHeader) {
  Publish p;
  p.topic = "big";
  p.payload.assign(200000, 'x');
  const Bytes wire = encode_bytes(p, V3);
  EXPECT_EQ(wire.size(), 1 + 3 + 5 + 200000u);
  EXPECT_EQ(decode_as<Publish>(wire, V3), p);
}

// ---------------------------------------------------------------------------
// Fixed header checks.

struct FlagCase {
  uint8_t type_nibble;
  uint8_t required_flags;
  Bytes valid_body;  // a valid MQTT 5 body, so only the flags can fail
};

TEST(FixedHeader, ReservedFlagsMustMatch) {
  const std::vector<FlagCase> cases = {
      {0x1, 0x0, cat(str("MQTT"), Bytes{0x05, 0x02, 0x00, 0x3C, 0x00}, str("c"))},
      {0x2, 0x0, {0x00, 0x00, 0x00}},
      {0x4, 0x0, {0x00, 0x01}},
      {0x5, 0x0, {0x00, 0x01}},
      {0x6, 0x2, {0x00, 0x01}},
      {0x7, 0x0, {0x00, 0x01}},
      {0x8, 0x2, cat(Bytes{0x00, 0x01, 0x00}, str("a"), Bytes{0x00})},
      {0x9, 0x0, {0x00, 0x01, 0x00, 0x00}},
      {0xA, 0x2, cat(Bytes{0x00, 0x01, 0x00}, str("a"))},
      {0xB, 0x0, {0x00, 0x01, 0x00, 0x00}},
      {0xC, 0x0, {}},
      {0xD, 0x0, {}},
      {0xE, 0x0, {}},
      {0xF, 0x0, {}},
  };
  for (const FlagCase& c : cases) {
    for (uint8_t flags = 0; flags < 16; ++flags) {
      const Bytes wire = frame(static_cast<uint8_t>(c.type_nibble << 4 | flags), c.valid_body);
      if (flags == c.required_flags) {
        EXPECT_EQ(decode_error(wire, V5), std::nullopt) << int(c.type_nibble);
      } else {
        EXPECT_EQ(decode_error(wire, V5), ReasonCode::MalformedPacket)
            << int(c.type_nibble) << " flags " << int(flags);
      }
    }
  }
}

TEST(FixedHeader, AuthDoesNotExistInV311) {
  EXPECT_EQ(decode_error(Bytes{0xF0, 0x00}, V3), ReasonCode::MalformedPacket);
}

// ---------------------------------------------------------------------------
// PUBLISH checks.

TEST(PublishDecode, QoS3IsMalformed) {
  EXPECT_EQ(decode_error(frame(0x36, cat(str("t"), Bytes{0x00, 0x01})), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x36, cat(str("t"), Bytes{0x00, 0x01, 0x00})), V5),
            ReasonCode::MalformedPacket);
}

TEST(PublishDecode, DupOnQoS0IsMalformed) {
  EXPECT_EQ(decode_error(frame(0x38, str("t")), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x38, cat(str("t"), Bytes{0x00})), V5), ReasonCode::MalformedPacket);
  // DUP is fine with QoS 1.
  EXPECT_TRUE(decode_as<Publish>(frame(0x3A, cat(str("t"), Bytes{0x00, 0x01})), V3).dup);
}

TEST(PublishDecode, PacketIdZeroIsMalformed) {
  EXPECT_EQ(decode_error(frame(0x32, cat(str("t"), Bytes{0x00, 0x00})), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x34, cat(str("t"), Bytes{0x00, 0x00, 0x00})), V5),
            ReasonCode::MalformedPacket);
}

TEST(PublishDecode, WildcardTopicIsTopicNameInvalid) {
  for (const char* topic : {"a/#", "a/+/b", "+", "#", "a+"}) {
    EXPECT_EQ(decode_error(frame(0x30, str(topic)), V3), ReasonCode::TopicNameInvalid) << topic;
    EXPECT_EQ(decode_error(frame(0x30, cat(str(topic), Bytes{0x00})), V5), ReasonCode::TopicNameInvalid)
        << topic;
  }
}

TEST(PublishDecode, EmptyTopic) {
  EXPECT_EQ(decode_error(frame(0x30, cat(str(""), raw("x"))), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x30, cat(str(""), Bytes{0x00}, raw("x"))), V5), ReasonCode::ProtocolError);
  const Publish p = decode_as<Publish>(frame(0x30, cat(str(""), props({0x23, 0x00, 0x01}), raw("x"))), V5);
  EXPECT_EQ(p.topic, "");
  EXPECT_EQ(p.properties.topic_alias, 1);
}

TEST(PublishDecode, InvalidUtf8TopicIsMalformed) {
  EXPECT_EQ(decode_error(frame(0x30, cat(Bytes{0x00, 0x02, 0xC0, 0x80})), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x30, cat(Bytes{0x00, 0x03, 'a', 0x00, 'b'})), V3),
            ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x30, cat(Bytes{0x00, 0x03, 0xED, 0xA0, 0x80}, Bytes{0x00})), V5),
            ReasonCode::MalformedPacket);
}

TEST(PublishDecode, TruncatedFieldsAreMalformed) {
  EXPECT_EQ(decode_error(frame(0x30, Bytes{0x00}), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x30, Bytes{0x00, 0x05, 'a'}), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x32, cat(str("t"), Bytes{0x00})), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x30, str("t")), V5), ReasonCode::MalformedPacket);  // no property length
  EXPECT_EQ(decode_error(frame(0x30, cat(str("t"), Bytes{0x05, 0x02, 0x00})), V5),
            ReasonCode::MalformedPacket);  // property length beyond the packet
}

TEST(PublishDecode, PayloadFormatIsNotCheckedByTheCodec) {
  // The broker decides what to do with a payload that claims UTF-8 but is not.
  const Publish p =
      decode_as<Publish>(frame(0x30, cat(str("t"), props({0x01, 0x01}), Bytes{0xFF, 0xFE})), V5);
  EXPECT_EQ(p.properties.payload_format_indicator, 1);
  EXPECT_EQ(p.payload, "\xFF\xFE");
}

// ---------------------------------------------------------------------------
// CONNECT checks.

Bytes connect_body(const Bytes& name_and_level, uint8_t flags, const Bytes& rest) {
  return frame(0x10, cat(name_and_level, Bytes{flags, 0x00, 0x3C}, rest));
}
const Bytes kMqtt4 = cat(str("MQTT"), Bytes{0x04});
const Bytes kMqtt5 = cat(str("MQTT"), Bytes{0x05});

TEST(ConnectDecode, UnsupportedProtocols) {
  EXPECT_EQ(decode_error(connect_body(cat(str("MQIsdp"), Bytes{0x03}), 0x02, str("c")), V3),
            ReasonCode::UnsupportedProtocolVersion);
  EXPECT_EQ(decode_error(connect_body(cat(str("MQTT"), Bytes{0x03}), 0x02, str("c")), V3),
            ReasonCode::UnsupportedProtocolVersion);
  EXPECT_EQ(decode_error(connect_body(cat(str("MQTT"), Bytes{0x06}), 0x02, str("c")), V3),
            ReasonCode::UnsupportedProtocolVersion);
  EXPECT_EQ(decode_error(connect_body(cat(str("MQTX"), Bytes{0x04}), 0x02, str("c")), V3),
            ReasonCode::UnsupportedProtocolVersion);
  EXPECT_EQ(decode_error(connect_body(cat(str("mqtt"), Bytes{0x05}), 0x02, cat(Bytes{0x00}, str("c"))), V5),
            ReasonCode::UnsupportedProtocolVersion);
}

TEST(ConnectDecode, VersionComesFromThePacket) {
  EXPECT_EQ(decode_as<Connect>(connect_body(kMqtt4, 0x02, str("c")), V5).version, V3);
  EXPECT_EQ(decode_as<Connect>(connect_body(kMqtt5, 0x02, cat(Bytes{0x00}, str("c"))), V3).version, V5);
}

TEST(ConnectDecode, ReservedFlagIsMalformed) {
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x03, str("c")), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(connect_body(kMqtt5, 0x01, cat(Bytes{0x00}, str("c"))), V5),
            ReasonCode::MalformedPacket);
}

TEST(ConnectDecode, WillFlagsMustBeConsistent) {
  const Bytes will = cat(str("c"), str("w"), str("m"));
  EXPECT_TRUE(decode_as<Connect>(connect_body(kMqtt4, 0x16, will), V3).will);  // will QoS 2
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x1E, will), V3), ReasonCode::MalformedPacket);  // QoS 3
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x0A, str("c")), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x22, str("c")), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(connect_body(kMqtt5, 0x0A, cat(Bytes{0x00}, str("c"))), V5),
            ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(connect_body(kMqtt5, 0x22, cat(Bytes{0x00}, str("c"))), V5),
            ReasonCode::MalformedPacket);
}

TEST(ConnectDecode, WillTopicMustBeATopicName) {
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x06, cat(str("c"), str("a/#"), str("m"))), V3),
            ReasonCode::TopicNameInvalid);
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x06, cat(str("c"), str(""), str("m"))), V3),
            ReasonCode::TopicNameInvalid);
}

TEST(ConnectDecode, PasswordWithoutUserName) {
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x42, cat(str("c"), str("pw"))), V3),
            ReasonCode::MalformedPacket);
  const Connect c = decode_as<Connect>(connect_body(kMqtt5, 0x42, cat(Bytes{0x00}, str("c"), str("pw"))), V5);
  EXPECT_FALSE(c.username);
  EXPECT_EQ(c.password, "pw");
}

TEST(ConnectDecode, MissingOrExtraFieldsAreMalformed) {
  // User name flag without a user name.
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x82, str("c")), V3), ReasonCode::MalformedPacket);
  // A user name without the flag.
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x02, cat(str("c"), str("u"))), V3),
            ReasonCode::MalformedPacket);
  // Every proper prefix of a complete CONNECT is malformed.
  const Bytes full = encode_bytes(full_connect(V5), V5);
  auto h = peek_frame(full);
  ASSERT_TRUE(h);
  const Bytes body(full.begin() + h->header_length, full.end());
  for (size_t n = 0; n < body.size(); ++n) {
    const Bytes prefix = frame(0x10, Bytes(body.begin(), body.begin() + static_cast<ptrdiff_t>(n)));
    EXPECT_EQ(decode_error(prefix, V5), ReasonCode::MalformedPacket) << n;
  }
}

TEST(ConnectDecode, InvalidUtf8IsMalformed) {
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x02, Bytes{0x00, 0x02, 0xC3, 0x28}), V3),
            ReasonCode::MalformedPacket);  // client id
  EXPECT_EQ(decode_error(connect_body(kMqtt4, 0x82, cat(str("c"), Bytes{0x00, 0x01, 0x00})), V3),
            ReasonCode::MalformedPacket);  // user name holding U+0000
  // Binary fields are not UTF-8: any password bytes are fine.
  EXPECT_EQ(decode_as<Connect>(connect_body(kMqtt4, 0xC2, cat(str("c"), str("u"), Bytes{0x00, 0x01, 0xFF})), V3)
                .password,
            "\xFF");
}

TEST(ConnectDecode, AuthenticationDataNeedsAMethod) {
  EXPECT_EQ(decode_error(connect_body(kMqtt5, 0x02, cat(props(cat(Bytes{0x16}, str("d"))), str("c"))), V5),
            ReasonCode::ProtocolError);
}

// ---------------------------------------------------------------------------
// CONNACK checks.

TEST(ConnackDecode, Checks) {
  EXPECT_EQ(decode_error(Bytes{0x20, 0x02, 0x02, 0x00}, V3), ReasonCode::MalformedPacket);  // reserved flag
  EXPECT_EQ(decode_error(Bytes{0x20, 0x02, 0x00, 0x06}, V3), ReasonCode::MalformedPacket);  // return code
  EXPECT_EQ(decode_error(Bytes{0x20, 0x03, 0x00, 0x00, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x20, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x20, 0x03, 0x00, 0x01, 0x00}, V5), ReasonCode::MalformedPacket);  // reason
  EXPECT_EQ(decode_error(Bytes{0x20, 0x02, 0x00, 0x00}, V5), ReasonCode::MalformedPacket);  // no properties
  EXPECT_EQ(decode_error(Bytes{0x20, 0x04, 0x00, 0x00, 0x00, 0x00}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_as<Connack>(Bytes{0x20, 0x03, 0x00, 0x87, 0x00}, V5).reason, ReasonCode::NotAuthorized);
}

// ---------------------------------------------------------------------------
// Acknowledgements.

TEST(AckDecode, Checks) {
  for (const uint8_t first : {0x40, 0x50, 0x62, 0x70}) {
    SCOPED_TRACE(int(first));
    EXPECT_EQ(decode_error(Bytes{first, 0x02, 0x00, 0x00}, V3), ReasonCode::MalformedPacket);  // id 0
    EXPECT_EQ(decode_error(Bytes{first, 0x02, 0x00, 0x00}, V5), ReasonCode::MalformedPacket);
    EXPECT_EQ(decode_error(Bytes{first, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
    EXPECT_EQ(decode_error(Bytes{first, 0x01, 0x00}, V5), ReasonCode::MalformedPacket);
    EXPECT_EQ(decode_error(Bytes{first, 0x03, 0x00, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
    EXPECT_EQ(decode_error(Bytes{first, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}, V5),
              ReasonCode::MalformedPacket);  // trailing byte after the properties
    EXPECT_EQ(decode_error(Bytes{first, 0x03, 0x00, 0x01, 0x01}, V5), ReasonCode::MalformedPacket);
    EXPECT_EQ(decode_error(Bytes{first, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}, V5),
              ReasonCode::MalformedPacket);  // topic alias is not allowed (2.2.2.2)
  }
  // PUBREL and PUBCOMP only know Success and Packet Identifier not found.
  EXPECT_EQ(decode_error(Bytes{0x62, 0x03, 0x00, 0x01, 0x10}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x70, 0x03, 0x00, 0x01, 0x80}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_as<Puback>(Bytes{0x40, 0x03, 0x00, 0x01, 0x99}, V5).reason,
            ReasonCode::PayloadFormatInvalid);
}

// ---------------------------------------------------------------------------
// SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK.

Bytes subscribe_v5(const Bytes& property_list, const Bytes& payload) {
  return frame(0x82, cat(Bytes{0x00, 0x01}, props(property_list), payload));
}

TEST(SubscribeDecode, NoTopicFilters) {
  EXPECT_EQ(decode_error(subscribe_v5({}, {}), V5), ReasonCode::ProtocolError);
  EXPECT_EQ(decode_error(Bytes{0x82, 0x02, 0x00, 0x01}, V3), ReasonCode::MalformedPacket);
}

TEST(SubscribeDecode, PacketIdZeroIsMalformed) {
  EXPECT_EQ(decode_error(frame(0x82, cat(Bytes{0x00, 0x00}, str("a"), Bytes{0x00})), V3),
            ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0x82, cat(Bytes{0x00, 0x00, 0x00}, str("a"), Bytes{0x00})), V5),
            ReasonCode::MalformedPacket);
}

TEST(SubscribeDecode, SubscriptionOptions) {
  auto v5 = [](uint8_t options) { return decode_error(subscribe_v5({}, cat(str("a"), Bytes{options})), V5); };
  auto v3 = [](uint8_t options) {
    return decode_error(frame(0x82, cat(Bytes{0x00, 0x01}, str("a"), Bytes{options})), V3);
  };
  EXPECT_EQ(v5(0x40), ReasonCode::MalformedPacket);  // reserved bit 6
  EXPECT_EQ(v5(0x80), ReasonCode::MalformedPacket);  // reserved bit 7
  EXPECT_EQ(v5(0x30), ReasonCode::MalformedPacket);  // retain handling 3
  EXPECT_EQ(v5(0x03), ReasonCode::MalformedPacket);  // QoS 3
  EXPECT_EQ(v5(0x2E), std::nullopt);                 // everything legal at once
  EXPECT_EQ(v3(0x03), ReasonCode::MalformedPacket);
  EXPECT_EQ(v3(0x04), ReasonCode::MalformedPacket);  // v5 option bits are reserved in 3.1.1
  EXPECT_EQ(v3(0x02), std::nullopt);
}

TEST(SubscribeDecode, TruncatedEntryIsMalformed) {
  EXPECT_EQ(decode_error(subscribe_v5({}, str("a")), V5), ReasonCode::MalformedPacket);  // no options
  EXPECT_EQ(decode_error(subscribe_v5({}, Bytes{0x00, 0x04, 'a'}), V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(subscribe_v5({}, cat(Bytes{0x00, 0x01, 0xFF}, Bytes{0x00})), V5),
            ReasonCode::MalformedPacket);  // invalid UTF-8 filter
}

TEST(SubscribeDecode, NoLocalOnSharedSubscriptionIsProtocolError) {
  EXPECT_EQ(decode_error(subscribe_v5({}, cat(str("$share/g/a"), Bytes{0x04})), V5),
            ReasonCode::ProtocolError);
  EXPECT_EQ(decode_error(subscribe_v5({}, cat(str("$share/g/a"), Bytes{0x00})), V5), std::nullopt);
}

TEST(SubscribeDecode, SubscriptionIdentifier) {
  const Bytes one_filter = cat(str("a"), Bytes{0x00});
  EXPECT_EQ(decode_as<Subscribe>(subscribe_v5({0x0B, 0x05}, one_filter), V5).properties.subscription_identifiers,
            std::vector<uint32_t>{5});
  EXPECT_EQ(decode_error(subscribe_v5({0x0B, 0x05, 0x0B, 0x06}, one_filter), V5), ReasonCode::ProtocolError);
  EXPECT_EQ(decode_error(subscribe_v5({0x0B, 0x00}, one_filter), V5), ReasonCode::ProtocolError);
}

TEST(SubscribeDecode, FilterSyntaxIsLeftToTheBroker) {
  // A bad filter earns a per-filter SUBACK code (0x8F / 0x80), not a disconnect.
  const Subscribe s = decode_as<Subscribe>(subscribe_v5({}, cat(str("a/#/b"), Bytes{0x00})), V5);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_FALSE(valid_topic_filter(s.subscriptions[0].filter));
}

TEST(SubackDecode, Checks) {
  EXPECT_EQ(decode_error(Bytes{0x90, 0x03, 0x00, 0x01, 0x03}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x90, 0x03, 0x00, 0x01, 0x8F}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x90, 0x02, 0x00, 0x01}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x90, 0x03, 0x00, 0x00, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x90, 0x04, 0x00, 0x01, 0x00, 0x03}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0x90, 0x03, 0x00, 0x01, 0x00}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_as<Suback>(Bytes{0x90, 0x04, 0x00, 0x01, 0x00, 0x8F}, V5).reasons,
            std::vector<ReasonCode>{ReasonCode::TopicFilterInvalid});
}

TEST(UnsubscribeDecode, Checks) {
  EXPECT_EQ(decode_error(Bytes{0xA2, 0x03, 0x00, 0x01, 0x00}, V5), ReasonCode::ProtocolError);
  EXPECT_EQ(decode_error(Bytes{0xA2, 0x02, 0x00, 0x01}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0xA2, cat(Bytes{0x00, 0x00}, str("a"))), V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0xA2, cat(Bytes{0x00, 0x01}, Bytes{0x00, 0x02, 'a'})), V3),
            ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(frame(0xA2, cat(Bytes{0x00, 0x01, 0x03, 0x0B, 0x01, 0x00}, str("a"))), V5),
            ReasonCode::MalformedPacket);  // subscription identifier not allowed (2.2.2.2)
}

TEST(UnsubackDecode, Checks) {
  EXPECT_EQ(decode_error(Bytes{0xB0, 0x03, 0x00, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xB0, 0x02, 0x00, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xB0, 0x03, 0x00, 0x01, 0x00}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xB0, 0x04, 0x00, 0x01, 0x00, 0x02}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_as<Unsuback>(Bytes{0xB0, 0x02, 0x00, 0x01}, V3).packet_id, 1);
}

TEST(EmptyPackets, TrailingBytesAreMalformed) {
  EXPECT_EQ(decode_error(Bytes{0xC0, 0x01, 0x00}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xD0, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xE0, 0x01, 0x00}, V3), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xE0, 0x03, 0x00, 0x00, 0x00}, V5), ReasonCode::MalformedPacket);
}

TEST(DisconnectAuthDecode, InvalidReasonCodes) {
  EXPECT_EQ(decode_error(Bytes{0xE0, 0x01, 0x01}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xE0, 0x01, 0x84}, V5), ReasonCode::MalformedPacket);
  EXPECT_EQ(decode_error(Bytes{0xF0, 0x02, 0x80, 0x00}, V5), ReasonCode::MalformedPacket);
}

// ---------------------------------------------------------------------------
// MQTT 5 properties.

// One packet of each kind that carries `property_list` in its property block.
struct Carrier {
  std::string name;
  std::function<Bytes(const Bytes&)> make;
};

std::vector<Carrier> carriers() {
  return {
      {"CONNECT", [](const Bytes& p) { return connect_body(kMqtt5, 0x02, cat(props(p), str("c"))); }},
      {"WILL",
       [](const Bytes& p) {
         return connect_body(kMqtt5, 0x06, cat(Bytes{0x00}, str("c"), props(p), str("w"), str("m")));
       }},
      {"CONNACK", [](const Bytes& p) { return frame(0x20, cat(Bytes{0x00, 0x00}, props(p))); }},
      {"PUBLISH", [](const Bytes& p) { return frame(0x30, cat(str("t"), props(p), raw("x"))); }},
      {"PUBACK", [](const Bytes& p) { return frame(0x40, cat(Bytes{0x00, 0x01, 0x00}, props(p))); }},
      {"PUBREC", [](const Bytes& p) { return frame(0x50, cat(Bytes{0x00, 0x01, 0x00}, props(p))); }},
      {"PUBREL", [](const Bytes& p) { return frame(0x62, cat(Bytes{0x00, 0x01, 0x00}, props(p))); }},
      {"PUBCOMP", [](const Bytes& p) { return frame(0x70, cat(Bytes{0x00, 0x01, 0x00}, props(p))); }},
      {"SUBSCRIBE",
       [](const Bytes& p) { return frame(0x82, cat(Bytes{0x00, 0x01}, props(p), str("a"), Bytes{0x00})); }},
      {"SUBACK", [](const Bytes& p) { return frame(0x90, cat(Bytes{0x00, 0x01}, props(p), Bytes{0x00})); }},
      {"UNSUBSCRIBE", [](const Bytes& p) { return frame(0xA2, cat(Bytes{0x00, 0x01}, props(p), str("a"))); }},
      {"UNSUBACK", [](const Bytes& p) { return frame(0xB0, cat(Bytes{0x00, 0x01}, props(p), Bytes{0x00})); }},
      {"DISCONNECT", [](const Bytes& p) { return frame(0xE0, cat(Bytes{0x00}, props(p))); }},
      {"AUTH", [](const Bytes& p) { return frame(0xF0, cat(Bytes{0x00}, props(p))); }},
  };
}

// MQTT 5 table 2.2.2.2, transcribed independently of the codec: a property, a
// legal value for it, and the packets that may carry it.
struct PropertyRow {
  uint8_t id;
  Bytes value;
  std::set<std::string> packets;
};

std::vector<PropertyRow> property_table() {
  const std::set<std::string> kAll = {"CONNECT", "WILL",   "CONNACK",     "PUBLISH",  "PUBACK",
                                      "PUBREC",  "PUBREL", "PUBCOMP",     "SUBSCRIBE", "SUBACK",
                                      "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"};
  const Bytes byte1 = {0x01};
  const Bytes two = {0x00, 0x01};
  const Bytes four = {0x00, 0x00, 0x00, 0x01};
  const Bytes s = str("x");
  return {
      {0x01, byte1, {"PUBLISH", "WILL"}},
      {0x02, four, {"PUBLISH", "WILL"}},
      {0x03, s, {"PUBLISH", "WILL"}},
      {0x08, s, {"PUBLISH", "WILL"}},
      {0x09, s, {"PUBLISH", "WILL"}},
      {0x0B, {0x01}, {"PUBLISH", "SUBSCRIBE"}},
      {0x11, four, {"CONNECT", "CONNACK", "DISCONNECT"}},
      {0x12, s, {"CONNACK"}},
      {0x13, two, {"CONNACK"}},
      {0x15, s, {"CONNECT", "CONNACK", "AUTH"}},
      {0x16, s, {"CONNECT", "CONNACK", "AUTH"}},
      {0x17, byte1, {"CONNECT"}},
      {0x18, four, {"WILL"}},
      {0x19, byte1, {"CONNECT"}},
      {0x1A, s, {"CONNACK"}},
      {0x1C, s, {"CONNACK", "DISCONNECT"}},
      {0x1F, s, {"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"}},
      {0x21, two, {"CONNECT", "CONNACK"}},
      {0x22, two, {"CONNECT", "CONNACK"}},
      {0x23, two, {"PUBLISH"}},
      {0x24, byte1, {"CONNACK"}},
      {0x25, byte1, {"CONNACK"}},
      {0x26, cat(s, s), kAll},
      {0x27, four, {"CONNECT", "CONNACK"}},
      {0x28, byte1, {"CONNACK"}},
      {0x29, byte1, {"CONNACK"}},
      {0x2A, byte1, {"CONNACK"}},
  };
}

TEST(Properties, AllowedSetPerPacketType) {
  for (const Carrier& carrier : carriers()) {
    // The carrier itself is valid without properties.
    ASSERT_EQ(decode_error(carrier.make({}), V5), std::nullopt) << carrier.name;
    for (const PropertyRow& row : property_table()) {
      Bytes list = cat(Bytes{row.id}, row.value);
      const bool allowed = row.packets.count(carrier.name) > 0;
      // Authentication data needs a method beside it in CONNECT.
      if (row.id == 0x16 && allowed) list = cat(Bytes{0x15}, str("m"), list);
      const auto error = decode_error(carrier.make(list), V5);
      if (allowed) {
        EXPECT_EQ(error, std::nullopt) << carrier.name << " property " << int(row.id);
      } else {
        // MQTT 5 2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
        EXPECT_EQ(error, ReasonCode::MalformedPacket) << carrier.name << " property " << int(row.id);
      }
    }
  }
}

TEST(Properties, UnknownIdentifierIsMalformed) {
  std::set<uint8_t> known;
  for (const PropertyRow& row : property_table()) known.insert(row.id);
  for (const Carrier& carrier : carriers()) {
    for (unsigned id = 0; id < 0x80; ++id) {
      if (known.count(static_cast<uint8_t>(id)) > 0) continue;
      EXPECT_EQ(decode_error(carrier.make(Bytes{static_cast<uint8_t>(id), 0x00, 0x00, 0x00, 0x00}), V5),
                ReasonCode::MalformedPacket)
          << carrier.name << " property " << id;
    }
  }
}

TEST(Properties, DuplicatesOfSingleValuedPropertiesAreProtocolErrors) {
  const auto& all = carriers();
  auto carrier = [&](const std::string& name) {
    for (const Carrier& c : all) {
      if (c.name == name) return c.make;
    }
    return all[0].make;
  };
  for (const PropertyRow& row : property_table()) {
    if (row.id == 0x0B || row.id == 0x26) continue;
    const std::string& packet = *row.packets.begin();
    Bytes once = cat(Bytes{row.id}, row.value);
    if (row.id == 0x16) once = cat(Bytes{0x15}, str("m"), once);
    EXPECT_EQ(decode_error(carrier(packet)(cat(once, Bytes{row.id}, row.value)), V5), ReasonCode::ProtocolError)
        << packet << " property " << int(row.id);
  }
}

TEST(Properties, RepeatableProperties) {
  const Bytes user = cat(Bytes{0x26}, str("k"), str("v"));
  const Publish p = decode_as<Publish>(
      frame(0x30, cat(str("t"), props(cat(user, user, Bytes{0x0B, 0x01, 0x0B, 0x80, 0x01})), raw("x"))), V5);
  EXPECT_EQ(p.properties.user_properties.size(), 2u);
  EXPECT_EQ(p.properties.subscription_identifiers, (std::vector<uint32_t>{1, 128}));
}

TEST(Properties, ValueRanges) {
  auto connect = [](const Bytes& list) {
    return decode_error(connect_body(kMqtt5, 0x02, cat(props(list), str("c"))), V5);
  };
  auto connack = [](const Bytes& list) { return decode_error(frame(0x20, cat(Bytes{0x00, 0x00}, props(list))), V5); };
  auto publish = [](const Bytes& list) { return decode_error(frame(0x30, cat(str("t"), props(list))), V5); };
  EXPECT_EQ(connect({0x21, 0x00, 0x00}), ReasonCode::ProtocolError);              // receive maximum 0
  EXPECT_EQ(connect({0x27, 0x00, 0x00, 0x00, 0x00}), ReasonCode::ProtocolError);  // maximum packet size 0
  EXPECT_EQ(connect({0x17, 0x02}), ReasonCode::ProtocolError);  // request problem information
  EXPECT_EQ(connect({0x19, 0x02}), ReasonCode::ProtocolError);  // request response information
  EXPECT_EQ(connect({0x22, 0x00, 0x00}), std::nullopt);         // topic alias maximum 0 is legal
  EXPECT_EQ(connack({0x21, 0x00, 0x00}), ReasonCode::ProtocolError);
  EXPECT_EQ(connack({0x24, 0x02}), ReasonCode::ProtocolError);  // maximum QoS 2 is expressed by absence
  EXPECT_EQ(connack({0x24, 0x00}), std::nullopt);
  EXPECT_EQ(connack({0x25, 0x02}), ReasonCode::ProtocolError);
  EXPECT_EQ(connack({0x28, 0x02}), ReasonCode::ProtocolError);
  EXPECT_EQ(connack({0x29, 0x02}), ReasonCode::ProtocolError);
  EXPECT_EQ(connack({0x2A, 0xFF}), ReasonCode::ProtocolError);
  EXPECT_EQ(publish({0x01, 0x02}), ReasonCode::ProtocolError);  // payload format indicator
  EXPECT_EQ(publish({0x23, 0x00, 0x00}), ReasonCode::ProtocolError);  // topic alias 0
  EXPECT_EQ(publish({0x0B, 0x00}), ReasonCode::ProtocolError);        // subscription identifier 0
  EXPECT_EQ(publish({0x0B, 0xFF, 0xFF, 0xFF, 0x7F}), std::nullopt);   // 268435455
  EXPECT_EQ(publish({0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), ReasonCode::MalformedPacket);  // 5 bytes
  EXPECT_EQ(publish(cat(Bytes{0x08}, str("a/+"))), ReasonCode::ProtocolError);  // response topic wildcard
}

TEST(Properties, MalformedEncodings) {
  auto publish = [](const Bytes& block) { return decode_error(frame(0x30, cat(str("t"), block)), V5); };
  EXPECT_EQ(publish({0x05, 0x02, 0x00, 0x00}), ReasonCode::MalformedPacket);  // length beyond packet
  EXPECT_EQ(publish({0x02, 0x02, 0x00, 0x00, 0x00, 0x00}), ReasonCode::MalformedPacket);  // value past length
  EXPECT_EQ(publish({0x01, 0x03}), ReasonCode::MalformedPacket);  // content type with no length
  EXPECT_EQ(publish({0x80, 0x80, 0x80, 0x80}), ReasonCode::MalformedPacket);  // bad property length
  EXPECT_EQ(publish(props(cat(Bytes{0x03}, Bytes{0x00, 0x01, 0xFF}))), ReasonCode::MalformedPacket);
  EXPECT_EQ(publish(props(cat(Bytes{0x26}, str("k"), Bytes{0x00, 0x01, 0x00}))), ReasonCode::MalformedPacket);
  EXPECT_EQ(publish(props(cat(Bytes{0x26}, str("k")))), ReasonCode::MalformedPacket);  // value missing
}

// ---------------------------------------------------------------------------
// Reason codes and packet names.

TEST(PacketInfo, NamesAndTypes) {
  EXPECT_EQ(reason_name(ReasonCode::MalformedPacket), "Malformed Packet");
  EXPECT_EQ(reason_name(ReasonCode::Success), "Success");
  EXPECT_EQ(reason_name(static_cast<ReasonCode>(0x7F)), "Unknown reason code");
  EXPECT_EQ(packet_type(Packet{Pubrel{}}), PacketType::Pubrel);
  EXPECT_EQ(packet_type(Packet{Auth{}}), PacketType::Auth);
  EXPECT_EQ(packet_type_name(PacketType::Unsubscribe), "UNSUBSCRIBE");
  EXPECT_EQ(packet_type_name(static_cast<PacketType>(0)), "RESERVED");
}

TEST(PacketInfo, V311ConnackCodes) {
  EXPECT_EQ(to_v311_connack_code(ReasonCode::Success), 0);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::UnsupportedProtocolVersion), 1);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::ClientIdentifierNotValid), 2);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::ServerUnavailable), 3);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::ServerBusy), 3);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::BadUserNameOrPassword), 4);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::NotAuthorized), 5);
  EXPECT_EQ(to_v311_connack_code(ReasonCode::Banned), 5);
}

// ---------------------------------------------------------------------------
// Allocation budget of the hot path.

class AllocationCount {
 public:
  AllocationCount() {
    g_allocations = 0;
    g_counting = true;
  }
  ~AllocationCount() { g_counting = false; }
  long count() const { return g_allocations.load(); }
};

TEST(Allocations, PublishDecodeAllocatesOnlyTopicAndPayload) {
  Publish p;
  p.qos = QoS::AtLeastOnce;
  p.packet_id = 1;
  p.topic = "fleet/device-000123/telemetry/temperature";  // beyond the small-string buffer
  p.payload.assign(60, 'p');
  p.properties.message_expiry_interval = 60;
  p.properties.topic_alias = 2;
  for (const ProtocolVersion v : {V3, V5}) {
    const Bytes wire = encode_bytes(p, v);
    long n = 0;
    {
      AllocationCount counter;
      auto r = decode_one(wire, v);
      n = counter.count();
      ASSERT_TRUE(r);
    }
    // Exactly the topic and the payload (both too long for the small-string buffer).
    EXPECT_EQ(n, 2) << (v == V3 ? "3.1.1" : "5");
  }
}

TEST(Allocations, EncodeIntoReservedBufferAndTopicMatchingDoNotAllocate) {
  const Packet p = full_publish(V5);
  std::string out;
  out.reserve(1024);
  long n = 0;
  bool matched = false;
  {
    AllocationCount counter;
    encode(p, V5, out);
    (void)encoded_size(p, V5);
    matched = topic_matches("sensors/+/room-1", "sensors/temperature/room-1");
    n = counter.count();
  }
  EXPECT_TRUE(matched);
  EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace fg::mqtt
