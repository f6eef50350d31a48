#include "registry/registry.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "registry_fixture.hpp"

namespace fg::registry {
namespace {

namespace fs = std::filesystem;
using Kind = RegistryError::Kind;

// Wraps the real store so a test can make the next apply() fail.
class FailingStore final : public store::Store {
 public:
  explicit FailingStore(store::Store& inner) : inner_(inner) {}
  Result<std::optional<store::Record>, store::StoreError> get(const std::string& kind,
                                                              const std::string& key) override {
    return inner_.get(kind, key);
  }
  Result<std::vector<store::Record>, store::StoreError> list(const std::string& kind,
                                                             const std::string& key_prefix) override {
    return inner_.list(kind, key_prefix);
  }
  Result<std::vector<int64_t>, store::StoreError> apply(const std::vector<store::Mutation>& batch) override {
    if (fail_next_) {
      fail_next_ = false;
      return fg::unexpected(store::StoreError{store::StoreError::Kind::Io, "injected disk failure"});
    }
    return inner_.apply(batch);
  }
  bool fail_next_ = false;

 private:
  store::Store& inner_;
};

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("fg_registry_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    registry_.reset();
    failing_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Closes registry and store, then opens both again from the same file.
  void reopen() {
    registry_.reset();
    failing_.reset();
    store_.reset();
    auto s = store::open_sqlite_store((dir_ / "fg.db").string());
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(s.value());
    failing_ = std::make_unique<FailingStore>(*store_);
    RegistryConfig cfg;
    cfg.now_epoch_seconds = [this] { return now_; };
    auto r = Registry::open(*failing_, cfg);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    registry_ = std::move(r.value());
  }
  Registry& reg() { return *registry_; }

  fs::path dir_;
  int64_t now_ = 1'700'000'000;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<FailingStore> failing_;
  std::unique_ptr<Registry> registry_;
};

using fixture::expect_error;

Attributes numbered_attributes(int n) {
  Attributes a;
  for (int i = 0; i < n; ++i) a["a" + std::to_string(i)] = "v";
  return a;
}

TEST_F(RegistryTest, InvalidNamesAreRejectedNamingTheField) {
  expect_error(reg().create_thing("bad name", "", {}), Kind::InvalidRequest, "thingName");
  expect_error(reg().create_thing("", "", {}), Kind::InvalidRequest, "thingName");
  expect_error(reg().create_thing(std::string(129, 'a'), "", {}), Kind::InvalidRequest, "thingName");
  EXPECT_TRUE(reg().create_thing(std::string(128, 'a'), "", {}).has_value());
  EXPECT_TRUE(reg().create_thing("Ok:name_with-all-9", "", {}).has_value());
  expect_error(reg().create_thing("t", "bad/type", {}), Kind::InvalidRequest, "thingTypeName");
  expect_error(reg().create_thing("t", "", {{"bad name", "v"}}), Kind::InvalidRequest, "attribute");
  expect_error(reg().create_thing("t", "", {{std::string(129, 'n'), "v"}}), Kind::InvalidRequest, "attribute");
  expect_error(reg().create_thing("t", "", {{"n", "bad value"}}), Kind::InvalidRequest, "attribute value");
  expect_error(reg().create_thing("t", "", {{"n", std::string(801, 'v')}}), Kind::InvalidRequest,
               "attribute value");
  EXPECT_TRUE(reg().create_thing("t", "", {{"n.a@b/c:#,", "x=[1]-y"}}).has_value());
  expect_error(reg().create_thing_type("bad type", {}), Kind::InvalidRequest, "thingTypeName");
  expect_error(reg().create_thing_group("bad#group", std::nullopt, {}), Kind::InvalidRequest, "thingGroupName");
  expect_error(reg().create_thing_group("g", std::string("bad parent"), {}), Kind::InvalidRequest,
               "parentGroupName");
  expect_error(reg().describe_thing("nope"), Kind::ResourceNotFound, "nope");
}

TEST_F(RegistryTest, CreateThingIsIdempotentButConflictsWithADifferentConfiguration) {
  auto first = reg().create_thing("sensor-1", "", {{"floor", "2"}});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->arn, "arn:aws:iot:us-east-1:123456789012:thing/sensor-1");
  EXPECT_EQ(first->id.size(), 36u);
  EXPECT_EQ(first->version, 1);

