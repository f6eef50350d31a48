// ConnectionEvents: what the broker tells the outside about connections, for
// the event log and the connection history (eventlog module, wired in app):
// connects, disconnects with their cause, refused TLS clients, and policy
// denials. The broker only calls; it never waits.
//
// Threading: called on broker worker threads, concurrently. Implementations
// must not block (queue the work) and must outlive the broker.
#pragma once

#include <cstdint>
#include <string_view>

#include "identity/device_identity.hpp"

namespace fg::broker {

// Why a connection ended (AWS IoT lifecycle event disconnectReason).
enum class DisconnectCause : uint8_t {
  ClientInitiated,    // DISCONNECT from the client
  ConnectionLost,     // the network went away
  DuplicateClientId,  // taken over by a new connection with the same client id
  KeepAliveTimeout,
  ClientError,        // protocol error
  ForbiddenAccess,    // a policy or certificate change removed its access
  ServerInitiated,    // shutdown, server limits
};

struct ConnectionFacts {
  std::string_view client_id;
  const identity::DeviceIdentity* identity = nullptr;  // null: plaintext client
  std::string_view source_ip;
};

class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  // A CONNACK accepted the connection; the handle comes back at disconnect.
  virtual uint64_t connected(const ConnectionFacts& facts) = 0;
  virtual void disconnected(uint64_t handle, const ConnectionFacts& facts, DisconnectCause cause) = 0;
  // A TLS client was refused (`reason` says why; never a secret).
  virtual void authentication_failed(std::string_view source_ip, std::string_view reason,
                                     std::string_view certificate_id) = 0;
  virtual void authorization_failed(const ConnectionFacts& facts, std::string_view action,
                                    std::string_view resource) = 0;
};

}  // namespace fg::broker
