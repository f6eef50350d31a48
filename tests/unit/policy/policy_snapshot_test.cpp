// Compiling policies for a connection and evaluating requests: wildcards,
// ARNs, variables (resolved and not), Deny precedence, conditions,
// NotAction/NotResource, bounded matching cost and very long names.
#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace fg::policy {
namespace {

constexpr std::string_view kArn = "arn:aws:iot:us-east-1:123456789012:";

std::shared_ptr<const PolicyDocument> parse(std::string_view json) {
  auto r = parse_policy_document(json);
  EXPECT_TRUE(r) << (r ? "" : r.error().message) << "\n" << json;
  if (!r) return nullptr;
  return std::make_shared<const PolicyDocument>(std::move(*r));
}

// One statement in a 2012-10-17 document.
std::string statement_doc(std::string_view effect, std::string_view action, std::string_view resource,
                          std::string_view condition = "") {
  std::string s = R"({"Version":"2012-10-17","Statement":[{"Effect":")" + std::string(effect) + R"(","Action":)" +
                  std::string(action) + R"(,"Resource":)" + std::string(resource);
  if (!condition.empty()) s += R"(,"Condition":)" + std::string(condition);
  s += "}]}";
  return s;
}

std::string arn(std::string_view rest) { return "\"" + std::string(kArn) + std::string(rest) + "\""; }

ConnectionContext device(std::string name = "sensor-1") {
  ConnectionContext ctx;
  ctx.client_id = name;
  ctx.thing = ThingContext{name, "conveyor", {{"floor", "2"}, {"dc", "dc1"}}, ThingAttachment::Attached};
  ctx.certificate_id = "abc123";
  ctx.certificate_fields = {{"Subject.CommonName", "sensor-1.example"}, {"Issuer.Organization", "fleetguard"}};
  ctx.source_ip = "10.1.2.3";
  return ctx;
}

std::shared_ptr<const PolicySnapshot> compile_one(const std::string& json, const ConnectionContext& ctx) {
  auto doc = parse(json);
  return compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, ctx);
}

TEST(PolicySnapshot, DefaultDenyWithoutPolicies) {
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{}, device());
  for (std::size_t i = 0; i < kActionCount; ++i) {
    EXPECT_EQ(snap->evaluate(static_cast<Action>(i), "x"), Decision::ImplicitDeny);
  }
  EXPECT_FALSE(PolicySnapshot::deny_all()->allowed(Action::Connect, "sensor-1"));
}

TEST(PolicySnapshot, ExactTopicAndActionSelection) {
  auto snap = compile_one(statement_doc("Allow", R"("iot:Publish")", arn("topic/dc1/sensor-1/telemetry")), device());
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/sensor-1/telemetry"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/sensor-1/telemetry/x"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/sensor-1/telemetr"));
  EXPECT_FALSE(snap->allowed(Action::Receive, "dc1/sensor-1/telemetry"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "dc1/sensor-1/telemetry"));
  EXPECT_FALSE(snap->allowed(Action::RetainPublish, "dc1/sensor-1/telemetry"));
}

TEST(PolicySnapshot, ResourceTypesSelectTheRightActions) {
  auto snap = compile_one(statement_doc("Allow", R"("iot:*")",
                                        "[" + arn("client/c1") + "," + arn("topic/t/1") + "," + arn("topicfilter/t/#") +
                                            "," + arn("thing/sensor-1") + "]"),
                          device());
  EXPECT_TRUE(snap->allowed(Action::Connect, "c1"));
  EXPECT_FALSE(snap->allowed(Action::Connect, "t/1"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "t/1"));
  EXPECT_TRUE(snap->allowed(Action::Receive, "t/1"));
  EXPECT_TRUE(snap->allowed(Action::RetainPublish, "t/1"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "c1"));
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "t/#"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "t/1"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "t/#"));
  EXPECT_TRUE(snap->allowed(Action::UpdateThingShadow, "sensor-1"));
  EXPECT_TRUE(snap->allowed(Action::GetThingShadow, "sensor-1"));
  EXPECT_FALSE(snap->allowed(Action::GetThingShadow, "c1"));
}

