// LoggingOptions: AWS validation, the default (disabled), v1/v2 semantics,
// per-target precedence, immutable snapshots and persistence in a real SQLite
// store in a temporary directory.
#include "eventlog/logging_options.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "eventlog_test_util.hpp"
#include "store/store.hpp"

namespace fg::eventlog {
namespace {

using Kind = LoggingError::Kind;
using testing::TempDir;

template <class T>
void expect_error(const Result<T, LoggingError>& r, Kind kind, const std::string& in_message = "") {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, kind) << r.error().message;
  EXPECT_NE(r.error().message.find(in_message), std::string::npos)
      << "message '" << r.error().message << "' does not mention '" << in_message << "'";
}

class LoggingOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    options_.reset();
    store_.reset();
    auto s = store::open_sqlite_store(dir_.file("fleetguard.db"));
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    auto o = LoggingOptions::open(*store_);
    ASSERT_TRUE(o.has_value()) << o.error().message;
    options_ = std::move(*o);
  }
  LogLevel level_for(std::string_view client, std::string_view ip = "", std::string_view principal = "",
                     const std::vector<std::string>& groups = {}) {
    return options_->policy()->effective_level(LogSubject{client, ip, principal, groups});
  }

  TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LoggingOptions> options_;
  const std::string role_ = "arn:aws:iam::123456789012:role/iot-logging";
};

TEST_F(LoggingOptionsTest, NeverConfiguredMeansDisabled) {
  EXPECT_FALSE(options_->enabled());
  EXPECT_FALSE(options_->policy()->enabled());
  EXPECT_FALSE(options_->v1().has_value());
  EXPECT_FALSE(options_->v2().has_value());
  EXPECT_EQ(level_for("dev-1", "10.0.0.1", "abc"), LogLevel::Disabled);
  EXPECT_FALSE(options_->policy()->should_log(LogLevel::Error, LogSubject{"dev-1", "", "", {}}));
  expect_error(options_->list_levels(), Kind::NotConfigured, "SetV2LoggingOptions");
  expect_error(options_->set_level({LogTargetType::ClientId, "dev-1"}, LogLevel::Debug), Kind::NotConfigured);
}

TEST_F(LoggingOptionsTest, ParsesAwsNamesOnly) {
  EXPECT_EQ(parse_log_level("WARN"), LogLevel::Warn);
  EXPECT_EQ(parse_log_level("DISABLED"), LogLevel::Disabled);
  EXPECT_FALSE(parse_log_level("VERBOSE").has_value());
  EXPECT_FALSE(parse_log_level("info").has_value());
  EXPECT_EQ(parse_log_target_type("THING_GROUP"), LogTargetType::ThingGroup);
  EXPECT_FALSE(parse_log_target_type("THING").has_value());
  for (auto l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error, LogLevel::Disabled})
    EXPECT_EQ(parse_log_level(to_string(l)), l);
}

TEST_F(LoggingOptionsTest, LevelOrderFiltersEvents) {
  EXPECT_TRUE(level_passes(LogLevel::Error, LogLevel::Warn));
  EXPECT_TRUE(level_passes(LogLevel::Warn, LogLevel::Warn));
  EXPECT_FALSE(level_passes(LogLevel::Info, LogLevel::Warn));
  EXPECT_TRUE(level_passes(LogLevel::Debug, LogLevel::Debug));
  EXPECT_FALSE(level_passes(LogLevel::Error, LogLevel::Disabled));
}

TEST_F(LoggingOptionsTest, V1EnablesLoggingAtItsLevel) {
  ASSERT_TRUE(options_->set_v1({role_, LogLevel::Info}).has_value());
  EXPECT_TRUE(options_->enabled());
  EXPECT_EQ(level_for("anyone"), LogLevel::Info);
  EXPECT_TRUE(options_->policy()->should_log(LogLevel::Warn, LogSubject{"anyone", "", "", {}}));
  EXPECT_FALSE(options_->policy()->should_log(LogLevel::Debug, LogSubject{"anyone", "", "", {}}));

  ASSERT_TRUE(options_->set_v1({role_, LogLevel::Disabled}).has_value());
  EXPECT_FALSE(options_->enabled());
}

TEST_F(LoggingOptionsTest, V1RequiresRoleArnAndChangesNothingOnError) {
  ASSERT_TRUE(options_->set_v1({role_, LogLevel::Warn}).has_value());
  expect_error(options_->set_v1({"", LogLevel::Debug}), Kind::InvalidRequest, "roleArn");
  ASSERT_TRUE(options_->v1().has_value());
  EXPECT_EQ(options_->v1()->log_level, LogLevel::Warn);
}

