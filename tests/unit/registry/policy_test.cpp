// Policies, versions and attachments in the Registry (AWS CreatePolicy,
// CreatePolicyVersion, SetDefaultPolicyVersion, DeletePolicyVersion,
// DeletePolicy, AttachPolicy, DetachPolicy, ListAttachedPolicies,
// ListTargetsForPolicy) and the effective policies of a connection.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "identity/device_identity.hpp"
#include "registry/policy_authorizer.hpp"
#include "registry_fixture.hpp"

namespace fg::registry {
namespace {

using namespace fixture;  // NOLINT: the shared fixture (registry_fixture.hpp)

const std::string kAllowPublish = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
  "Resource":"arn:aws:iot:us-east-1:123456789012:topic/dc/${iot:Connection.Thing.ThingName}/*"}]})";
const std::string kDenyAll = R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]})";
const std::string kConnect = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";

using PolicyTest = CertificateTest;

std::vector<std::string> names_of(const std::vector<std::pair<std::string, std::shared_ptr<const policy::PolicyDocument>>>& v) {
  std::vector<std::string> out;
  for (const auto& [name, doc] : v) {
    EXPECT_NE(doc, nullptr);
    out.push_back(name);
  }
  return out;
}

TEST_F(PolicyTest, CreateGetAndValidate) {
  auto p = reg().create_policy("DevicePolicy", kAllowPublish);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->arn, "arn:aws:iot:us-east-1:123456789012:policy/DevicePolicy");
  EXPECT_EQ(p->default_version_id, "1");
  ASSERT_NE(p->default_version(), nullptr);
  EXPECT_EQ(p->default_version()->document, kAllowPublish);

  expect_error(reg().create_policy("DevicePolicy", kAllowPublish), Kind::ResourceAlreadyExists, "DevicePolicy");
  expect_error(reg().create_policy("bad name!", kAllowPublish), Kind::InvalidRequest, "policyName");
  expect_error(reg().create_policy(std::string(129, 'p'), kAllowPublish), Kind::InvalidRequest, "policyName");
  expect_error(reg().create_policy("Broken", R"({"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]})"),
               Kind::MalformedPolicy, "Effect");
  expect_error(reg().create_policy("NotJson", "{"), Kind::MalformedPolicy, "policyDocument");
  expect_error(reg().get_policy("Missing"), Kind::ResourceNotFound, "Missing");
  EXPECT_EQ(reg().list_policies().size(), 1u);
}

TEST_F(PolicyTest, VersionsUpToFiveWithADefault) {
  ASSERT_TRUE(reg().create_policy("P", kConnect).has_value());
  for (int i = 2; i <= 5; ++i) {
    auto v = reg().create_policy_version("P", kAllowPublish, i == 3 ? SetAsDefault::Yes : SetAsDefault::No);
    ASSERT_TRUE(v.has_value()) << v.error().message;
    EXPECT_EQ(v->version_id, std::to_string(i));
  }
  EXPECT_EQ(reg().get_policy("P")->default_version_id, "3");
  expect_error(reg().create_policy_version("P", kConnect, SetAsDefault::No), Kind::VersionsLimitExceeded, "5 versions");
  expect_error(reg().delete_policy_version("P", "3"), Kind::DeleteConflict, "default");
  ASSERT_TRUE(reg().delete_policy_version("P", "2").has_value());
  // Version ids are never reused.
  auto v6 = reg().create_policy_version("P", kConnect, SetAsDefault::No);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->version_id, "6");
  ASSERT_TRUE(reg().set_default_policy_version("P", "6").has_value());
  expect_error(reg().set_default_policy_version("P", "2"), Kind::ResourceNotFound, "version");
  expect_error(reg().get_policy_version("P", "2"), Kind::ResourceNotFound);
  EXPECT_EQ(reg().get_policy_version("P", "4")->document, kAllowPublish);

  // Deleting a policy with other versions is refused, as AWS does.
  expect_error(reg().delete_policy("P"), Kind::DeleteConflict, "non-default versions");
  for (const char* v : {"1", "3", "4", "5"}) ASSERT_TRUE(reg().delete_policy_version("P", v).has_value()) << v;

  reopen();  // durable: versions, default, and the next id
  auto p = reg().get_policy("P");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->versions.size(), 1u);
  EXPECT_EQ(p->default_version_id, "6");
  EXPECT_EQ(reg().create_policy_version("P", kConnect, SetAsDefault::No)->version_id, "7");
  ASSERT_TRUE(reg().delete_policy_version("P", "7").has_value());
  ASSERT_TRUE(reg().delete_policy("P").has_value());
  expect_error(reg().get_policy("P"), Kind::ResourceNotFound);
}

