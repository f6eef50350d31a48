// Registry: fleetguard's source of truth for things, thing types, thing
// groups, device certificates and thing-principal attachments, with AWS IoT
// semantics (names, limits, idempotent creates, expected versions, attribute
// merge, certificate status rules). Later slices add CAs, policies and policy
// attachments here.
//
// Ownership: the Registry keeps the whole registry in memory (reads never touch
// the store) and writes every successful mutation through the borrowed
// store::Store in ONE atomic batch. The in-memory copy changes only after the
// store write succeeded, so a failed write changes nothing. The Store must
// outlive the Registry.
//
// Threading: every public method may be called from any thread. One
// std::shared_mutex guards the in-memory state: reads take it shared, mutations
// take it exclusively for the whole validate -> store write -> update sequence,
// so mutations are serialised and readers never see a half-applied change.
// The store write happens under the exclusive lock (control plane only; the
// data plane never calls the registry directly).
//
// Certificates are issued and verified by the borrowed built-in
// identity::CertificateAuthority (RegistryConfig::certificate_authority), which
// must outlive the Registry. Certificate status observers are called after the
// change is durable, outside the registry lock (see
// on_certificate_status_change).
//
// Errors: bad input never throws out of the public API; it returns a
// RegistryError whose kind maps to the AWS exception type and whose message
// names the offending field.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "identity/certificate_authority.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace fg::registry {

struct RegistryError {
  // CertificateState maps to AWS CertificateStateException, DeleteConflict to
  // DeleteConflictException.
  enum class Kind {
    ResourceNotFound,
    ResourceAlreadyExists,
    InvalidRequest,
    VersionConflict,
    LimitExceeded,
    Internal,
    CertificateState,
    DeleteConflict,
    MalformedPolicy,         // AWS MalformedPolicyException
    VersionsLimitExceeded,   // AWS VersionsLimitExceededException
  };
  Kind kind = Kind::Internal;
  std::string message;
};

struct RegistryConfig {
  std::string region = "us-east-1";
  std::string account_id = "123456789012";
  // Seconds since the Unix epoch; injectable for tests. Empty = system clock.
  std::function<int64_t()> now_epoch_seconds;
  // The built-in CA that issues and verifies device certificates; borrowed, it
  // must outlive the Registry. Without one, certificate operations that need
  // it fail with InvalidRequest.
  const identity::CertificateAuthority* certificate_authority = nullptr;
};

using Attributes = std::map<std::string, std::string>;

struct Thing {
  std::string name, id /*uuid*/, arn, thing_type;
  Attributes attributes;
  int64_t version = 1;
  bool operator==(const Thing&) const = default;
};

struct ThingType {
  std::string name, id, arn, description;
  std::vector<std::string> searchable_attributes;
  bool deprecated = false;
  int64_t creation_date = 0, deprecation_date = 0;
  bool operator==(const ThingType&) const = default;
};

struct ThingGroup {
  std::string name, id, arn, parent, description;
  Attributes attributes;
  int64_t version = 1;
  int64_t creation_date = 0;
  bool operator==(const ThingGroup&) const = default;
};

// AWS attributePayload: with Merge, the given attributes are merged into the
// existing ones and an empty value removes that attribute; with Replace, the
// given attributes replace the existing set (empty values are dropped).
enum class AttributeMerge { Replace, Merge };
struct AttributePayload {
  Attributes attributes;
  AttributeMerge merge = AttributeMerge::Replace;
};

struct ThingUpdate {
  std::optional<std::string> thing_type;  // set a (new) type
  bool remove_thing_type = false;         // AWS removeThingType; exclusive with thing_type
  std::optional<AttributePayload> attribute_payload;  // absent = attributes unchanged
  std::optional<int64_t> expected_version;
};

struct ThingFilter {
  std::optional<std::string> attribute_name;
  std::optional<std::string> attribute_value;  // only with attribute_name
  std::optional<std::string> thing_type;
};

