// AWS IoT policies and policy attachments (CreatePolicy, GetPolicy,
// ListPolicies, DeletePolicy, CreatePolicyVersion, GetPolicyVersion,
// SetDefaultPolicyVersion, DeletePolicyVersion, AttachPolicy, DetachPolicy,
// ListAttachedPolicies, ListTargetsForPolicy) and what a connection is
// authorised by (effective_policies).
//
// Same rules as registry.cpp: validate, write one store batch under the
// exclusive lock, then update memory; observers run after the lock is
// released. Documents are parsed by the policy engine when written and when
// loaded, so the broker never parses JSON on a connection's behalf.
#include <algorithm>
#include <cctype>
#include <string_view>

#include <nlohmann/json.hpp>

#include "registry/registry.hpp"
#include "registry/registry_records.hpp"

namespace fg::registry {
namespace {

using json = nlohmann::json;
using Kind = RegistryError::Kind;
using records::erase;
using records::fail;
using records::put;

constexpr const char* kPolicyKind = "policy";
constexpr const char* kAttachmentKind = "policy_attachment";

// AWS PolicyName: [\w+=,.@-]+, 1-128 characters.
bool policy_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_+=,.@-").find(c) != std::string_view::npos;
}

std::optional<RegistryError> check_policy_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), policy_name_char)) {
    return RegistryError{Kind::InvalidRequest, "policyName must be 1-128 characters of [a-zA-Z0-9_+=,.@-], got '" +
                                                   name.substr(0, 200) + "'"};
  }
  return std::nullopt;
}

Result<std::shared_ptr<const policy::PolicyDocument>, RegistryError> parse_document(const std::string& document) {
  auto parsed = policy::parse_policy_document(document);
  if (!parsed) return fail(Kind::MalformedPolicy, "policyDocument: " + parsed.error().message);
  return std::make_shared<const policy::PolicyDocument>(std::move(*parsed));
}

json to_json(const Policy& p) {
  json versions = json::array();
  for (const auto& v : p.versions) {
    versions.push_back({{"version_id", v.version_id}, {"document", v.document}, {"create_date", v.create_date}});
  }
  return {{"name", p.name},
          {"arn", p.arn},
          {"default_version_id", p.default_version_id},
          {"versions", versions},
          {"creation_date", p.creation_date},
          {"last_modified_date", p.last_modified_date},
          {"generation_id", p.generation_id},
          {"next_version", p.next_version}};
}

std::string attachment_key(const std::string& policy, const std::string& target) { return policy + "|" + target; }

}  // namespace

const PolicyVersion* Policy::default_version() const {
  for (const auto& v : versions) {
    if (v.version_id == default_version_id) return &v;
  }
  return nullptr;
}

Result<store::Done, RegistryError> Registry::load_policies_locked() {
  auto loaded = records::for_each_record(store_, kPolicyKind, [&](const store::Record& r) -> std::optional<std::string> {
    json j = json::parse(r.value);
    Policy p;
    j.at("name").get_to(p.name);
    j.at("arn").get_to(p.arn);
    j.at("default_version_id").get_to(p.default_version_id);
    j.at("creation_date").get_to(p.creation_date);
    j.at("last_modified_date").get_to(p.last_modified_date);
    j.at("generation_id").get_to(p.generation_id);
    j.at("next_version").get_to(p.next_version);
    for (const auto& v : j.at("versions")) {
      PolicyVersion pv;
      v.at("version_id").get_to(pv.version_id);
      v.at("document").get_to(pv.document);
      v.at("create_date").get_to(pv.create_date);
      auto parsed = parse_document(pv.document);
      if (!parsed) return parsed.error().message;
      pv.parsed = std::move(*parsed);
      p.versions.push_back(std::move(pv));
    }
    if (p.name != r.key || p.default_version() == nullptr) return "name or default version mismatch";
    policies_[p.name] = std::move(p);
    return std::nullopt;
  });
  if (!loaded) return loaded;
  return records::for_each_record(store_, kAttachmentKind, [&](const store::Record& r) -> std::optional<std::string> {
    auto bar = r.key.find('|');
    std::string name = r.key.substr(0, bar);
    std::string target = bar == std::string::npos ? "" : r.key.substr(bar + 1);
    if (!policies_.contains(name) || target.empty()) return "unknown policy or empty target";
    targets_of_policy_[name].insert(target);
    policies_of_target_[target].insert(name);
    return std::nullopt;
  });
}

