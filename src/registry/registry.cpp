#include "registry/registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "registry/registry_records.hpp"

namespace fg::registry {
// Stored form of the registry's records: one JSON object per record whose
// keys are the member names (missing keys make load() fail with Internal).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Thing, name, id, arn, thing_type, attributes, version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThingType, name, id, arn, description, searchable_attributes, deprecated,
                                   creation_date, deprecation_date)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThingGroup, name, id, arn, parent, description, attributes, version,
                                   creation_date)

namespace {

using json = nlohmann::json;
using Kind = RegistryError::Kind;

constexpr const char* kThingKind = "thing";
constexpr const char* kThingTypeKind = "thing_type";
constexpr const char* kThingGroupKind = "thing_group";
constexpr const char* kMemberKind = "thing_group_member";
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxAttributeNameLength = 128;
constexpr std::size_t kMaxAttributeValueLength = 800;
constexpr std::size_t kMaxDescriptionLength = 2028;

using records::erase;
using records::fail;
using records::put;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool name_char(char c) { return is_alnum(c) || c == ':' || c == '_' || c == '-'; }
bool attribute_name_char(char c) {
  return is_alnum(c) || std::string_view("_.,@/:#-").find(c) != std::string_view::npos;
}
// Current AWS documentation also allows '=', '[' and ']' in values (the older
// botocore model in Debian does not); we follow the current documentation.
bool attribute_value_char(char c) { return attribute_name_char(c) || c == '=' || c == '[' || c == ']'; }

std::optional<RegistryError> check_name(const std::string& field, const std::string& value) {
  if (value.empty() || value.size() > kMaxNameLength || !std::all_of(value.begin(), value.end(), name_char)) {
    return RegistryError{Kind::InvalidRequest, field + " must be 1-128 characters matching [a-zA-Z0-9:_-]+, got '" +
                                                   value.substr(0, 200) + "'"};
  }
  return std::nullopt;
}

std::optional<RegistryError> check_attribute_name(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > kMaxAttributeNameLength ||
      !std::all_of(name.begin(), name.end(), attribute_name_char)) {
    return RegistryError{Kind::InvalidRequest, field + " name must be 1-128 characters matching [a-zA-Z0-9_.,@/:#-]+, got '" +
                                                   name.substr(0, 200) + "'"};
  }
  return std::nullopt;
}

std::optional<RegistryError> check_attributes(const Attributes& attributes) {
  for (const auto& [name, value] : attributes) {
    if (auto e = check_attribute_name("attribute", name)) return e;
    if (value.size() > kMaxAttributeValueLength ||
        !std::all_of(value.begin(), value.end(), attribute_value_char)) {
      return RegistryError{Kind::InvalidRequest, "attribute value of '" + name +
                                                     "' must be at most 800 characters matching "
                                                     "[a-zA-Z0-9_.,@/:#=\\[\\]-]*"};
    }
  }
  return std::nullopt;
}

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// AWS: [\p{Graph}\x20]*, at most 2028 characters. We refuse control characters
// and malformed UTF-8 (which could not be stored as JSON text either).
std::optional<RegistryError> check_description(const std::string& field, const std::string& d) {
  bool printable = std::all_of(d.begin(), d.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
  if (d.size() > kMaxDescriptionLength || !printable || !valid_utf8(d)) {
    return RegistryError{Kind::InvalidRequest, field + " must be at most 2028 printable UTF-8 characters"};
  }
  return std::nullopt;
}

Attributes apply_payload(const Attributes& current, const AttributePayload& payload) {
  Attributes result = payload.merge == AttributeMerge::Merge ? current : Attributes{};
  for (const auto& [name, value] : payload.attributes) {
    if (value.empty()) {
      result.erase(name);
    } else {
      result[name] = value;
    }
  }
  return result;
}

std::string new_uuid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string member_key(const std::string& group, const std::string& thing) { return group + "/" + thing; }

std::size_t attribute_limit(const std::string& thing_type) {
  return thing_type.empty() ? kMaxAttributesUntyped : kMaxAttributesTyped;
}

// The expectedVersion check shared by updates and deletes of versioned records.
std::optional<RegistryError> check_version(const std::string& what, const std::string& name, int64_t current,
                                           const std::optional<int64_t>& expected) {
  if (!expected || *expected == current) return std::nullopt;
  return RegistryError{RegistryError::Kind::VersionConflict, what + " '" + name + "' is at version " +
                                                                 std::to_string(current) + ", expected " +
                                                                 std::to_string(*expected)};
}

std::optional<RegistryError> check_attribute_count(const std::string& thing_type, const Attributes& attributes) {
  std::size_t limit = attribute_limit(thing_type);
  if (attributes.size() > limit) {
    return RegistryError{Kind::LimitExceeded,
                         "a thing " + std::string(thing_type.empty() ? "without a thing type" : "with a thing type") +
                             " may have at most " + std::to_string(limit) + " attributes, got " +
                             std::to_string(attributes.size())};
  }
  return std::nullopt;
}

}  // namespace

