// RegistryAuthorizer: compiles a connection's policy snapshot from the
// registry (policy::Authorizer). The policies that apply are those attached
// to the device's certificate and, when the client id names a thing attached
// to that certificate, to the thing's groups and their ancestors, as in AWS
// IoT. A plaintext (anonymous) client gets the policy named by
// --anonymous-policy, or nothing (deny all).
//
// Threading: snapshot_for() runs on broker worker threads; it reads the
// registry's in-memory state under its shared lock and compiles (pure).
// Ownership: borrows the Registry, which must outlive it.
#pragma once

#include <string>

#include "policy/authorizer.hpp"
#include "identity/device_identity.hpp"
#include "registry/registry.hpp"

namespace fg::registry {

class RegistryAuthorizer final : public policy::Authorizer {
 public:
  RegistryAuthorizer(const Registry& registry, std::string region, std::string account,
                     std::string anonymous_policy = {})
      : registry_(registry),
        region_(std::move(region)),
        account_(std::move(account)),
        anonymous_policy_(std::move(anonymous_policy)) {}

  std::shared_ptr<const policy::PolicySnapshot> snapshot_for(const identity::DeviceIdentity* identity,
                                                             const std::string& client_id,
                                                             const std::string& source_ip) override;

 private:
  const Registry& registry_;
  const std::string region_, account_, anonymous_policy_;
};

}  // namespace fg::registry
