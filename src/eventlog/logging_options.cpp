#include "eventlog/logging_options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace fg::eventlog {
namespace {

using Kind = LoggingError::Kind;
using json = nlohmann::json;

constexpr const char* kOptionsKind = "logging_options";
constexpr const char* kLevelKind = "logging_level";

constexpr std::array<std::string_view, 5> kLevelNames = {"DEBUG", "INFO", "WARN", "ERROR", "DISABLED"};
constexpr std::array<std::string_view, 5> kTargetNames = {"DEFAULT", "THING_GROUP", "CLIENT_ID", "SOURCE_IP",
                                                          "PRINCIPAL_ID"};

Unexpected<LoggingError> invalid(std::string message) { return logging_error(Kind::InvalidRequest, std::move(message)); }

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

bool valid_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<store::Done, LoggingError> validate_role_arn(const std::string& arn, bool required) {
  if (arn.empty()) {
    if (required) return invalid("roleArn is required");
    return store::Done{};
  }
  if (arn.size() > 2048 || !printable(arn)) return invalid("roleArn must be at most 2048 printable characters");
  return store::Done{};
}

Unexpected<LoggingError> store_failure(const std::string& what, const store::StoreError& e) {
  return logging_error(Kind::Internal, what + ": " + e.message);
}

}  // namespace

std::string_view to_string(LogLevel level) { return kLevelNames[static_cast<size_t>(level)]; }
std::string_view to_string(LogTargetType type) { return kTargetNames[static_cast<size_t>(type)]; }

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames[i] == text) return static_cast<LogLevel>(i);
  return std::nullopt;
}

std::optional<LogTargetType> parse_log_target_type(std::string_view text) {
  for (size_t i = 0; i < kTargetNames.size(); ++i)
    if (kTargetNames[i] == text) return static_cast<LogTargetType>(i);
  return std::nullopt;
}

// ---- LoggingPolicy ----

std::optional<LogLevel> LoggingPolicy::find(const LevelMap& map, std::string_view key) {
  if (map.empty() || key.empty()) return std::nullopt;
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

LogLevel LoggingPolicy::effective_level(const LogSubject& subject) const {
  if (!enabled_) return LogLevel::Disabled;
  if (targets_) {
    if (auto l = find(client_ids_, subject.client_id)) return *l;
    if (auto l = find(source_ips_, subject.source_ip)) return *l;
    if (auto l = find(principal_ids_, subject.principal_id)) return *l;
    if (!thing_groups_.empty()) {
      for (const auto& group : subject.thing_groups)
        if (auto l = find(thing_groups_, group)) return *l;
    }
  }
  return default_level_;
}

// ---- LoggingOptions ----

Result<std::unique_ptr<LoggingOptions>, LoggingError> LoggingOptions::open(store::Store& store, size_t max_target_levels) {
  std::unique_ptr<LoggingOptions> self(new LoggingOptions(store, max_target_levels));
  auto options = store.list(kOptionsKind);
  if (!options) return store_failure("cannot read logging options", options.error());
  for (const auto& rec : *options) {
    try {
      json j = json::parse(rec.value);
      if (rec.key == "v1") {
        auto level = parse_log_level(j.at("logLevel").get<std::string>());
        if (!level) throw std::runtime_error("bad logLevel");
        self->v1_ = V1LoggingOptions{j.value("roleArn", ""), *level};
      } else if (rec.key == "v2") {
        auto level = parse_log_level(j.at("defaultLogLevel").get<std::string>());
        if (!level) throw std::runtime_error("bad defaultLogLevel");
        self->v2_ = V2LoggingOptions{j.value("roleArn", ""), *level, j.value("disableAllLogs", false)};
      }
    } catch (const std::exception& e) {
      return logging_error(Kind::Internal, "malformed logging_options record '" + rec.key + "': " + e.what());
    }
  }
  auto levels = store.list(kLevelKind);
  if (!levels) return store_failure("cannot read logging levels", levels.error());
  for (const auto& rec : *levels) {
    try {
      json j = json::parse(rec.value);
      auto type = parse_log_target_type(j.at("targetType").get<std::string>());
      auto level = parse_log_level(j.at("logLevel").get<std::string>());
      if (!type || !level) throw std::runtime_error("bad targetType or logLevel");
      self->levels_.push_back({LogTarget{*type, j.at("targetName").get<std::string>()}, *level});
    } catch (const std::exception& e) {
      return logging_error(Kind::Internal, "malformed logging_level record '" + rec.key + "': " + e.what());
    }
  }
  std::sort(self->levels_.begin(), self->levels_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.target.type, a.target.name) < std::tie(b.target.type, b.target.name);
  });
  std::lock_guard lock(self->mu_);
  self->publish_locked();
  return self;
}

