// SQLite plumbing shared by the SQLite stores (the registry's SqliteStore and
// the broker's SqliteMessageStore): WAL + synchronous=FULL configuration,
// numbered schema migrations, statement reset on scope exit, error text.
//
// Threading: every helper works on the connection it is given; the caller
// serialises use of that connection. Ownership: nothing here owns a handle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace fg::store {

// A numbered schema migration. Migrations run in ascending version order, each
// in its own transaction, and are never edited once released: a schema change
// is a new entry at the end of the list.
struct Migration {
  int64_t version;
  const char* sql;
};

// An Io error naming `what` and SQLite's last message on `db`.
StoreError sqlite_io_error(sqlite3* db, const std::string& what);

// Extended result codes, busy timeout, journal_mode=WAL (refusing a file that
// cannot do WAL) and synchronous=FULL (the WAL is fsynced on every commit).
Result<Done, StoreError> sqlite_configure(sqlite3* db);

// Applies the migrations not yet recorded in schema_migrations, each in its own
// IMMEDIATE transaction; refuses a file whose schema is newer than `migrations`.
Result<Done, StoreError> sqlite_migrate(sqlite3* db, const std::vector<Migration>& migrations);

// Resets a statement when a call is done with it, whichever way it leaves,
// so that no statement keeps a read transaction open between calls.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse();
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  // Binds text by length: keys may hold any bytes, including NUL and 0xFF.
  int bind(int index, const std::string& text);
  // Binds bytes as a BLOB (payloads are not necessarily UTF-8).
  int bind_blob(int index, const std::string& bytes);
  int bind(int index, int64_t value);
  int step();
  std::string text(int column) const;
  std::string blob(int column) const;
  int64_t integer(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace fg::store
