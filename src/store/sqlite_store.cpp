#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <utility>

namespace fg::store {

namespace {

StoreError invalid(std::string message) { return {StoreError::Kind::Invalid, std::move(message)}; }

// The smallest string greater than every string starting with `prefix`, or
// nullopt when there is none (the prefix is all 0xFF bytes). SQLite compares
// TEXT with memcmp under the BINARY collation, so a byte range is exact for
// keys containing %, _, *, ? or any other byte, with no escaping to get wrong.
std::optional<std::string> prefix_successor(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

std::string describe(const std::string& kind, const std::string& key) { return kind + "/" + key; }

}  // namespace

const std::vector<Migration>& sqlite_migrations() {
  static const std::vector<Migration> migrations = {
      {1,
       "CREATE TABLE records("
       "kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, "
       "PRIMARY KEY(kind, key)) WITHOUT ROWID"},
  };
  return migrations;
}

StoreError SqliteStore::io_error(const std::string& what) const { return sqlite_io_error(db_, what); }

Result<std::unique_ptr<SqliteStore>, StoreError> SqliteStore::open(const std::string& path) {
  if (path.empty()) return unexpected(invalid("store path is empty"));
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  // The store owns the handle from here on, even on failure, so it is closed.
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  if (rc != SQLITE_OK) return unexpected(store->io_error("cannot open store at " + path));
  if (auto r = store->configure(); !r) return unexpected(std::move(r.error()));
  if (auto r = store->migrate(); !r) return unexpected(std::move(r.error()));
  if (auto r = store->prepare_statements(); !r) return unexpected(std::move(r.error()));
  return store;
}

SqliteStore::~SqliteStore() {
  for (sqlite3_stmt* stmt : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<Done, StoreError> SqliteStore::configure() { return sqlite_configure(db_); }

Result<Done, StoreError> SqliteStore::migrate() { return sqlite_migrate(db_, sqlite_migrations()); }

Result<Done, StoreError> SqliteStore::prepare_statements() {
  static constexpr const char* kSql[kStatementCount] = {
      "SELECT value, version FROM records WHERE kind = ?1 AND key = ?2",
      "SELECT key, value, version FROM records WHERE kind = ?1 AND key >= ?2 ORDER BY key",
      "SELECT key, value, version FROM records WHERE kind = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
      "SELECT version FROM records WHERE kind = ?1 AND key = ?2",
      "INSERT INTO records(kind, key, value, version) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value, version = excluded.version",
      "DELETE FROM records WHERE kind = ?1 AND key = ?2",
      "BEGIN IMMEDIATE",
      "COMMIT",
      "ROLLBACK",
  };
  for (std::size_t i = 0; i < kStatementCount; ++i) {
    if (sqlite3_prepare_v3(db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &statements_[i], nullptr) != SQLITE_OK) {
      return unexpected(io_error(std::string("cannot prepare '") + kSql[i] + "'"));
    }
  }
  return Done{};
}

Result<std::optional<Record>, StoreError> SqliteStore::get(const std::string& kind, const std::string& key) {
  if (kind.empty() || key.empty()) return unexpected(invalid("get needs a non-empty kind and key"));
  std::lock_guard lock(mu_);
  StatementUse use(statements_[kGet]);
  use.bind(1, kind);
  use.bind(2, key);
  const int rc = use.step();
  if (rc == SQLITE_DONE) return std::optional<Record>();
  if (rc != SQLITE_ROW) return unexpected(io_error("cannot read " + describe(kind, key)));
  return std::optional<Record>(Record{kind, key, use.text(0), use.integer(1)});
}

Result<std::vector<Record>, StoreError> SqliteStore::list(const std::string& kind, const std::string& key_prefix) {
  if (kind.empty()) return unexpected(invalid("list needs a non-empty kind"));
  const std::optional<std::string> upper = prefix_successor(key_prefix);
  std::lock_guard lock(mu_);
  StatementUse use(statements_[upper ? kListRange : kListFrom]);
  use.bind(1, kind);
  use.bind(2, key_prefix);
  if (upper) use.bind(3, *upper);
  std::vector<Record> out;
  for (;;) {
    const int rc = use.step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return unexpected(io_error("cannot list " + kind));
    out.push_back(Record{kind, use.text(0), use.text(1), use.integer(2)});
  }
  return out;
}

Result<std::optional<int64_t>, StoreError> SqliteStore::current_version(const std::string& kind,
                                                                       const std::string& key) {
  StatementUse use(statements_[kVersion]);
  use.bind(1, kind);
  use.bind(2, key);
  const int rc = use.step();
  if (rc == SQLITE_DONE) return std::optional<int64_t>();
  if (rc != SQLITE_ROW) return unexpected(io_error("cannot read " + describe(kind, key)));
  return std::optional<int64_t>(use.integer(0));
}

Result<std::vector<int64_t>, StoreError> SqliteStore::apply(const std::vector<Mutation>& batch) {
  // Validate everything before touching the file, so bad input costs no lock.
  for (const Mutation& m : batch) {
    if (m.kind.empty() || m.key.empty()) return unexpected(invalid("every mutation needs a non-empty kind and key"));
    if (m.expected_version && *m.expected_version < 0) {
      return unexpected(invalid("expected version of " + describe(m.kind, m.key) + " is negative"));
    }
  }
  if (batch.empty()) return std::vector<int64_t>();

  std::lock_guard lock(mu_);
  {
    StatementUse begin(statements_[kBegin]);
    if (begin.step() != SQLITE_DONE) return unexpected(io_error("cannot begin write transaction"));
  }
  auto result = apply_in_transaction(batch);
  if (result) {
    StatementUse commit(statements_[kCommit]);
    if (commit.step() == SQLITE_DONE) return result;
    result = unexpected(io_error("cannot commit write batch"));
  }
  // Whatever failed (a conflict, a full disk, a failed commit), the batch is
  // rolled back as a whole. A rollback SQLite already did on its own fails
  // harmlessly here.
  StatementUse rollback(statements_[kRollback]);
  rollback.step();
  return result;
}

Result<std::vector<int64_t>, StoreError> SqliteStore::apply_in_transaction(const std::vector<Mutation>& batch) {
  std::vector<int64_t> versions;
  for (const Mutation& m : batch) {
    // Read inside the transaction, so a key written twice in one batch sees
    // the earlier write.
    auto current = current_version(m.kind, m.key);
    if (!current) return unexpected(std::move(current.error()));
    if (m.expected_version) {
      const int64_t actual = current->value_or(0);
      if (actual != *m.expected_version) {
        const std::string found = *current ? "is at version " + std::to_string(actual) : "does not exist";
        const std::string wanted =
            *m.expected_version == 0 ? "expected it not to exist" : "expected version " + std::to_string(*m.expected_version);
        return unexpected(
            StoreError{StoreError::Kind::VersionConflict, describe(m.kind, m.key) + " " + found + ", " + wanted});
      }
    }
    if (m.op == Mutation::Op::Put) {
      const int64_t next = current->value_or(0) + 1;
      StatementUse use(statements_[kUpsert]);
      use.bind(1, m.kind);
      use.bind(2, m.key);
      use.bind(3, m.value);
      use.bind(4, next);
      if (use.step() != SQLITE_DONE) return unexpected(io_error("cannot write " + describe(m.kind, m.key)));
      versions.push_back(next);
    } else {
      // Deleting a missing record is a no-op, so a retried delete succeeds.
      StatementUse use(statements_[kDelete]);
      use.bind(1, m.kind);
      use.bind(2, m.key);
      if (use.step() != SQLITE_DONE) return unexpected(io_error("cannot delete " + describe(m.kind, m.key)));
    }
  }
  return versions;
}

Result<std::unique_ptr<Store>, StoreError> open_sqlite_store(const std::string& path) {
  auto store = SqliteStore::open(path);
  if (!store) return unexpected(std::move(store.error()));
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace fg::store