struct ThingTypeProperties {
  std::string description;
  std::vector<std::string> searchable_attributes;  // at most 3
};

enum class Deprecation { Deprecate, Undeprecate };

struct ThingGroupProperties {
  std::string description;
  Attributes attributes;
};

struct ThingGroupUpdate {
  std::optional<std::string> description;
  std::optional<AttributePayload> attribute_payload;
  std::optional<int64_t> expected_version;
};

enum class Recursion { Direct, Recursive };

// AWS CertificateStatus. Only Active certificates may authenticate devices.
enum class CertificateStatus { Active, Inactive, Revoked, PendingTransfer, RegisterInactive, PendingActivation };
// "ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE",
// "PENDING_ACTIVATION".
std::string to_string(CertificateStatus status);
std::optional<CertificateStatus> parse_certificate_status(const std::string& text);

// A device certificate (AWS CertificateDescription).
struct Certificate {
  std::string id;   // lowercase hex SHA-256 of the DER (identity::CertificateInfo::id)
  std::string arn;  // arn:aws:iot:<region>:<account>:cert/<id>
  std::string pem;
  CertificateStatus status = CertificateStatus::Inactive;
  std::string ca_certificate_id;  // the issuing CA's certificate id
  std::string owned_by;           // account id
  int64_t creation_date = 0, last_modified_date = 0;
  int64_t not_before = 0, not_after = 0;  // validity, Unix seconds
  std::string subject, issuer;
  std::string key_algorithm;  // "EC", "RSA"
  int key_bits = 0;
  int64_t version = 1;  // AWS generationId: grows by one per change
  bool operator==(const Certificate&) const = default;
};

// CreateKeysAndCertificate's answer: the private key is handed out once and
// never stored.
struct CreatedKeysAndCertificate {
  Certificate certificate;
  std::string private_key_pem;
  std::string public_key_pem;
};

enum class ActivationOnCreate { Inactive, Active };  // AWS setAsActive
enum class ForceDelete { No, Yes };                  // AWS forceDelete

// A registered CA certificate (AWS CACertificateDescription): device
// certificates it signed may be registered, and devices chaining to it may
// connect while it is ACTIVE.
enum class CaCertificateStatus { Active, Inactive };
enum class AutoRegistration { Disable, Enable };  // AWS autoRegistrationStatus
// "ACTIVE"/"INACTIVE", "ENABLE"/"DISABLE".
std::string to_string(CaCertificateStatus status);
std::string to_string(AutoRegistration status);
std::optional<CaCertificateStatus> parse_ca_certificate_status(const std::string& text);
std::optional<AutoRegistration> parse_auto_registration(const std::string& text);

struct CaCertificate {
  std::string id, arn, pem;
  CaCertificateStatus status = CaCertificateStatus::Inactive;
  AutoRegistration auto_registration = AutoRegistration::Disable;
  std::string certificate_mode = "DEFAULT";  // or "SNI_ONLY" (registered without verification)
  std::string owned_by;
  int64_t creation_date = 0, last_modified_date = 0;
  int64_t not_before = 0, not_after = 0;
  std::string subject;
  std::string key_algorithm;
  int key_bits = 0;
  int64_t version = 1;  // AWS customerVersion / generationId
  bool operator==(const CaCertificate&) const = default;
};

struct RegisterCaCertificateRequest {
  std::string ca_certificate_pem;
  // Proof of possession (certificateMode DEFAULT): a certificate whose common
  // name is the account's registration code, signed by the CA's key.
  // Absent = SNI_ONLY mode, as AWS allows.
  std::optional<std::string> verification_certificate_pem;
  ActivationOnCreate activation = ActivationOnCreate::Inactive;  // AWS setAsActive
  AutoRegistration auto_registration = AutoRegistration::Disable;
};

struct CaCertificateUpdate {
  std::optional<CaCertificateStatus> status;
  std::optional<AutoRegistration> auto_registration;
};

