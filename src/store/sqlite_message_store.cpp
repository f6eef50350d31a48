// SqliteMessageStore: the embedded MessageStore, one SQLite file
// (<data-dir>/messages.db) apart from the registry's, so that the broker's
// message writes and the registry's writes never wait for each other.
//
// Durability: WAL with synchronous=FULL (sqlite_configure); apply() is one
// IMMEDIATE transaction, so a batch is wholly on disk or wholly absent.
// Threading: one connection, used by one thread at a time (see MessageStore);
// a mutex makes misuse harmless rather than a data race.
#include <sqlite3.h>

#include <mutex>
#include <utility>

#include "store/message_store.hpp"
#include "store/sqlite_util.hpp"

namespace fg::store {

namespace {

const std::vector<Migration>& message_migrations() {
  static const std::vector<Migration> migrations = {
      {1,
       "CREATE TABLE sessions(id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, "
       "expiry_interval INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);"
       "CREATE TABLE subscriptions(session_id INTEGER NOT NULL, filter TEXT NOT NULL, options INTEGER NOT NULL, "
       "subscription_id INTEGER NOT NULL, PRIMARY KEY(session_id, filter)) WITHOUT ROWID;"
       "CREATE TABLE messages(id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, "
       "qos INTEGER NOT NULL, retain INTEGER NOT NULL, properties BLOB NOT NULL, expires_at_ms INTEGER NOT NULL);"
       "CREATE TABLE deliveries(seq INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, message_id INTEGER NOT NULL, "
       "qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_id INTEGER NOT NULL);"
       "CREATE INDEX deliveries_by_session ON deliveries(session_id);"
       "CREATE INDEX deliveries_by_message ON deliveries(message_id);"
       "CREATE TABLE retained(topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, "
       "properties BLOB NOT NULL, expires_at_ms INTEGER NOT NULL) WITHOUT ROWID"},
  };
  return migrations;
}

// Run by load() in one transaction before reading: expiry while the server
// was down, then everything nothing refers to any more.
const char* const kLoadCleanup =
    "DELETE FROM sessions WHERE expires_at_ms <> 0 AND expires_at_ms <= ?1;"
    "DELETE FROM sessions WHERE id NOT IN (SELECT MAX(id) FROM sessions GROUP BY client_id);"
    "DELETE FROM subscriptions WHERE session_id NOT IN (SELECT id FROM sessions);"
    "DELETE FROM deliveries WHERE session_id NOT IN (SELECT id FROM sessions);"
    "DELETE FROM deliveries WHERE message_id IN "
    "(SELECT id FROM messages WHERE expires_at_ms <> 0 AND expires_at_ms <= ?1);"
    "DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM deliveries);"
    "DELETE FROM retained WHERE expires_at_ms <> 0 AND expires_at_ms <= ?1";

class SqliteMessageStore final : public MessageStore {
 public:
  static Result<std::unique_ptr<SqliteMessageStore>, StoreError> open(const std::string& path) {
    if (path.empty()) return unexpected(StoreError{StoreError::Kind::Invalid, "message store path is empty"});
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    std::unique_ptr<SqliteMessageStore> store(new SqliteMessageStore(db));
    if (rc != SQLITE_OK) return unexpected(sqlite_io_error(db, "cannot open message store at " + path));
    if (auto r = sqlite_configure(db); !r) return unexpected(std::move(r.error()));
    if (auto r = sqlite_migrate(db, message_migrations()); !r) return unexpected(std::move(r.error()));
    if (auto r = store->prepare(); !r) return unexpected(std::move(r.error()));
    return store;
  }