TEST(PolicySnapshot, WildcardActions) {
  auto snap = compile_one(statement_doc("Allow", R"(["iot:P*", "iot:?eceive", "iot:subscribe"])", R"("*")"), device());
  EXPECT_TRUE(snap->allowed(Action::Publish, "a"));
  EXPECT_TRUE(snap->allowed(Action::Receive, "a"));
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "a"));  // action names are case-insensitive
  EXPECT_FALSE(snap->allowed(Action::Connect, "a"));
  EXPECT_FALSE(snap->allowed(Action::RetainPublish, "a"));

  auto star = compile_one(statement_doc("Allow", R"("*")", R"("*")"), device());
  for (std::size_t i = 0; i < kActionCount; ++i) EXPECT_TRUE(star->allowed(static_cast<Action>(i), "anything"));

  auto other_service = compile_one(statement_doc("Allow", R"(["greengrass:*", "iot:CreateThing"])", R"("*")"), device());
  for (std::size_t i = 0; i < kActionCount; ++i) EXPECT_FALSE(other_service->allowed(static_cast<Action>(i), "x"));
}

TEST(PolicySnapshot, ResourceWildcardsStarAndQuestionMark) {
  auto snap = compile_one(statement_doc("Allow", R"("iot:Publish")",
                                        "[" + arn("topic/dc1/*/status") + "," + arn("topic/rack?/temp") + "," +
                                            arn("topic/logs/*") + "]"),
                          device());
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/sensor-1/status"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/a/b/c/status"));  // * crosses '/'
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1//status"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/status"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "rack1/temp"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "rack//temp"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "rack/temp"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "rack12/temp"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "logs/"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "logs/a/b"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "logs"));
}

TEST(PolicySnapshot, MqttWildcardsAreLiteral) {
  auto snap = compile_one(statement_doc("Allow", R"(["iot:Subscribe","iot:Publish"])",
                                        "[" + arn("topicfilter/dc1/+/status") + "," + arn("topicfilter/alerts/#") +
                                            "," + arn("topic/dc1/+/status") + "]"),
                          device());
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "dc1/+/status"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "dc1/sensor-1/status"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "dc1/#"));
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "alerts/#"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "alerts/fire"));
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "#"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/sensor-1/status"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/+/status"));
}

TEST(PolicySnapshot, ArnMustMatchRegionAccountAndPartition) {
  const std::string doc = statement_doc(
      "Allow", R"("iot:Publish")",
      R"(["arn:aws:iot:eu-west-1:123456789012:topic/a", "arn:aws:iot:us-east-1:999999999999:topic/b",
          "arn:aws-cn:iot:us-east-1:123456789012:topic/c", "arn:aws:iam:us-east-1:123456789012:topic/d",
          "arn:aws:iot:us-east-1:123456789012:topic/e", "arn:aws:iot:*:123456789012:topic/f",
          "arn:aws:iot:us-east-1:*:topic/g*", "arn:aws:iot:us-east-?:123456789012:topic/h"])");
  auto snap = compile_one(doc, device());
  EXPECT_FALSE(snap->allowed(Action::Publish, "a"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "b"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "c"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "d"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "e"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "f"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "g/x"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "h"));

  ConnectionContext eu = device();
  eu.region = "eu-west-1";
  auto snap_eu = compile_one(doc, eu);
  EXPECT_TRUE(snap_eu->allowed(Action::Publish, "a"));
  EXPECT_FALSE(snap_eu->allowed(Action::Publish, "e"));
  EXPECT_TRUE(snap_eu->allowed(Action::Publish, "f"));
  EXPECT_FALSE(snap_eu->allowed(Action::Publish, "h"));
}

