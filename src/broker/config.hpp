// BrokerConfig: the data plane's limits and defaults. Every limit is also a
// documented policy (see README "Limits and slow subscribers").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace fg::broker {

struct BrokerConfig {
  unsigned workers = 1;
  // Largest packet accepted from a client (CONNACK Maximum Packet Size in v5).
  uint32_t max_packet_size = 1024 * 1024;
  // Topic aliases a v5 client may use towards us.
  uint16_t topic_alias_maximum = 64;
  // Inbound QoS 2 messages a client may have unreleased (v5 Receive Maximum).
  uint16_t receive_maximum = 1024;
  // Outbound QoS 1/2 messages in flight (unacknowledged) per session; capped
  // by the client's own Receive Maximum in v5.
  uint16_t max_inflight = 256;
  // QoS 1/2 messages held per session beyond the in-flight window, online or
  // offline. Past it new messages for that session are dropped and counted.
  size_t max_queued_messages = 1000;
  // Bytes waiting in a connection's write buffer past which QoS 0 messages
  // for it are dropped (and counted) instead of growing memory.
  size_t max_outbound_bytes = 1024 * 1024;
  // Largest keepalive accepted; a v5 client asking for more (or 0) is told the
  // Server Keep Alive. 0 = accept what the client asks.
  uint16_t max_keepalive = 0;
  // Longest session expiry granted to v5 clients (seconds); 3.1.1 persistent
  // sessions never expire.
  uint32_t max_session_expiry = 0xFFFFFFFF;
  // A connection that has not completed CONNECT by then is closed.
  std::chrono::seconds connect_timeout{10};
};

}  // namespace fg::broker