using CaCertificateObserver = std::function<void(const std::string& ca_certificate_id, CaCertificateStatus status)>;

// What the TLS handshake needs to know about a certificate, from memory.
struct CertificateAuthState {
  CertificateStatus status = CertificateStatus::Inactive;
  std::string ca_certificate_id;
  int64_t not_before = 0, not_after = 0;
  bool ca_active = false;           // the built-in CA, or a registered CA that is ACTIVE
  std::vector<std::string> things;  // attached things, ordered
};

using CertificateObserver = std::function<void(const std::string& certificate_id, CertificateStatus status)>;

// An AWS IoT policy: up to 5 versions, one of them the default (the one
// enforced). Documents are validated by the policy engine on the way in and
// kept parsed.
struct PolicyVersion {
  std::string version_id;  // "1", "2", ... never reused within a policy
  std::string document;    // the JSON as given
  std::shared_ptr<const policy::PolicyDocument> parsed;
  int64_t create_date = 0;
};

struct Policy {
  std::string name, arn;
  std::string default_version_id;
  std::vector<PolicyVersion> versions;  // ascending version id
  int64_t creation_date = 0, last_modified_date = 0;
  int64_t generation_id = 1;  // grows by one per change
  int64_t next_version = 2;
  const PolicyVersion* default_version() const;
};

enum class SetAsDefault { No, Yes };

// Something the policy snapshots of live connections depend on changed:
// a policy's default version, an attachment, a group membership, a thing's
// attributes or principals. Coarse on purpose; the broker recompiles.
using AuthorizationObserver = std::function<void()>;

// AWS limits implemented here.
inline constexpr std::size_t kMaxAttributesUntyped = 3;
inline constexpr std::size_t kMaxAttributesTyped = 50;
inline constexpr std::size_t kMaxGroupAttributes = 50;
inline constexpr std::size_t kMaxSearchableAttributes = 3;
inline constexpr std::size_t kMaxGroupsPerThing = 10;
inline constexpr std::size_t kMaxGroupDepth = 7;
inline constexpr std::size_t kMaxPolicyVersions = 5;
inline constexpr std::size_t kMaxPoliciesPerTarget = 10;

class Registry {
 public:
  // Loads everything from the store into memory. A corrupt or dangling record
  // makes open() fail with Internal, naming the record.
  static Result<std::unique_ptr<Registry>, RegistryError> open(store::Store& store, RegistryConfig cfg);

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // ---- things ----
  // Creating a thing identical to an existing one (same type and attributes)
  // returns the existing thing; a different one is ResourceAlreadyExists.
  Result<Thing, RegistryError> create_thing(const std::string& name, const std::string& thing_type,
                                            Attributes attributes);
  Result<Thing, RegistryError> describe_thing(const std::string& name) const;
  Result<Thing, RegistryError> update_thing(const std::string& name, const ThingUpdate& update);
  // Like AWS, deleting a thing that does not exist succeeds. The thing's group
  // memberships are removed in the same batch.
  Result<store::Done, RegistryError> delete_thing(const std::string& name,
                                                  std::optional<int64_t> expected_version = std::nullopt);
  std::vector<Thing> list_things(const ThingFilter& filter = {}) const;  // ordered by name

  // ---- thing types ----
  Result<ThingType, RegistryError> create_thing_type(const std::string& name, const ThingTypeProperties& props);
  Result<ThingType, RegistryError> describe_thing_type(const std::string& name) const;
  Result<store::Done, RegistryError> deprecate_thing_type(const std::string& name, Deprecation action);
  // AWS requires the type to be deprecated for 5 minutes before deletion; we
  // require only that it is deprecated, and that no thing uses it.
  Result<store::Done, RegistryError> delete_thing_type(const std::string& name);
  std::vector<ThingType> list_thing_types() const;

