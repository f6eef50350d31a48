// Session and QoS flows of the broker, driven through stub transports on two
// workers (so cross-worker delivery and session migration are exercised).
#include <gtest/gtest.h>

#include "stub_client.hpp"

namespace fg::broker::testing {
namespace {

using mqtt::ProtocolVersion;
using mqtt::QoS;
using mqtt::ReasonCode;

TEST(BrokerFlow, ConnectGetsConnack) {
  BrokerHarness h;
  auto c = h.client(0);
  auto ack = h.connect(*c, connect_packet("dev1"));
  EXPECT_EQ(ack.reason, ReasonCode::Success);
  EXPECT_FALSE(ack.session_present);
}

TEST(BrokerFlow, Qos1AcrossWorkers) {
  BrokerHarness h;
  auto sub = h.client(0);
  auto pub = h.client(1);
  h.connect(*sub, connect_packet("sub"));
  h.connect(*pub, connect_packet("pub"));
  sub->feed(subscribe_packet(1, "dc/+/temp", QoS::AtLeastOnce));
  h.pump();
  auto subacks = sub->take_of<mqtt::Suback>();
  ASSERT_EQ(subacks.size(), 1u);
  EXPECT_EQ(subacks[0].reasons, std::vector<ReasonCode>{ReasonCode::GrantedQoS1});

  pub->feed(publish_packet("dc/1/temp", "21.5", QoS::AtLeastOnce, 7));
  h.pump();
  auto pubacks = pub->take_of<mqtt::Puback>();
  ASSERT_EQ(pubacks.size(), 1u);
  EXPECT_EQ(pubacks[0].packet_id, 7);
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "dc/1/temp");
  EXPECT_EQ(got[0].payload, "21.5");
  EXPECT_EQ(got[0].qos, QoS::AtLeastOnce);
  EXPECT_NE(got[0].packet_id, 0);
}

TEST(BrokerFlow, GrantedQosCapsDelivery) {
  BrokerHarness h;
  auto sub = h.client(0);
  auto pub = h.client(0);
  h.connect(*sub, connect_packet("sub"));
  h.connect(*pub, connect_packet("pub"));
  sub->feed(subscribe_packet(1, "a", QoS::AtMostOnce));
  pub->feed(publish_packet("a", "x", QoS::ExactlyOnce, 3));
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, QoS::AtMostOnce);
}

TEST(BrokerFlow, PersistentSessionQueuesWhileOfflineAndMovesWorker) {
  BrokerHarness h;
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s", ProtocolVersion::V311, /*clean=*/false));
  sub->feed(subscribe_packet(1, "q/#", QoS::AtLeastOnce));
  h.pump();
  sub->drop();
  h.pump();

  auto pub = h.client(1);
  h.connect(*pub, connect_packet("p"));
  for (int i = 0; i < 3; ++i) pub->feed(publish_packet("q/x", "m" + std::to_string(i), QoS::AtLeastOnce, static_cast<uint16_t>(i + 1)));
  h.pump();

  auto again = h.client(1);  // reconnects on the other worker
  auto ack = h.connect(*again, connect_packet("s", ProtocolVersion::V311, false));
  EXPECT_TRUE(ack.session_present);
  h.pump();
  auto got = again->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i].payload, "m" + std::to_string(i));
}

TEST(BrokerFlow, UnackedQos1IsRedeliveredWithDup) {
  BrokerHarness h;
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s", ProtocolVersion::V311, false));
  sub->feed(subscribe_packet(1, "t", QoS::AtLeastOnce));
  auto pub = h.client(0);
  h.connect(*pub, connect_packet("p"));
  pub->feed(publish_packet("t", "once", QoS::AtLeastOnce, 1));
  h.pump();
  auto first = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(first[0].dup);
  sub->drop();  // never acked
  h.pump();

  auto again = h.client(1);
  h.connect(*again, connect_packet("s", ProtocolVersion::V311, false));
  h.pump();
  auto second = again->take_of<mqtt::Publish>();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].dup);
  EXPECT_EQ(second[0].packet_id, first[0].packet_id);
  again->feed(mqtt::Puback{second[0].packet_id, ReasonCode::Success, {}});
  h.pump();
  again->drop();
  h.pump();
  auto third = h.client(0);
  h.connect(*third, connect_packet("s", ProtocolVersion::V311, false));
  h.pump();
  EXPECT_TRUE(third->take_of<mqtt::Publish>().empty()) << "an acknowledged message came back";
}

