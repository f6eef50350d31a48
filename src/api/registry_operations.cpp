#include "api/registry_operations.hpp"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "api/pagination.hpp"

namespace fg::api {

using nlohmann::json;
using registry::RegistryError;

ApiError to_api_error(const RegistryError& e) {
  using K = RegistryError::Kind;
  switch (e.kind) {
    case K::ResourceNotFound: return ApiError{404, "ResourceNotFoundException", e.message};
    case K::InvalidRequest: return ApiError{400, "InvalidRequestException", e.message};
    case K::ResourceAlreadyExists: return ApiError{409, "ResourceAlreadyExistsException", e.message};
    case K::VersionConflict: return ApiError{409, "VersionConflictException", e.message};
    case K::LimitExceeded: return ApiError{410, "LimitExceededException", e.message};
    case K::CertificateState: return ApiError{406, "CertificateStateException", e.message};
    case K::DeleteConflict: return ApiError{409, "DeleteConflictException", e.message};
    case K::Internal: return ApiError{500, "InternalFailureException", e.message};
    case K::MalformedPolicy: return ApiError{400, "MalformedPolicyException", e.message};
    case K::VersionsLimitExceeded: return ApiError{409, "VersionsLimitExceededException", e.message};
  }
  return ApiError{500, "InternalFailureException", e.message};
}

namespace {

constexpr std::size_t kDefaultPageSize = 100;

template <class T>
ApiResult<T> lift(Result<T, RegistryError> r) {
  if (!r) return fail(to_api_error(r.error()));
  return std::move(*r);
}

std::optional<std::string> opt_string(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> opt_int(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

bool flag(const json& in, const char* name) {
  auto it = in.find(name);
  return it != in.end() && it->is_boolean() && it->get<bool>();
}

std::size_t page_size(const json& in, const char* name = "maxResults") {
  auto v = opt_int(in, name);
  return v ? static_cast<std::size_t>(*v) : kDefaultPageSize;
}

registry::Attributes attributes_of(const json& payload) {
  registry::Attributes out;
  if (payload.is_object() && payload.contains("attributes") && payload["attributes"].is_object())
    for (const auto& [k, v] : payload["attributes"].items())
      if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

registry::AttributePayload attribute_payload_of(const json& payload) {
  registry::AttributePayload p;
  p.attributes = attributes_of(payload);
  p.merge = flag(payload, "merge") ? registry::AttributeMerge::Merge : registry::AttributeMerge::Replace;
  return p;
}

ApiResult<json> no_tags(const json& in) {
  if (in.contains("tags") && in["tags"].is_array() && !in["tags"].empty())
    return fail(invalid_request("Tags are not supported by fleetguard yet"));
  return json::object();
}

// The name in an ARN "arn:aws:iot:<region>:<account>:<resource>/<name>".
std::optional<std::string> name_from_arn(const std::string& arn, const std::string& resource) {
  std::string marker = ":" + resource + "/";
  auto pos = arn.find(marker);
  if (arn.compare(0, 12, "arn:aws:iot:") != 0 || pos == std::string::npos) return std::nullopt;
  std::string name = arn.substr(pos + marker.size());
  if (name.empty()) return std::nullopt;
  return name;
}

ApiResult<std::string> name_or_arn(const json& in, const char* name_member, const char* arn_member,
                                   const std::string& resource) {
  if (auto n = opt_string(in, name_member)) return *n;
  if (auto a = opt_string(in, arn_member)) {
    if (auto n = name_from_arn(*a, resource)) return *n;
    return fail(invalid_request(std::string(arn_member) + " is not a " + resource + " ARN"));
  }
  return fail(invalid_request(std::string("Either ") + name_member + " or " + arn_member + " is required"));
}

std::string pad_time(int64_t t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(t));
  return buf;
}

template <class T, class KeyFn, class ItemFn>
ApiResult<json> page_of(const std::vector<T>& items, KeyFn key, ItemFn item, const json& in, const char* list_member,
                        const char* token_in = "nextToken", const char* token_out = "nextToken",
                        const char* max_member = "maxResults", SortOrder order = SortOrder::Ascending) {
  std::vector<std::string> keys;
  keys.reserve(items.size());
  for (const auto& i : items) keys.push_back(key(i));
  auto range = paginate(keys, opt_string(in, token_in), page_size(in, max_member), order);
  if (!range) return fail(range.error());
  json out = json::object();
  json list = json::array();
  for (std::size_t i = range->begin; i < range->end; ++i) list.push_back(item(items[i]));
  out[list_member] = std::move(list);
  if (range->next_token) out[token_out] = *range->next_token;
  return out;
}

std::string identity(const std::string& s) { return s; }

class Operations {
 public:
  Operations(registry::Registry& reg, RegistryApiConfig cfg) : reg_(reg), cfg_(std::move(cfg)) {}

  // ---- things
  ApiResult<json> create_thing(const OperationContext& c) {
    const json& in = c.input;
    if (in.contains("billingGroupName")) return fail(invalid_request("Billing groups are not supported by fleetguard"));
    auto t = lift(reg_.create_thing(in["thingName"].get<std::string>(), opt_string(in, "thingTypeName").value_or(""),
                                    attributes_of(in.value("attributePayload", json::object()))));
    if (!t) return fail(t.error());
    return json{{"thingName", t->name}, {"thingArn", t->arn}, {"thingId", t->id}};
  }

  static json thing_json(const registry::Thing& t, bool describe) {
    json j{{"thingName", t.name}, {"thingArn", t.arn}, {"attributes", t.attributes}, {"version", t.version}};
    if (!t.thing_type.empty()) j["thingTypeName"] = t.thing_type;
    if (describe) {
      j["thingId"] = t.id;
      j["defaultClientId"] = t.name;
    }
    return j;
  }

  ApiResult<json> describe_thing(const OperationContext& c) {
    auto t = lift(reg_.describe_thing(c.input["thingName"].get<std::string>()));
    if (!t) return fail(t.error());
    return thing_json(*t, true);
  }

  ApiResult<json> update_thing(const OperationContext& c) {
    const json& in = c.input;
    registry::ThingUpdate u;
    u.thing_type = opt_string(in, "thingTypeName");
    u.remove_thing_type = flag(in, "removeThingType");
    if (in.contains("attributePayload")) u.attribute_payload = attribute_payload_of(in["attributePayload"]);
    u.expected_version = opt_int(in, "expectedVersion");
    auto t = lift(reg_.update_thing(in["thingName"].get<std::string>(), u));
    if (!t) return fail(t.error());
    return json::object();
  }

  ApiResult<json> delete_thing(const OperationContext& c) {
    auto r = lift(reg_.delete_thing(c.input["thingName"].get<std::string>(), opt_int(c.input, "expectedVersion")));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_things(const OperationContext& c) {
    const json& in = c.input;
    registry::ThingFilter f;
    f.attribute_name = opt_string(in, "attributeName");
    auto value = opt_string(in, "attributeValue");
    if (value && !f.attribute_name) return fail(invalid_request("attributeValue requires attributeName"));
    bool prefix = flag(in, "usePrefixAttributeValue");
    if (prefix && !value) return fail(invalid_request("usePrefixAttributeValue requires attributeValue"));
    if (!prefix) f.attribute_value = value;
    f.thing_type = opt_string(in, "thingTypeName");
    auto things = reg_.list_things(f);
    if (prefix) {
      std::erase_if(things, [&](const registry::Thing& t) {
        auto it = t.attributes.find(*f.attribute_name);
        return it == t.attributes.end() || it->second.compare(0, value->size(), *value) != 0;
      });
    }
    return page_of(
        things, [](const registry::Thing& t) { return t.name; },
        [](const registry::Thing& t) { return thing_json(t, false); }, in, "things");
  }

  // ---- thing types
  static json thing_type_json(const registry::ThingType& t, bool describe) {
    json props{{"searchableAttributes", t.searchable_attributes}};
    if (!t.description.empty()) props["thingTypeDescription"] = t.description;
    json meta{{"deprecated", t.deprecated}, {"creationDate", t.creation_date}};
    if (t.deprecated) meta["deprecationDate"] = t.deprecation_date;
    json j{{"thingTypeName", t.name}, {"thingTypeArn", t.arn}, {"thingTypeProperties", props},
           {"thingTypeMetadata", meta}};
    if (describe) j["thingTypeId"] = t.id;
    return j;
  }

  ApiResult<json> create_thing_type(const OperationContext& c) {
    const json& in = c.input;
    if (auto t = no_tags(in); !t) return t;
    registry::ThingTypeProperties p;
    if (in.contains("thingTypeProperties")) {
      const json& pj = in["thingTypeProperties"];
      p.description = opt_string(pj, "thingTypeDescription").value_or("");
      if (pj.contains("searchableAttributes"))
        p.searchable_attributes = pj["searchableAttributes"].get<std::vector<std::string>>();
    }
    auto t = lift(reg_.create_thing_type(in["thingTypeName"].get<std::string>(), p));
    if (!t) return fail(t.error());
    return json{{"thingTypeName", t->name}, {"thingTypeArn", t->arn}, {"thingTypeId", t->id}};
  }

  ApiResult<json> describe_thing_type(const OperationContext& c) {
    auto t = lift(reg_.describe_thing_type(c.input["thingTypeName"].get<std::string>()));
    if (!t) return fail(t.error());
    return thing_type_json(*t, true);
  }

  ApiResult<json> list_thing_types(const OperationContext& c) {
    auto types = reg_.list_thing_types();
    if (auto name = opt_string(c.input, "thingTypeName"))
      std::erase_if(types, [&](const registry::ThingType& t) { return t.name != *name; });
    return page_of(
        types, [](const registry::ThingType& t) { return t.name; },
        [](const registry::ThingType& t) { return thing_type_json(t, false); }, c.input, "thingTypes");
  }

  ApiResult<json> deprecate_thing_type(const OperationContext& c) {
    auto r = lift(reg_.deprecate_thing_type(c.input["thingTypeName"].get<std::string>(),
                                            flag(c.input, "undoDeprecate") ? registry::Deprecation::Undeprecate
                                                                           : registry::Deprecation::Deprecate));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> delete_thing_type(const OperationContext& c) {
    auto r = lift(reg_.delete_thing_type(c.input["thingTypeName"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  // ---- thing groups
  json group_ref(const std::string& name) {
    auto g = reg_.describe_thing_group(name);
    return json{{"groupName", name}, {"groupArn", g ? g->arn : std::string()}};
  }

  ApiResult<json> create_thing_group(const OperationContext& c) {
    const json& in = c.input;
    if (auto t = no_tags(in); !t) return t;
    registry::ThingGroupProperties p;
    if (in.contains("thingGroupProperties")) {
      const json& pj = in["thingGroupProperties"];
      p.description = opt_string(pj, "thingGroupDescription").value_or("");
      p.attributes = attributes_of(pj.value("attributePayload", json::object()));
    }
    auto g = lift(reg_.create_thing_group(in["thingGroupName"].get<std::string>(), opt_string(in, "parentGroupName"), p));
    if (!g) return fail(g.error());
    return json{{"thingGroupName", g->name}, {"thingGroupArn", g->arn}, {"thingGroupId", g->id}};
  }

  ApiResult<json> describe_thing_group(const OperationContext& c) {
    auto g = lift(reg_.describe_thing_group(c.input["thingGroupName"].get<std::string>()));
    if (!g) return fail(g.error());
    json props{{"attributePayload", json{{"attributes", g->attributes}}}};
    if (!g->description.empty()) props["thingGroupDescription"] = g->description;
    json meta{{"creationDate", g->creation_date}};
    if (!g->parent.empty()) {
      meta["parentGroupName"] = g->parent;
      auto chain = reg_.ancestors(g->name);  // parent first
      json roots = json::array();
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) roots.push_back(group_ref(*it));
      meta["rootToParentThingGroups"] = std::move(roots);
    }
    return json{{"thingGroupName", g->name}, {"thingGroupId", g->id}, {"thingGroupArn", g->arn},
                {"version", g->version}, {"thingGroupProperties", props}, {"thingGroupMetadata", meta}};
  }

  ApiResult<json> update_thing_group(const OperationContext& c) {
    const json& in = c.input;
    registry::ThingGroupUpdate u;
    const json& pj = in["thingGroupProperties"];
    u.description = opt_string(pj, "thingGroupDescription");
    if (pj.contains("attributePayload")) u.attribute_payload = attribute_payload_of(pj["attributePayload"]);
    u.expected_version = opt_int(in, "expectedVersion");
    auto g = lift(reg_.update_thing_group(in["thingGroupName"].get<std::string>(), u));
    if (!g) return fail(g.error());
    return json{{"version", g->version}};
  }

  ApiResult<json> delete_thing_group(const OperationContext& c) {
    auto r = lift(reg_.delete_thing_group(c.input["thingGroupName"].get<std::string>(),
                                          opt_int(c.input, "expectedVersion")));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_thing_groups(const OperationContext& c) {
    const json& in = c.input;
    auto parent = opt_string(in, "parentGroup");
    if (parent) {
      auto p = lift(reg_.describe_thing_group(*parent));
      if (!p) return fail(p.error());
    }
    auto groups = reg_.list_thing_groups(parent, flag(in, "recursive") ? registry::Recursion::Recursive
                                                                       : registry::Recursion::Direct);
    if (auto prefix = opt_string(in, "namePrefixFilter"))
      std::erase_if(groups, [&](const registry::ThingGroup& g) { return g.name.compare(0, prefix->size(), *prefix) != 0; });
    return page_of(
        groups, [](const registry::ThingGroup& g) { return g.name; },
        [](const registry::ThingGroup& g) { return json{{"groupName", g.name}, {"groupArn", g.arn}}; }, in,
        "thingGroups");
  }

  ApiResult<json> add_thing_to_thing_group(const OperationContext& c) {
    auto group = name_or_arn(c.input, "thingGroupName", "thingGroupArn", "thinggroup");
    if (!group) return fail(group.error());
    auto thing = name_or_arn(c.input, "thingName", "thingArn", "thing");
    if (!thing) return fail(thing.error());
    auto r = lift(reg_.add_thing_to_thing_group(*group, *thing));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> remove_thing_from_thing_group(const OperationContext& c) {
    auto group = name_or_arn(c.input, "thingGroupName", "thingGroupArn", "thinggroup");
    if (!group) return fail(group.error());
    auto thing = name_or_arn(c.input, "thingName", "thingArn", "thing");
    if (!thing) return fail(thing.error());
    auto r = lift(reg_.remove_thing_from_thing_group(*group, *thing));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_things_in_thing_group(const OperationContext& c) {
    auto things = lift(reg_.list_things_in_thing_group(
        c.input["thingGroupName"].get<std::string>(),
        flag(c.input, "recursive") ? registry::Recursion::Recursive : registry::Recursion::Direct));
    if (!things) return fail(things.error());
    return page_of(*things, identity, identity, c.input, "things");
  }

  ApiResult<json> list_thing_groups_for_thing(const OperationContext& c) {
    auto groups = lift(reg_.list_thing_groups_for_thing(c.input["thingName"].get<std::string>()));
    if (!groups) return fail(groups.error());
    return page_of(*groups, identity, [this](const std::string& g) { return group_ref(g); }, c.input, "thingGroups");
  }

  ApiResult<json> update_thing_groups_for_thing(const OperationContext& c) {
    const json& in = c.input;
    auto thing_name = opt_string(in, "thingName");
    if (!thing_name) return fail(invalid_request("thingName is required"));
    auto t = lift(reg_.describe_thing(*thing_name));
    if (!t) return fail(t.error());
    std::vector<std::string> add, remove;
    if (in.contains("thingGroupsToAdd")) add = in["thingGroupsToAdd"].get<std::vector<std::string>>();
    if (in.contains("thingGroupsToRemove")) remove = in["thingGroupsToRemove"].get<std::vector<std::string>>();
    // Check every group first so that a bad name changes nothing.
    for (const auto* list : {&add, &remove})
      for (const auto& g : *list)
        if (auto d = lift(reg_.describe_thing_group(g)); !d) return fail(d.error());
    for (const auto& g : remove)
      if (auto r = lift(reg_.remove_thing_from_thing_group(g, *thing_name)); !r) return fail(r.error());
    for (const auto& g : add)
      if (auto r = lift(reg_.add_thing_to_thing_group(g, *thing_name)); !r) return fail(r.error());
    return json::object();
  }

  // ---- certificates
  static registry::ActivationOnCreate activation(const json& in) {
    return flag(in, "setAsActive") ? registry::ActivationOnCreate::Active : registry::ActivationOnCreate::Inactive;
  }

  ApiResult<json> create_keys_and_certificate(const OperationContext& c) {
    auto k = lift(reg_.create_keys_and_certificate(activation(c.input)));
    if (!k) return fail(k.error());
    const auto& cert = k->certificate;
    return json{{"certificateArn", cert.arn},
                {"certificateId", cert.id},
                {"certificatePem", cert.pem},
                {"keyPair", json{{"PublicKey", k->public_key_pem}, {"PrivateKey", k->private_key_pem}}}};
  }

  ApiResult<json> create_certificate_from_csr(const OperationContext& c) {
    auto cert = lift(reg_.create_certificate_from_csr(c.input["certificateSigningRequest"].get<std::string>(),
                                                      activation(c.input)));
    if (!cert) return fail(cert.error());
    return json{{"certificateArn", cert->arn}, {"certificateId", cert->id}, {"certificatePem", cert->pem}};
  }

  ApiResult<json> register_certificate(const OperationContext& c) {
    const json& in = c.input;
    auto status = registry::CertificateStatus::Inactive;
    if (auto s = opt_string(in, "status")) status = *registry::parse_certificate_status(*s);
    else if (flag(in, "setAsActive")) status = registry::CertificateStatus::Active;
    auto cert = lift(reg_.register_certificate(in["certificatePem"].get<std::string>(), status));
    if (!cert) return fail(cert.error());
    return json{{"certificateArn", cert->arn}, {"certificateId", cert->id}};
  }

  static std::string certificate_id(const json& in) {
    std::string id = in["certificateId"].get<std::string>();
    if (id.compare(0, 2, "0x") == 0) id = id.substr(2);
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return id;
  }

  ApiResult<json> describe_certificate(const OperationContext& c) {
    auto cert = lift(reg_.describe_certificate(certificate_id(c.input)));
    if (!cert) return fail(cert.error());
    json d{{"certificateArn", cert->arn},
           {"certificateId", cert->id},
           {"caCertificateId", cert->ca_certificate_id},
           {"status", registry::to_string(cert->status)},
           {"certificatePem", cert->pem},
           {"ownedBy", cert->owned_by},
           {"creationDate", cert->creation_date},
           {"lastModifiedDate", cert->last_modified_date},
           {"customerVersion", cert->version},
           {"generationId", std::to_string(cert->version)},
           {"validity", json{{"notBefore", cert->not_before}, {"notAfter", cert->not_after}}},
           {"certificateMode", "DEFAULT"}};
    return json{{"certificateDescription", d}};
  }

  // ListCertificates, ListCertificatesByCA, ListCACertificates: newest first
  // unless ascendingOrder, paged by marker / pageSize.
  template <class Cert>
  static ApiResult<json> certificate_page(std::vector<Cert> certs, const json& in) {
    SortOrder order = flag(in, "ascendingOrder") ? SortOrder::Ascending : SortOrder::Descending;
    if (order == SortOrder::Descending) std::reverse(certs.begin(), certs.end());
    return page_of(
        certs, [](const Cert& x) { return pad_time(x.creation_date) + "|" + x.id; },
        [](const Cert& x) {
          json j{{"certificateArn", x.arn}, {"certificateId", x.id}, {"status", registry::to_string(x.status)},
                 {"creationDate", x.creation_date}};
          if constexpr (std::is_same_v<Cert, registry::Certificate>) j["certificateMode"] = "DEFAULT";
          return j;
        },
        in, "certificates", "marker", "nextMarker", "pageSize", order);
  }

  ApiResult<json> list_certificates(const OperationContext& c) {
    return certificate_page(reg_.list_certificates(), c.input);  // ascending by creation date, then id
  }

  ApiResult<json> update_certificate(const OperationContext& c) {
    auto status = registry::parse_certificate_status(c.input["newStatus"].get<std::string>());
    if (!status) return fail(invalid_request("newStatus is not a certificate status"));
    auto cert = lift(reg_.update_certificate(certificate_id(c.input), *status));
    if (!cert) return fail(cert.error());
    return json::object();
  }

  ApiResult<json> delete_certificate(const OperationContext& c) {
    auto r = lift(reg_.delete_certificate(certificate_id(c.input),
                                          flag(c.input, "forceDelete") ? registry::ForceDelete::Yes
                                                                       : registry::ForceDelete::No));
    if (!r) return fail(r.error());
    return json::object();
  }

  // ---- principals
  ApiResult<json> attach_thing_principal(const OperationContext& c) {
    auto r = lift(reg_.attach_thing_principal(c.input["thingName"].get<std::string>(),
                                              c.input["principal"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> detach_thing_principal(const OperationContext& c) {
    auto r = lift(reg_.detach_thing_principal(c.input["thingName"].get<std::string>(),
                                              c.input["principal"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_thing_principals(const OperationContext& c) {
    auto p = lift(reg_.list_thing_principals(c.input["thingName"].get<std::string>()));
    if (!p) return fail(p.error());
    return page_of(*p, identity, identity, c.input, "principals");
  }

  ApiResult<json> list_principal_things(const OperationContext& c) {
    auto t = lift(reg_.list_principal_things(c.input["principal"].get<std::string>()));
    if (!t) return fail(t.error());
    return page_of(*t, identity, identity, c.input, "things");
  }

  // ---- endpoint
  ApiResult<json> describe_endpoint(const OperationContext& c) {
    std::string type = opt_string(c.input, "endpointType").value_or("iot:Data");
    if (type != "iot:Data" && type != "iot:Data-ATS")
      return fail(invalid_request("Endpoint type " + type.substr(0, 64) + " is not supported by fleetguard"));
    if (cfg_.data_endpoint.empty())
      return fail(resource_not_found("This node has no MQTT TLS listener (--mqtts-port -1)"));
    return json{{"endpointAddress", cfg_.data_endpoint}};
  }

  // ---- policies
  ApiResult<json> create_policy(const OperationContext& c) {
    if (auto t = no_tags(c.input); !t) return fail(t.error());
    auto p = lift(reg_.create_policy(c.input["policyName"].get<std::string>(),
                                     c.input["policyDocument"].get<std::string>()));
    if (!p) return fail(p.error());
    return json{{"policyName", p->name}, {"policyArn", p->arn}, {"policyDocument", p->default_version()->document},
                {"policyVersionId", p->default_version_id}};
  }

  ApiResult<json> get_policy(const OperationContext& c) {
    auto p = lift(reg_.get_policy(c.input["policyName"].get<std::string>()));
    if (!p) return fail(p.error());
    return json{{"policyName", p->name},
                {"policyArn", p->arn},
                {"policyDocument", p->default_version()->document},
                {"defaultVersionId", p->default_version_id},
                {"creationDate", p->creation_date},
                {"lastModifiedDate", p->last_modified_date},
                {"generationId", std::to_string(p->generation_id)}};
  }

  ApiResult<json> list_policies(const OperationContext& c) {
    auto policies = reg_.list_policies();  // by name
    SortOrder order = c.input.contains("ascendingOrder") && !flag(c.input, "ascendingOrder") ? SortOrder::Descending
                                                                                              : SortOrder::Ascending;
    if (order == SortOrder::Descending) std::reverse(policies.begin(), policies.end());
    return page_of(
        policies, [](const registry::Policy& p) { return p.name; },
        [](const registry::Policy& p) { return json{{"policyName", p.name}, {"policyArn", p.arn}}; }, c.input,
        "policies", "marker", "nextMarker", "pageSize", order);
  }

  ApiResult<json> delete_policy(const OperationContext& c) {
    auto r = lift(reg_.delete_policy(c.input["policyName"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> create_policy_version(const OperationContext& c) {
    const std::string name = c.input["policyName"].get<std::string>();
    auto v = lift(reg_.create_policy_version(name, c.input["policyDocument"].get<std::string>(),
                                             flag(c.input, "setAsDefault") ? registry::SetAsDefault::Yes
                                                                           : registry::SetAsDefault::No));
    if (!v) return fail(v.error());
    return json{{"policyArn", policy_arn(name)},
                {"policyDocument", v->document},
                {"policyVersionId", v->version_id},
                {"isDefaultVersion", flag(c.input, "setAsDefault")}};
  }

  ApiResult<json> get_policy_version(const OperationContext& c) {
    auto p = lift(reg_.get_policy(c.input["policyName"].get<std::string>()));
    if (!p) return fail(p.error());
    const std::string id = c.input["policyVersionId"].get<std::string>();
    for (const auto& v : p->versions) {
      if (v.version_id != id) continue;
      return json{{"policyArn", p->arn},
                  {"policyName", p->name},
                  {"policyDocument", v.document},
                  {"policyVersionId", v.version_id},
                  {"isDefaultVersion", v.version_id == p->default_version_id},
                  {"creationDate", v.create_date},
                  {"lastModifiedDate", p->last_modified_date},
                  {"generationId", std::to_string(p->generation_id)}};
    }
    return fail(resource_not_found("policy " + p->name + " has no version " + id));
  }

  ApiResult<json> list_policy_versions(const OperationContext& c) {
    auto p = lift(reg_.get_policy(c.input["policyName"].get<std::string>()));
    if (!p) return fail(p.error());
    json versions = json::array();
    for (auto it = p->versions.rbegin(); it != p->versions.rend(); ++it) {  // newest first, as AWS
      versions.push_back(json{{"versionId", it->version_id},
                              {"isDefaultVersion", it->version_id == p->default_version_id},
                              {"createDate", it->create_date}});
    }
    return json{{"policyVersions", versions}};
  }

  ApiResult<json> delete_policy_version(const OperationContext& c) {
    auto r = lift(reg_.delete_policy_version(c.input["policyName"].get<std::string>(),
                                             c.input["policyVersionId"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> set_default_policy_version(const OperationContext& c) {
    auto r = lift(reg_.set_default_policy_version(c.input["policyName"].get<std::string>(),
                                                  c.input["policyVersionId"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> attach_policy(const OperationContext& c) {
    auto r = lift(reg_.attach_policy(c.input["policyName"].get<std::string>(), c.input["target"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> detach_policy(const OperationContext& c) {
    auto r = lift(reg_.detach_policy(c.input["policyName"].get<std::string>(), c.input["target"].get<std::string>()));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_attached_policies(const OperationContext& c) {
    auto names = lift(reg_.list_attached_policies(c.input["target"].get<std::string>(),
                                                  flag(c.input, "recursive") ? registry::Recursion::Recursive
                                                                             : registry::Recursion::Direct));
    if (!names) return fail(names.error());
    return page_of(
        *names, identity, [this](const std::string& n) { return json{{"policyName", n}, {"policyArn", policy_arn(n)}}; },
        c.input, "policies", "marker", "nextMarker", "pageSize");
  }

  ApiResult<json> list_targets_for_policy(const OperationContext& c) {
    auto targets = lift(reg_.list_targets_for_policy(c.input["policyName"].get<std::string>()));
    if (!targets) return fail(targets.error());
    return page_of(
        *targets, identity, [](const std::string& t) { return json(t); }, c.input, "targets", "marker", "nextMarker",
        "pageSize");
  }

  // ---- CA certificates
  static json ca_description(const registry::CaCertificate& ca) {
    return json{{"certificateArn", ca.arn},
                {"certificateId", ca.id},
                {"status", registry::to_string(ca.status)},
                {"certificatePem", ca.pem},
                {"ownedBy", ca.owned_by},
                {"creationDate", ca.creation_date},
                {"autoRegistrationStatus", registry::to_string(ca.auto_registration)},
                {"lastModifiedDate", ca.last_modified_date},
                {"customerVersion", ca.version},
                {"generationId", std::to_string(ca.version)},
                {"validity", json{{"notBefore", ca.not_before}, {"notAfter", ca.not_after}}},
                {"certificateMode", ca.certificate_mode}};
  }

  ApiResult<json> register_ca_certificate(const OperationContext& c) {
    const json& in = c.input;
    if (auto t = no_tags(in); !t) return fail(t.error());
    if (in.contains("registrationConfig")) {
      return fail(invalid_request("registrationConfig (provisioning templates) is not supported by fleetguard"));
    }
    registry::RegisterCaCertificateRequest r;
    r.ca_certificate_pem = in["caCertificate"].get<std::string>();
    r.verification_certificate_pem = opt_string(in, "verificationCertificate");
    auto mode = opt_string(in, "certificateMode").value_or("DEFAULT");
    if (mode == "DEFAULT" && !r.verification_certificate_pem) {
      return fail(invalid_request("verificationCertificate is required in DEFAULT certificateMode "
                                  "(or register with certificateMode SNI_ONLY)"));
    }
    if (mode == "SNI_ONLY") r.verification_certificate_pem.reset();
    r.activation = activation(in);
    r.auto_registration = flag(in, "allowAutoRegistration") ? registry::AutoRegistration::Enable
                                                            : registry::AutoRegistration::Disable;
    auto ca = lift(reg_.register_ca_certificate(r));
    if (!ca) return fail(ca.error());
    return json{{"certificateArn", ca->arn}, {"certificateId", ca->id}};
  }

  ApiResult<json> describe_ca_certificate(const OperationContext& c) {
    auto ca = lift(reg_.describe_ca_certificate(certificate_id(c.input)));
    if (!ca) return fail(ca.error());
    return json{{"certificateDescription", ca_description(*ca)}};
  }

  ApiResult<json> update_ca_certificate(const OperationContext& c) {
    const json& in = c.input;
    registry::CaCertificateUpdate u;
    if (auto s = opt_string(in, "newStatus")) {
      u.status = registry::parse_ca_certificate_status(*s);
      if (!u.status) return fail(invalid_request("newStatus must be ACTIVE or INACTIVE"));
    }
    if (auto s = opt_string(in, "newAutoRegistrationStatus")) {
      u.auto_registration = registry::parse_auto_registration(*s);
      if (!u.auto_registration) return fail(invalid_request("newAutoRegistrationStatus must be ENABLE or DISABLE"));
    }
    auto ca = lift(reg_.update_ca_certificate(certificate_id(in), u));
    if (!ca) return fail(ca.error());
    return json::object();
  }

  ApiResult<json> delete_ca_certificate(const OperationContext& c) {
    auto r = lift(reg_.delete_ca_certificate(certificate_id(c.input)));
    if (!r) return fail(r.error());
    return json::object();
  }

  ApiResult<json> list_ca_certificates(const OperationContext& c) {
    return certificate_page(reg_.list_ca_certificates(), c.input);
  }

  ApiResult<json> list_certificates_by_ca(const OperationContext& c) {
    return certificate_page(reg_.list_certificates_by_ca(c.input["caCertificateId"].get<std::string>()), c.input);
  }

  ApiResult<json> get_registration_code(const OperationContext&) {
    auto code = lift(reg_.registration_code());
    if (!code) return fail(code.error());
    return json{{"registrationCode", *code}};
  }

 private:
  std::string policy_arn(const std::string& name) const {
    auto p = reg_.get_policy(name);
    return p ? p->arn : std::string();
  }

  registry::Registry& reg_;
  RegistryApiConfig cfg_;
};

}  // namespace

void add_registry_operations(ApiService& service, registry::Registry& registry, RegistryApiConfig cfg) {
  auto ops = std::make_shared<Operations>(registry, std::move(cfg));
  auto add = [&](const char* name, ApiResult<json> (Operations::*fn)(const OperationContext&)) {
    service.add_operation(name, [ops, fn](const OperationContext& c) { return ((*ops).*fn)(c); });
  };
  add("CreateThing", &Operations::create_thing);
  add("DescribeThing", &Operations::describe_thing);
  add("UpdateThing", &Operations::update_thing);
  add("DeleteThing", &Operations::delete_thing);
  add("ListThings", &Operations::list_things);
  add("CreateThingType", &Operations::create_thing_type);
  add("DescribeThingType", &Operations::describe_thing_type);
  add("ListThingTypes", &Operations::list_thing_types);
  add("DeprecateThingType", &Operations::deprecate_thing_type);
  add("DeleteThingType", &Operations::delete_thing_type);
  add("CreateThingGroup", &Operations::create_thing_group);
  add("DescribeThingGroup", &Operations::describe_thing_group);
  add("UpdateThingGroup", &Operations::update_thing_group);
  add("DeleteThingGroup", &Operations::delete_thing_group);
  add("ListThingGroups", &Operations::list_thing_groups);
  add("AddThingToThingGroup", &Operations::add_thing_to_thing_group);
  add("RemoveThingFromThingGroup", &Operations::remove_thing_from_thing_group);
  add("ListThingsInThingGroup", &Operations::list_things_in_thing_group);
  add("ListThingGroupsForThing", &Operations::list_thing_groups_for_thing);
  add("UpdateThingGroupsForThing", &Operations::update_thing_groups_for_thing);
  add("CreateKeysAndCertificate", &Operations::create_keys_and_certificate);
  add("CreateCertificateFromCsr", &Operations::create_certificate_from_csr);
  add("RegisterCertificate", &Operations::register_certificate);
  add("DescribeCertificate", &Operations::describe_certificate);
  add("ListCertificates", &Operations::list_certificates);
  add("UpdateCertificate", &Operations::update_certificate);
  add("DeleteCertificate", &Operations::delete_certificate);
  add("AttachThingPrincipal", &Operations::attach_thing_principal);
  add("DetachThingPrincipal", &Operations::detach_thing_principal);
  add("ListThingPrincipals", &Operations::list_thing_principals);
  add("ListPrincipalThings", &Operations::list_principal_things);
  add("DescribeEndpoint", &Operations::describe_endpoint);
  add("CreatePolicy", &Operations::create_policy);
  add("GetPolicy", &Operations::get_policy);
  add("ListPolicies", &Operations::list_policies);
  add("DeletePolicy", &Operations::delete_policy);
  add("CreatePolicyVersion", &Operations::create_policy_version);
  add("GetPolicyVersion", &Operations::get_policy_version);
  add("ListPolicyVersions", &Operations::list_policy_versions);
  add("DeletePolicyVersion", &Operations::delete_policy_version);
  add("SetDefaultPolicyVersion", &Operations::set_default_policy_version);
  add("AttachPolicy", &Operations::attach_policy);
  add("DetachPolicy", &Operations::detach_policy);
  add("ListAttachedPolicies", &Operations::list_attached_policies);
  add("ListTargetsForPolicy", &Operations::list_targets_for_policy);
  add("RegisterCACertificate", &Operations::register_ca_certificate);
  add("DescribeCACertificate", &Operations::describe_ca_certificate);
  add("UpdateCACertificate", &Operations::update_ca_certificate);
  add("DeleteCACertificate", &Operations::delete_ca_certificate);
  add("ListCACertificates", &Operations::list_ca_certificates);
  add("ListCertificatesByCA", &Operations::list_certificates_by_ca);
  add("GetRegistrationCode", &Operations::get_registration_code);
}

}  // namespace fg::api