  auto again = reg().create_thing("sensor-1", "", {{"floor", "2"}});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, first->id);

  expect_error(reg().create_thing("sensor-1", "", {{"floor", "3"}}), Kind::ResourceAlreadyExists, "sensor-1");
  EXPECT_EQ(reg().describe_thing("sensor-1")->attributes.at("floor"), "2");
  EXPECT_NE(reg().create_thing("sensor-2", "", {})->id, first->id);
}

TEST_F(RegistryTest, ExpectedVersionConflictsOnUpdateAndDelete) {
  ASSERT_TRUE(reg().create_thing("t", "", {}).has_value());
  ThingUpdate u;
  u.attribute_payload = AttributePayload{{{"k", "1"}}, AttributeMerge::Merge};
  u.expected_version = 1;
  auto updated = reg().update_thing("t", u);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->version, 2);

  u.attribute_payload = AttributePayload{{{"k", "2"}}, AttributeMerge::Merge};
  expect_error(reg().update_thing("t", u), Kind::VersionConflict, "version 2");
  EXPECT_EQ(reg().describe_thing("t")->attributes.at("k"), "1");

  expect_error(reg().delete_thing("t", 1), Kind::VersionConflict);
  EXPECT_TRUE(reg().describe_thing("t").has_value());
  EXPECT_TRUE(reg().delete_thing("t", 2).has_value());
  expect_error(reg().describe_thing("t"), Kind::ResourceNotFound);
  // Like AWS, deleting a thing that does not exist succeeds.
  EXPECT_TRUE(reg().delete_thing("t").has_value());
}

TEST_F(RegistryTest, AttributeMergeAddsAndEmptyValueRemovesWhileReplaceReplaces) {
  ASSERT_TRUE(reg().create_thing("t", "", {{"a", "1"}, {"b", "2"}}).has_value());
  ThingUpdate merge;
  merge.attribute_payload = AttributePayload{{{"b", ""}, {"c", "3"}}, AttributeMerge::Merge};
  auto merged = reg().update_thing("t", merge);
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(merged->attributes, (Attributes{{"a", "1"}, {"c", "3"}}));

  ThingUpdate replace;
  replace.attribute_payload = AttributePayload{{{"z", "9"}}, AttributeMerge::Replace};
  EXPECT_EQ(reg().update_thing("t", replace)->attributes, (Attributes{{"z", "9"}}));

  ThingUpdate untouched;  // no payload: attributes stay
  EXPECT_EQ(reg().update_thing("t", untouched)->attributes, (Attributes{{"z", "9"}}));
  EXPECT_EQ(reg().describe_thing("t")->version, 4);
}

TEST_F(RegistryTest, AttributeLimitIsThreeWithoutTypeAndFiftyWithType) {
  expect_error(reg().create_thing("untyped", "", numbered_attributes(4)), Kind::LimitExceeded, "at most 3");
  ASSERT_TRUE(reg().create_thing("untyped", "", numbered_attributes(3)).has_value());
  ThingUpdate add_fourth;
  add_fourth.attribute_payload = AttributePayload{{{"x", "1"}}, AttributeMerge::Merge};
  expect_error(reg().update_thing("untyped", add_fourth), Kind::LimitExceeded);

  ASSERT_TRUE(reg().create_thing_type("sensor", {}).has_value());
  expect_error(reg().create_thing("typed", "sensor", numbered_attributes(51)), Kind::LimitExceeded, "at most 50");
  ASSERT_TRUE(reg().create_thing("typed", "sensor", numbered_attributes(50)).has_value());

  // Removing the type would leave 50 attributes on an untyped thing.
  ThingUpdate remove_type;
  remove_type.remove_thing_type = true;
  expect_error(reg().update_thing("typed", remove_type), Kind::LimitExceeded);
  EXPECT_EQ(reg().describe_thing("typed")->thing_type, "sensor");

  // Giving the untyped thing a type lifts its limit.
  ThingUpdate set_type;
  set_type.thing_type = "sensor";
  set_type.attribute_payload = add_fourth.attribute_payload;
  auto typed = reg().update_thing("untyped", set_type);
  ASSERT_TRUE(typed.has_value()) << typed.error().message;
  EXPECT_EQ(typed->attributes.size(), 4u);
}