Result<store::Done, LoggingError> LoggingOptions::validate_target(const LogTarget& target) {
  const std::string& name = target.name;
  switch (target.type) {
    case LogTargetType::Default:
      if (!name.empty()) return invalid("targetName must be empty for targetType DEFAULT");
      return store::Done{};
    case LogTargetType::ThingGroup: {
      if (name.empty() || name.size() > 128 ||
          !std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-'; }))
        return invalid("targetName '" + name +
                       "' is not a valid thing group name (1-128 characters of [a-zA-Z0-9:_-])");
      return store::Done{};
    }
    case LogTargetType::ClientId:
      if (name.empty() || name.size() > 128 || !printable(name))
        return invalid("targetName for CLIENT_ID must be 1-128 printable characters");
      return store::Done{};
    case LogTargetType::SourceIp:
      if (!valid_ip(name)) return invalid("targetName '" + name + "' is not an IPv4 or IPv6 address");
      return store::Done{};
    case LogTargetType::PrincipalId:
      if (name.empty() || name.size() > 256 || !printable(name) || name.find(' ') != std::string::npos)
        return invalid("targetName for PRINCIPAL_ID must be 1-256 printable characters without spaces");
      return store::Done{};
  }
  return invalid("unknown targetType");
}

std::string LoggingOptions::level_key(const LogTarget& target) {
  return std::string(to_string(target.type)) + "/" + target.name;
}

Result<store::Done, LoggingError> LoggingOptions::put_locked(const std::string& kind, const std::string& key,
                                                              const std::string& value) {
  store::Mutation m;
  m.op = store::Mutation::Op::Put;
  m.kind = kind;
  m.key = key;
  m.value = value;
  auto r = store_.apply({m});
  if (!r) return store_failure("cannot save " + kind + " '" + key + "'", r.error());
  return store::Done{};
}

Result<store::Done, LoggingError> LoggingOptions::set_v1(const V1LoggingOptions& options) {
  if (auto r = validate_role_arn(options.role_arn, true); !r) return fg::unexpected(r.error());
  json j = {{"roleArn", options.role_arn}, {"logLevel", std::string(to_string(options.log_level))}};
  std::lock_guard lock(mu_);
  if (auto r = put_locked(kOptionsKind, "v1", j.dump()); !r) return r;
  v1_ = options;
  publish_locked();
  return store::Done{};
}

std::optional<V1LoggingOptions> LoggingOptions::v1() const {
  std::lock_guard lock(mu_);
  return v1_;
}

Result<store::Done, LoggingError> LoggingOptions::set_v2(const V2LoggingOptions& options) {
  if (auto r = validate_role_arn(options.role_arn, false); !r) return fg::unexpected(r.error());
  json j = {{"roleArn", options.role_arn},
            {"defaultLogLevel", std::string(to_string(options.default_log_level))},
            {"disableAllLogs", options.disable_all_logs}};
  std::lock_guard lock(mu_);
  if (auto r = put_locked(kOptionsKind, "v2", j.dump()); !r) return r;
  v2_ = options;
  publish_locked();
  return store::Done{};
}

std::optional<V2LoggingOptions> LoggingOptions::v2() const {
  std::lock_guard lock(mu_);
  return v2_;
}

Result<store::Done, LoggingError> LoggingOptions::set_level(const LogTarget& target, LogLevel level) {
  if (auto r = validate_target(target); !r) return r;
  std::lock_guard lock(mu_);
  if (!v2_) return logging_error(Kind::NotConfigured, "v2 logging is not configured: call SetV2LoggingOptions first");
  if (target.type == LogTargetType::Default) {
    V2LoggingOptions updated = *v2_;
    updated.default_log_level = level;
    json j = {{"roleArn", updated.role_arn},
              {"defaultLogLevel", std::string(to_string(updated.default_log_level))},
              {"disableAllLogs", updated.disable_all_logs}};
    if (auto r = put_locked(kOptionsKind, "v2", j.dump()); !r) return r;
    v2_ = updated;
    publish_locked();
    return store::Done{};
  }
  auto pos = std::lower_bound(levels_.begin(), levels_.end(), target, [](const auto& c, const LogTarget& t) {
    return std::tie(c.target.type, c.target.name) < std::tie(t.type, t.name);
  });
  bool exists = pos != levels_.end() && pos->target == target;
  if (!exists && levels_.size() >= max_target_levels_)
    return logging_error(Kind::LimitExceeded,
                         "at most " + std::to_string(max_target_levels_) + " logging levels can be set; delete one first");
  json j = {{"targetType", std::string(to_string(target.type))},
            {"targetName", target.name},
            {"logLevel", std::string(to_string(level))}};
  if (auto r = put_locked(kLevelKind, level_key(target), j.dump()); !r) return r;
  if (exists)
    pos->level = level;
  else
    levels_.insert(pos, LogTargetConfiguration{target, level});
  publish_locked();
  return store::Done{};
}

Result<std::vector<LogTargetConfiguration>, LoggingError> LoggingOptions::list_levels(
    std::optional<LogTargetType> type) const {
  std::lock_guard lock(mu_);
  if (!v2_) return logging_error(Kind::NotConfigured, "v2 logging is not configured: call SetV2LoggingOptions first");
  std::vector<LogTargetConfiguration> out;
  if (!type || *type == LogTargetType::Default)
    out.push_back({LogTarget{LogTargetType::Default, ""}, v2_->default_log_level});
  for (const auto& c : levels_)
    if (!type || c.target.type == *type) out.push_back(c);
  return out;
}

Result<store::Done, LoggingError> LoggingOptions::delete_level(const LogTarget& target) {
  if (target.type == LogTargetType::Default)
    return invalid("the DEFAULT logging level cannot be deleted; change it with SetV2LoggingOptions");
  if (auto r = validate_target(target); !r) return r;
  std::lock_guard lock(mu_);
  auto pos = std::find_if(levels_.begin(), levels_.end(), [&](const auto& c) { return c.target == target; });
  if (pos == levels_.end())
    return logging_error(Kind::ResourceNotFound, "no logging level is set for " + std::string(to_string(target.type)) +
                                                     " '" + target.name + "'");
  store::Mutation m;
  m.op = store::Mutation::Op::Delete;
  m.kind = kLevelKind;
  m.key = level_key(target);
  auto r = store_.apply({m});
  if (!r) return store_failure("cannot delete logging level '" + m.key + "'", r.error());
  levels_.erase(pos);
  publish_locked();
  return store::Done{};
}

void LoggingOptions::publish_locked() {
  auto p = std::make_shared<LoggingPolicy>();
  if (v2_) {
    if (!v2_->disable_all_logs) {
      p->default_level_ = v2_->default_log_level;
      bool any_enabled = p->default_level_ != LogLevel::Disabled;
      for (const auto& c : levels_) {
        LoggingPolicy::LevelMap* map = nullptr;
        switch (c.target.type) {
          case LogTargetType::ClientId: map = &p->client_ids_; break;
          case LogTargetType::SourceIp: map = &p->source_ips_; break;
          case LogTargetType::PrincipalId: map = &p->principal_ids_; break;
          case LogTargetType::ThingGroup: map = &p->thing_groups_; break;
          case LogTargetType::Default: break;
        }
        if (!map) continue;
        (*map)[c.target.name] = c.level;
        p->targets_ = true;
        any_enabled = any_enabled || c.level != LogLevel::Disabled;
      }
      p->enabled_ = any_enabled;
    }
  } else if (v1_) {
    p->default_level_ = v1_->log_level;
    p->enabled_ = v1_->log_level != LogLevel::Disabled;
  }
  std::shared_ptr<const LoggingPolicy> published = std::move(p);
  {
    std::lock_guard lock(policy_mu_);
    policy_.swap(published);
    enabled_.store(policy_->enabled(), std::memory_order_relaxed);
  }
  // `published` now holds the old snapshot; it is freed here, outside the lock
  // (or later, by the last reader still using it).
}

}  // namespace fg::eventlog