Registry::Registry(store::Store& store, RegistryConfig cfg) : store_(store), cfg_(std::move(cfg)) {}

Result<std::unique_ptr<Registry>, RegistryError> Registry::open(store::Store& store, RegistryConfig cfg) {
  std::unique_ptr<Registry> registry(new Registry(store, std::move(cfg)));
  auto loaded = registry->load();
  if (!loaded) return fg::unexpected(std::move(loaded.error()));
  return registry;
}

int64_t Registry::now() const {
  if (cfg_.now_epoch_seconds) return cfg_.now_epoch_seconds();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Registry::arn(const std::string& resource, const std::string& name) const {
  return "arn:aws:iot:" + cfg_.region + ":" + cfg_.account_id + ":" + resource + "/" + name;
}

Result<store::Done, RegistryError> Registry::write(const std::vector<store::Mutation>& batch) {
  auto applied = store_.apply(batch);
  if (!applied) {
    const auto& e = applied.error();
    Kind kind = e.kind == store::StoreError::Kind::VersionConflict ? Kind::VersionConflict : Kind::Internal;
    return fail(kind, "store write failed: " + e.message);
  }
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::load() {
  std::unique_lock lock(mu_);
  auto list = [&](const char* kind) -> Result<std::vector<store::Record>, RegistryError> {
    auto records = store_.list(kind);
    if (!records) return fail(Kind::Internal, std::string("cannot read ") + kind + " records: " + records.error().message);
    return std::move(records.value());
  };
  std::string current;  // the record being decoded, for the error message
  try {
    auto types = list(kThingTypeKind);
    if (!types) return fg::unexpected(types.error());
    for (const auto& r : *types) {
      current = r.kind + "/" + r.key;
      auto t = json::parse(r.value).get<ThingType>();
      if (t.name != r.key) return fail(Kind::Internal, "corrupt record " + current + ": name does not match key");
      types_[t.name] = std::move(t);
    }
    auto things = list(kThingKind);
    if (!things) return fg::unexpected(things.error());
    for (const auto& r : *things) {
      current = r.kind + "/" + r.key;
      auto t = json::parse(r.value).get<Thing>();
      if (t.name != r.key) return fail(Kind::Internal, "corrupt record " + current + ": name does not match key");
      if (!t.thing_type.empty() && !types_.contains(t.thing_type)) {
        return fail(Kind::Internal, "corrupt record " + current + ": unknown thing type '" + t.thing_type + "'");
      }
      things_[t.name] = std::move(t);
    }
    auto groups = list(kThingGroupKind);
    if (!groups) return fg::unexpected(groups.error());
    for (const auto& r : *groups) {
      current = r.kind + "/" + r.key;
      auto g = json::parse(r.value).get<ThingGroup>();
      if (g.name != r.key) return fail(Kind::Internal, "corrupt record " + current + ": name does not match key");
      groups_[g.name] = std::move(g);
    }
    for (const auto& [name, g] : groups_) {
      if (!g.parent.empty() && !groups_.contains(g.parent)) {
        return fail(Kind::Internal, "corrupt record thing_group/" + name + ": unknown parent '" + g.parent + "'");
      }
    }
    auto members = list(kMemberKind);
    if (!members) return fg::unexpected(members.error());
    for (const auto& r : *members) {
      auto slash = r.key.find('/');
      std::string group = r.key.substr(0, slash);
      std::string thing = slash == std::string::npos ? "" : r.key.substr(slash + 1);
      if (!groups_.contains(group) || !things_.contains(thing)) {
        return fail(Kind::Internal, "corrupt record " + r.kind + "/" + r.key + ": unknown group or thing");
      }
      groups_of_thing_[thing].insert(group);
      things_of_group_[group].insert(thing);
    }
  } catch (const json::exception& e) {
    return fail(Kind::Internal, "corrupt record " + current + ": " + e.what());
  }
  if (auto certs = load_certificates_locked(); !certs) return certs;
  return load_policies_locked();
}

// ---------------------------------------------------------------- things

Result<Thing, RegistryError> Registry::create_thing(const std::string& name, const std::string& thing_type,
                                                    Attributes attributes) {
  if (auto e = check_name("thingName", name)) return fg::unexpected(*e);
  if (!thing_type.empty()) {
    if (auto e = check_name("thingTypeName", thing_type)) return fg::unexpected(*e);
  }
  if (auto e = check_attributes(attributes)) return fg::unexpected(*e);
  if (auto e = check_attribute_count(thing_type, attributes)) return fg::unexpected(*e);

  std::unique_lock lock(mu_);
  if (auto it = things_.find(name); it != things_.end()) {
    if (it->second.thing_type == thing_type && it->second.attributes == attributes) return it->second;
    return fail(Kind::ResourceAlreadyExists, "thing '" + name + "' already exists with a different configuration");
  }
  if (!thing_type.empty()) {
    auto type = types_.find(thing_type);
    if (type == types_.end()) return fail(Kind::ResourceNotFound, "thing type '" + thing_type + "' does not exist");
    if (type->second.deprecated) {
      return fail(Kind::InvalidRequest, "thing type '" + thing_type + "' is deprecated; things cannot be created with it");
    }
  }
  Thing thing{name, new_uuid(), arn("thing", name), thing_type, std::move(attributes), 1};
  auto written = write({put(kThingKind, name, json(thing))});
  if (!written) return fg::unexpected(std::move(written.error()));
  things_[name] = thing;
  return thing;
}

Result<Thing, RegistryError> Registry::describe_thing(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = things_.find(name);
  if (it == things_.end()) return fail(Kind::ResourceNotFound, "thing '" + name + "' does not exist");
  return it->second;
}

Result<Thing, RegistryError> Registry::update_thing(const std::string& name, const ThingUpdate& update) {
  if (auto e = check_name("thingName", name)) return fg::unexpected(*e);
  if (update.thing_type && update.remove_thing_type) {
    return fail(Kind::InvalidRequest, "thingTypeName and removeThingType cannot both be given");
  }
  if (update.thing_type) {
    if (auto e = check_name("thingTypeName", *update.thing_type)) return fg::unexpected(*e);
  }
  if (update.attribute_payload) {
    if (auto e = check_attributes(update.attribute_payload->attributes)) return fg::unexpected(*e);
  }

  std::unique_lock lock(mu_);
  auto it = things_.find(name);
  if (it == things_.end()) return fail(Kind::ResourceNotFound, "thing '" + name + "' does not exist");
  if (auto e = check_version("thing", name, it->second.version, update.expected_version)) return fg::unexpected(*e);
  Thing next = it->second;
  if (update.thing_type && *update.thing_type != next.thing_type) {
    auto type = types_.find(*update.thing_type);
    if (type == types_.end()) {
      return fail(Kind::ResourceNotFound, "thing type '" + *update.thing_type + "' does not exist");
    }
    if (type->second.deprecated) {
      return fail(Kind::InvalidRequest, "thing type '" + *update.thing_type + "' is deprecated");
    }
    next.thing_type = *update.thing_type;
  }
  if (update.remove_thing_type) next.thing_type.clear();
  if (update.attribute_payload) next.attributes = apply_payload(next.attributes, *update.attribute_payload);
  if (auto e = check_attribute_count(next.thing_type, next.attributes)) return fg::unexpected(*e);
  next.version += 1;

  auto written = write({put(kThingKind, name, json(next))});
  if (!written) return fg::unexpected(std::move(written.error()));
  it->second = next;
  lock.unlock();
  notify_authorization();  // attributes and type feed policy variables
  return next;
}

Result<store::Done, RegistryError> Registry::delete_thing(const std::string& name,
                                                          std::optional<int64_t> expected_version) {
  if (auto e = check_name("thingName", name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = things_.find(name);
  if (it == things_.end()) return store::Done{};
  if (auto e = check_version("thing", name, it->second.version, expected_version)) return fg::unexpected(*e);
  // Like AWS (since 2019), a thing with attached principals is not deleted.
  if (auto p = principals_of_thing_.find(name); p != principals_of_thing_.end() && !p->second.empty()) {
    return fail(Kind::InvalidRequest, "Cannot delete. Thing " + name +
                                          " is still attached to one or more principals; detach them first");
  }
  std::vector<store::Mutation> batch{erase(kThingKind, name)};
  auto groups = groups_of_thing_.find(name);
  if (groups != groups_of_thing_.end()) {
    for (const auto& g : groups->second) batch.push_back(erase(kMemberKind, member_key(g, name)));
  }
  auto written = write(batch);
  if (!written) return fg::unexpected(std::move(written.error()));
  if (groups != groups_of_thing_.end()) {
    for (const auto& g : groups->second) things_of_group_[g].erase(name);
    groups_of_thing_.erase(groups);
  }
  things_.erase(it);
  lock.unlock();
  notify_authorization();
  return store::Done{};
}

std::vector<Thing> Registry::list_things(const ThingFilter& filter) const {
  std::shared_lock lock(mu_);
  std::vector<Thing> out;
  for (const auto& [name, thing] : things_) {
    if (filter.thing_type && thing.thing_type != *filter.thing_type) continue;
    if (filter.attribute_name) {
      auto a = thing.attributes.find(*filter.attribute_name);
      if (a == thing.attributes.end()) continue;
      if (filter.attribute_value && a->second != *filter.attribute_value) continue;
    }
    out.push_back(thing);
  }
  return out;
}

// ---------------------------------------------------------------- thing types

Result<ThingType, RegistryError> Registry::create_thing_type(const std::string& name,
                                                             const ThingTypeProperties& props) {
  if (auto e = check_name("thingTypeName", name)) return fg::unexpected(*e);
  if (auto e = check_description("thingTypeDescription", props.description)) return fg::unexpected(*e);
  if (props.searchable_attributes.size() > kMaxSearchableAttributes) {
    return fail(Kind::InvalidRequest, "searchableAttributes may hold at most 3 names");
  }
  for (const auto& a : props.searchable_attributes) {
    if (auto e = check_attribute_name("searchableAttributes", a)) return fg::unexpected(*e);
  }

  std::unique_lock lock(mu_);
  if (auto it = types_.find(name); it != types_.end()) {
    if (it->second.description == props.description &&
        it->second.searchable_attributes == props.searchable_attributes) {
      return it->second;
    }
    return fail(Kind::ResourceAlreadyExists, "thing type '" + name + "' already exists with different properties");
  }
  ThingType type{name, new_uuid(), arn("thingtype", name), props.description, props.searchable_attributes,
                 false, now(), 0};
  auto written = write({put(kThingTypeKind, name, json(type))});
  if (!written) return fg::unexpected(std::move(written.error()));
  types_[name] = type;
  return type;
}

Result<ThingType, RegistryError> Registry::describe_thing_type(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = types_.find(name);
  if (it == types_.end()) return fail(Kind::ResourceNotFound, "thing type '" + name + "' does not exist");
  return it->second;
}

Result<store::Done, RegistryError> Registry::deprecate_thing_type(const std::string& name, Deprecation action) {
  if (auto e = check_name("thingTypeName", name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = types_.find(name);
  if (it == types_.end()) return fail(Kind::ResourceNotFound, "thing type '" + name + "' does not exist");
  ThingType next = it->second;
  next.deprecated = action == Deprecation::Deprecate;
  next.deprecation_date = next.deprecated ? now() : 0;
  auto written = write({put(kThingTypeKind, name, json(next))});
  if (!written) return fg::unexpected(std::move(written.error()));
  it->second = next;
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::delete_thing_type(const std::string& name) {
  if (auto e = check_name("thingTypeName", name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = types_.find(name);
  if (it == types_.end()) return fail(Kind::ResourceNotFound, "thing type '" + name + "' does not exist");
  if (!it->second.deprecated) {
    return fail(Kind::InvalidRequest, "thing type '" + name + "' must be deprecated before it can be deleted");
  }
  for (const auto& [thing_name, thing] : things_) {
    if (thing.thing_type == name) {
      return fail(Kind::InvalidRequest,
                  "thing type '" + name + "' is still used by thing '" + thing_name + "'");
    }
  }
  auto written = write({erase(kThingTypeKind, name)});
  if (!written) return fg::unexpected(std::move(written.error()));
  types_.erase(it);
  return store::Done{};
}

std::vector<ThingType> Registry::list_thing_types() const {
  std::shared_lock lock(mu_);
  std::vector<ThingType> out;
  for (const auto& [name, type] : types_) out.push_back(type);
  return out;
}

// ---------------------------------------------------------------- thing groups

Result<ThingGroup, RegistryError> Registry::create_thing_group(const std::string& name,
                                                               const std::optional<std::string>& parent,
                                                               const ThingGroupProperties& props) {
  if (auto e = check_name("thingGroupName", name)) return fg::unexpected(*e);
  if (parent) {
    if (auto e = check_name("parentGroupName", *parent)) return fg::unexpected(*e);
  }
  if (auto e = check_description("thingGroupDescription", props.description)) return fg::unexpected(*e);
  if (auto e = check_attributes(props.attributes)) return fg::unexpected(*e);
  if (props.attributes.size() > kMaxGroupAttributes) {
    return fail(Kind::LimitExceeded, "a thing group may have at most 50 attributes");
  }
  std::string parent_name = parent.value_or("");

  std::unique_lock lock(mu_);
  if (auto it = groups_.find(name); it != groups_.end()) {
    const ThingGroup& g = it->second;
    if (g.parent == parent_name && g.description == props.description && g.attributes == props.attributes) return g;
    return fail(Kind::ResourceAlreadyExists, "thing group '" + name + "' already exists with a different configuration");
  }
  if (!parent_name.empty()) {
    if (!groups_.contains(parent_name)) {
      return fail(Kind::ResourceNotFound, "parent thing group '" + parent_name + "' does not exist");
    }
    if (ancestors_locked(parent_name).size() + 2 > kMaxGroupDepth) {
      return fail(Kind::LimitExceeded, "thing group hierarchies may be at most 7 levels deep");
    }
  }
  ThingGroup group{name, new_uuid(), arn("thinggroup", name), parent_name, props.description, props.attributes,
                   1, now()};
  auto written = write({put(kThingGroupKind, name, json(group))});
  if (!written) return fg::unexpected(std::move(written.error()));
  groups_[name] = group;
  return group;
}

Result<ThingGroup, RegistryError> Registry::describe_thing_group(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = groups_.find(name);
  if (it == groups_.end()) return fail(Kind::ResourceNotFound, "thing group '" + name + "' does not exist");
  return it->second;
}

Result<ThingGroup, RegistryError> Registry::update_thing_group(const std::string& name,
                                                               const ThingGroupUpdate& update) {
  if (auto e = check_name("thingGroupName", name)) return fg::unexpected(*e);
  if (update.description) {
    if (auto e = check_description("thingGroupDescription", *update.description)) return fg::unexpected(*e);
  }
  if (update.attribute_payload) {
    if (auto e = check_attributes(update.attribute_payload->attributes)) return fg::unexpected(*e);
  }

  std::unique_lock lock(mu_);
  auto it = groups_.find(name);
  if (it == groups_.end()) return fail(Kind::ResourceNotFound, "thing group '" + name + "' does not exist");
  if (auto e = check_version("thing group", name, it->second.version, update.expected_version)) return fg::unexpected(*e);
  ThingGroup next = it->second;
  if (update.description) next.description = *update.description;
  if (update.attribute_payload) next.attributes = apply_payload(next.attributes, *update.attribute_payload);
  if (next.attributes.size() > kMaxGroupAttributes) {
    return fail(Kind::LimitExceeded, "a thing group may have at most 50 attributes");
  }
  next.version += 1;
  auto written = write({put(kThingGroupKind, name, json(next))});
  if (!written) return fg::unexpected(std::move(written.error()));
  it->second = next;
  return next;
}

Result<store::Done, RegistryError> Registry::delete_thing_group(const std::string& name,
                                                                std::optional<int64_t> expected_version) {
  if (auto e = check_name("thingGroupName", name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = groups_.find(name);
  if (it == groups_.end()) return store::Done{};
  if (auto e = check_version("thing group", name, it->second.version, expected_version)) return fg::unexpected(*e);
  for (const auto& [child, g] : groups_) {
    if (g.parent == name) {
      return fail(Kind::InvalidRequest,
                  "thing group '" + name + "' has child group '" + child + "'; delete the children first");
    }
  }
  std::vector<store::Mutation> batch{erase(kThingGroupKind, name)};
  auto members = things_of_group_.find(name);
  if (members != things_of_group_.end()) {
    for (const auto& t : members->second) batch.push_back(erase(kMemberKind, member_key(name, t)));
  }
  // Policies attached to the group go with it.
  const std::string group_arn = arn("thinggroup", name);
  auto attached = policies_of_target_.find(group_arn);
  if (attached != policies_of_target_.end()) {
    for (const auto& policy : attached->second) batch.push_back(erase("policy_attachment", policy + "|" + group_arn));
  }
  auto written = write(batch);
  if (!written) return fg::unexpected(std::move(written.error()));
  if (members != things_of_group_.end()) {
    for (const auto& t : members->second) groups_of_thing_[t].erase(name);
    things_of_group_.erase(members);
  }
  if (attached != policies_of_target_.end()) {
    for (const auto& policy : attached->second) targets_of_policy_[policy].erase(group_arn);
    policies_of_target_.erase(attached);
  }
  groups_.erase(it);
  lock.unlock();
  notify_authorization();
  return store::Done{};
}

std::vector<ThingGroup> Registry::list_thing_groups(const std::optional<std::string>& parent,
                                                    Recursion recursion) const {
  std::shared_lock lock(mu_);
  std::vector<ThingGroup> out;
  if (!parent) {
    for (const auto& [name, g] : groups_) out.push_back(g);
    return out;
  }
  if (recursion == Recursion::Recursive) {
    for (const auto& name : descendants_locked(*parent)) out.push_back(groups_.at(name));
    return out;
  }
  for (const auto& [name, g] : groups_) {
    if (g.parent == *parent) out.push_back(g);
  }
  return out;
}

Result<store::Done, RegistryError> Registry::add_thing_to_thing_group(const std::string& group,
                                                                      const std::string& thing) {
  if (auto e = check_name("thingGroupName", group)) return fg::unexpected(*e);
  if (auto e = check_name("thingName", thing)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  if (!groups_.contains(group)) return fail(Kind::ResourceNotFound, "thing group '" + group + "' does not exist");
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing + "' does not exist");
  auto& current = groups_of_thing_[thing];
  if (current.contains(group)) return store::Done{};
  if (current.size() >= kMaxGroupsPerThing) {
    return fail(Kind::LimitExceeded, "thing '" + thing + "' is already in " + std::to_string(current.size()) +
                                         " thing groups, the maximum");
  }
  json value = {{"group", group}, {"thing", thing}};
  auto written = write({put(kMemberKind, member_key(group, thing), value)});
  if (!written) return fg::unexpected(std::move(written.error()));
  current.insert(group);
  things_of_group_[group].insert(thing);
  lock.unlock();
  notify_authorization();
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::remove_thing_from_thing_group(const std::string& group,
                                                                           const std::string& thing) {
  if (auto e = check_name("thingGroupName", group)) return fg::unexpected(*e);
  if (auto e = check_name("thingName", thing)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  if (!groups_.contains(group)) return fail(Kind::ResourceNotFound, "thing group '" + group + "' does not exist");
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing + "' does not exist");
  auto current = groups_of_thing_.find(thing);
  if (current == groups_of_thing_.end() || !current->second.contains(group)) return store::Done{};
  auto written = write({erase(kMemberKind, member_key(group, thing))});
  if (!written) return fg::unexpected(std::move(written.error()));
  current->second.erase(group);
  things_of_group_[group].erase(thing);
  lock.unlock();
  notify_authorization();
  return store::Done{};
}

Result<std::vector<std::string>, RegistryError> Registry::list_things_in_thing_group(const std::string& group,
                                                                                     Recursion recursion) const {
  std::shared_lock lock(mu_);
  if (!groups_.contains(group)) return fail(Kind::ResourceNotFound, "thing group '" + group + "' does not exist");
  std::vector<std::string> groups{group};
  if (recursion == Recursion::Recursive) {
    auto d = descendants_locked(group);
    groups.insert(groups.end(), d.begin(), d.end());
  }
  std::set<std::string> things;
  for (const auto& g : groups) {
    if (auto it = things_of_group_.find(g); it != things_of_group_.end()) {
      things.insert(it->second.begin(), it->second.end());
    }
  }
  return std::vector<std::string>(things.begin(), things.end());
}

Result<std::vector<std::string>, RegistryError> Registry::list_thing_groups_for_thing(
    const std::string& thing) const {
  std::shared_lock lock(mu_);
  if (!things_.contains(thing)) return fail(Kind::ResourceNotFound, "thing '" + thing + "' does not exist");
  auto it = groups_of_thing_.find(thing);
  if (it == groups_of_thing_.end()) return std::vector<std::string>{};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

std::vector<std::string> Registry::ancestors(const std::string& group) const {
  std::shared_lock lock(mu_);
  return ancestors_locked(group);
}

std::vector<std::string> Registry::effective_groups(const std::string& thing) const {
  std::shared_lock lock(mu_);
  std::set<std::string> out;
  if (auto it = groups_of_thing_.find(thing); it != groups_of_thing_.end()) {
    for (const auto& g : it->second) {
      out.insert(g);
      for (auto& a : ancestors_locked(g)) out.insert(std::move(a));
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::vector<std::string> Registry::ancestors_locked(const std::string& group) const {
  std::vector<std::string> out;
  auto it = groups_.find(group);
  // The depth bound also guards against a cycle in corrupt data.
  while (it != groups_.end() && !it->second.parent.empty() && out.size() < groups_.size()) {
    out.push_back(it->second.parent);
    it = groups_.find(it->second.parent);
  }
  return out;
}

std::vector<std::string> Registry::descendants_locked(const std::string& group) const {
  std::set<std::string> out;
  std::vector<std::string> frontier{group};
  while (!frontier.empty()) {
    std::string current = std::move(frontier.back());
    frontier.pop_back();
    for (const auto& [name, g] : groups_) {
      if (g.parent == current && out.insert(name).second) frontier.push_back(name);
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

}  // namespace fg::registry