TEST_F(RegistryTest, ThingTypeLifecycleAndDeprecatedTypeRefusal) {
  expect_error(reg().create_thing("t", "missing", {}), Kind::ResourceNotFound, "missing");
  auto type = reg().create_thing_type("camera", {"a camera", {"model"}});
  ASSERT_TRUE(type.has_value());
  EXPECT_EQ(type->arn, "arn:aws:iot:us-east-1:123456789012:thingtype/camera");
  EXPECT_EQ(type->creation_date, now_);
  EXPECT_EQ(reg().create_thing_type("camera", {"a camera", {"model"}})->id, type->id);
  expect_error(reg().create_thing_type("camera", {"other", {}}), Kind::ResourceAlreadyExists);
  expect_error(reg().create_thing_type("x", {"", {"a", "b", "c", "d"}}), Kind::InvalidRequest,
               "searchableAttributes");

  ASSERT_TRUE(reg().create_thing("cam-1", "camera", {}).has_value());
  expect_error(reg().delete_thing_type("camera"), Kind::InvalidRequest, "deprecated");

  now_ += 60;
  ASSERT_TRUE(reg().deprecate_thing_type("camera", Deprecation::Deprecate).has_value());
  EXPECT_TRUE(reg().describe_thing_type("camera")->deprecated);
  EXPECT_EQ(reg().describe_thing_type("camera")->deprecation_date, now_);
  expect_error(reg().create_thing("cam-2", "camera", {}), Kind::InvalidRequest, "deprecated");
  expect_error(reg().delete_thing_type("camera"), Kind::InvalidRequest, "cam-1");

  ASSERT_TRUE(reg().deprecate_thing_type("camera", Deprecation::Undeprecate).has_value());
  EXPECT_TRUE(reg().create_thing("cam-2", "camera", {}).has_value());

  ASSERT_TRUE(reg().deprecate_thing_type("camera", Deprecation::Deprecate).has_value());
  ThingUpdate remove_type;
  remove_type.remove_thing_type = true;
  ASSERT_TRUE(reg().update_thing("cam-1", remove_type).has_value());
  ASSERT_TRUE(reg().update_thing("cam-2", remove_type).has_value());
  EXPECT_TRUE(reg().delete_thing_type("camera").has_value());
  expect_error(reg().describe_thing_type("camera"), Kind::ResourceNotFound);
  EXPECT_TRUE(reg().list_thing_types().empty());
}

TEST_F(RegistryTest, ListThingsFiltersByAttributeAndType) {
  ASSERT_TRUE(reg().create_thing_type("sensor", {}).has_value());
  ASSERT_TRUE(reg().create_thing("a", "sensor", {{"site", "ber"}}).has_value());
  ASSERT_TRUE(reg().create_thing("b", "", {{"site", "fra"}}).has_value());
  ASSERT_TRUE(reg().create_thing("c", "", {}).has_value());
  EXPECT_EQ(reg().list_things().size(), 3u);
  ThingFilter by_name;
  by_name.attribute_name = "site";
  EXPECT_EQ(reg().list_things(by_name).size(), 2u);
  by_name.attribute_value = "fra";
  ASSERT_EQ(reg().list_things(by_name).size(), 1u);
  EXPECT_EQ(reg().list_things(by_name)[0].name, "b");
  ThingFilter by_type;
  by_type.thing_type = "sensor";
  ASSERT_EQ(reg().list_things(by_type).size(), 1u);
  EXPECT_EQ(reg().list_things(by_type)[0].name, "a");
}