Result<store::Done, RegistryError> Registry::write_policy_locked(const Policy& p) {
  return write({put(kPolicyKind, p.name, to_json(p))});
}

Result<Policy, RegistryError> Registry::create_policy(const std::string& name, const std::string& document) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  auto parsed = parse_document(document);
  if (!parsed) return fg::unexpected(std::move(parsed.error()));
  std::unique_lock lock(mu_);
  if (policies_.contains(name)) return fail(Kind::ResourceAlreadyExists, "policy " + name + " already exists");
  const int64_t t = now();
  Policy p;
  p.name = name;
  p.arn = arn("policy", name);
  p.default_version_id = "1";
  p.versions.push_back(PolicyVersion{"1", document, std::move(*parsed), t});
  p.creation_date = p.last_modified_date = t;
  auto written = write_policy_locked(p);
  if (!written) return fg::unexpected(std::move(written.error()));
  policies_[name] = p;
  return p;
}

Result<Policy, RegistryError> Registry::get_policy(const std::string& name) const {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  std::shared_lock lock(mu_);
  auto it = policies_.find(name);
  if (it == policies_.end()) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
  return it->second;
}

Result<PolicyVersion, RegistryError> Registry::get_policy_version(const std::string& name,
                                                                  const std::string& version_id) const {
  auto p = get_policy(name);
  if (!p) return fg::unexpected(std::move(p.error()));
  for (const auto& v : p->versions) {
    if (v.version_id == version_id) return v;
  }
  return fail(Kind::ResourceNotFound, "policy " + name + " has no version '" + version_id.substr(0, 20) + "'");
}

Result<PolicyVersion, RegistryError> Registry::create_policy_version(const std::string& name,
                                                                     const std::string& document,
                                                                     SetAsDefault set_as_default) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  auto parsed = parse_document(document);
  if (!parsed) return fg::unexpected(std::move(parsed.error()));
  PolicyVersion created;
  {
    std::unique_lock lock(mu_);
    auto it = policies_.find(name);
    if (it == policies_.end()) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
    Policy p = it->second;
    if (p.versions.size() >= kMaxPolicyVersions) {
      return fail(Kind::VersionsLimitExceeded, "policy " + name +
                                                   " already has 5 versions; delete one before creating another");
    }
    const int64_t t = now();
    created = PolicyVersion{std::to_string(p.next_version), document, std::move(*parsed), t};
    ++p.next_version;
    p.versions.push_back(created);
    if (set_as_default == SetAsDefault::Yes) p.default_version_id = created.version_id;
    p.last_modified_date = t;
    ++p.generation_id;
    auto written = write_policy_locked(p);
    if (!written) return fg::unexpected(std::move(written.error()));
    it->second = std::move(p);
  }
  if (set_as_default == SetAsDefault::Yes) notify_authorization();
  return created;
}

