// LoggingOptions: AWS IoT logging configuration (SetLoggingOptions v1,
// SetV2LoggingOptions and the v2 per-target levels of SetV2LoggingLevel),
// validated like AWS, persisted in the Store, and published to the data plane
// as an immutable LoggingPolicy snapshot.
//
// Semantics (what the event log and the audit check LOGGING_DISABLED_CHECK
// rely on):
// - Never configured: logging is DISABLED (enabled() is false).
// - v2 configured (SetV2LoggingOptions was called at least once): v2 wins over
//   v1, as in AWS. disableAllLogs turns everything off; otherwise the level of
//   the most specific matching target applies, else defaultLogLevel.
// - Only v1 configured: its logLevel applies to every client.
//
// Precedence of v2 targets (most specific wins), our choice following AWS's
// documentation ("the more specific target overrides"):
//   CLIENT_ID > SOURCE_IP > PRINCIPAL_ID > THING_GROUP > DEFAULT.
// Thing groups are passed by the caller ordered most specific first (the
// thing's direct groups, deepest first, then their parents up to the roots);
// the first group that has a level wins, so a child group overrides its
// parent.
//
// The DEFAULT target is an alias of the v2 defaultLogLevel: SetV2LoggingLevel
// with targetType DEFAULT sets it, ListV2LoggingLevels reports it, and it
// cannot be deleted.
//
// Threading: the setters are for the control plane and serialise on a mutex
// (one store write each, durable when they return). policy() may be called
// from any thread at any time and returns the current immutable snapshot (a
// shared_ptr copy under a mutex held for that copy only); enabled() is a
// single relaxed atomic load for the data plane's fast path.
//
// Ownership: the Store is borrowed and must outlive the LoggingOptions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "eventlog/eventlog_error.hpp"
#include "store/store.hpp"

namespace fg::eventlog {

// AWS LogLevel. The numeric order is the severity order; Disabled is "nothing".
enum class LogLevel : uint8_t { Debug = 0, Info = 1, Warn = 2, Error = 3, Disabled = 4 };

// AWS LogTargetType.
enum class LogTargetType : uint8_t { Default, ThingGroup, ClientId, SourceIp, PrincipalId };

std::string_view to_string(LogLevel level);            // "DEBUG", ..., "DISABLED"
std::string_view to_string(LogTargetType type);        // "DEFAULT", ..., "PRINCIPAL_ID"
std::optional<LogLevel> parse_log_level(std::string_view text);
std::optional<LogTargetType> parse_log_target_type(std::string_view text);

// True when an event of `event_level` is written under threshold `threshold`.
constexpr bool level_passes(LogLevel event_level, LogLevel threshold) {
  return threshold != LogLevel::Disabled && event_level != LogLevel::Disabled &&
         static_cast<uint8_t>(event_level) >= static_cast<uint8_t>(threshold);
}

struct V1LoggingOptions {
  std::string role_arn;
  LogLevel log_level = LogLevel::Error;  // AWS's default when logLevel is omitted
};

struct V2LoggingOptions {
  std::string role_arn;
  LogLevel default_log_level = LogLevel::Error;  // AWS's default when omitted
  bool disable_all_logs = false;
};

struct LogTarget {
  LogTargetType type = LogTargetType::Default;
  std::string name;  // empty for DEFAULT
  bool operator==(const LogTarget&) const = default;
};

struct LogTargetConfiguration {
  LogTarget target;
  LogLevel level = LogLevel::Error;
};

// The identity of a connection as the level lookup sees it.
struct LogSubject {
  std::string_view client_id;
  std::string_view source_ip;
  std::string_view principal_id;  // the certificate id
  // Most specific first (see the header comment).
  std::span<const std::string> thing_groups;
};

// An immutable, compiled view of the options for the data plane.
class LoggingPolicy {
 public:
  // The policy of a never-configured account: everything disabled.
  LoggingPolicy() = default;