TEST(PolicySnapshot, WildcardInsideTheArnPrefix) {
  // The star may cover part of the ARN and part of the name.
  auto snap = compile_one(statement_doc("Allow", R"("iot:*")", R"(["arn:aws:iot:*:topic/dc1/*", "arn:*/x"])"), device());
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/a"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc2/a"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc2/x"));   // "arn:*/x": the star crosses into the name
  EXPECT_TRUE(snap->allowed(Action::Publish, "a/b/x"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "x"));    // ".../topic/x" ends in "/x"
  EXPECT_FALSE(snap->allowed(Action::Publish, "y"));
  EXPECT_TRUE(snap->allowed(Action::Connect, "x"));    // ".../client/x" too
  // "topicfilter/dc1/#" does not contain ":topic/dc1/"; a filter whose own
  // text does, does.
  EXPECT_FALSE(snap->allowed(Action::Subscribe, "dc1/#"));
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "a:topic/dc1/b"));
  // "arn:aws:iot:*:thing/..." does not mention thing, "arn:*/x" does.
  EXPECT_TRUE(snap->allowed(Action::GetThingShadow, "x"));
  EXPECT_FALSE(snap->allowed(Action::GetThingShadow, "y"));
}

TEST(PolicySnapshot, ThingNameVariables) {
  const std::string doc = statement_doc(
      "Allow", R"(["iot:Publish","iot:Receive"])",
      "[" + arn("topic/dc1/${iot:Connection.Thing.ThingName}/*") + "," +
          arn("topic/type/${iot:Connection.Thing.ThingTypeName}") + "," +
          arn("topic/floor/${iot:Connection.Thing.Attributes[floor]}/${iot:ClientId}") + "," +
          arn("topic/cert/${iot:CertificateId}") + "," + arn("topic/cn/${iot:Certificate.Subject.CommonName}") + "," +
          arn("topic/org/${iot:Certificate.Issuer.Organization}") + "," +
          arn("topic/attached/${iot:Connection.Thing.IsAttached}") + "]");
  auto snap = compile_one(doc, device("sensor-1"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/sensor-1/telemetry"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/sensor-2/telemetry"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "type/conveyor"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "floor/2/sensor-1"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "floor/3/sensor-1"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "cert/abc123"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "cn/sensor-1.example"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "org/fleetguard"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "attached/true"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "dc1/${iot:Connection.Thing.ThingName}/x"));

  auto other = compile_one(doc, device("sensor-2"));
  EXPECT_FALSE(other->allowed(Action::Publish, "dc1/sensor-1/telemetry"));
  EXPECT_TRUE(other->allowed(Action::Publish, "dc1/sensor-2/telemetry"));
}

TEST(PolicySnapshot, UnresolvedVariablesMatchNothing) {
  const std::string doc = statement_doc(
      "Allow", R"("iot:Publish")",
      "[" + arn("topic/dc1/${iot:Connection.Thing.ThingName}/*") + "," +
          arn("topic/floor/${iot:Connection.Thing.Attributes[missing]}") + "," +
          arn("topic/x/${iot:Nonsense}") + "," + arn("topic/open") + "]");

  // No thing at all.
  ConnectionContext no_thing = device();
  no_thing.thing.reset();
  auto a = compile_one(doc, no_thing);
  EXPECT_FALSE(a->allowed(Action::Publish, "dc1//x"));
  EXPECT_FALSE(a->allowed(Action::Publish, "dc1/sensor-1/x"));
  EXPECT_FALSE(a->allowed(Action::Publish, "floor/"));
  EXPECT_FALSE(a->allowed(Action::Publish, "x/"));
  EXPECT_TRUE(a->allowed(Action::Publish, "open"));  // the other resources still apply

  // A thing that is not attached to the certificate: thing variables do not resolve.
  ConnectionContext unattached = device();
  unattached.thing->attachment = ThingAttachment::NotAttached;
  auto b = compile_one(doc, unattached);
  EXPECT_FALSE(b->allowed(Action::Publish, "dc1/sensor-1/x"));

  // A client id that differs from the thing name: thing variables do not resolve.
  ConnectionContext other_client = device();
  other_client.client_id = "someone-else";
  auto c = compile_one(doc, other_client);
  EXPECT_FALSE(c->allowed(Action::Publish, "dc1/sensor-1/x"));
  EXPECT_FALSE(c->allowed(Action::Publish, "dc1/someone-else/x"));

  // No certificate.
  ConnectionContext anonymous = device();
  anonymous.certificate_id.clear();
  auto d = compile_one(statement_doc("Allow", R"("iot:Publish")", arn("topic/cert/${iot:CertificateId}*")), anonymous);
  EXPECT_FALSE(d->allowed(Action::Publish, "cert/"));
  EXPECT_FALSE(d->allowed(Action::Publish, "cert/abc123"));
}

