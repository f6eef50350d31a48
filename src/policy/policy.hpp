// AWS IoT policy engine: parse and validate policy documents exactly as AWS
// IoT Core does, compile the documents that apply to one connection into an
// immutable PolicySnapshot, and answer "may this connection do ACTION on this
// resource" on the data plane without allocating or building ARN strings.
//
// Usage:
//   - control plane, once per policy version: parse_policy_document(json)
//     -> PolicyDocument (or a PolicyError whose message names what is wrong and
//     where, e.g. "Statement[1].Effect: must be Allow or Deny"; the API maps it
//     to MalformedPolicyException). Keep the document in a
//     std::shared_ptr<const PolicyDocument> next to the policy version.
//   - control plane, per connection (and again whenever a policy version,
//     attachment, group membership, thing attribute or certificate status
//     changes): compile_policies(documents, context) ->
//     std::shared_ptr<const PolicySnapshot>. `documents` is the union of the
//     policies attached to the certificate and to every thing group (and
//     ancestor group) of the thing; the caller resolves the hierarchy.
//   - data plane: snapshot->allowed(Action::Publish, topic). The resource name
//     is the client id for Connect, the topic name for Publish / Receive /
//     RetainPublish / GetRetainedMessage, the topic filter for Subscribe and
//     the thing name for the shadow and job actions.
//
// Semantics: default deny; any matching Deny wins over every Allow. Resources
// are ARNs (arn:<partition>:iot:<region>:<account>:<type>/<name>) or "*";
// `*` and `?` are wildcards in Action, Resource and the *Like conditions,
// MQTT `+` and `#` are literal. An ARN whose partition, region or account does
// not match the connection never matches. Policy variables (Version
// 2012-10-17 only; with 2008-10-17 "${...}" is literal text) are substituted
// at compile time, and the substituted text is always literal (a client id
// "a*" does not become a wildcard). A Resource entry with a variable that does
// not resolve matches nothing; a Condition or NotResource entry with a variable
// that does not resolve makes its whole statement not apply. Conditions depend
// only on the connection, so they are decided at compile time.
//
// Threading: parse_policy_document and compile_policies are pure functions,
// callable from any thread. A PolicySnapshot is immutable: share it freely
// across threads through the shared_ptr; evaluation takes no lock.
// Errors: nothing in this header throws on bad input (only std::bad_alloc
// can escape).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "policy/pattern_set.hpp"