TEST_F(PolicyTest, AttachmentsAndEffectivePoliciesThroughGroupHierarchy) {
  ASSERT_TRUE(reg().create_policy("Device", kAllowPublish).has_value());
  ASSERT_TRUE(reg().create_policy("Connect", kConnect).has_value());
  ASSERT_TRUE(reg().create_policy("Quarantine", kDenyAll).has_value());
  ASSERT_TRUE(reg().create_thing_group("NorthAmerica", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("ATL1", "NorthAmerica", {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("ATL1-Sensors", "ATL1", {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("Quarantine", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing("sensor-1", "", {}).has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("ATL1-Sensors", "sensor-1").has_value());
  Certificate cert = create(ActivationOnCreate::Active);

  int changes = 0;
  reg().on_authorization_change([&] { ++changes; });
  ASSERT_TRUE(reg().attach_policy("Device", cert.arn).has_value());
  ASSERT_TRUE(reg().attach_policy("Device", cert.arn).has_value());  // twice: no change
  ASSERT_TRUE(reg().attach_policy("Connect", "arn:aws:iot:us-east-1:123456789012:thinggroup/NorthAmerica").has_value());
  EXPECT_EQ(changes, 2);
  expect_error(reg().attach_policy("Device", "arn:aws:iot:us-east-1:123456789012:thinggroup/Nope"),
               Kind::ResourceNotFound, "Nope");
  expect_error(reg().attach_policy("Device", "arn:aws:iot:us-east-1:123456789012:cert/" + std::string(64, 'a')),
               Kind::ResourceNotFound);
  expect_error(reg().attach_policy("Device", "sensor-1"), Kind::InvalidRequest, "target");
  expect_error(reg().attach_policy("Nope", cert.arn), Kind::ResourceNotFound, "Nope");

  // Inherited three levels down: certificate + NorthAmerica.
  EXPECT_EQ(names_of(reg().effective_policies(cert.id, "sensor-1")), (std::vector<std::string>{"Connect", "Device"}));
  EXPECT_EQ(names_of(reg().effective_policies(cert.id, "")), (std::vector<std::string>{"Device"}));
  auto recursive = reg().list_attached_policies("arn:aws:iot:us-east-1:123456789012:thinggroup/ATL1-Sensors",
                                                Recursion::Recursive);
  ASSERT_TRUE(recursive.has_value());
  EXPECT_EQ(*recursive, std::vector<std::string>{"Connect"});
  auto direct = reg().list_attached_policies("arn:aws:iot:us-east-1:123456789012:thinggroup/ATL1-Sensors",
                                             Recursion::Direct);
  EXPECT_TRUE(direct->empty());

  // Quarantine: a group with a Deny-all policy; membership changes notify.
  ASSERT_TRUE(reg().attach_policy("Quarantine", "arn:aws:iot:us-east-1:123456789012:thinggroup/Quarantine"));
  const int before = changes;
  ASSERT_TRUE(reg().add_thing_to_thing_group("Quarantine", "sensor-1").has_value());
  EXPECT_EQ(changes, before + 1);
  EXPECT_EQ(names_of(reg().effective_policies(cert.id, "sensor-1")),
            (std::vector<std::string>{"Connect", "Device", "Quarantine"}));

  // Deleting attached things is refused; detach first.
  expect_error(reg().delete_policy("Device"), Kind::DeleteConflict, "attached");
  EXPECT_EQ(*reg().list_targets_for_policy("Device"), std::vector<std::string>{cert.arn});
  ASSERT_TRUE(reg().update_certificate(cert.id, CertificateStatus::Inactive).has_value());
  expect_error(reg().delete_certificate(cert.id), Kind::DeleteConflict, "policy");

  reopen();  // attachments are durable
  EXPECT_EQ(names_of(reg().effective_policies(cert.id, "sensor-1")),
            (std::vector<std::string>{"Connect", "Device", "Quarantine"}));
  ASSERT_TRUE(reg().detach_policy("Device", cert.arn).has_value());
  ASSERT_TRUE(reg().detach_policy("Device", cert.arn).has_value());  // not attached: fine
  EXPECT_TRUE(reg().list_targets_for_policy("Device")->empty());
  ASSERT_TRUE(reg().delete_certificate(cert.id).has_value());
  ASSERT_TRUE(reg().delete_policy("Device").has_value());
  // A deleted group takes its attachments with it.
  ASSERT_TRUE(reg().remove_thing_from_thing_group("Quarantine", "sensor-1").has_value());
  ASSERT_TRUE(reg().delete_thing_group("Quarantine").has_value());
  EXPECT_TRUE(reg().list_targets_for_policy("Quarantine")->empty());
  ASSERT_TRUE(reg().delete_policy("Quarantine").has_value());
}

TEST_F(PolicyTest, AtMostTenPoliciesPerTarget) {
  Certificate cert = create(ActivationOnCreate::Active);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(reg().create_policy("P" + std::to_string(i), kConnect).has_value());
    ASSERT_TRUE(reg().attach_policy("P" + std::to_string(i), cert.arn).has_value());
  }
  ASSERT_TRUE(reg().create_policy("P10", kConnect).has_value());
  expect_error(reg().attach_policy("P10", cert.arn), Kind::LimitExceeded, "10 policies");
}

TEST_F(PolicyTest, AuthorizerCompilesWhatAppliesToTheConnection) {
  ASSERT_TRUE(reg().create_policy("Device", kAllowPublish).has_value());
  ASSERT_TRUE(reg().create_policy("Connect", kConnect).has_value());
  ASSERT_TRUE(reg().create_policy("Quarantine", kDenyAll).has_value());
  ASSERT_TRUE(reg().create_thing_group("NorthAmerica", std::nullopt, {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("ATL1", "NorthAmerica", {}).has_value());
  ASSERT_TRUE(reg().create_thing_group("ATL1-Sensors", "ATL1", {}).has_value());
  ASSERT_TRUE(reg().create_thing("sensor-1", "", {}).has_value());
  ASSERT_TRUE(reg().add_thing_to_thing_group("ATL1-Sensors", "sensor-1").has_value());
  Certificate cert = create(ActivationOnCreate::Active);
  ASSERT_TRUE(reg().attach_policy("Device", cert.arn).has_value());
  ASSERT_TRUE(reg().attach_policy("Connect", "arn:aws:iot:us-east-1:123456789012:thinggroup/NorthAmerica"));

  identity::DeviceIdentity id;
  id.certificate_id = cert.id;
  RegistryAuthorizer authorizer(reg(), "us-east-1", "123456789012");
  using policy::Action;

  // Not attached yet: thing variables do not resolve and group policies do not apply.
  auto s1 = authorizer.snapshot_for(&id, "sensor-1", "10.0.0.1");
  EXPECT_FALSE(s1->allowed(Action::Connect, "sensor-1"));
  EXPECT_FALSE(s1->allowed(Action::Publish, "dc/sensor-1/temp"));

  ASSERT_TRUE(reg().attach_thing_principal("sensor-1", cert.arn).has_value());
  auto s2 = authorizer.snapshot_for(&id, "sensor-1", "10.0.0.1");
  EXPECT_TRUE(s2->allowed(Action::Connect, "sensor-1")) << "inherited from NorthAmerica, three levels up";
  EXPECT_TRUE(s2->allowed(Action::Publish, "dc/sensor-1/temp"));
  EXPECT_FALSE(s2->allowed(Action::Publish, "dc/sensor-2/temp")) << "another device's topic";
  // A client id that is not the thing: the thing variables do not resolve.
  auto other = authorizer.snapshot_for(&id, "sensor-2", "10.0.0.1");
  EXPECT_FALSE(other->allowed(Action::Publish, "dc/sensor-1/temp"));

  // Quarantine in a parent group: Deny wins over the certificate's Allow.
  ASSERT_TRUE(reg().attach_policy("Quarantine", "arn:aws:iot:us-east-1:123456789012:thinggroup/ATL1"));
  auto s3 = authorizer.snapshot_for(&id, "sensor-1", "10.0.0.1");
  EXPECT_FALSE(s3->allowed(Action::Connect, "sensor-1"));
  EXPECT_FALSE(s3->allowed(Action::Publish, "dc/sensor-1/temp"));

  // Anonymous (plaintext) clients: nothing without --anonymous-policy.
  EXPECT_FALSE(authorizer.snapshot_for(nullptr, "anon", "10.0.0.9")->allowed(Action::Connect, "anon"));
  RegistryAuthorizer with_anonymous(reg(), "us-east-1", "123456789012", "Connect");
  EXPECT_TRUE(with_anonymous.snapshot_for(nullptr, "anon", "10.0.0.9")->allowed(Action::Connect, "anon"));
}

}  // namespace
}  // namespace fg::registry