TEST_F(LoggingOptionsTest, V2OverridesV1AndDisableAllLogsWins) {
  ASSERT_TRUE(options_->set_v1({role_, LogLevel::Debug}).has_value());
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  EXPECT_EQ(level_for("dev"), LogLevel::Error);
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "dev"}, LogLevel::Debug).has_value());
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, true}).has_value());
  EXPECT_FALSE(options_->enabled());
  EXPECT_EQ(level_for("dev"), LogLevel::Disabled);
  // v2 without a role is accepted (roleArn is optional in SetV2LoggingOptions).
  EXPECT_TRUE(options_->set_v2({"", LogLevel::Warn, false}).has_value());
  EXPECT_EQ(level_for("dev"), LogLevel::Debug);
}

TEST_F(LoggingOptionsTest, DefaultDisabledButOneTargetEnabledIsEnabled) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Disabled, false}).has_value());
  EXPECT_FALSE(options_->enabled());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "debugging"}, LogLevel::Debug).has_value());
  EXPECT_TRUE(options_->enabled());
  EXPECT_EQ(level_for("dev", "", "", {"debugging"}), LogLevel::Debug);
  EXPECT_EQ(level_for("dev", "", "", {"other"}), LogLevel::Disabled);
}

TEST_F(LoggingOptionsTest, ValidatesTargetsLikeAws) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  expect_error(options_->set_level({LogTargetType::ThingGroup, "bad name"}, LogLevel::Info), Kind::InvalidRequest,
               "thing group");
  expect_error(options_->set_level({LogTargetType::ThingGroup, ""}, LogLevel::Info), Kind::InvalidRequest);
  expect_error(options_->set_level({LogTargetType::ThingGroup, std::string(129, 'g')}, LogLevel::Info),
               Kind::InvalidRequest);
  expect_error(options_->set_level({LogTargetType::SourceIp, "999.1.1.1"}, LogLevel::Info), Kind::InvalidRequest,
               "IPv4 or IPv6");
  expect_error(options_->set_level({LogTargetType::ClientId, ""}, LogLevel::Info), Kind::InvalidRequest, "CLIENT_ID");
  expect_error(options_->set_level({LogTargetType::ClientId, std::string("a\nb")}, LogLevel::Info),
               Kind::InvalidRequest);
  expect_error(options_->set_level({LogTargetType::PrincipalId, "has space"}, LogLevel::Info), Kind::InvalidRequest);
  expect_error(options_->set_level({LogTargetType::Default, "x"}, LogLevel::Info), Kind::InvalidRequest, "DEFAULT");
  EXPECT_TRUE(options_->set_level({LogTargetType::SourceIp, "2001:db8::1"}, LogLevel::Info).has_value());
  EXPECT_TRUE(options_->set_level({LogTargetType::ThingGroup, "dc1:line_7-a"}, LogLevel::Info).has_value());
  // Nothing from the refused calls was kept.
  auto levels = options_->list_levels();
  ASSERT_TRUE(levels.has_value());
  EXPECT_EQ(levels->size(), 3u);  // DEFAULT + the two accepted ones
}

TEST_F(LoggingOptionsTest, DeleteLevel) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  expect_error(options_->delete_level({LogTargetType::ClientId, "nobody"}), Kind::ResourceNotFound, "nobody");
  expect_error(options_->delete_level({LogTargetType::Default, ""}), Kind::InvalidRequest);
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "dev"}, LogLevel::Debug).has_value());
  EXPECT_EQ(level_for("dev"), LogLevel::Debug);
  ASSERT_TRUE(options_->delete_level({LogTargetType::ClientId, "dev"}).has_value());
  EXPECT_EQ(level_for("dev"), LogLevel::Error);
  expect_error(options_->delete_level({LogTargetType::ClientId, "dev"}), Kind::ResourceNotFound);
}

TEST_F(LoggingOptionsTest, ListIsOrderedDefaultFirstAndFilters) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Warn, false}).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "b"}, LogLevel::Info).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "a"}, LogLevel::Debug).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "g"}, LogLevel::Error).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "a"}, LogLevel::Error).has_value());  // update
  auto all = options_->list_levels();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].target.type, LogTargetType::Default);
  EXPECT_EQ((*all)[0].level, LogLevel::Warn);
  auto clients = options_->list_levels(LogTargetType::ClientId);
  ASSERT_TRUE(clients.has_value());
  ASSERT_EQ(clients->size(), 2u);
  EXPECT_EQ((*clients)[0].target.name, "a");
  EXPECT_EQ((*clients)[0].level, LogLevel::Error);
  EXPECT_EQ((*clients)[1].target.name, "b");
  // DEFAULT through SetV2LoggingLevel changes the v2 default level.
  ASSERT_TRUE(options_->set_level({LogTargetType::Default, ""}, LogLevel::Debug).has_value());
  EXPECT_EQ(options_->v2()->default_log_level, LogLevel::Debug);
}