TEST(PolicySnapshot, SubstitutedValuesAreLiteral) {
  // A client id full of wildcard characters must not widen the policy.
  ConnectionContext ctx = device("*");
  ctx.thing.reset();
  auto snap = compile_one(statement_doc("Allow", R"(["iot:Connect","iot:Publish"])",
                                        "[" + arn("client/${iot:ClientId}") + "," + arn("topic/c/${iot:ClientId}") + "]"),
                          ctx);
  EXPECT_TRUE(snap->allowed(Action::Connect, "*"));
  EXPECT_FALSE(snap->allowed(Action::Connect, "other"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "c/*"));
  EXPECT_FALSE(snap->allowed(Action::Publish, "c/anything"));

  ConnectionContext q = device("a?c");
  q.thing.reset();
  auto snap_q = compile_one(statement_doc("Allow", R"("iot:Connect")", arn("client/${iot:ClientId}")), q);
  EXPECT_TRUE(snap_q->allowed(Action::Connect, "a?c"));
  EXPECT_FALSE(snap_q->allowed(Action::Connect, "abc"));
}

TEST(PolicySnapshot, EscapeSequencesAndOldVersionKeepVariablesLiteral) {
  auto escaped = compile_one(statement_doc("Allow", R"("iot:Publish")", arn("topic/a${*}b${?}c${$}")), device());
  EXPECT_TRUE(escaped->allowed(Action::Publish, "a*b?c$"));
  EXPECT_FALSE(escaped->allowed(Action::Publish, "axxb?c$"));

  auto old = parse(R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish",
                       "Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}"}})");
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{old}, device());
  EXPECT_FALSE(snap->allowed(Action::Publish, "sensor-1"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "${iot:ClientId}"));
}

TEST(PolicySnapshot, DenyWinsOverAllow) {
  auto doc = parse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"iot:*","Resource":"*"},
    {"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/admin/*"}]})");
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, device());
  EXPECT_EQ(snap->evaluate(Action::Publish, "admin/reboot"), Decision::ExplicitDeny);
  EXPECT_EQ(snap->evaluate(Action::Publish, "data/1"), Decision::Allow);
  EXPECT_EQ(snap->evaluate(Action::Subscribe, "admin/reboot"), Decision::Allow);
}