TEST_F(RegistryTest, GroupNestingUpdateAndDeleteRefusalWithChildren) {
  auto root = reg().create_thing_group("root", std::nullopt, {"top", {{"k", "v"}}});
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->arn, "arn:aws:iot:us-east-1:123456789012:thinggroup/root");
  EXPECT_EQ(reg().create_thing_group("root", std::nullopt, {"top", {{"k", "v"}}})->id, root->id);
  expect_error(reg().create_thing_group("root", std::nullopt, {"other", {}}), Kind::ResourceAlreadyExists);
  ASSERT_TRUE(reg().create_thing_group("child", std::string("root"), {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("grandchild", std::string("child"), {}).has_value());
  expect_error(reg().create_thing_group("orphan", std::string("missing"), {}), Kind::ResourceNotFound, "missing");

  EXPECT_EQ(reg().list_thing_groups().size(), 3u);
  auto direct = reg().list_thing_groups(std::string("root"), Recursion::Direct);
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(direct[0].name, "child");
  EXPECT_EQ(reg().list_thing_groups(std::string("root"), Recursion::Recursive).size(), 2u);

  expect_error(reg().delete_thing_group("root"), Kind::InvalidRequest, "child");
  EXPECT_TRUE(reg().describe_thing_group("root").has_value());

  ThingGroupUpdate u;
  u.description = "updated";
  u.attribute_payload = AttributePayload{{{"k", ""}, {"n", "1"}}, AttributeMerge::Merge};
  u.expected_version = 1;
  auto updated = reg().update_thing_group("root", u);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->description, "updated");
  EXPECT_EQ(updated->attributes, (Attributes{{"n", "1"}}));
  expect_error(reg().update_thing_group("root", u), Kind::VersionConflict);

  ASSERT_TRUE(reg().delete_thing_group("grandchild").has_value());
  ASSERT_TRUE(reg().delete_thing_group("child").has_value());
  expect_error(reg().delete_thing_group("root", 1), Kind::VersionConflict);
  EXPECT_TRUE(reg().delete_thing_group("root", 2).has_value());
  EXPECT_TRUE(reg().list_thing_groups().empty());
}

TEST_F(RegistryTest, HierarchyDepthIsLimitedToSeven) {
  std::optional<std::string> parent;
  for (int i = 1; i <= 7; ++i) {
    std::string name = "level" + std::to_string(i);
    ASSERT_TRUE(reg().create_thing_group(name, parent, {}).has_value()) << name;
    parent = name;
  }
  expect_error(reg().create_thing_group("level8", parent, {}), Kind::LimitExceeded, "7 levels");
}

TEST_F(RegistryTest, AThingMayBeInAtMostTenGroups) {
  ASSERT_TRUE(reg().create_thing("t", "", {}).has_value());
  for (int i = 0; i < 11; ++i) {
    ASSERT_TRUE(reg().create_thing_group("g" + std::to_string(i), std::nullopt, {}).has_value());
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(reg().add_thing_to_thing_group("g" + std::to_string(i), "t").has_value());
  }
  EXPECT_TRUE(reg().add_thing_to_thing_group("g0", "t").has_value());  // already a member: fine
  expect_error(reg().add_thing_to_thing_group("g10", "t"), Kind::LimitExceeded, "10");
  EXPECT_EQ(reg().list_thing_groups_for_thing("t")->size(), 10u);

  ASSERT_TRUE(reg().remove_thing_from_thing_group("g0", "t").has_value());
  EXPECT_TRUE(reg().remove_thing_from_thing_group("g0", "t").has_value());  // not a member: fine
  EXPECT_TRUE(reg().add_thing_to_thing_group("g10", "t").has_value());
  expect_error(reg().add_thing_to_thing_group("g0", "missing"), Kind::ResourceNotFound, "missing");
  expect_error(reg().add_thing_to_thing_group("missing", "t"), Kind::ResourceNotFound, "missing");
}