TEST_F(LoggingOptionsTest, MostSpecificTargetWins) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "site"}, LogLevel::Warn).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "site-line7"}, LogLevel::Info).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::PrincipalId, "cert1"}, LogLevel::Debug).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::SourceIp, "10.0.0.9"}, LogLevel::Warn).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "quiet"}, LogLevel::Disabled).has_value());

  const std::vector<std::string> child_first = {"site-line7", "site"};
  const std::vector<std::string> parent_only = {"site"};
  EXPECT_EQ(level_for("dev", "10.1.1.1", "certX", {}), LogLevel::Error);              // DEFAULT
  EXPECT_EQ(level_for("dev", "10.1.1.1", "certX", parent_only), LogLevel::Warn);      // THING_GROUP
  EXPECT_EQ(level_for("dev", "10.1.1.1", "certX", child_first), LogLevel::Info);      // deepest group
  EXPECT_EQ(level_for("dev", "10.1.1.1", "cert1", child_first), LogLevel::Debug);     // PRINCIPAL_ID > group
  EXPECT_EQ(level_for("dev", "10.0.0.9", "cert1", child_first), LogLevel::Warn);      // SOURCE_IP > PRINCIPAL_ID
  EXPECT_EQ(level_for("quiet", "10.0.0.9", "cert1", child_first), LogLevel::Disabled);  // CLIENT_ID > all
}

TEST_F(LoggingOptionsTest, SnapshotsAreImmutable) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Info, false}).has_value());
  auto before = options_->policy();
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  EXPECT_EQ(before->effective_level(LogSubject{"dev", "", "", {}}), LogLevel::Info);
  EXPECT_EQ(level_for("dev"), LogLevel::Error);
}

TEST_F(LoggingOptionsTest, SurvivesReopen) {
  ASSERT_TRUE(options_->set_v1({role_, LogLevel::Warn}).has_value());
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "dev"}, LogLevel::Debug).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "g1"}, LogLevel::Info).has_value());
  ASSERT_TRUE(options_->set_level({LogTargetType::ThingGroup, "g2"}, LogLevel::Info).has_value());
  ASSERT_TRUE(options_->delete_level({LogTargetType::ThingGroup, "g2"}).has_value());
  reopen();
  ASSERT_TRUE(options_->v1().has_value());
  EXPECT_EQ(options_->v1()->role_arn, role_);
  EXPECT_EQ(options_->v1()->log_level, LogLevel::Warn);
  ASSERT_TRUE(options_->v2().has_value());
  EXPECT_EQ(options_->v2()->default_log_level, LogLevel::Error);
  EXPECT_FALSE(options_->v2()->disable_all_logs);
  auto levels = options_->list_levels();
  ASSERT_TRUE(levels.has_value());
  ASSERT_EQ(levels->size(), 3u);  // DEFAULT, g1, dev
  EXPECT_TRUE(options_->enabled());
  EXPECT_EQ(level_for("dev"), LogLevel::Debug);
  EXPECT_EQ(level_for("other", "", "", {"g1"}), LogLevel::Info);
  EXPECT_EQ(level_for("other", "", "", {"g2"}), LogLevel::Error);
}

TEST_F(LoggingOptionsTest, LimitsTheNumberOfTargets) {
  EXPECT_EQ(LoggingOptions::kMaxTargetLevels, 1000u);
  options_.reset();
  auto o = LoggingOptions::open(*store_, 5);
  ASSERT_TRUE(o.has_value());
  options_ = std::move(*o);
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  for (size_t i = 0; i < 5; ++i)
    ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "c" + std::to_string(i)}, LogLevel::Info).has_value());
  expect_error(options_->set_level({LogTargetType::ClientId, "one-more"}, LogLevel::Info), Kind::LimitExceeded);
  // Updating an existing target is still allowed.
  EXPECT_TRUE(options_->set_level({LogTargetType::ClientId, "c0"}, LogLevel::Debug).has_value());
}

TEST_F(LoggingOptionsTest, ReadersSeeWholeSnapshotsWhileTheControlPlaneWrites) {
  ASSERT_TRUE(options_->set_v2({role_, LogLevel::Error, false}).has_value());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      const std::vector<std::string> groups = {"g"};
      while (!done.load()) {
        auto p = options_->policy();
        LogLevel l = p->effective_level(LogSubject{"dev", "10.0.0.1", "cert", groups});
        // Only the levels the writer sets may ever be seen.
        if (l != LogLevel::Error && l != LogLevel::Debug && l != LogLevel::Info) bad.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(options_->set_level({LogTargetType::ClientId, "dev"}, i % 2 ? LogLevel::Debug : LogLevel::Info)
                    .has_value());
  }
  ASSERT_TRUE(options_->delete_level({LogTargetType::ClientId, "dev"}).has_value());
  done.store(true);
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(level_for("dev"), LogLevel::Error);
}

}  // namespace
}  // namespace fg::eventlog