TEST(BrokerFlow, CleanSessionDiscardsState) {
  BrokerHarness h;
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s", ProtocolVersion::V311, false));
  sub->feed(subscribe_packet(1, "t", QoS::AtLeastOnce));
  h.pump();
  sub->drop();
  h.pump();
  auto again = h.client(1);
  auto ack = h.connect(*again, connect_packet("s", ProtocolVersion::V311, true));
  EXPECT_FALSE(ack.session_present);
  auto pub = h.client(0);
  h.connect(*pub, connect_packet("p"));
  pub->feed(publish_packet("t", "x", QoS::AtLeastOnce, 1));
  h.pump();
  EXPECT_TRUE(again->take_of<mqtt::Publish>().empty());
  auto acks = pub->take_of<mqtt::Puback>();
  ASSERT_EQ(acks.size(), 1u);
}

TEST(BrokerFlow, TakeoverDisconnectsOldConnectionV5) {
  BrokerHarness h;
  auto first = h.client(0, ProtocolVersion::V5);
  h.connect(*first, connect_packet("same", ProtocolVersion::V5));
  auto second = h.client(1, ProtocolVersion::V5);
  auto ack = h.connect(*second, connect_packet("same", ProtocolVersion::V5));
  EXPECT_EQ(ack.reason, ReasonCode::Success);
  h.pump();
  auto d = first->take_of<mqtt::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, ReasonCode::SessionTakenOver);
  EXPECT_TRUE(first->transport_closed());
  EXPECT_FALSE(second->transport_closed());
}

TEST(BrokerFlow, PacketBeforeConnectClosesSilently) {
  BrokerHarness h;
  auto c = h.client(0);
  c->feed(publish_packet("t", "x"));
  h.pump();
  EXPECT_TRUE(c->transport_closed());
  EXPECT_TRUE(c->take().empty());
}

TEST(BrokerFlow, SecondConnectIsProtocolError) {
  BrokerHarness h;
  auto c = h.client(0, ProtocolVersion::V5);
  h.connect(*c, connect_packet("c", ProtocolVersion::V5));
  c->feed(connect_packet("c", ProtocolVersion::V5));
  h.pump();
  auto d = c->take_of<mqtt::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, ReasonCode::ProtocolError);
  EXPECT_TRUE(c->transport_closed());
}

TEST(BrokerFlow, ReceiveMaximumLimitsInflight) {
  BrokerHarness h;
  auto sub = h.client(0, ProtocolVersion::V5);
  auto req = connect_packet("s", ProtocolVersion::V5);
  req.properties.receive_maximum = 2;
  h.connect(*sub, req);
  sub->feed(subscribe_packet(1, "t", QoS::AtLeastOnce));
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("p"));
  for (uint16_t i = 1; i <= 5; ++i) pub->feed(publish_packet("t", std::to_string(i), QoS::AtLeastOnce, i));
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 2u);
  sub->feed(mqtt::Puback{got[0].packet_id, ReasonCode::Success, {}});
  h.pump();
  auto more = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].payload, "3");
}

TEST(BrokerFlow, OfflineQueueIsBounded) {
  BrokerConfig cfg;
  cfg.max_queued_messages = 5;
  BrokerHarness h(2, cfg);
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s", ProtocolVersion::V311, false));
  sub->feed(subscribe_packet(1, "t", QoS::AtLeastOnce));
  h.pump();
  sub->drop();
  h.pump();
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("p"));
  for (uint16_t i = 1; i <= 20; ++i) pub->feed(publish_packet("t", std::to_string(i), QoS::AtLeastOnce, i));
  h.pump();
  auto again = h.client(0);
  h.connect(*again, connect_packet("s", ProtocolVersion::V311, false));
  h.pump();
  auto got = again->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().payload, "1");  // the oldest are kept, the newest dropped
  EXPECT_EQ(got.back().payload, "5");
  EXPECT_GE(h.broker().stats().messages_dropped, 15u);
}

