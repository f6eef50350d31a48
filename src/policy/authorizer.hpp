// Authorizer: where a connection's compiled policy snapshot comes from. The
// broker asks at CONNECT and again when the control plane says the inputs
// changed (a policy version, an attachment, a group membership, a thing's
// attributes); the registry implements it (registry/policy_authorizer).
//
// An interface of the policy module so that the broker (which asks) and the
// registry (which answers) depend on it rather than on each other.
//
// Threading: snapshot_for() is called on broker worker threads, concurrently;
// implementations serve it from memory (no disk, no network) and return an
// immutable snapshot the worker then reads without locks.
#pragma once

#include <memory>
#include <string>

#include "policy/policy.hpp"

namespace fg::identity {
struct DeviceIdentity;  // identity/device_identity.hpp
}

namespace fg::policy {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // `identity` is null for a client of the plaintext listener (anonymous).
  virtual std::shared_ptr<const PolicySnapshot> snapshot_for(const identity::DeviceIdentity* identity,
                                                                     const std::string& client_id,
                                                                     const std::string& source_ip) = 0;
};

}  // namespace fg::policy
