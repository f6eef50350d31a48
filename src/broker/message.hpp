// Message: one application message being routed. Immutable once built and
// shared (shared_ptr<const Message>) by every delivery, every offline queue and
// the retained store, across workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "mqtt/packet.hpp"

namespace fg::broker {

using Clock = std::chrono::steady_clock;

struct Message {
  std::string topic;
  std::string payload;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  bool retain = false;
  // Forwardable v5 properties (payload format, content type, response topic,
  // correlation data, user properties). Topic alias, subscription identifiers
  // and message expiry are per delivery and never stored here.
  mqtt::Properties properties;
  Clock::time_point expires_at = Clock::time_point::max();
  uint64_t origin_session = 0;  // for No Local

  bool expired(Clock::time_point now) const { return now >= expires_at; }
  // Seconds left of the message expiry interval, if it has one.
  std::optional<uint32_t> remaining_expiry(Clock::time_point now) const {
    if (expires_at == Clock::time_point::max()) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(expires_at - now).count();
    return static_cast<uint32_t>(left > 0 ? left : 0);
  }
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace fg::broker