TEST(PolicySnapshot, ParentGroupDenyOverridesCertificateAllow) {
  // The certificate's policy allows the device its topics; a policy attached
  // to an ancestor thing group (quarantine) denies everything. The caller
  // passes the union of the documents.
  auto certificate_policy = parse(statement_doc("Allow", R"("iot:*")",
                                                "[" + arn("client/${iot:Connection.Thing.ThingName}") + "," +
                                                    arn("topic/dc1/${iot:Connection.Thing.ThingName}/*") + "]"));
  auto child_group_policy = parse(statement_doc("Allow", R"("iot:Subscribe")", arn("topicfilter/dc1/*")));
  auto parent_group_policy = parse(statement_doc("Deny", R"("iot:*")", R"("*")"));

  auto before = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{certificate_policy, child_group_policy},
                                 device());
  EXPECT_TRUE(before->allowed(Action::Connect, "sensor-1"));
  EXPECT_TRUE(before->allowed(Action::Publish, "dc1/sensor-1/t"));
  EXPECT_TRUE(before->allowed(Action::Subscribe, "dc1/#"));

  auto quarantined = compile_policies(
      std::vector<std::shared_ptr<const PolicyDocument>>{certificate_policy, child_group_policy, parent_group_policy},
      device());
  EXPECT_EQ(quarantined->evaluate(Action::Connect, "sensor-1"), Decision::ExplicitDeny);
  EXPECT_EQ(quarantined->evaluate(Action::Publish, "dc1/sensor-1/t"), Decision::ExplicitDeny);
  EXPECT_EQ(quarantined->evaluate(Action::Receive, "dc1/sensor-1/t"), Decision::ExplicitDeny);
  EXPECT_EQ(quarantined->evaluate(Action::Subscribe, "dc1/#"), Decision::ExplicitDeny);

  // Order of the documents does not matter; null entries are skipped.
  std::vector<const PolicyDocument*> reversed = {parent_group_policy.get(), nullptr, certificate_policy.get()};
  auto again = compile_policies(std::span<const PolicyDocument* const>(reversed), device());
  EXPECT_FALSE(again->allowed(Action::Connect, "sensor-1"));
}

TEST(PolicySnapshot, NotActionAndNotResource) {
  auto doc = parse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","NotAction":["iot:Connect","iot:RetainPublish"],"Resource":"*"},
    {"Effect":"Deny","Action":"iot:Publish","NotResource":["arn:aws:iot:us-east-1:123456789012:topic/dc1/*",
                                                          "arn:aws:iot:us-east-1:123456789012:topic/ok"]}]})");
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, device());
  EXPECT_FALSE(snap->allowed(Action::Connect, "sensor-1"));
  EXPECT_FALSE(snap->allowed(Action::RetainPublish, "dc1/x"));
  EXPECT_TRUE(snap->allowed(Action::Subscribe, "anything/#"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/x"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "ok"));
  EXPECT_EQ(snap->evaluate(Action::Publish, "dc2/x"), Decision::ExplicitDeny);

  // A NotResource Allow: everything but the listed names.
  auto allow_except = compile_one(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish",
      "NotResource":"arn:aws:iot:us-east-1:123456789012:topic/secret/*"}})",
                                  device());
  EXPECT_TRUE(allow_except->allowed(Action::Publish, "public/x"));
  EXPECT_FALSE(allow_except->allowed(Action::Publish, "secret/x"));

  // A NotResource entry whose variable does not resolve: the statement does not apply.
  ConnectionContext no_thing = device();
  no_thing.thing.reset();
  auto unresolved = compile_one(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish",
      "NotResource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/private"}})",
                                no_thing);
  EXPECT_FALSE(unresolved->allowed(Action::Publish, "public/x"));
}

