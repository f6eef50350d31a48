// AccessKeyStore: the API's key pairs (SigV4 access key id + secret), kept in
// the store (kind "access_key", one JSON record per key id) so they survive
// restarts, and the AWS account id (kind "api_config", key "account_id"),
// generated at first start.
//
// The admin key pair is created on first start and written to
// <data-dir>/admin-credentials as an AWS shared credentials file (mode 0600);
// `fleetguard keys create` adds more keys, possibly read-only, from another
// process: a key id this process has not seen is looked up in the store once
// (and remembered).
//
// Secrets are needed in clear to verify HMAC signatures (as in AWS); they are
// never logged. Threading: every method is thread-safe (one mutex guards the
// in-memory cache; the store serialises its own writes). The Store is
// borrowed and must outlive the AccessKeyStore.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/sigv4.hpp"
#include "common/result.hpp"
#include "store/store.hpp"

namespace fg::api {

// Random key material: "AKIA" + 16 chars of [A-Z2-7], and 40 chars of
// [A-Za-z0-9+/].
std::string random_access_key_id();
std::string random_secret_access_key();

// The 12-digit account id, created (random, not starting with 0) and
// persisted on first call.
Result<std::string, std::string> load_or_create_account_id(store::Store& store);

enum class KeyRole { Admin, User };

class AccessKeyStore {
 public:
  explicit AccessKeyStore(store::Store& store);

  // Creates and persists a new key pair.
  Result<AccessKey, std::string> create(AccessLevel level, KeyRole role = KeyRole::User);
  // The key with this id, from memory or (once per unknown id) the store.
  std::optional<AccessKey> find(const std::string& id);
  // Ensures an admin key exists and <data_dir>/admin-credentials holds it
  // (rewritten when missing). Returns the admin key.
  Result<AccessKey, std::string> ensure_admin(const std::string& data_dir);

 private:
  std::optional<AccessKey> load(const std::string& id);

  store::Store& store_;
  std::mutex mu_;
  std::map<std::string, AccessKey> cache_;
};

// Writes `key` as an AWS shared credentials file ([default]) at `path`,
// mode 0600, atomically (temporary file + rename).
Result<bool, std::string> write_credentials_file(const std::string& path, const AccessKey& key);

}  // namespace fg::api
