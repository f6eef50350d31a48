// SqliteStore: the embedded default Store, one SQLite file in WAL mode.
//
// Durability: journal_mode=WAL with synchronous=FULL, so the WAL is fsynced
// on every commit and a batch whose apply() returned success survives kill -9
// and power loss as far as SQLite and the file system guarantee it.
//
// Threading: one sqlite3 connection guarded by one mutex. Every call takes the
// mutex for its whole duration, so reads and writes are serialised within a
// process; that is ample for the control plane, which writes through here off
// the hot path. Several processes may open the same file; SQLite's own locks
// (with a busy timeout) serialise them.
//
// Ownership: the store owns the connection and its cached prepared statements
// and closes them in its destructor.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite_util.hpp"
#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace fg::store {

// The migrations this build knows, in order (exposed for tests).
const std::vector<Migration>& sqlite_migrations();

class SqliteStore final : public Store {
 public:
  // Opens the file, sets the pragmas and applies the missing migrations.
  static Result<std::unique_ptr<SqliteStore>, StoreError> open(const std::string& path);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<std::optional<Record>, StoreError> get(const std::string& kind, const std::string& key) override;
  Result<std::vector<Record>, StoreError> list(const std::string& kind,
                                               const std::string& key_prefix = "") override;
  Result<std::vector<int64_t>, StoreError> apply(const std::vector<Mutation>& batch) override;

 private:
  // The statements every call uses, prepared once after migrations ran.
  enum StatementId : std::size_t {
    kGet,
    kListFrom,   // kind = ? AND key >= ?
    kListRange,  // kind = ? AND key >= ? AND key < ?
    kVersion,
    kUpsert,
    kDelete,
    kBegin,
    kCommit,
    kRollback,
    kStatementCount,
  };

  explicit SqliteStore(sqlite3* db) : db_(db) {}

  Result<Done, StoreError> configure();
  Result<Done, StoreError> migrate();
  Result<Done, StoreError> prepare_statements();
  // Applies the batch inside an already open transaction.
  Result<std::vector<int64_t>, StoreError> apply_in_transaction(const std::vector<Mutation>& batch);
  Result<std::optional<int64_t>, StoreError> current_version(const std::string& kind, const std::string& key);
  StoreError io_error(const std::string& what) const;

  std::mutex mu_;
  sqlite3* db_;
  sqlite3_stmt* statements_[kStatementCount] = {};
};

}  // namespace fg::store