TEST(PolicySnapshot, ConditionsOnThingAndCertificate) {
  const auto allow_if = [](std::string_view condition) {
    return statement_doc("Allow", R"("iot:Connect")", R"("*")", condition);
  };
  const ConnectionContext ctx = device();
  auto check = [&](std::string_view condition, const ConnectionContext& c = device()) {
    return compile_one(allow_if(condition), c)->allowed(Action::Connect, c.client_id);
  };
  EXPECT_TRUE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":"true"}})"));
  EXPECT_TRUE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":true}})"));
  EXPECT_FALSE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":"false"}})"));
  ConnectionContext unattached = ctx;
  unattached.thing->attachment = ThingAttachment::NotAttached;
  EXPECT_FALSE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":"true"}})", unattached));
  EXPECT_TRUE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":"false"}})", unattached));
  ConnectionContext no_thing = ctx;
  no_thing.thing.reset();
  EXPECT_FALSE(check(R"({"Bool":{"iot:Connection.Thing.IsAttached":"true"}})", no_thing));

  EXPECT_TRUE(check(R"({"StringEquals":{"iot:Connection.Thing.Attributes[floor]":["1","2"]}})"));
  EXPECT_FALSE(check(R"({"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3"}})"));
  EXPECT_TRUE(check(R"({"StringEquals":{"iot:Connection.Thing.ThingTypeName":"conveyor"},
                         "StringLike":{"iot:ClientId":"sensor-*"}})"));
  EXPECT_FALSE(check(R"({"StringEquals":{"iot:Connection.Thing.ThingTypeName":"conveyor"},
                          "StringLike":{"iot:ClientId":"camera-*"}})"));  // every operator must hold
  EXPECT_TRUE(check(R"({"StringNotEquals":{"iot:ClientId":"camera-1"}})"));
  EXPECT_FALSE(check(R"({"StringNotEquals":{"iot:ClientId":["camera-1","sensor-1"]}})"));
  EXPECT_TRUE(check(R"({"StringNotLike":{"iot:ClientId":"cam*"}})"));
  EXPECT_FALSE(check(R"({"StringNotLike":{"iot:ClientId":"sen*"}})"));
  EXPECT_TRUE(check(R"({"StringEqualsIgnoreCase":{"iot:Certificate.Subject.CommonName":"SENSOR-1.EXAMPLE"}})"));
  EXPECT_FALSE(check(R"({"StringEquals":{"iot:Certificate.Subject.CommonName":"SENSOR-1.EXAMPLE"}})"));
  // StringEquals compares literally: no wildcards.
  EXPECT_FALSE(check(R"({"StringEquals":{"iot:ClientId":"sensor-*"}})"));
  // Variables in condition values.
  EXPECT_TRUE(check(R"({"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}})"));
  EXPECT_TRUE(check(R"({"StringLike":{"iot:Certificate.Subject.CommonName":"${iot:ClientId}.*"}})"));
  EXPECT_TRUE(check(R"({"ArnLike":{"iot:Certificate.Subject.CommonName":"sensor-?.example"}})"));
  EXPECT_TRUE(check(R"({"NumericLessThan":{"iot:Connection.Thing.Attributes[floor]":3}})"));
  EXPECT_FALSE(check(R"({"NumericGreaterThanEquals":{"iot:Connection.Thing.Attributes[floor]":"2.5"}})"));
  EXPECT_FALSE(check(R"({"NumericEquals":{"iot:Connection.Thing.Attributes[dc]":1}})"));  // not a number
}

TEST(PolicySnapshot, MissingKeysFollowIamRules) {
  auto check = [](std::string_view condition) {
    return compile_one(statement_doc("Allow", R"("iot:Connect")", R"("*")", condition), device())
        ->allowed(Action::Connect, "sensor-1");
  };
  const std::string missing = "iot:Connection.Thing.Attributes[nope]";
  EXPECT_FALSE(check(R"({"StringEquals":{")" + missing + R"(":"x"}})"));
  EXPECT_TRUE(check(R"({"StringNotEquals":{")" + missing + R"(":"x"}})"));  // negated: true when absent
  EXPECT_TRUE(check(R"({"StringEqualsIfExists":{")" + missing + R"(":"x"}})"));
  EXPECT_FALSE(check(R"({"StringEqualsIfExists":{"iot:ClientId":"x"}})"));
  EXPECT_TRUE(check(R"({"StringEqualsIfExists":{"iot:ClientId":"sensor-1"}})"));
  EXPECT_TRUE(check(R"({"Null":{")" + missing + R"(":"true"}})"));
  EXPECT_FALSE(check(R"({"Null":{")" + missing + R"(":"false"}})"));
  EXPECT_TRUE(check(R"({"Null":{"iot:ClientId":"false"}})"));
  EXPECT_TRUE(check(R"({"ForAllValues:StringEquals":{")" + missing + R"(":"x"}})"));
  EXPECT_FALSE(check(R"({"ForAnyValue:StringEquals":{")" + missing + R"(":"x"}})"));
  EXPECT_TRUE(check(R"({"ForAnyValue:StringEquals":{"iot:ClientId":["x","sensor-1"]}})"));
  // A condition value whose variable does not resolve: the statement does not apply.
  EXPECT_FALSE(check(R"({"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.Attributes[nope]}"}})"));
}

