// Store: fleetguard's durable state behind one small interface, so that the
// embedded default (SQLite, sqlite_store.hpp) and a later PostgreSQL backend
// are interchangeable. The registry and the broker's durable state (retained
// messages, persistent sessions) keep their working copy in memory and write
// through here; nothing reads the store on the data plane's hot path.
//
// Model: records identified by (kind, key) holding an opaque value (JSON text
// by convention) and a version that starts at 1 and grows by one per write.
// A write batch is atomic and durable when apply() returns success: after a
// crash or kill -9 the batch is either wholly there or wholly absent, and a
// batch that returned success is always there.
//
// Threading: a Store may be called from several threads; implementations
// serialise writes internally.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace fg::store {

struct StoreError {
  enum class Kind {
    Io,               // disk full, permissions, corruption: the operation did not happen
    VersionConflict,  // an expected version did not match
    Invalid,          // a bad argument (empty kind, ...)
  };
  Kind kind = Kind::Io;
  std::string message;
};

struct Record {
  std::string kind;   // e.g. "thing", "certificate", "retained"
  std::string key;    // unique within its kind
  std::string value;  // opaque to the store
  int64_t version = 0;
};

struct Mutation {
  enum class Op { Put, Delete };
  Op op = Op::Put;
  std::string kind;
  std::string key;
  std::string value;  // for Put
  // When set, the mutation (and with it the whole batch) applies only if the
  // record's current version equals it; 0 means "must not exist".
  std::optional<int64_t> expected_version;
};

// Success marker for results without a value.
struct Done {};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<std::optional<Record>, StoreError> get(const std::string& kind, const std::string& key) = 0;
  // Every record of `kind` whose key starts with `key_prefix`, ordered by key.
  virtual Result<std::vector<Record>, StoreError> list(const std::string& kind,
                                                       const std::string& key_prefix = "") = 0;
  // Applies the batch atomically and durably; on any error nothing changed.
  // Returns the new versions of the Put records, in batch order.
  virtual Result<std::vector<int64_t>, StoreError> apply(const std::vector<Mutation>& batch) = 0;
};

// Opens (creating if needed) the SQLite store at `path` (WAL mode,
// synchronous=FULL, schema migrations applied in order).
Result<std::unique_ptr<Store>, StoreError> open_sqlite_store(const std::string& path);

}  // namespace fg::store