TEST(BrokerFlow, Qos2DuplicateIsRoutedOnce) {
  BrokerHarness h;
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s"));
  sub->feed(subscribe_packet(1, "t", QoS::ExactlyOnce));
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("p"));
  auto p = publish_packet("t", "x", QoS::ExactlyOnce, 9);
  pub->feed(p);
  p.dup = true;
  pub->feed(p);  // retransmission before PUBREL
  h.pump();
  auto recs = pub->take_of<mqtt::Pubrec>();
  EXPECT_EQ(recs.size(), 2u);
  pub->feed(mqtt::Pubrel{9, ReasonCode::Success, {}});
  h.pump();
  auto comps = pub->take_of<mqtt::Pubcomp>();
  ASSERT_EQ(comps.size(), 1u);
  EXPECT_EQ(comps[0].packet_id, 9);

  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, QoS::ExactlyOnce);
  // Outbound QoS 2: PUBREC -> PUBREL -> PUBCOMP.
  sub->feed(mqtt::Pubrec{got[0].packet_id, ReasonCode::Success, {}});
  h.pump();
  auto rels = sub->take_of<mqtt::Pubrel>();
  ASSERT_EQ(rels.size(), 1u);
  EXPECT_EQ(rels[0].packet_id, got[0].packet_id);
}

TEST(BrokerFlow, WillOnAbnormalCloseOnly) {
  BrokerHarness h;
  auto watcher = h.client(1);
  h.connect(*watcher, connect_packet("w"));
  watcher->feed(subscribe_packet(1, "wills/#", QoS::AtMostOnce));
  h.pump();

  auto polite = h.client(0);
  auto req = connect_packet("polite");
  req.will = mqtt::Will{"wills/polite", "gone", QoS::AtMostOnce, false, {}};
  h.connect(*polite, req);
  polite->feed(mqtt::Disconnect{});
  h.pump();
  EXPECT_TRUE(watcher->take_of<mqtt::Publish>().empty());

  auto rude = h.client(0);
  req.client_id = "rude";
  req.will->topic = "wills/rude";
  h.connect(*rude, req);
  rude->drop();
  h.pump();
  auto got = watcher->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "wills/rude");
}

TEST(BrokerFlow, SharedSubscriptionDeliversEachMessageOnce) {
  BrokerHarness h;
  auto a = h.client(0, ProtocolVersion::V5);
  auto b = h.client(1, ProtocolVersion::V5);
  h.connect(*a, connect_packet("a", ProtocolVersion::V5));
  h.connect(*b, connect_packet("b", ProtocolVersion::V5));
  a->feed(subscribe_packet(1, "$share/g/jobs/#", QoS::AtMostOnce));
  b->feed(subscribe_packet(1, "$share/g/jobs/#", QoS::AtMostOnce));
  h.pump();
  auto pub = h.client(0);
  h.connect(*pub, connect_packet("p"));
  for (int i = 0; i < 10; ++i) pub->feed(publish_packet("jobs/1", std::to_string(i)));
  h.pump();
  auto ga = a->take_of<mqtt::Publish>();
  auto gb = b->take_of<mqtt::Publish>();
  EXPECT_EQ(ga.size() + gb.size(), 10u);
  EXPECT_GT(ga.size(), 0u);
  EXPECT_GT(gb.size(), 0u);
}

TEST(BrokerFlow, NoLocalSkipsOwnMessages) {
  BrokerHarness h;
  auto c = h.client(0, ProtocolVersion::V5);
  h.connect(*c, connect_packet("c", ProtocolVersion::V5));
  auto s = subscribe_packet(1, "t", QoS::AtMostOnce);
  s.subscriptions[0].options.no_local = true;
  c->feed(s);
  h.pump();
  c->take();
  c->feed(publish_packet("t", "mine"));
  h.pump();
  EXPECT_TRUE(c->take_of<mqtt::Publish>().empty());
}

TEST(BrokerFlow, RetainedDeliveredOnSubscribeAndCleared) {
  BrokerHarness h;
  auto pub = h.client(0);
  h.connect(*pub, connect_packet("p"));
  auto r = publish_packet("cfg/a", "v1", QoS::AtLeastOnce, 1);
  r.retain = true;
  pub->feed(r);
  h.pump();
  auto sub = h.client(1);
  h.connect(*sub, connect_packet("s"));
  sub->feed(subscribe_packet(1, "cfg/+", QoS::AtLeastOnce));
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].retain);
  EXPECT_EQ(got[0].payload, "v1");

  r.payload.clear();  // clears the retained message
  r.packet_id = 2;
  pub->feed(r);
  h.pump();
  auto late = h.client(0);
  h.connect(*late, connect_packet("late"));
  late->feed(subscribe_packet(1, "cfg/+", QoS::AtLeastOnce));
  h.pump();
  EXPECT_TRUE(late->take_of<mqtt::Publish>().empty());
}

