// API keys and the account id: generated once, persisted in the store, found
// by another AccessKeyStore on the same store (as a running server finds a
// key that `fleetguard keys create` added), admin credentials file 0600.
#include "api/access_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fg::api {
namespace {

class AccessKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fg_api_keys_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::open_sqlite_store((dir_ / "fleetguard.db").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(AccessKeysTest, KeyMaterialHasAwsShapes) {
  for (int i = 0; i < 50; ++i) {
    std::string id = random_access_key_id();
    ASSERT_EQ(id.size(), 20u);
    EXPECT_EQ(id.substr(0, 4), "AKIA");
    for (char c : id.substr(4)) EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) << id;
    std::string secret = random_secret_access_key();
    ASSERT_EQ(secret.size(), 40u);
    for (char c : secret) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/');
  }
  EXPECT_NE(random_secret_access_key(), random_secret_access_key());
}

TEST_F(AccessKeysTest, AccountIdIsCreatedOnceAndKept) {
  auto a = load_or_create_account_id(*store_);
  ASSERT_TRUE(a) << a.error();
  ASSERT_EQ(a->size(), 12u);
  EXPECT_NE((*a)[0], '0');
  for (char c : *a) EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(c)));
  auto b = load_or_create_account_id(*store_);
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
}

TEST_F(AccessKeysTest, AdminCredentialsAreWrittenPrivateAndReused) {
  AccessKeyStore keys(*store_);
  auto admin = keys.ensure_admin(dir_.string());
  ASSERT_TRUE(admin) << admin.error();
  std::string path = (dir_ / "admin-credentials").string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("[default]\naws_access_key_id = " + admin->id + "\naws_secret_access_key = " +
                            admin->secret + "\n"),
            std::string::npos);

  // A restart (new AccessKeyStore, same store) keeps the same admin key and
  // rewrites a deleted credentials file.
  std::filesystem::remove(path);
  AccessKeyStore again(*store_);
  auto admin2 = again.ensure_admin(dir_.string());
  ASSERT_TRUE(admin2);
  EXPECT_EQ(admin2->id, admin->id);
  EXPECT_EQ(admin2->secret, admin->secret);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(AccessKeysTest, KeysCreatedElsewhereAreFoundAndReadOnlyIsKept) {
  AccessKeyStore server(*store_);
  AccessKeyStore cli(*store_);
  auto ro = cli.create(AccessLevel::ReadOnly);
  ASSERT_TRUE(ro) << ro.error();
  auto found = server.find(ro->id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->secret, ro->secret);
  EXPECT_EQ(found->level, AccessLevel::ReadOnly);
  EXPECT_FALSE(server.find("AKIANOTAKEYNOTAKEY00"));
  EXPECT_FALSE(server.find(""));
}

}  // namespace
}  // namespace fg::api
