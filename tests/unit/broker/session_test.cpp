// Session packet id allocation and in-flight bookkeeping.
#include "broker/session.hpp"

#include <gtest/gtest.h>

#include <set>

namespace fg::broker {
namespace {

Inflight in_flight(uint16_t id) {
  Inflight f;
  f.packet_id = id;
  return f;
}

TEST(Session, PacketIdsSkipIdsInFlightAcrossTheWrap) {
  Session s(1, "c", 0);
  // Fill a large window (the bitmap path), then wrap the counter around it.
  std::set<uint16_t> used;
  for (int i = 0; i < 1000; ++i) {
    uint16_t id = s.next_packet_id();
    ASSERT_NE(id, 0);
    ASSERT_TRUE(used.insert(id).second) << "id " << id << " handed out twice";
    s.add_inflight(in_flight(id));
  }
  // Acknowledge every other one, out of order.
  for (size_t i = s.inflight.size(); i-- > 0;) {
    if (i % 2 == 0) {
      used.erase(s.inflight[i].packet_id);
      s.erase_inflight(i);
    }
  }
  ASSERT_EQ(s.inflight.size(), 500u);
  // 65,535 more ids: none may collide with the 500 still in flight.
  for (int i = 0; i < 65535; ++i) {
    uint16_t id = s.next_packet_id();
    ASSERT_NE(id, 0);
    ASSERT_EQ(used.count(id), 0u) << "id " << id << " is still in flight";
  }
}

TEST(Session, SmallWindowUsesTheScanAndStaysCorrect) {
  Session s(1, "c", 0);
  s.add_inflight(in_flight(s.next_packet_id()));  // 1
  s.last_packet_id = 65535;                       // force the wrap onto id 1
  EXPECT_EQ(s.next_packet_id(), 2);               // 0 is never used, 1 is in flight
  s.erase_inflight(0);
  s.last_packet_id = 0;
  EXPECT_EQ(s.next_packet_id(), 1);
  EXPECT_EQ(s.find_inflight(1, Inflight::State::AwaitPuback), -1);
}

}  // namespace
}  // namespace fg::broker