TEST(PolicySnapshot, ArnNotLikeAndIfExistsOnIp) {
  auto check = [](std::string_view condition, std::string ip = "10.1.2.3") {
    ConnectionContext ctx = device();
    ctx.source_ip = std::move(ip);
    return compile_one(statement_doc("Allow", R"("iot:Connect")", R"("*")", condition), ctx)
        ->allowed(Action::Connect, "sensor-1");
  };
  EXPECT_TRUE(check(R"({"ArnNotLike":{"iot:Certificate.Subject.CommonName":"camera-*"}})"));
  EXPECT_FALSE(check(R"({"ArnNotLike":{"iot:Certificate.Subject.CommonName":"sensor-*"}})"));
  EXPECT_TRUE(check(R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})"));
  EXPECT_FALSE(check(R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})", "192.0.2.1"));
  EXPECT_TRUE(check(R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})", ""));  // unknown source: passes
}

TEST(PolicySnapshot, OldVersionConditionValuesAreLiteral) {
  auto doc = parse(R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
                       "Condition":{"StringEquals":{"iot:ClientId":"${iot:ClientId}"}}}})");
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, device());
  EXPECT_FALSE(snap->allowed(Action::Connect, "sensor-1"));
  ConnectionContext literal = device("${iot:ClientId}");
  auto snap2 = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, literal);
  EXPECT_TRUE(snap2->allowed(Action::Connect, "${iot:ClientId}"));
}

TEST(PolicySnapshot, GroupDenyOnOneTopicLeavesTheRest) {
  auto certificate_policy = parse(statement_doc("Allow", R"("iot:*")", R"("*")"));
  auto group_policy = parse(statement_doc("Deny", R"(["iot:Publish","iot:RetainPublish"])",
                                          arn("topic/dc1/${iot:Connection.Thing.ThingName}/cmd")));
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{certificate_policy, group_policy},
                               device());
  EXPECT_EQ(snap->evaluate(Action::Publish, "dc1/sensor-1/cmd"), Decision::ExplicitDeny);
  EXPECT_EQ(snap->evaluate(Action::RetainPublish, "dc1/sensor-1/cmd"), Decision::ExplicitDeny);
  EXPECT_TRUE(snap->allowed(Action::Receive, "dc1/sensor-1/cmd"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/sensor-2/cmd"));
  EXPECT_TRUE(snap->allowed(Action::Publish, "dc1/sensor-1/telemetry"));
}

TEST(PolicySnapshot, SourceIpConditionsV4AndV6) {
  auto allowed_from = [](std::string ip, std::string_view condition) {
    ConnectionContext ctx = device();
    ctx.source_ip = std::move(ip);
    return compile_one(statement_doc("Allow", R"("iot:Connect")", R"("*")", condition), ctx)
        ->allowed(Action::Connect, "sensor-1");
  };
  const std::string_view v4 = R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.17"]}})";
  EXPECT_TRUE(allowed_from("10.1.2.3", v4));
  EXPECT_TRUE(allowed_from("10.255.255.255", v4));
  EXPECT_FALSE(allowed_from("11.0.0.1", v4));
  EXPECT_TRUE(allowed_from("192.168.1.17", v4));
  EXPECT_FALSE(allowed_from("192.168.1.18", v4));
  EXPECT_TRUE(allowed_from("::ffff:10.9.9.9", v4));  // IPv4-mapped IPv6 peer
  EXPECT_FALSE(allowed_from("2001:db8::1", v4));
  EXPECT_FALSE(allowed_from("", v4));                // unknown source: key absent
  EXPECT_FALSE(allowed_from("not-an-ip", v4));

  const std::string_view odd_prefix = R"({"IpAddress":{"aws:SourceIp":"172.16.0.0/12"}})";
  EXPECT_TRUE(allowed_from("172.31.255.1", odd_prefix));
  EXPECT_FALSE(allowed_from("172.32.0.1", odd_prefix));

  const std::string_view v6 = R"({"IpAddress":{"aws:SourceIp":"2001:db8:abcd::/46"}})";
  EXPECT_TRUE(allowed_from("2001:db8:abcd:1::5", v6));
  EXPECT_TRUE(allowed_from("2001:db8:abcf:ffff::1", v6));
  EXPECT_FALSE(allowed_from("2001:db8:abd0::1", v6));
  EXPECT_FALSE(allowed_from("10.0.0.1", v6));

  const std::string_view not_ip = R"({"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1/128"]}})";
  EXPECT_FALSE(allowed_from("10.0.0.1", not_ip));
  EXPECT_FALSE(allowed_from("::1", not_ip));
  EXPECT_TRUE(allowed_from("8.8.8.8", not_ip));

  EXPECT_TRUE(allowed_from("203.0.113.9", R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})"));
}

TEST(PolicySnapshot, DenyWithConditionOnlyWhenItHolds) {
  auto doc = parse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"iot:*","Resource":"*"},
    {"Effect":"Deny","Action":"iot:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]})");
  ConnectionContext inside = device();
  ConnectionContext outside = device();
  outside.source_ip = "198.51.100.7";
  EXPECT_TRUE(compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, inside)
                  ->allowed(Action::Publish, "t"));
  EXPECT_EQ(compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, outside)
                ->evaluate(Action::Publish, "t"),
            Decision::ExplicitDeny);
}