TEST_F(RegistryTest, EffectiveGroupsIncludeAllAncestorsThroughThreeLevels) {
  ASSERT_TRUE(reg().create_thing_group("site", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("floor", std::string("site"), {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("line", std::string("floor"), {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("quarantine", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing("robot", "", {}).has_value());
  ASSERT_TRUE(reg().create_thing("other", "", {}).has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("line", "robot").has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("quarantine", "robot").has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("site", "other").has_value());

  EXPECT_EQ(reg().ancestors("line"), (std::vector<std::string>{"floor", "site"}));
  EXPECT_TRUE(reg().ancestors("site").empty());
  EXPECT_EQ(reg().effective_groups("robot"), (std::vector<std::string>{"floor", "line", "quarantine", "site"}));
  EXPECT_EQ(reg().effective_groups("other"), (std::vector<std::string>{"site"}));
  EXPECT_TRUE(reg().effective_groups("nobody").empty());

  EXPECT_EQ(*reg().list_things_in_thing_group("site", Recursion::Direct), (std::vector<std::string>{"other"}));
  EXPECT_EQ(*reg().list_things_in_thing_group("site", Recursion::Recursive),
            (std::vector<std::string>{"other", "robot"}));

  // Deleting the thing removes its memberships.
  ASSERT_TRUE(reg().delete_thing("robot").has_value());
  EXPECT_TRUE(reg().list_things_in_thing_group("line", Recursion::Direct)->empty());
  // Deleting a group removes its memberships.
  ASSERT_TRUE(reg().delete_thing_group("quarantine").has_value());
  ASSERT_TRUE(reg().create_thing("robot", "", {}).has_value());
  EXPECT_TRUE(reg().effective_groups("robot").empty());
}

TEST_F(RegistryTest, AFailedStoreWriteChangesNothing) {
  ASSERT_TRUE(reg().create_thing("t", "", {{"a", "1"}}).has_value());
  ASSERT_TRUE(reg().create_thing_group("g", std::nullopt, {}).has_value());

  failing_->fail_next_ = true;
  expect_error(reg().create_thing("u", "", {}), Kind::Internal, "injected");
  expect_error(reg().describe_thing("u"), Kind::ResourceNotFound);

  failing_->fail_next_ = true;
  ThingUpdate u;
  u.attribute_payload = AttributePayload{{{"a", "2"}}, AttributeMerge::Merge};
  expect_error(reg().update_thing("t", u), Kind::Internal);
  EXPECT_EQ(reg().describe_thing("t")->attributes.at("a"), "1");
  EXPECT_EQ(reg().describe_thing("t")->version, 1);

  failing_->fail_next_ = true;
  expect_error(reg().add_thing_to_thing_group("g", "t"), Kind::Internal);
  EXPECT_TRUE(reg().list_thing_groups_for_thing("t")->empty());

  failing_->fail_next_ = true;
  expect_error(reg().delete_thing("t"), Kind::Internal);
  EXPECT_TRUE(reg().describe_thing("t").has_value());

  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(reg().list_things().size(), 1u);
  EXPECT_EQ(reg().describe_thing("t")->version, 1);
}

TEST_F(RegistryTest, EverythingSurvivesReopen) {
  ASSERT_TRUE(reg().create_thing_type("sensor", {"temp", {"site"}}).has_value());
  ASSERT_TRUE(reg().create_thing_type("old", {}).has_value());
  ASSERT_TRUE(reg().deprecate_thing_type("old", Deprecation::Deprecate).has_value());
  auto thing = reg().create_thing("s1", "sensor", {{"site", "ber"}});
  ASSERT_TRUE(thing.has_value());
  ThingUpdate u;
  u.attribute_payload = AttributePayload{{{"rack", "4"}}, AttributeMerge::Merge};
  ASSERT_TRUE(reg().update_thing("s1", u).has_value());
  ASSERT_TRUE(reg().create_thing("gone", "", {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("site", std::nullopt, {"the site", {{"k", "v"}}}).has_value());
  ASSERT_TRUE(reg().create_thing_group("floor", std::string("site"), {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("line", std::string("floor"), {}).has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("line", "s1").has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("site", "gone").has_value());
  ASSERT_TRUE(reg().delete_thing("gone").has_value());

  auto before_thing = *reg().describe_thing("s1");
  auto before_types = reg().list_thing_types();
  auto before_groups = reg().list_thing_groups();

  ASSERT_NO_FATAL_FAILURE(reopen());

  EXPECT_EQ(*reg().describe_thing("s1"), before_thing);
  EXPECT_EQ(before_thing.version, 2);
  EXPECT_EQ(before_thing.id, thing->id);
  expect_error(reg().describe_thing("gone"), Kind::ResourceNotFound);
  EXPECT_EQ(reg().list_thing_types(), before_types);
  EXPECT_TRUE(reg().describe_thing_type("old")->deprecated);
  expect_error(reg().create_thing("x", "old", {}), Kind::InvalidRequest, "deprecated");
  EXPECT_EQ(reg().list_thing_groups(), before_groups);
  EXPECT_EQ(reg().effective_groups("s1"), (std::vector<std::string>{"floor", "line", "site"}));
  EXPECT_TRUE(reg().list_things_in_thing_group("site", Recursion::Direct)->empty());
  expect_error(reg().delete_thing_group("site"), Kind::InvalidRequest, "child");
  EXPECT_EQ(reg().create_thing("s1", "sensor", {{"site", "ber"}, {"rack", "4"}})->id, thing->id);
}

TEST_F(RegistryTest, CorruptRecordFailsOpenWithInternal) {
  ASSERT_TRUE(store_
                  ->apply({store::Mutation{store::Mutation::Op::Put, "thing", "broken", "{not json",
                                           std::nullopt}})
                  .has_value());
  auto r = Registry::open(*store_, RegistryConfig{});
  expect_error(r, Kind::Internal, "thing/broken");

  ASSERT_TRUE(store_
                  ->apply({store::Mutation{store::Mutation::Op::Put, "thing", "broken", R"({"name":"broken"})",
                                           std::nullopt}})
                  .has_value());
  expect_error(Registry::open(*store_, RegistryConfig{}), Kind::Internal, "thing/broken");
}

TEST_F(RegistryTest, DescriptionsMustBePrintableUtf8) {
  EXPECT_TRUE(reg().create_thing_type("ok", {"Temperatur-Fühler, 2 m", {}}).has_value());
  expect_error(reg().create_thing_type("ctl", {"line\nbreak", {}}), Kind::InvalidRequest, "thingTypeDescription");
  expect_error(reg().create_thing_type("bad", {"\xc3\x28", {}}), Kind::InvalidRequest, "thingTypeDescription");
  expect_error(reg().create_thing_type("cut", {"ab\xe2\x82", {}}), Kind::InvalidRequest, "thingTypeDescription");
  expect_error(reg().create_thing_group("g", std::nullopt, {std::string(2029, 'd'), {}}), Kind::InvalidRequest,
               "thingGroupDescription");
  ASSERT_TRUE(reg().create_thing_group("g", std::nullopt, {}).has_value());
  ThingGroupUpdate u;
  u.description = "\xff";
  expect_error(reg().update_thing_group("g", u), Kind::InvalidRequest, "thingGroupDescription");
}

// Writers and readers on several threads: every write lands exactly once and
// readers always see whole memberships (run under TSan for the lock discipline).
TEST_F(RegistryTest, ConcurrentWritersAndReaders) {
  ASSERT_TRUE(reg().create_thing_group("parent", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("fleet", std::string("parent"), {}).has_value());
  constexpr int kWriters = 4, kPerWriter = 25;
  std::atomic<bool> done{false};
  std::atomic<bool> torn{false};
  std::thread reader([&] {
    while (!done) {
      for (const auto& t : reg().list_things()) {
        auto groups = reg().effective_groups(t.name);
        if (!groups.empty() && groups != std::vector<std::string>{"fleet", "parent"}) torn = true;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        std::string name = "t" + std::to_string(w) + "-" + std::to_string(i);
        if (!reg().create_thing(name, "", {}).has_value()) torn = true;
        if (!reg().add_thing_to_thing_group("fleet", name).has_value()) torn = true;
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_FALSE(torn);
  EXPECT_EQ(reg().list_things().size(), static_cast<std::size_t>(kWriters * kPerWriter));
  EXPECT_EQ(reg().list_things_in_thing_group("parent", Recursion::Recursive)->size(),
            static_cast<std::size_t>(kWriters * kPerWriter));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(reg().list_things_in_thing_group("fleet", Recursion::Direct)->size(),
            static_cast<std::size_t>(kWriters * kPerWriter));
}

}  // namespace
}  // namespace fg::registry