  // ---- thing groups ----
  Result<ThingGroup, RegistryError> create_thing_group(const std::string& name,
                                                       const std::optional<std::string>& parent,
                                                       const ThingGroupProperties& props);
  Result<ThingGroup, RegistryError> describe_thing_group(const std::string& name) const;
  Result<ThingGroup, RegistryError> update_thing_group(const std::string& name, const ThingGroupUpdate& update);
  // Refused (InvalidRequest) while the group has child groups. Deleting a group
  // that does not exist succeeds; memberships are removed in the same batch.
  Result<store::Done, RegistryError> delete_thing_group(const std::string& name,
                                                        std::optional<int64_t> expected_version = std::nullopt);
  // Without a parent: every group. With a parent: its direct children, or all
  // its descendants with Recursion::Recursive. Ordered by name.
  std::vector<ThingGroup> list_thing_groups(const std::optional<std::string>& parent = std::nullopt,
                                            Recursion recursion = Recursion::Direct) const;
  // Adding a thing already in the group succeeds; an 11th group is LimitExceeded.
  Result<store::Done, RegistryError> add_thing_to_thing_group(const std::string& group, const std::string& thing);
  // Removing a thing that is not in the group succeeds.
  Result<store::Done, RegistryError> remove_thing_from_thing_group(const std::string& group,
                                                                   const std::string& thing);
  // Thing names, ordered; Recursive includes things in all descendant groups.
  Result<std::vector<std::string>, RegistryError> list_things_in_thing_group(const std::string& group,
                                                                             Recursion recursion) const;
  // The groups the thing is directly in, ordered by name.
  Result<std::vector<std::string>, RegistryError> list_thing_groups_for_thing(const std::string& thing) const;
  // Parent, grandparent, ... up to the root; empty for a root or unknown group.
  std::vector<std::string> ancestors(const std::string& group) const;
  // The thing's groups plus all their ancestors, ordered by name, no duplicates;
  // empty for an unknown thing. Used by the policy engine.
  std::vector<std::string> effective_groups(const std::string& thing) const;

  // ---- certificates ----
  // Device leaves are EC P-256 with CN "AWS IoT Certificate", like AWS.
  Result<CreatedKeysAndCertificate, RegistryError> create_keys_and_certificate(ActivationOnCreate activation);
  // Only the CSR's subject and public key are used.
  Result<Certificate, RegistryError> create_certificate_from_csr(const std::string& csr_pem,
                                                                 ActivationOnCreate activation);
  // Registers a certificate issued elsewhere. For now it must chain to the
  // built-in CA (others are InvalidRequest); status must be ACTIVE, INACTIVE
  // or REGISTER_INACTIVE. A certificate already registered is
  // ResourceAlreadyExists.
  Result<Certificate, RegistryError> register_certificate(const std::string& pem,
                                                          CertificateStatus status = CertificateStatus::Inactive);
  Result<Certificate, RegistryError> describe_certificate(const std::string& id) const;
  // Idempotent. REVOKED is final: any other status on a revoked certificate is
  // CertificateState. PENDING_TRANSFER and PENDING_ACTIVATION are internal to
  // AWS and refused (InvalidRequest).
  Result<Certificate, RegistryError> update_certificate(const std::string& id, CertificateStatus new_status);
  // Refused while ACTIVE (CertificateState) or attached to a thing
  // (DeleteConflict). force_delete concerns attached policies, which do not
  // exist yet, so it changes nothing today.
  Result<store::Done, RegistryError> delete_certificate(const std::string& id,
                                                        ForceDelete force_delete = ForceDelete::No);
  // Ordered by creation date, then id.
  std::vector<Certificate> list_certificates() const;
  // Memory-only lookup for the broker's connection path; nullopt when unknown.
  std::optional<Certificate> find_certificate(const std::string& id) const;
  // The handshake's view of a certificate (no PEM copy); nullopt when unknown.
  std::optional<CertificateAuthState> certificate_auth_state(const std::string& id) const;
  // Registers an observer called after every durable status change and every
  // delete (with the status the certificate had when deleted). It runs on the
  // mutating thread after the registry lock is released, so it may call the
  // registry; two concurrent changes may be reported in either order, so an
  // observer that needs the current state reads find_certificate(). Observers
  // cannot be removed and must outlive the Registry's use.
  void on_certificate_status_change(CertificateObserver observer);

