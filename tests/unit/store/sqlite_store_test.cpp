// Behaviour of the SQLite store that the registry and broker rely on:
// round trips, versioning, atomic batches, prefix listing, migrations,
// refusal of bad files, thread safety and durability across kill -9.
#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

namespace fg::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("fg_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
    path_ = (dir_ / "fleetguard.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> open() {
    auto store = open_sqlite_store(path_);
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  static Mutation put(std::string kind, std::string key, std::string value,
                      std::optional<int64_t> expected = std::nullopt) {
    return Mutation{Mutation::Op::Put, std::move(kind), std::move(key), std::move(value), expected};
  }
  static Mutation del(std::string kind, std::string key, std::optional<int64_t> expected = std::nullopt) {
    return Mutation{Mutation::Op::Delete, std::move(kind), std::move(key), "", expected};
  }

  static std::vector<std::string> keys(const std::vector<Record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.key);
    return out;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, PutGetDeleteRoundTripWithVersions) {
  auto store = open();
  ASSERT_TRUE(store);

  auto missing = store->get("thing", "t1");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  auto v1 = store->apply({put("thing", "t1", R"({"a":1})")});
  ASSERT_TRUE(v1) << v1.error().message;
  EXPECT_EQ(*v1, std::vector<int64_t>{1});

  auto got = store->get("thing", "t1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->kind, "thing");
  EXPECT_EQ((*got)->key, "t1");
  EXPECT_EQ((*got)->value, R"({"a":1})");
  EXPECT_EQ((*got)->version, 1);

  auto v2 = store->apply({put("thing", "t1", R"({"a":2})"), put("thing", "t2", "x")});
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(*v2, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ((*store->get("thing", "t1"))->value, R"({"a":2})");
  EXPECT_EQ((*store->get("thing", "t1"))->version, 2);

  // Same key in another kind is a separate record.
  ASSERT_TRUE(store->apply({put("certificate", "t1", "c")}));
  EXPECT_EQ(keys(*store->list("thing")), (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(keys(*store->list("certificate")), (std::vector<std::string>{"t1"}));

  auto deleted = store->apply({del("thing", "t1", 2)});
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_TRUE(deleted->empty());
  EXPECT_FALSE(store->get("thing", "t1")->has_value());
  EXPECT_EQ(keys(*store->list("thing")), (std::vector<std::string>{"t2"}));

  // Deleting what is not there is idempotent.
  EXPECT_TRUE(store->apply({del("thing", "t1")}));

  // A record recreated after deletion starts over at version 1.
  auto again = store->apply({put("thing", "t1", "new", 0)});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, std::vector<int64_t>{1});
}

TEST_F(SqliteStoreTest, SameKeyTwiceInOneBatchSeesEarlierWrite) {
  auto store = open();
  ASSERT_TRUE(store);
  auto v = store->apply({put("k", "a", "1", 0), put("k", "a", "2", 1)});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*store->get("k", "a"))->value, "2");
}

TEST_F(SqliteStoreTest, ValuesAndKeysKeepArbitraryBytes) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string key("a\0b\xff", 4);
  const std::string value("v\0\xfe\x01", 4);
  ASSERT_TRUE(store->apply({put("k", key, value)}));
  auto got = store->get("k", key);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->key, key);
  EXPECT_EQ((*got)->value, value);
  EXPECT_FALSE(store->get("k", std::string("a\0b", 3))->has_value());
}

