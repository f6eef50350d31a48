#include "registry/policy_authorizer.hpp"

#include <algorithm>

namespace fg::registry {

std::shared_ptr<const policy::PolicySnapshot> RegistryAuthorizer::snapshot_for(const identity::DeviceIdentity* identity,
                                                                               const std::string& client_id,
                                                                               const std::string& source_ip) {
  policy::ConnectionContext ctx;
  ctx.client_id = client_id;
  ctx.source_ip = source_ip;
  ctx.region = region_;
  ctx.account = account_;

  std::vector<std::shared_ptr<const policy::PolicyDocument>> documents;
  if (identity == nullptr) {
    if (anonymous_policy_.empty()) return policy::PolicySnapshot::deny_all();
    auto p = registry_.get_policy(anonymous_policy_);
    if (!p || p->default_version() == nullptr) return policy::PolicySnapshot::deny_all();
    documents.push_back(p->default_version()->parsed);
    return policy::compile_policies(documents, ctx);
  }

  ctx.certificate_id = identity->certificate_id;
  policy::add_distinguished_name_fields(ctx.certificate_fields, "Subject", identity->subject_fields);
  policy::add_distinguished_name_fields(ctx.certificate_fields, "Issuer", identity->issuer_fields);
  if (!identity->serial_hex.empty()) ctx.certificate_fields["SerialNumber"] = identity->serial_hex;

  // The thing named by the client id, and whether this certificate is
  // attached to it now (not when the device connected: attachments change).
  std::string thing_for_groups;
  if (auto thing = registry_.describe_thing(client_id)) {
    policy::ThingContext t;
    t.name = thing->name;
    t.type_name = thing->thing_type;
    t.attributes.insert(thing->attributes.begin(), thing->attributes.end());
    auto state = registry_.certificate_auth_state(identity->certificate_id);
    const bool attached = state && std::find(state->things.begin(), state->things.end(), client_id) != state->things.end();
    t.attachment = attached ? policy::ThingAttachment::Attached : policy::ThingAttachment::NotAttached;
    if (attached) thing_for_groups = client_id;
    ctx.thing = std::move(t);
  }
  for (auto& [name, doc] : registry_.effective_policies(identity->certificate_id, thing_for_groups)) {
    documents.push_back(std::move(doc));
  }
  if (documents.empty()) return policy::PolicySnapshot::deny_all();
  return policy::compile_policies(documents, ctx);
}

}  // namespace fg::registry