namespace fg::policy {

// ---------------------------------------------------------------------------
// Actions

// The AWS IoT data actions fleetguard authorises. iot:* and wildcard forms in
// a policy expand to these; other syntactically valid actions are accepted in
// documents and simply never match.
enum class Action : std::uint8_t {
  Connect,
  Publish,
  Subscribe,
  Receive,
  RetainPublish,
  GetRetainedMessage,
  GetThingShadow,
  UpdateThingShadow,
  DeleteThingShadow,
  ListNamedShadowsForThing,
  DescribeJobExecution,
  GetPendingJobExecutions,
  StartNextPendingJobExecution,
  UpdateJobExecution,
};
inline constexpr std::size_t kActionCount = 14;
static_assert(kActionCount <= 32, "Statement::action_mask is 32 bits");

// "iot:Publish" etc.
std::string_view to_string(Action action) noexcept;
// Exact action name, case-insensitive as in AWS ("iot:publish" works);
// no wildcards. std::nullopt for anything else.
std::optional<Action> action_from_string(std::string_view name) noexcept;

// What the resource name of an action is (and its ARN type segment).
enum class ResourceType : std::uint8_t { Client, Topic, TopicFilter, Thing };
ResourceType resource_type(Action action) noexcept;
// "client", "topic", "topicfilter", "thing".
std::string_view to_string(ResourceType type) noexcept;

// ---------------------------------------------------------------------------
// Documents

inline constexpr std::size_t kMaxPolicyDocumentChars = 2048;  // excluding whitespace

struct PolicyError {
  std::string message;  // "Statement[1].Effect: must be Allow or Deny"
};

enum class PolicyLanguageVersion : std::uint8_t { V2008_10_17, V2012_10_17 };
enum class Effect : std::uint8_t { Allow, Deny };
// Whether a statement lists what it applies to (Action/Resource) or what it
// does not (NotAction/NotResource).
enum class ListKind : std::uint8_t { Listed, AllExcept };

enum class ConditionOperator : std::uint8_t {
  StringEquals,
  StringNotEquals,
  StringEqualsIgnoreCase,
  StringNotEqualsIgnoreCase,
  StringLike,
  StringNotLike,
  NumericEquals,
  NumericNotEquals,
  NumericLessThan,
  NumericLessThanEquals,
  NumericGreaterThan,
  NumericGreaterThanEquals,
  Bool,
  IpAddress,
  NotIpAddress,
  ArnEquals,
  ArnNotEquals,
  ArnLike,
  ArnNotLike,
  Null,
};
// ForAnyValue: / ForAllValues: prefixes (every fleetguard key is single-valued,
// so they only change what an absent key means).
enum class SetQualifier : std::uint8_t { None, ForAnyValue, ForAllValues };
enum class IfExists : std::uint8_t { No, Yes };

struct Condition {
  ConditionOperator op = ConditionOperator::StringEquals;
  SetQualifier qualifier = SetQualifier::None;
  IfExists if_exists = IfExists::No;
  std::string key;                  // as written, e.g. "iot:Connection.Thing.Attributes[floor]"
  std::vector<std::string> values;  // as written (numbers and booleans in their JSON text)
};

struct Statement {
  std::string sid;
  Effect effect = Effect::Allow;
  ListKind action_kind = ListKind::Listed;
  std::vector<std::string> actions;  // as written
  ListKind resource_kind = ListKind::Listed;
  std::vector<std::string> resources;  // as written
  std::vector<Condition> conditions;   // all must hold
  // Set by parse_policy_document: bit i set when the statement applies to
  // Action(i) (NotAction already inverted), so that compiling does not match
  // action wildcards again for every connection.
  std::uint32_t action_mask = 0;
};

struct PolicyDocument {
  PolicyLanguageVersion version = PolicyLanguageVersion::V2012_10_17;
  std::string id;  // optional "Id"
  std::vector<Statement> statements;
};

// Number of characters (UTF-8 code points) in `json` that are not whitespace:
// the measure of AWS's 2048-character limit.
std::size_t policy_document_size(std::string_view json) noexcept;

// Parses and validates a policy document. Rejects invalid JSON, duplicate
// keys, unknown fields, a wrong Version, bad Effect/Action/Resource/Condition
// values and documents over kMaxPolicyDocumentChars.
Result<PolicyDocument, PolicyError> parse_policy_document(std::string_view json);

// ---------------------------------------------------------------------------
// Connection context

enum class ThingAttachment : std::uint8_t { NotAttached, Attached };

struct ThingContext {
  std::string name;
  std::string type_name;  // empty: the thing has no type
  std::map<std::string, std::string, std::less<>> attributes;
  ThingAttachment attachment = ThingAttachment::Attached;  // to the connecting certificate
};

// What the policy variables and condition keys of one connection resolve to.
struct ConnectionContext {
  std::string client_id;
  // The registry thing whose name equals client_id, if there is one. Thing
  // variables (ThingName, ThingTypeName, Attributes[...]) resolve only when it
  // is present, its name equals client_id and it is attached to the
  // certificate; IsAttached resolves to "true"/"false" whenever it is present.
  std::optional<ThingContext> thing;
  std::string certificate_id;  // empty: no certificate (anonymous listener)
  // ${iot:Certificate.<field>}: keys without the "iot:Certificate." prefix,
  // e.g. "Subject.CommonName", "Issuer.Organization", "SerialNumber",
  // "Subject.AlternativeName.DNSName". See add_distinguished_name_fields.
  std::map<std::string, std::string, std::less<>> certificate_fields;
  std::string source_ip;  // aws:SourceIp; empty: unknown
  std::string partition = "aws";
  std::string region = "us-east-1";
  std::string account = "123456789012";
};

// Adds "<prefix>.<AWS field name>" entries for OpenSSL short-name DN fields
// (CN -> CommonName, O -> Organization, OU -> OrganizationalUnit, C -> Country,
// ST -> State, L -> Locality, serialNumber -> SerialNumber, title -> Title,
// SN -> Surname, GN -> GivenName, initials -> Initials, pseudonym ->
// Pseudonym, generationQualifier -> GenerationQualifier, dnQualifier ->
// DistinguishedNameQualifier). `prefix` is "Subject" or "Issuer".
void add_distinguished_name_fields(std::map<std::string, std::string, std::less<>>& out,
                                   std::string_view prefix,
                                   const std::map<std::string, std::string>& short_names);

// ---------------------------------------------------------------------------
// Compiled snapshot

enum class Decision : std::uint8_t { Allow, ExplicitDeny, ImplicitDeny };
std::string_view to_string(Decision decision) noexcept;

class PolicySnapshot {
 public:
  // The full decision (for logging why something was refused).
  Decision evaluate(Action action, std::string_view resource_name) const noexcept {
    const Rules& r = rules_[static_cast<std::size_t>(action)];
    if (r.deny.matches(resource_name)) return Decision::ExplicitDeny;
    for (const auto& except : r.deny_all_except)
      if (!except.matches(resource_name)) return Decision::ExplicitDeny;
    if (r.allow.matches(resource_name)) return Decision::Allow;
    for (const auto& except : r.allow_all_except)
      if (!except.matches(resource_name)) return Decision::Allow;
    return Decision::ImplicitDeny;
  }
  bool allowed(Action action, std::string_view resource_name) const noexcept {
    return evaluate(action, resource_name) == Decision::Allow;
  }

  // A snapshot that denies everything (no policies).
  static std::shared_ptr<const PolicySnapshot> deny_all();

  // Number of compiled patterns (diagnostics and tests).
  std::size_t pattern_count() const noexcept;

  struct Rules {
    detail::PatternSet deny;
    std::vector<detail::PatternSet> deny_all_except;  // one per NotResource Deny statement
    detail::PatternSet allow;
    std::vector<detail::PatternSet> allow_all_except;  // one per NotResource Allow statement
  };

 private:
  friend std::shared_ptr<const PolicySnapshot> compile_policies(std::span<const PolicyDocument* const>,
                                                                const ConnectionContext&);
  std::array<Rules, kActionCount> rules_;
};

// Compiles the documents that apply to one connection. Null pointers are
// skipped. Never fails: a document was validated when it was parsed.
std::shared_ptr<const PolicySnapshot> compile_policies(std::span<const PolicyDocument* const> documents,
                                                       const ConnectionContext& context);
std::shared_ptr<const PolicySnapshot> compile_policies(
    const std::vector<std::shared_ptr<const PolicyDocument>>& documents, const ConnectionContext& context);

}  // namespace fg::policy