TEST_F(SqliteStoreTest, ListPrefixIsExactForWildcardAndHighBytes) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::vector<std::string> all = {
      "a",   "a%",  "a%b", "a_",  "a_b",      "ab",       "a*",       "a*b",    "a?", "a?b", "aX",
      "b",   "a\xff", "a\xff\xff", "a\xff" "b", "\xff",    "\xff\xff", "\xff" "a", "A",  "a[", "a[]",
  };
  std::vector<Mutation> batch;
  for (const auto& k : all) batch.push_back(put("k", k, "v"));
  ASSERT_TRUE(store->apply(batch));
  // Another kind must never leak into a listing.
  ASSERT_TRUE(store->apply({put("other", "a%", "v"), put("other", "\xff", "v")}));

  auto expect_prefix = [&](const std::string& prefix) {
    std::set<std::string> expected;  // std::string compares bytes as unsigned chars, like memcmp
    for (const auto& k : all) {
      if (k.compare(0, prefix.size(), prefix) == 0) expected.insert(k);
    }
    auto listed = store->list("k", prefix);
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_EQ(keys(*listed), std::vector<std::string>(expected.begin(), expected.end()))
        << "prefix of " << prefix.size() << " bytes";
    for (const auto& r : *listed) EXPECT_EQ(r.kind, "k");
  };
  for (const std::string prefix :
       {"", "a", "a%", "a_", "a*", "a?", "a[", "a\xff", "a\xff\xff", "\xff", "\xff\xff", "\xff\xff\xff", "b", "z"}) {
    expect_prefix(prefix);
  }
  // Spot-check a few so that this test does not merely agree with itself.
  EXPECT_EQ(keys(*store->list("k", "a%")), (std::vector<std::string>{"a%", "a%b"}));
  EXPECT_EQ(keys(*store->list("k", "a_")), (std::vector<std::string>{"a_", "a_b"}));
  EXPECT_EQ(keys(*store->list("k", "\xff")), (std::vector<std::string>{"\xff", "\xff" "a", "\xff\xff"}));
  EXPECT_EQ(keys(*store->list("k", "a\xff")), (std::vector<std::string>{"a\xff", "a\xff" "b", "a\xff\xff"}));
  EXPECT_TRUE(store->list("k", "zz")->empty());
}

TEST_F(SqliteStoreTest, ListIsOrderedByKey) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->apply({put("k", "c", "3"), put("k", "a", "1"), put("k", "b", "2")}));
  auto listed = store->list("k");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ(keys(*listed), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*listed)[1].value, "2");
  EXPECT_EQ((*listed)[1].version, 1);
}

TEST_F(SqliteStoreTest, VersionConflictNamesTheRecordAndChangesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->apply({put("thing", "t1", "v1")}));

  auto exists = store->apply({put("thing", "t1", "v2", 0)});
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().kind, StoreError::Kind::VersionConflict);
  EXPECT_NE(exists.error().message.find("thing/t1"), std::string::npos) << exists.error().message;

  auto wrong = store->apply({put("thing", "t1", "v2", 7)});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, StoreError::Kind::VersionConflict);
  EXPECT_NE(wrong.error().message.find("thing/t1"), std::string::npos) << wrong.error().message;

  auto missing = store->apply({del("thing", "nope", 1)});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, StoreError::Kind::VersionConflict);

  auto got = store->get("thing", "t1");
  EXPECT_EQ((*got)->value, "v1");
  EXPECT_EQ((*got)->version, 1);
}

TEST_F(SqliteStoreTest, BatchWithOneConflictAppliesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->apply({put("k", "existing", "old"), put("k", "doomed", "here")}));

  auto r = store->apply({
      put("k", "new1", "x"),
      put("k", "existing", "changed", 1),
      del("k", "doomed"),
      put("k", "new2", "y", 5),  // wrong: fails the batch
      put("k", "new3", "z"),
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, StoreError::Kind::VersionConflict);
  EXPECT_NE(r.error().message.find("k/new2"), std::string::npos) << r.error().message;

  EXPECT_EQ(keys(*store->list("k")), (std::vector<std::string>{"doomed", "existing"}));
  EXPECT_EQ((*store->get("k", "existing"))->value, "old");
  EXPECT_EQ((*store->get("k", "existing"))->version, 1);

  // The store is still usable after a rolled back batch.
  EXPECT_TRUE(store->apply({put("k", "after", "ok")}));
}

TEST_F(SqliteStoreTest, EmptyKindOrKeyIsInvalid) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get("", "k").error().kind, StoreError::Kind::Invalid);
  EXPECT_EQ(store->get("k", "").error().kind, StoreError::Kind::Invalid);
  EXPECT_EQ(store->list("").error().kind, StoreError::Kind::Invalid);
  EXPECT_EQ(store->apply({put("", "k", "v")}).error().kind, StoreError::Kind::Invalid);
  // An invalid mutation anywhere rejects the whole batch.
  EXPECT_EQ(store->apply({put("k", "ok", "v"), put("k", "", "v")}).error().kind, StoreError::Kind::Invalid);
  EXPECT_TRUE(store->list("k")->empty());
  EXPECT_TRUE(store->apply({})->empty());
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->apply({put("thing", "t1", "v1"), put("thing", "t2", "v2")}));
    ASSERT_TRUE(store->apply({put("thing", "t1", "v1b"), del("thing", "t2")}));
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto listed = store->list("thing");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].value, "v1b");
  EXPECT_EQ((*listed)[0].version, 2);
  EXPECT_EQ(*store->apply({put("thing", "t1", "v1c", 2)}), std::vector<int64_t>{3});
}