  // ---- CA certificates (registry/ca_certificates.cpp) ----
  // The account's registration code (64 hex characters), created on first use
  // and kept until deleted; verification certificates carry it as their CN.
  Result<std::string, RegistryError> registration_code();
  Result<store::Done, RegistryError> delete_registration_code();
  // Registers a CA after checking it is a CA certificate, currently valid,
  // and (DEFAULT mode) that the verification certificate carries the
  // registration code and is signed by the CA's key. The built-in CA cannot
  // be registered (it is trusted already). Errors: InvalidRequest
  // (AWS CertificateValidationException / RegistrationCodeValidationException
  // say which), ResourceAlreadyExists.
  Result<CaCertificate, RegistryError> register_ca_certificate(const RegisterCaCertificateRequest& request);
  Result<CaCertificate, RegistryError> describe_ca_certificate(const std::string& id) const;
  // Observers hear about every status change (and deletion, as INACTIVE).
  Result<CaCertificate, RegistryError> update_ca_certificate(const std::string& id, const CaCertificateUpdate& update);
  // Refused while ACTIVE or while device certificates it signed are
  // registered (CertificateState).
  Result<store::Done, RegistryError> delete_ca_certificate(const std::string& id);
  std::vector<CaCertificate> list_ca_certificates() const;  // by creation date, then id
  // Device certificates whose CA is `ca_id` (ordered like list_certificates).
  std::vector<Certificate> list_certificates_by_ca(const std::string& ca_id) const;
  // Memory-only lookup for the handshake; nullopt when unknown.
  std::optional<CaCertificate> find_ca_certificate(const std::string& id) const;
  // Just-in-time registration: records a device certificate signed by the
  // registered CA `ca_id` (which must have auto-registration on) as
  // PENDING_ACTIVATION. ResourceAlreadyExists when it is known already.
  Result<Certificate, RegistryError> register_pending_certificate(const std::string& pem, const std::string& ca_id);
  void on_ca_certificate_status_change(CaCertificateObserver observer);

  // ---- policies (registry/policies.cpp) ----
  // Errors: InvalidRequest (name), MalformedPolicy (document, with the policy
  // engine's message), ResourceAlreadyExists, ResourceNotFound,
  // VersionsLimitExceeded (a 6th version), DeleteConflict (deleting the
  // default version; deleting a policy that is attached or has other versions).
  Result<Policy, RegistryError> create_policy(const std::string& name, const std::string& document);
  Result<Policy, RegistryError> get_policy(const std::string& name) const;
  Result<PolicyVersion, RegistryError> get_policy_version(const std::string& name, const std::string& version_id) const;
  Result<PolicyVersion, RegistryError> create_policy_version(const std::string& name, const std::string& document,
                                                             SetAsDefault set_as_default);
  Result<store::Done, RegistryError> set_default_policy_version(const std::string& name,
                                                                const std::string& version_id);
  Result<store::Done, RegistryError> delete_policy_version(const std::string& name, const std::string& version_id);
  Result<store::Done, RegistryError> delete_policy(const std::string& name);
  std::vector<Policy> list_policies() const;  // by name
  // Targets are certificate ARNs and thing group ARNs. Attaching twice
  // succeeds; an 11th policy on one target is LimitExceeded.
  Result<store::Done, RegistryError> attach_policy(const std::string& name, const std::string& target);
  Result<store::Done, RegistryError> detach_policy(const std::string& name, const std::string& target);
  // Policy names attached to `target`; for a thing group with
  // Recursion::Recursive, also those of its ancestors.
  Result<std::vector<std::string>, RegistryError> list_attached_policies(const std::string& target,
                                                                         Recursion recursion) const;
  Result<std::vector<std::string>, RegistryError> list_targets_for_policy(const std::string& name) const;
  // What a connection is authorised by: the default versions of the policies
  // attached to the certificate and to every group (with ancestors) of
  // `thing` (empty: none), without duplicates. Names and documents, by name.
  std::vector<std::pair<std::string, std::shared_ptr<const policy::PolicyDocument>>> effective_policies(
      const std::string& certificate_id, const std::string& thing) const;
  void on_authorization_change(AuthorizationObserver observer);