  ~SqliteMessageStore() override {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  SqliteMessageStore(const SqliteMessageStore&) = delete;
  SqliteMessageStore& operator=(const SqliteMessageStore&) = delete;

  Result<Done, StoreError> apply(const std::vector<MessageOp>& batch) override {
    if (batch.empty()) return Done{};
    std::lock_guard lock(mu_);
    if (!run(kBegin)) return unexpected(sqlite_io_error(db_, "cannot begin message batch"));
    for (const MessageOp& op : batch) {
      if (!std::visit([this](const auto& o) { return write(o); }, op)) {
        StoreError e = sqlite_io_error(db_, "cannot write message batch");
        run(kRollback);
        return unexpected(std::move(e));
      }
    }
    if (!run(kCommit)) {
      StoreError e = sqlite_io_error(db_, "cannot commit message batch");
      run(kRollback);
      return unexpected(std::move(e));
    }
    return Done{};
  }

  Result<MessageStoreContents, StoreError> load(int64_t now_ms) override {
    std::lock_guard lock(mu_);
    if (!run(kBegin)) return unexpected(sqlite_io_error(db_, "cannot begin load"));
    if (!cleanup(now_ms) || !run(kCommit)) {
      StoreError e = sqlite_io_error(db_, "cannot remove expired messages and sessions");
      run(kRollback);
      return unexpected(std::move(e));
    }
    MessageStoreContents out;
    auto query = [this](const char* sql, auto&& row) -> bool {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return false;
      bool ok = true;
      {
        StatementUse use(stmt);
        for (;;) {
          const int rc = use.step();
          if (rc == SQLITE_DONE) break;
          if (rc != SQLITE_ROW) {
            ok = false;
            break;
          }
          row(use);
        }
      }
      sqlite3_finalize(stmt);
      return ok;
    };
    auto bump = [&out](int64_t id) { out.max_id = std::max(out.max_id, id); };
    const bool ok =
        query("SELECT topic, payload, qos, properties, expires_at_ms FROM retained",
              [&](StatementUse& u) {
                StoredMessage m;
                m.topic = u.text(0);
                m.payload = u.blob(1);
                m.qos = static_cast<uint8_t>(u.integer(2));
                m.retain = true;
                m.properties = u.blob(3);
                m.expires_at_ms = u.integer(4);
                out.retained.push_back(std::move(m));
              }) &&
        query("SELECT id, client_id, expiry_interval, expires_at_ms FROM sessions ORDER BY id",
              [&](StatementUse& u) {
                StoredSession s;
                s.id = u.integer(0);
                s.client_id = u.text(1);
                s.expiry_interval = static_cast<uint32_t>(u.integer(2));
                s.expires_at_ms = u.integer(3);
                bump(s.id);
                out.sessions.push_back(std::move(s));
              }) &&
        query("SELECT session_id, filter, options, subscription_id FROM subscriptions",
              [&](StatementUse& u) {
                out.subscriptions.push_back(StoredSubscription{u.integer(0), u.text(1),
                                                               static_cast<uint8_t>(u.integer(2)),
                                                               static_cast<uint32_t>(u.integer(3))});
              }) &&
        query("SELECT id, topic, payload, qos, retain, properties, expires_at_ms FROM messages ORDER BY id",
              [&](StatementUse& u) {
                StoredMessage m;
                m.id = u.integer(0);
                m.topic = u.text(1);
                m.payload = u.blob(2);
                m.qos = static_cast<uint8_t>(u.integer(3));
                m.retain = u.integer(4) != 0;
                m.properties = u.blob(5);
                m.expires_at_ms = u.integer(6);
                bump(m.id);
                out.messages.push_back(std::move(m));
              }) &&
        query("SELECT seq, session_id, message_id, qos, retain, subscription_id FROM deliveries ORDER BY seq",
              [&](StatementUse& u) {
                StoredDelivery d;
                d.seq = u.integer(0);
                d.session_id = u.integer(1);
                d.message_id = u.integer(2);
                d.qos = static_cast<uint8_t>(u.integer(3));
                d.retain = u.integer(4) != 0;
                d.subscription_id = static_cast<uint32_t>(u.integer(5));
                bump(d.seq);
                out.deliveries.push_back(d);
              });
    if (!ok) return unexpected(sqlite_io_error(db_, "cannot read the message store"));
    return out;
  }

 private:
  enum Stmt : std::size_t {
    kBegin,
    kCommit,
    kRollback,
    kPutSession,
    kDeleteSessionMessages,
    kDeleteSessionDeliveries,
    kDeleteSessionSubscriptions,
    kDeleteSession,
    kPutSubscription,
    kDeleteSubscription,
    kPutMessage,
    kPutDelivery,
    kDeleteDelivery,
    kDeleteOrphanMessage,
    kPutRetained,
    kDeleteRetained,
    kStmtCount,
  };

  explicit SqliteMessageStore(sqlite3* db) : db_(db) {}

  Result<Done, StoreError> prepare() {
    static constexpr const char* kSql[kStmtCount] = {
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK",
        "INSERT INTO sessions(id, client_id, expiry_interval, expires_at_ms) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(id) DO UPDATE SET client_id = excluded.client_id, "
        "expiry_interval = excluded.expiry_interval, expires_at_ms = excluded.expires_at_ms",
        "DELETE FROM messages WHERE id IN (SELECT message_id FROM deliveries WHERE session_id = ?1) "
        "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id AND d.session_id <> ?1)",
        "DELETE FROM deliveries WHERE session_id = ?1",
        "DELETE FROM subscriptions WHERE session_id = ?1",
        "DELETE FROM sessions WHERE id = ?1",
        "INSERT INTO subscriptions(session_id, filter, options, subscription_id) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(session_id, filter) DO UPDATE SET options = excluded.options, "
        "subscription_id = excluded.subscription_id",
        "DELETE FROM subscriptions WHERE session_id = ?1 AND filter = ?2",
        "INSERT OR REPLACE INTO messages(id, topic, payload, qos, retain, properties, expires_at_ms) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        "INSERT OR REPLACE INTO deliveries(seq, session_id, message_id, qos, retain, subscription_id) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
        "DELETE FROM deliveries WHERE seq = ?1 RETURNING message_id",
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = ?1)",
        "INSERT OR REPLACE INTO retained(topic, payload, qos, properties, expires_at_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
        "DELETE FROM retained WHERE topic = ?1",
    };
    for (std::size_t i = 0; i < kStmtCount; ++i) {
      if (sqlite3_prepare_v3(db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr) != SQLITE_OK) {
        return unexpected(sqlite_io_error(db_, std::string("cannot prepare '") + kSql[i] + "'"));
      }
    }
    return Done{};
  }

