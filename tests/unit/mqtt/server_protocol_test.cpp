// ServerProtocol: connection-level rules above the codec.
#include "mqtt/server_protocol.hpp"

#include <gtest/gtest.h>

namespace fg::mqtt {
namespace {

std::string bytes_of(const Packet& p, ProtocolVersion v) {
  std::string out;
  encode(p, v, out);
  return out;
}

void feed(ServerProtocol& sp, const std::string& b) {
  sp.receive({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
}

Connect connect_v(ProtocolVersion v) {
  Connect c;
  c.version = v;
  c.client_id = "c";
  return c;
}

TEST(ServerProtocol, FirstPacketMustBeConnect) {
  ServerProtocol sp;
  Publish p;
  p.topic = "t";
  feed(sp, bytes_of(p, ProtocolVersion::V311));
  auto r = sp.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, ReasonCode::ProtocolError);
  EXPECT_FALSE(r.error().before_connect);
}

TEST(ServerProtocol, SecondConnectIsProtocolError) {
  ServerProtocol sp;
  feed(sp, bytes_of(connect_v(ProtocolVersion::V5), ProtocolVersion::V5));
  auto r = sp.next();
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->has_value());
  EXPECT_TRUE(sp.connected());
  EXPECT_EQ(sp.version(), ProtocolVersion::V5);
  feed(sp, bytes_of(connect_v(ProtocolVersion::V5), ProtocolVersion::V5));
  auto r2 = sp.next();
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().reason, ReasonCode::ProtocolError);
}

TEST(ServerProtocol, PartialPacketsWaitForMoreBytes) {
  ServerProtocol sp;
  auto b = bytes_of(connect_v(ProtocolVersion::V311), ProtocolVersion::V311);
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    feed(sp, b.substr(i, 1));
    auto r = sp.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value()) << "packet complete after " << i + 1 << " of " << b.size() << " bytes";
  }
  feed(sp, b.substr(b.size() - 1));
  auto r = sp.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->has_value());
  EXPECT_EQ(sp.buffered(), 0u);
}

TEST(ServerProtocol, OversizedPacketIsRejectedBeforeItArrives) {
  ServerProtocolLimits lim;
  lim.max_packet_size = 100;
  ServerProtocol sp(lim);
  feed(sp, bytes_of(connect_v(ProtocolVersion::V5), ProtocolVersion::V5));
  ASSERT_TRUE(sp.next().has_value());
  Publish p;
  p.topic = "t";
  p.payload.assign(500, 'x');
  auto b = bytes_of(p, ProtocolVersion::V5);
  feed(sp, b.substr(0, 5));  // only the fixed header and a little more
  auto r = sp.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, ReasonCode::PacketTooLarge);
}

TEST(ServerProtocol, UnsupportedVersionAnsweredBeforeConnect) {
  ServerProtocol sp;
  // CONNECT with protocol level 6.
  const char raw[] = {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3c, 0x00, 0x01, 'c'};
  feed(sp, std::string(raw, sizeof raw));
  auto r = sp.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, ReasonCode::UnsupportedProtocolVersion);
  EXPECT_TRUE(r.error().before_connect);
}

TEST(ServerProtocol, InboundTopicAliases) {
  ServerProtocolLimits lim;
  lim.topic_alias_maximum = 4;
  ServerProtocol sp(lim);
  feed(sp, bytes_of(connect_v(ProtocolVersion::V5), ProtocolVersion::V5));
  ASSERT_TRUE(sp.next().has_value());
  Publish p;
  p.topic = "a/b";
  p.properties.topic_alias = 2;
  feed(sp, bytes_of(p, ProtocolVersion::V5));
  p.topic.clear();
  feed(sp, bytes_of(p, ProtocolVersion::V5));
  for (int i = 0; i < 2; ++i) {
    auto r = sp.next();
    ASSERT_TRUE(r.has_value() && r->has_value());
    auto& got = std::get<Publish>(**r);
    EXPECT_EQ(got.topic, "a/b");
    EXPECT_FALSE(got.properties.topic_alias.has_value()) << "resolved aliases are not forwarded";
  }
  p.properties.topic_alias = 5;  // above the maximum
  feed(sp, bytes_of(p, ProtocolVersion::V5));
  auto bad = sp.next();
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().reason, ReasonCode::TopicAliasInvalid);
}

TEST(ServerProtocol, UnknownInboundAliasIsProtocolError) {
  ServerProtocol sp;
  feed(sp, bytes_of(connect_v(ProtocolVersion::V5), ProtocolVersion::V5));
  ASSERT_TRUE(sp.next().has_value());
  Publish p;
  p.properties.topic_alias = 1;
  feed(sp, bytes_of(p, ProtocolVersion::V5));
  auto r = sp.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, ReasonCode::ProtocolError);
}

TEST(ServerProtocol, OutboundAliasesAndClientMaximumPacketSize) {
  ServerProtocol sp;
  auto c = connect_v(ProtocolVersion::V5);
  c.properties.topic_alias_maximum = 1;
  c.properties.maximum_packet_size = 64;
  feed(sp, bytes_of(c, ProtocolVersion::V5));
  ASSERT_TRUE(sp.next().has_value());

  PublishView v;
  v.topic = "sensors/one";
  v.payload = "1";
  std::string out;
  ASSERT_TRUE(sp.send_publish(v, out));
  ASSERT_TRUE(sp.send_publish(v, out));
  v.topic = "sensors/two";  // no alias left: sent in full
  ASSERT_TRUE(sp.send_publish(v, out));
  std::vector<Publish> got;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t used = 0;
    auto r = decode_one({reinterpret_cast<const uint8_t*>(out.data()) + pos, out.size() - pos}, ProtocolVersion::V5, &used);
    ASSERT_TRUE(r.has_value());
    got.push_back(std::get<Publish>(*r));
    pos += used;
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].topic, "sensors/one");
  EXPECT_EQ(got[0].properties.topic_alias, std::optional<uint16_t>(1));
  EXPECT_EQ(got[1].topic, "");
  EXPECT_EQ(got[1].properties.topic_alias, std::optional<uint16_t>(1));
  EXPECT_EQ(got[2].topic, "sensors/two");
  EXPECT_FALSE(got[2].properties.topic_alias.has_value());

  std::string big(100, 'x');
  v.payload = big;
  std::string out2;
  EXPECT_FALSE(sp.send_publish(v, out2)) << "larger than the client's maximum packet size";
  EXPECT_TRUE(out2.empty());
}

TEST(ServerProtocol, ServerOnlyPacketsFromClientAreRejected) {
  ServerProtocol sp;
  feed(sp, bytes_of(connect_v(ProtocolVersion::V311), ProtocolVersion::V311));
  ASSERT_TRUE(sp.next().has_value());
  feed(sp, bytes_of(Pingresp{}, ProtocolVersion::V311));
  auto r = sp.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, ReasonCode::ProtocolError);
}

}  // namespace
}  // namespace fg::mqtt