Result<store::Done, RegistryError> Registry::set_default_policy_version(const std::string& name,
                                                                        const std::string& version_id) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  {
    std::unique_lock lock(mu_);
    auto it = policies_.find(name);
    if (it == policies_.end()) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
    Policy p = it->second;
    if (std::none_of(p.versions.begin(), p.versions.end(),
                     [&](const PolicyVersion& v) { return v.version_id == version_id; })) {
      return fail(Kind::ResourceNotFound, "policy " + name + " has no version '" + version_id.substr(0, 20) + "'");
    }
    if (p.default_version_id == version_id) return store::Done{};
    p.default_version_id = version_id;
    p.last_modified_date = now();
    ++p.generation_id;
    auto written = write_policy_locked(p);
    if (!written) return fg::unexpected(std::move(written.error()));
    it->second = std::move(p);
  }
  notify_authorization();
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::delete_policy_version(const std::string& name,
                                                                   const std::string& version_id) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = policies_.find(name);
  if (it == policies_.end()) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
  Policy p = it->second;
  auto v = std::find_if(p.versions.begin(), p.versions.end(),
                        [&](const PolicyVersion& pv) { return pv.version_id == version_id; });
  if (v == p.versions.end()) {
    return fail(Kind::ResourceNotFound, "policy " + name + " has no version '" + version_id.substr(0, 20) + "'");
  }
  if (p.default_version_id == version_id) {
    return fail(Kind::DeleteConflict, "version " + version_id + " is the default version of policy " + name +
                                          "; set another default first (or delete the policy)");
  }
  p.versions.erase(v);
  p.last_modified_date = now();
  ++p.generation_id;
  auto written = write_policy_locked(p);
  if (!written) return fg::unexpected(std::move(written.error()));
  it->second = std::move(p);
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::delete_policy(const std::string& name) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  std::unique_lock lock(mu_);
  auto it = policies_.find(name);
  if (it == policies_.end()) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
  if (auto t = targets_of_policy_.find(name); t != targets_of_policy_.end() && !t->second.empty()) {
    return fail(Kind::DeleteConflict, "policy " + name + " is attached to " + std::to_string(t->second.size()) +
                                          " target(s); detach it first");
  }
  if (it->second.versions.size() > 1) {
    return fail(Kind::DeleteConflict, "policy " + name + " has non-default versions; delete them first");
  }
  auto written = write({erase(kPolicyKind, name)});
  if (!written) return fg::unexpected(std::move(written.error()));
  policies_.erase(it);
  targets_of_policy_.erase(name);
  return store::Done{};
}

std::vector<Policy> Registry::list_policies() const {
  std::shared_lock lock(mu_);
  std::vector<Policy> out;
  out.reserve(policies_.size());
  for (const auto& [name, p] : policies_) out.push_back(p);
  return out;
}

// The canonical key of an attachment target: the ARN of an existing
// certificate or thing group. Sets `error` and returns "" otherwise.
std::string Registry::target_key_locked(const std::string& target, RegistryError& error) const {
  const std::string cert_prefix = arn("cert", "");
  const std::string group_prefix = arn("thinggroup", "");
  if (target.starts_with(cert_prefix)) {
    const std::string id = target.substr(cert_prefix.size());
    if (certificates_.contains(id)) return target;
    error = RegistryError{Kind::ResourceNotFound, "certificate " + id.substr(0, 100) + " does not exist"};
    return {};
  }
  if (target.starts_with(group_prefix)) {
    const std::string group = target.substr(group_prefix.size());
    if (groups_.contains(group)) return target;
    error = RegistryError{Kind::ResourceNotFound, "thing group " + group.substr(0, 200) + " does not exist"};
    return {};
  }
  error = RegistryError{Kind::InvalidRequest, "target must be a certificate ARN (" + cert_prefix +
                                                  "<id>) or a thing group ARN (" + group_prefix + "<name>)"};
  return {};
}

Result<store::Done, RegistryError> Registry::attach_policy(const std::string& name, const std::string& target) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  {
    std::unique_lock lock(mu_);
    if (!policies_.contains(name)) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
    RegistryError error;
    std::string key = target_key_locked(target, error);
    if (key.empty()) return fg::unexpected(std::move(error));
    auto& attached = policies_of_target_[key];
    if (attached.contains(name)) return store::Done{};
    if (attached.size() >= kMaxPoliciesPerTarget) {
      return fail(Kind::LimitExceeded, "target already has 10 policies attached");
    }
    auto written = write({put(kAttachmentKind, attachment_key(name, key), json::object())});
    if (!written) return fg::unexpected(std::move(written.error()));
    attached.insert(name);
    targets_of_policy_[name].insert(key);
  }
  notify_authorization();
  return store::Done{};
}