  // ---- thing principals ----
  // The principal must be the ARN of a registered certificate and the thing
  // must exist (else ResourceNotFound). Attaching twice succeeds, as does
  // detaching a principal that is not attached.
  Result<store::Done, RegistryError> attach_thing_principal(const std::string& thing, const std::string& principal);
  Result<store::Done, RegistryError> detach_thing_principal(const std::string& thing, const std::string& principal);
  // Certificate ARNs attached to the thing, ordered.
  Result<std::vector<std::string>, RegistryError> list_thing_principals(const std::string& thing) const;
  // Names of the things the certificate is attached to, ordered.
  Result<std::vector<std::string>, RegistryError> list_principal_things(const std::string& principal) const;

 private:
  Registry(store::Store& store, RegistryConfig cfg);

  Result<store::Done, RegistryError> write(const std::vector<store::Mutation>& batch);
  Result<store::Done, RegistryError> load();
  int64_t now() const;
  std::string arn(const std::string& resource, const std::string& name) const;
  std::vector<std::string> ancestors_locked(const std::string& group) const;
  std::vector<std::string> descendants_locked(const std::string& group) const;
  Result<store::Done, RegistryError> load_certificates_locked();
  Result<store::Done, RegistryError> load_ca_certificates_locked();
  Result<Certificate, RegistryError> add_certificate(const identity::CertificateInfo& info, CertificateStatus status,
                                                     const std::string& ca_id);
  // The id of the CA (built-in or registered) that signed `info`; "" if none.
  std::string issuing_ca_locked(const identity::CertificateInfo& info) const;
  void notify_ca(const std::string& id, CaCertificateStatus status) const;
  void notify_authorization() const;
  Result<store::Done, RegistryError> load_policies_locked();
  Result<store::Done, RegistryError> write_policy_locked(const Policy& p);
  std::string target_key_locked(const std::string& target, RegistryError& error) const;
  Result<std::string, RegistryError> certificate_id_of_arn_locked(const std::string& principal) const;
  void notify(const std::string& id, CertificateStatus status) const;

  store::Store& store_;
  RegistryConfig cfg_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Thing> things_;
  std::map<std::string, ThingType> types_;
  std::map<std::string, ThingGroup> groups_;
  std::map<std::string, std::set<std::string>> groups_of_thing_;   // thing -> groups
  std::map<std::string, std::set<std::string>> things_of_group_;   // group -> things
  std::map<std::string, Certificate> certificates_;                // id -> certificate
  std::map<std::string, CaCertificate> ca_certificates_;           // id -> registered CA
  std::string registration_code_;                                  // "" until first asked
  std::map<std::string, Policy> policies_;                         // name -> policy
  std::map<std::string, std::set<std::string>> targets_of_policy_;  // policy -> target ARNs
  std::map<std::string, std::set<std::string>> policies_of_target_;  // target ARN -> policies
  std::map<std::string, std::set<std::string>> principals_of_thing_;  // thing -> certificate ids
  std::map<std::string, std::set<std::string>> things_of_certificate_;  // certificate id -> things

  mutable std::mutex observers_mu_;  // guards observers_ only; never held with mu_
  std::vector<CertificateObserver> observers_;
  std::vector<CaCertificateObserver> ca_observers_;
  std::vector<AuthorizationObserver> authorization_observers_;
};

}  // namespace fg::registry
