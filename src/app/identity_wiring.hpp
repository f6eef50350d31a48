// Wiring between the registry (control plane) and the broker (data plane)
// for device identity and authorisation: live enforcement of certificate and
// CA status changes, trust store refreshes, just-in-time registration, and
// policy snapshot refreshes.
#pragma once

#include <boost/asio/io_context.hpp>

#include "broker/broker.hpp"
#include "registry/device_authenticator.hpp"
#include "registry/registry.hpp"

namespace fg::app {

// Registers the observers that keep the broker in step with the registry:
// - a device certificate that stops being ACTIVE (or is deleted) loses its
//   connections at once;
// - a CA certificate change rebuilds the trust store, and a CA that stops
//   being ACTIVE loses every connection chaining to it;
// - a device presenting an unregistered certificate of a registered CA with
//   auto-registration is registered PENDING_ACTIVATION on `control` (never on
//   a broker worker) and announced on $aws/events/certificates/registered/<caId>.
// Everything passed in must outlive the registry's use (observers cannot be
// removed).
void wire_device_identity(registry::Registry& registry, registry::RegistryAuthenticator& authenticator,
                          broker::Broker& broker, boost::asio::io_context& control, std::string account_id);

// Live authorisation: whenever something a policy snapshot depends on
// changes in the registry, every connection's snapshot is recompiled on its
// worker (see Broker::refresh_policies).
void wire_authorization(registry::Registry& registry, broker::Broker& broker);

}  // namespace fg::app