TEST(PolicySnapshot, HostilePatternsHaveBoundedCost) {
  // `*a*a*a...*b` against a long run of 'a': exponential for a backtracking
  // matcher, a few milliseconds for ours.
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "*a";
  pattern += "*b";
  auto snap = compile_one(statement_doc("Allow", R"("iot:Publish")", arn("topic/" + pattern)), device());
  const std::string topic(64 * 1024, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(snap->allowed(Action::Publish, topic));
  EXPECT_TRUE(snap->allowed(Action::Publish, topic + "b"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous bound: catches exponential behaviour, not a timing goal.
  EXPECT_LT(elapsed, std::chrono::seconds(5));

  // A resource of stars only still compiles to "match everything".
  auto stars = compile_one(statement_doc("Allow", R"("iot:Publish")", "\"arn:" + std::string(1500, '*') + "\""), device());
  EXPECT_TRUE(stars->allowed(Action::Publish, "x/y"));
  EXPECT_EQ(stars->pattern_count(), 1u);
}

TEST(PolicySnapshot, VeryLongNames) {
  const std::string long_client(65535, 'c');
  ConnectionContext ctx = device(long_client);
  auto snap = compile_one(statement_doc("Allow", R"(["iot:Connect","iot:Publish"])",
                                        "[" + arn("client/${iot:ClientId}") + "," +
                                            arn("topic/${iot:Connection.Thing.ThingName}/*") + "]"),
                          ctx);
  EXPECT_TRUE(snap->allowed(Action::Connect, long_client));
  EXPECT_FALSE(snap->allowed(Action::Connect, long_client + "c"));
  EXPECT_FALSE(snap->allowed(Action::Connect, long_client.substr(1)));
  EXPECT_TRUE(snap->allowed(Action::Publish, long_client + "/" + std::string(100000, 't')));
  EXPECT_FALSE(snap->allowed(Action::Publish, std::string(200000, 'x')));
  EXPECT_FALSE(snap->allowed(Action::Publish, ""));
}

TEST(PolicySnapshot, SnapshotIsIndependentOfItsDocuments) {
  auto doc = parse(statement_doc("Allow", R"("iot:Publish")", arn("topic/${iot:ClientId}")));
  auto snap = compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{doc}, device());
  doc.reset();  // the registry may drop a policy version while connections still hold snapshots
  EXPECT_TRUE(snap->allowed(Action::Publish, "sensor-1"));
}

}  // namespace
}  // namespace fg::policy