  // Whether any event can be written at all (false when never configured,
  // v2 disableAllLogs, or every applicable level is DISABLED).
  bool enabled() const { return enabled_; }
  // The level that applies to this subject (Disabled = write nothing).
  LogLevel effective_level(const LogSubject& subject) const;
  // Convenience: whether an event of `level` about `subject` is written.
  bool should_log(LogLevel level, const LogSubject& subject) const {
    return enabled_ && level_passes(level, effective_level(subject));
  }

 private:
  friend class LoggingOptions;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using LevelMap = std::unordered_map<std::string, LogLevel, StringHash, std::equal_to<>>;
  static std::optional<LogLevel> find(const LevelMap& map, std::string_view key);

  bool enabled_ = false;
  bool targets_ = false;  // any per-target level at all (skip the lookups if not)
  LogLevel default_level_ = LogLevel::Disabled;
  LevelMap client_ids_, source_ips_, principal_ids_, thing_groups_;
};

class LoggingOptions {
 public:
  // At most this many per-target levels (not counting DEFAULT), as AWS limits them.
  static constexpr size_t kMaxTargetLevels = 1000;

  // Loads the persisted options from `store`; a malformed record is an
  // Internal error naming it. `max_target_levels` is lowered by tests only.
  static Result<std::unique_ptr<LoggingOptions>, LoggingError> open(store::Store& store,
                                                                     size_t max_target_levels = kMaxTargetLevels);

  LoggingOptions(const LoggingOptions&) = delete;
  LoggingOptions& operator=(const LoggingOptions&) = delete;

  // ---- v1: SetLoggingOptions / GetLoggingOptions ----
  Result<store::Done, LoggingError> set_v1(const V1LoggingOptions& options);
  std::optional<V1LoggingOptions> v1() const;  // nullopt: never set

  // ---- v2: SetV2LoggingOptions / GetV2LoggingOptions ----
  Result<store::Done, LoggingError> set_v2(const V2LoggingOptions& options);
  std::optional<V2LoggingOptions> v2() const;  // nullopt: never set (AWS NotConfigured)

  // ---- v2 levels: SetV2LoggingLevel / ListV2LoggingLevels / DeleteV2LoggingLevel ----
  // NotConfigured before set_v2; InvalidRequest for a bad target or level;
  // LimitExceeded past kMaxTargetLevels.
  Result<store::Done, LoggingError> set_level(const LogTarget& target, LogLevel level);
  // Every level (DEFAULT first, then by type and name), or only those of
  // `type`. NotConfigured before set_v2.
  Result<std::vector<LogTargetConfiguration>, LoggingError> list_levels(
      std::optional<LogTargetType> type = std::nullopt) const;
  // ResourceNotFound when no level is set for the target; InvalidRequest for DEFAULT.
  Result<store::Done, LoggingError> delete_level(const LogTarget& target);

  // ---- data plane ----
  std::shared_ptr<const LoggingPolicy> policy() const {
    std::lock_guard lock(policy_mu_);
    return policy_;
  }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // Validation used by the setters (exposed for the API layer's early checks).
  static Result<store::Done, LoggingError> validate_target(const LogTarget& target);

 private:
  LoggingOptions(store::Store& store, size_t max_target_levels)
      : store_(store), max_target_levels_(max_target_levels) {}
  static std::string level_key(const LogTarget& target);
  // Rebuilds and publishes the snapshot; mu_ held.
  void publish_locked();
  Result<store::Done, LoggingError> put_locked(const std::string& kind, const std::string& key,
                                                const std::string& value);

  store::Store& store_;
  const size_t max_target_levels_;
  mutable std::mutex mu_;
  std::optional<V1LoggingOptions> v1_;
  std::optional<V2LoggingOptions> v2_;
  std::vector<LogTargetConfiguration> levels_;  // sorted by (type, name); no DEFAULT
  // A mutex-protected pointer swap rather than std::atomic<std::shared_ptr>:
  // libstdc++ 12's implementation is not understood by ThreadSanitizer, and
  // the data plane only gets here when logging is enabled (enabled() first).
  mutable std::mutex policy_mu_;
  std::shared_ptr<const LoggingPolicy> policy_ = std::make_shared<const LoggingPolicy>();
  std::atomic<bool> enabled_{false};
};

}  // namespace fg::eventlog
