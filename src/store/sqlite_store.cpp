#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <utility>

namespace fg::store {

namespace {

// How long a connection waits for another process's lock before giving up
// with an Io error; long enough to ride out a checkpoint or a migration.
constexpr int kBusyTimeoutMs = 5000;

const char* const kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations("
    "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";

// Resets a statement when a call is done with it, whichever way it leaves,
// so that no statement keeps a read transaction open between calls.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  // Binds text by length: keys may hold any bytes, including NUL and 0xFF.
  int bind(int index, const std::string& text) {
    return sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  int bind(int index, int64_t value) { return sqlite3_bind_int64(stmt_, index, value); }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int size = sqlite3_column_bytes(stmt_, column);
    return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3_stmt* stmt_;
};

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

StoreError SqliteStore::io_error(const std::string& what) const {
  return {StoreError::Kind::Io, what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory")};
}

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

Result<Done, StoreError> SqliteStore::configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // journal_mode answers with the mode actually in force; a file that cannot
  // do WAL (or is not a database at all) must not silently run without it.
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
    return unexpected(io_error("cannot set WAL mode"));
  }
  std::optional<std::string> mode;
  std::optional<StoreError> error;
  {
    StatementUse use(stmt);
    if (use.step() == SQLITE_ROW) {
      mode = use.text(0);
    } else {
      error = io_error("cannot set WAL mode");
    }
  }
  sqlite3_finalize(stmt);
  if (error) return unexpected(std::move(*error));
  if (mode != "wal") {
    return unexpected(StoreError{StoreError::Kind::Io, "store refused WAL mode (got " + mode.value_or("") + ")"});
  }
  if (sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return unexpected(io_error("cannot set synchronous=FULL"));
  }
  return Done{};
}

Result<Done, StoreError> SqliteStore::migrate() {
  if (sqlite3_exec(db_, kCreateMigrationsTable, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return unexpected(io_error("cannot create schema_migrations"));
  }
  const int64_t known = sqlite_migrations().back().version;

  // Each migration runs in its own IMMEDIATE transaction and re-checks the
  // applied version inside it, so two processes opening a fresh file at once
  // do not both apply it.
  auto applied_version = [this]() -> Result<int64_t, StoreError> {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &stmt, nullptr) !=
        SQLITE_OK) {
      return unexpected(io_error("cannot read schema version"));
    }
    Result<int64_t, StoreError> out = int64_t{0};
    {
      StatementUse use(stmt);
      if (use.step() == SQLITE_ROW) {
        out = use.integer(0);
      } else {
        out = unexpected(io_error("cannot read schema version"));
      }
    }
    sqlite3_finalize(stmt);
    return out;
  };

  for (const Migration& m : sqlite_migrations()) {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return unexpected(io_error("cannot begin migration " + std::to_string(m.version)));
    }
    auto fail = [this](const std::string& what) {
      StoreError e = io_error(what);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(std::move(e));
    };
    auto current = applied_version();
    if (!current) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(std::move(current.error()));
    }
    if (*current > known) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(StoreError{StoreError::Kind::Io,
                                   "store schema version " + std::to_string(*current) +
                                       " is newer than this build of fleetguard supports (" + std::to_string(known) +
                                       "); run a newer fleetguard or restore an older database"});
    }
    if (*current >= m.version) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      continue;
    }
    if (sqlite3_exec(db_, m.sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("schema migration " + std::to_string(m.version) + " failed");
    }
    const std::string record = "INSERT INTO schema_migrations(version, applied_at) VALUES(" +
                               std::to_string(m.version) + ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
    if (sqlite3_exec(db_, record.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("cannot record schema migration " + std::to_string(m.version));
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("cannot commit schema migration " + std::to_string(m.version));
    }
  }
  // A file with no migrations left to apply still has to be checked.
  auto final_version = applied_version();
  if (!final_version) return unexpected(std::move(final_version.error()));
  if (*final_version > known) {
    return unexpected(StoreError{StoreError::Kind::Io,
                                 "store schema version " + std::to_string(*final_version) +
                                     " is newer than this build of fleetguard supports (" + std::to_string(known) +
                                     "); run a newer fleetguard or restore an older database"});
  }
  return Done{};
}

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