Result<store::Done, RegistryError> Registry::detach_policy(const std::string& name, const std::string& target) {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  {
    std::unique_lock lock(mu_);
    if (!policies_.contains(name)) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
    auto t = policies_of_target_.find(target);
    if (t == policies_of_target_.end() || !t->second.contains(name)) return store::Done{};
    auto written = write({erase(kAttachmentKind, attachment_key(name, target))});
    if (!written) return fg::unexpected(std::move(written.error()));
    t->second.erase(name);
    if (t->second.empty()) policies_of_target_.erase(t);
    targets_of_policy_[name].erase(target);
  }
  notify_authorization();
  return store::Done{};
}

Result<std::vector<std::string>, RegistryError> Registry::list_attached_policies(const std::string& target,
                                                                                 Recursion recursion) const {
  std::shared_lock lock(mu_);
  RegistryError error;
  std::string key = target_key_locked(target, error);
  if (key.empty()) return fg::unexpected(std::move(error));
  std::set<std::string> names;
  auto add = [&](const std::string& t) {
    if (auto it = policies_of_target_.find(t); it != policies_of_target_.end()) names.insert(it->second.begin(), it->second.end());
  };
  add(key);
  const std::string group_prefix = arn("thinggroup", "");
  if (recursion == Recursion::Recursive && key.starts_with(group_prefix)) {
    for (const auto& g : ancestors_locked(key.substr(group_prefix.size()))) add(arn("thinggroup", g));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<std::vector<std::string>, RegistryError> Registry::list_targets_for_policy(const std::string& name) const {
  if (auto e = check_policy_name(name)) return fg::unexpected(*e);
  std::shared_lock lock(mu_);
  if (!policies_.contains(name)) return fail(Kind::ResourceNotFound, "policy " + name + " does not exist");
  auto it = targets_of_policy_.find(name);
  if (it == targets_of_policy_.end()) return std::vector<std::string>{};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

std::vector<std::pair<std::string, std::shared_ptr<const policy::PolicyDocument>>> Registry::effective_policies(
    const std::string& certificate_id, const std::string& thing) const {
  std::shared_lock lock(mu_);
  std::set<std::string> names;
  auto add = [&](const std::string& target) {
    if (auto it = policies_of_target_.find(target); it != policies_of_target_.end()) names.insert(it->second.begin(), it->second.end());
  };
  if (!certificate_id.empty()) add(arn("cert", certificate_id));
  if (!thing.empty()) {
    std::set<std::string> groups;
    if (auto g = groups_of_thing_.find(thing); g != groups_of_thing_.end()) {
      for (const auto& group : g->second) {
        groups.insert(group);
        for (const auto& a : ancestors_locked(group)) groups.insert(a);
      }
    }
    for (const auto& group : groups) add(arn("thinggroup", group));
  }
  std::vector<std::pair<std::string, std::shared_ptr<const policy::PolicyDocument>>> out;
  for (const auto& name : names) {
    auto p = policies_.find(name);
    if (p == policies_.end()) continue;
    if (const PolicyVersion* v = p->second.default_version()) out.emplace_back(name, v->parsed);
  }
  return out;
}

void Registry::notify_authorization() const {
  std::vector<AuthorizationObserver> observers;
  {
    std::lock_guard lock(observers_mu_);
    observers = authorization_observers_;
  }
  for (const auto& observer : observers) observer();
}

void Registry::on_authorization_change(AuthorizationObserver observer) {
  if (!observer) return;
  std::lock_guard lock(observers_mu_);
  authorization_observers_.push_back(std::move(observer));
}

}  // namespace fg::registry
