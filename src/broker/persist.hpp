// Conversions between the broker's in-memory state and the message store's
// plain records (store/message_store.hpp): messages with their forwardable v5
// properties, subscription options, and steady-clock deadlines as wall-clock
// milliseconds (so that expiry survives a restart).
//
// Threading: pure functions, callable anywhere. The loading half lives in
// Broker::attach_store (persist.cpp), run once before the workers start.
#pragma once

#include <cstdint>
#include <string>

#include "broker/message.hpp"
#include "mqtt/packet.hpp"
#include "store/message_store.hpp"

namespace fg::broker {

// Wall-clock ms since the Unix epoch now.
int64_t wall_now_ms();
// A steady-clock deadline as wall-clock ms (0 for "never", time_point::max()).
int64_t to_wall_ms(Clock::time_point t, Clock::time_point now, int64_t wall_now);
// The reverse (0 -> time_point::max()).
Clock::time_point from_wall_ms(int64_t ms, Clock::time_point now, int64_t wall_now);

std::string encode_properties(const mqtt::Properties& p);
mqtt::Properties decode_properties(const std::string& bytes);

uint8_t options_byte(const mqtt::SubscribeOptions& o);
mqtt::SubscribeOptions options_from_byte(uint8_t b);

store::StoredMessage to_stored(const Message& m, int64_t id);
MessagePtr from_stored(const store::StoredMessage& m, Clock::time_point now, int64_t wall_now);

}  // namespace fg::broker
