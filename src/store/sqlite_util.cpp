#include "store/sqlite_util.hpp"

#include <sqlite3.h>

#include <optional>
#include <utility>

namespace fg::store {

namespace {

// How long a connection waits for another process's lock before giving up
// with an Io error; long enough to ride out a checkpoint or a migration.
constexpr int kBusyTimeoutMs = 5000;

const char* const kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations("
    "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";

StoreError newer_schema(int64_t found, int64_t known) {
  return StoreError{StoreError::Kind::Io, "store schema version " + std::to_string(found) +
                                              " is newer than this build of fleetguard supports (" +
                                              std::to_string(known) +
                                              "); run a newer fleetguard or restore an older database"};
}

}  // namespace

StatementUse::~StatementUse() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int StatementUse::bind(int index, const std::string& text) {
  return sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

int StatementUse::bind_blob(int index, const std::string& bytes) {
  return sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

int StatementUse::bind(int index, int64_t value) { return sqlite3_bind_int64(stmt_, index, value); }

int StatementUse::step() { return sqlite3_step(stmt_); }

std::string StatementUse::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string StatementUse::blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

int64_t StatementUse::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

StoreError sqlite_io_error(sqlite3* db, const std::string& what) {
  return {StoreError::Kind::Io, what + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
}

Result<Done, StoreError> sqlite_configure(sqlite3* db) {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // journal_mode answers with the mode actually in force; a file that cannot
  // do WAL (or is not a database at all) must not silently run without it.
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
    return unexpected(sqlite_io_error(db, "cannot set WAL mode"));
  }
  std::optional<std::string> mode;
  std::optional<StoreError> error;
  {
    StatementUse use(stmt);
    if (use.step() == SQLITE_ROW) {
      mode = use.text(0);
    } else {
      error = sqlite_io_error(db, "cannot set WAL mode");
    }
  }
  sqlite3_finalize(stmt);
  if (error) return unexpected(std::move(*error));
  if (mode != "wal") {
    return unexpected(StoreError{StoreError::Kind::Io, "store refused WAL mode (got " + mode.value_or("") + ")"});
  }
  if (sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return unexpected(sqlite_io_error(db, "cannot set synchronous=FULL"));
  }
  return Done{};
}

Result<Done, StoreError> sqlite_migrate(sqlite3* db, const std::vector<Migration>& migrations) {
  if (sqlite3_exec(db, kCreateMigrationsTable, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return unexpected(sqlite_io_error(db, "cannot create schema_migrations"));
  }
  const int64_t known = migrations.empty() ? 0 : migrations.back().version;

  // Each migration runs in its own IMMEDIATE transaction and re-checks the
  // applied version inside it, so two processes opening a fresh file at once
  // do not both apply it.
  auto applied_version = [db]() -> Result<int64_t, StoreError> {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &stmt, nullptr) !=
        SQLITE_OK) {
      return unexpected(sqlite_io_error(db, "cannot read schema version"));
    }
    Result<int64_t, StoreError> out = int64_t{0};
    {
      StatementUse use(stmt);
      if (use.step() == SQLITE_ROW) {
        out = use.integer(0);
      } else {
        out = unexpected(sqlite_io_error(db, "cannot read schema version"));
      }
    }
    sqlite3_finalize(stmt);
    return out;
  };

  for (const Migration& m : migrations) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return unexpected(sqlite_io_error(db, "cannot begin migration " + std::to_string(m.version)));
    }
    auto fail = [db](const std::string& what) {
      StoreError e = sqlite_io_error(db, what);
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(std::move(e));
    };
    auto current = applied_version();
    if (!current) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(std::move(current.error()));
    }
    if (*current > known) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return unexpected(newer_schema(*current, known));
    }
    if (*current >= m.version) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      continue;
    }
    if (sqlite3_exec(db, m.sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("schema migration " + std::to_string(m.version) + " failed");
    }
    const std::string record = "INSERT INTO schema_migrations(version, applied_at) VALUES(" +
                               std::to_string(m.version) + ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
    if (sqlite3_exec(db, record.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("cannot record schema migration " + std::to_string(m.version));
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail("cannot commit schema migration " + std::to_string(m.version));
    }
  }
  // A file with no migrations left to apply still has to be checked.
  auto final_version = applied_version();
  if (!final_version) return unexpected(std::move(final_version.error()));
  if (*final_version > known) return unexpected(newer_schema(*final_version, known));
  return Done{};
}

}  // namespace fg::store