TEST(BrokerFlow, EmptyClientIdGetsAssignedIdInV5AndRefusedInV311Persistent) {
  BrokerHarness h;
  auto c5 = h.client(0, ProtocolVersion::V5);
  auto ack = h.connect(*c5, connect_packet("", ProtocolVersion::V5));
  EXPECT_EQ(ack.reason, ReasonCode::Success);
  ASSERT_TRUE(ack.properties.assigned_client_identifier.has_value());
  EXPECT_FALSE(ack.properties.assigned_client_identifier->empty());

  auto c3 = h.client(0);
  auto ack3 = h.connect(*c3, connect_packet("", ProtocolVersion::V311, false));
  EXPECT_EQ(mqtt::to_v311_connack_code(ack3.reason), 2);
  h.pump();
  EXPECT_TRUE(c3->transport_closed());
}

TEST(BrokerFlow, TopicAliasInbound) {
  BrokerHarness h;
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("s"));
  sub->feed(subscribe_packet(1, "long/topic/name", QoS::AtMostOnce));
  auto pub = h.client(1, ProtocolVersion::V5);
  h.connect(*pub, connect_packet("p", ProtocolVersion::V5));
  auto p = publish_packet("long/topic/name", "1");
  p.properties.topic_alias = 3;
  pub->feed(p);
  auto q = publish_packet("", "2");
  q.properties.topic_alias = 3;
  pub->feed(q);
  h.pump();
  auto got = sub->take_of<mqtt::Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].topic, "long/topic/name");
  EXPECT_EQ(got[1].payload, "2");
}

}  // namespace
}  // namespace fg::broker::testing

namespace fg::broker::testing {
namespace {

std::string many_publishes(int n, mqtt::QoS qos) {
  std::string bytes;
  for (int i = 1; i <= n; ++i) {
    mqtt::encode(publish_packet("t", std::to_string(i), qos, static_cast<uint16_t>(i)), mqtt::ProtocolVersion::V311,
                 bytes);
  }
  return bytes;
}

TEST(BrokerBackpressure, SlowOnlineSubscriberPausesPublisherInsteadOfDropping) {
  BrokerConfig cfg;
  cfg.max_queued_messages = 10;
  BrokerHarness h(2, cfg);
  auto sub = h.client(0, mqtt::ProtocolVersion::V5);
  auto req = connect_packet("slow", mqtt::ProtocolVersion::V5);
  req.properties.receive_maximum = 1;  // one in flight, never acked here
  h.connect(*sub, req);
  sub->feed(subscribe_packet(1, "t", mqtt::QoS::AtLeastOnce));
  h.pump();
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("fast"));
  pub->feed_bytes(many_publishes(100, mqtt::QoS::AtLeastOnce));
  h.pump();
  auto st = h.broker().stats();
  EXPECT_EQ(st.messages_dropped, 0u) << "a connected subscriber's QoS 1 messages were dropped";
  EXPECT_LT(st.messages_in, 100u) << "the publisher was not paused";
  EXPECT_LE(pub->take_of<mqtt::Puback>().size(), st.messages_in);
}

TEST(BrokerBackpressure, OfflineSubscriberDoesNotSlowPublishers) {
  BrokerConfig cfg;
  cfg.max_queued_messages = 10;
  BrokerHarness h(2, cfg);
  auto sub = h.client(0);
  h.connect(*sub, connect_packet("away", mqtt::ProtocolVersion::V311, false));
  sub->feed(subscribe_packet(1, "t", mqtt::QoS::AtLeastOnce));
  h.pump();
  sub->drop();
  h.pump();
  auto pub = h.client(1);
  h.connect(*pub, connect_packet("fast"));
  pub->feed_bytes(many_publishes(100, mqtt::QoS::AtLeastOnce));
  h.pump();
  auto st = h.broker().stats();
  EXPECT_EQ(st.messages_in, 100u);
  EXPECT_EQ(st.messages_dropped, 90u);  // the documented policy: queue bound, then drop
  EXPECT_EQ(pub->take_of<mqtt::Puback>().size(), 100u);
}

}  // namespace
}  // namespace fg::broker::testing