  bool run(Stmt id) {
    StatementUse use(stmts_[id]);
    return use.step() == SQLITE_DONE;
  }
  template <class... Args>
  bool run(Stmt id, const Args&... args) {
    StatementUse use(stmts_[id]);
    int index = 0;
    (bind_one(use, ++index, args), ...);
    return use.step() == SQLITE_DONE;
  }
  static void bind_one(StatementUse& use, int index, const std::string& text) { use.bind(index, text); }
  static void bind_one(StatementUse& use, int index, int64_t v) { use.bind(index, v); }
  struct Blob {
    const std::string& bytes;
  };
  static void bind_one(StatementUse& use, int index, const Blob& b) { use.bind_blob(index, b.bytes); }

  bool cleanup(int64_t now_ms) {
    // sqlite3_exec cannot bind: run each statement of kLoadCleanup in turn.
    const char* sql = kLoadCleanup;
    while (sql && *sql) {
      sqlite3_stmt* stmt = nullptr;
      const char* tail = nullptr;
      if (sqlite3_prepare_v2(db_, sql, -1, &stmt, &tail) != SQLITE_OK) return false;
      if (!stmt) break;
      bool ok;
      {
        StatementUse use(stmt);
        if (sqlite3_bind_parameter_count(stmt) > 0) use.bind(1, now_ms);
        ok = use.step() == SQLITE_DONE;
      }
      sqlite3_finalize(stmt);
      if (!ok) return false;
      sql = tail;
    }
    return true;
  }

  bool write(const PutSession& o) {
    const auto& s = o.session;
    return run(kPutSession, int64_t{s.id}, s.client_id, int64_t{s.expiry_interval}, int64_t{s.expires_at_ms});
  }
  bool write(const DeleteSession& o) {
    const int64_t id = o.id;
    return run(kDeleteSessionMessages, id) && run(kDeleteSessionDeliveries, id) &&
           run(kDeleteSessionSubscriptions, id) && run(kDeleteSession, id);
  }
  bool write(const PutSubscription& o) {
    const auto& s = o.subscription;
    return run(kPutSubscription, int64_t{s.session_id}, s.filter, int64_t{s.options}, int64_t{s.subscription_id});
  }
  bool write(const DeleteSubscription& o) { return run(kDeleteSubscription, int64_t{o.session_id}, o.filter); }
  bool write(const PutMessage& o) {
    const auto& m = o.message;
    return run(kPutMessage, int64_t{m.id}, m.topic, Blob{m.payload}, int64_t{m.qos}, int64_t{m.retain ? 1 : 0},
               Blob{m.properties}, int64_t{m.expires_at_ms});
  }
  bool write(const PutDelivery& o) {
    const auto& d = o.delivery;
    return run(kPutDelivery, int64_t{d.seq}, int64_t{d.session_id}, int64_t{d.message_id}, int64_t{d.qos},
               int64_t{d.retain ? 1 : 0}, int64_t{d.subscription_id});
  }
  bool write(const DeleteDelivery& o) {
    int64_t message_id = 0;
    {
      StatementUse use(stmts_[kDeleteDelivery]);
      use.bind(1, int64_t{o.seq});
      int rc = use.step();
      if (rc == SQLITE_ROW) {
        message_id = use.integer(0);
        rc = use.step();
      }
      if (rc != SQLITE_DONE) return false;
    }
    return message_id == 0 || run(kDeleteOrphanMessage, message_id);
  }
  bool write(const PutRetained& o) {
    const auto& m = o.message;
    return run(kPutRetained, m.topic, Blob{m.payload}, int64_t{m.qos}, Blob{m.properties}, int64_t{m.expires_at_ms});
  }
  bool write(const DeleteRetained& o) { return run(kDeleteRetained, o.topic); }

  std::mutex mu_;
  sqlite3* db_;
  sqlite3_stmt* stmts_[kStmtCount] = {};
};

}  // namespace

Result<std::unique_ptr<MessageStore>, StoreError> open_sqlite_message_store(const std::string& path) {
  auto store = SqliteMessageStore::open(path);
  if (!store) return unexpected(std::move(store.error()));
  return std::unique_ptr<MessageStore>(std::move(*store));
}

}  // namespace fg::store