// Reads one integer from a raw connection to the store file.
int64_t query_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t out = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) out = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

void exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, OpenRecordsMigrationsAndUsesWal) {
  ASSERT_TRUE(open());
  EXPECT_EQ(query_int(path_, "SELECT MAX(version) FROM schema_migrations"), sqlite_migrations().back().version);
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM schema_migrations WHERE version = 1 AND applied_at <> ''"), 1);
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'records'"), 1);
  // WAL mode is persistent in the file, so a fresh connection reports it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);

  // Reopening applies nothing twice.
  ASSERT_TRUE(open());
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(sqlite_migrations().size()));
}

TEST_F(SqliteStoreTest, NewerSchemaVersionIsRefused) {
  ASSERT_TRUE(open());
  exec(path_, "INSERT INTO schema_migrations(version, applied_at) VALUES(999, 'future')");
  auto store = open_sqlite_store(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::Io);
  EXPECT_NE(store.error().message.find("999"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, GarbageFileIsAnIoError) {
  {
    std::ofstream out(path_, std::ios::binary);
    std::mt19937 rng(42);
    for (int i = 0; i < 64 * 1024; ++i) out.put(static_cast<char>(rng() & 0xFF));
  }
  auto store = open_sqlite_store(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::Io);
  EXPECT_FALSE(store.error().message.empty());
}

TEST_F(SqliteStoreTest, PathInMissingDirectoryIsAnIoError) {
  auto store = open_sqlite_store((dir_ / "no" / "such" / "dir" / "x.db").string());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::Io);
  EXPECT_NE(store.error().message.find("no/such/dir"), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, ConcurrentWritersFromFourThreads) {
  auto store = open();
  ASSERT_TRUE(store);
  constexpr int kThreads = 4;
  constexpr int kBatches = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!store->apply({put("c", key, std::to_string(i), 0)})) ++failures;
        // Interleave reads with the other threads' writes.
        if (i % 50 == 0 && !store->list("c", "t" + std::to_string(t) + "-")) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto listed = store->list("c");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), static_cast<std::size_t>(kThreads * kBatches));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kBatches; ++i) {
      auto got = store->get("c", "t" + std::to_string(t) + "-" + std::to_string(i));
      ASSERT_TRUE(got && got->has_value()) << t << "/" << i;
      EXPECT_EQ((*got)->value, std::to_string(i));
    }
  }
}

// A batch acknowledged by apply() must be there after the writer is killed
// with SIGKILL at an arbitrary moment.
TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveKillNine) {
  constexpr int kAcknowledgedBeforeKill = 300;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Child: only the store, the pipe and _exit, never gtest.
    ::close(fds[0]);
    auto store = open_sqlite_store(path_);
    if (!store) ::_exit(2);
    for (int i = 0;; ++i) {
      const std::string key = "k" + std::to_string(i);
      if (!(*store)->apply({put("durable", key, "value-" + std::to_string(i)), put("side", key, "x")})) ::_exit(3);
      const std::string line = std::to_string(i) + "\n";
      if (::write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
    }
  }
  ::close(fds[1]);
  int acknowledged = 0;  // the child acknowledges i = 0, 1, 2, ... in order
  std::string pending;
  char buf[256];
  while (acknowledged < kAcknowledgedBeforeKill) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      EXPECT_EQ(std::stoi(pending.substr(0, nl)), acknowledged);
      ++acknowledged;
    }
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
  ASSERT_GE(acknowledged, kAcknowledgedBeforeKill);

  auto store = open();
  ASSERT_TRUE(store);
  for (int i = 0; i < acknowledged; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto got = store->get("durable", key);
    ASSERT_TRUE(got && got->has_value()) << key << " was acknowledged but is missing";
    EXPECT_EQ((*got)->value, "value-" + std::to_string(i));
    // Batches are atomic, so its companion record is there too.
    EXPECT_TRUE(store->get("side", key)->has_value()) << key;
  }
  auto durable = store->list("durable");
  auto side = store->list("side");
  ASSERT_TRUE(durable && side);
  EXPECT_GE(durable->size(), static_cast<std::size_t>(acknowledged));
  EXPECT_EQ(durable->size(), side->size());  // no half-applied batch
}

}  // namespace
}  // namespace fg::store
