// Parsing and validation of policy documents: what AWS IoT accepts, what it
// rejects, and that the error says what and where.
#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace fg::policy {
namespace {

std::string error_of(std::string_view json) {
  auto r = parse_policy_document(json);
  if (r) return "<accepted>";
  return r.error().message;
}

TEST(PolicyParse, AcceptsTypicalDevicePolicy) {
  auto r = parse_policy_document(R"({
    "Version": "2012-10-17",
    "Statement": [
      {"Sid": "connect", "Effect": "Allow", "Action": "iot:Connect",
       "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
      {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
       "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/dc1/${iot:Connection.Thing.ThingName}/*"]},
      {"Effect": "Deny", "NotAction": "iot:Subscribe", "NotResource": "*",
       "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": false}}}
    ]})");
  ASSERT_TRUE(r) << r.error().message;
  const PolicyDocument& doc = *r;
  EXPECT_EQ(doc.version, PolicyLanguageVersion::V2012_10_17);
  ASSERT_EQ(doc.statements.size(), 3u);
  EXPECT_EQ(doc.statements[0].sid, "connect");
  EXPECT_EQ(doc.statements[0].actions, std::vector<std::string>{"iot:Connect"});
  EXPECT_EQ(doc.statements[1].actions.size(), 2u);
  EXPECT_EQ(doc.statements[2].effect, Effect::Deny);
  EXPECT_EQ(doc.statements[2].action_kind, ListKind::AllExcept);
  EXPECT_EQ(doc.statements[2].resource_kind, ListKind::AllExcept);
  ASSERT_EQ(doc.statements[2].conditions.size(), 1u);
  EXPECT_EQ(doc.statements[2].conditions[0].op, ConditionOperator::Bool);
  EXPECT_EQ(doc.statements[2].conditions[0].values, std::vector<std::string>{"false"});
}

TEST(PolicyParse, StatementMayBeASingleObject) {
  auto r = parse_policy_document(
      R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:*","Resource":"*"}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->statements.size(), 1u);
}

TEST(PolicyParse, AcceptsBothLanguageVersions) {
  auto old = parse_policy_document(R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->version, PolicyLanguageVersion::V2008_10_17);
  auto missing = parse_policy_document(R"({"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->version, PolicyLanguageVersion::V2008_10_17);
  EXPECT_EQ(error_of(R"({"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})"),
            "Version: must be \"2012-10-17\" or \"2008-10-17\", not '2012-10-18'");
  EXPECT_EQ(error_of(R"({"Version":2012,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})"),
            "Version: must be \"2012-10-17\" or \"2008-10-17\", not a number");
}

TEST(PolicyParse, RejectsInvalidJsonWithPosition) {
  const auto e = error_of(R"({"Version":"2012-10-17", "Statement": [})");
  EXPECT_NE(e.find("policy document: invalid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
  EXPECT_NE(error_of("").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"Statement\": \"\xff\"}").find("invalid JSON"), std::string::npos);
}

TEST(PolicyParse, RejectsNonObjectRoot) {
  EXPECT_EQ(error_of("[]"), "policy document: must be a JSON object, not a list");
  EXPECT_EQ(error_of("\"x\""), "policy document: must be a JSON object, not a string");
  EXPECT_EQ(error_of("null"), "policy document: must be a JSON object, not null");
}

TEST(PolicyParse, RejectsDuplicateKeys) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}})"),
            "policy document: duplicate key 'Effect'");
  EXPECT_EQ(error_of(R"({"Statement":[],"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})"),
            "policy document: duplicate key 'Statement'");
  // The same key in two different objects is fine.
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
                         {"Effect":"Deny","Action":"*","Resource":"*"}]})"),
            "<accepted>");
}

TEST(PolicyParse, RejectsDuplicateKeysInNestedObjects) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
      "Condition":{"StringEquals":{"iot:ClientId":"a","iot:ClientId":"b"}}}})"),
            "policy document: duplicate key 'iot:ClientId'");
}

TEST(PolicyParse, HostileJsonIsRejectedNotCrashed) {
  // Deep nesting within the size limit.
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_EQ(error_of(deep), "policy document: must be a JSON object, not a list");
  EXPECT_NE(error_of(std::string(1500, '{')).find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"Version\":\"2012-10-17\"} trailing").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of(std::string("{\"a\":\"\0\"}", 9)).find("invalid JSON"), std::string::npos);
  // Megabytes of whitespace are refused before parsing.
  EXPECT_EQ(error_of(std::string(100000, ' ') + "{}"), "policy document: larger than 65536 bytes");
}

TEST(PolicyParse, RejectsUnknownAndForbiddenFields) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Foo":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})"),
            "policy document: unknown field 'Foo'");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
                         {"Effect":"Allow","Action":"*","Resource":"*","Bogus":true}]})"),
            "Statement[1]: unknown field 'Bogus'");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}})"),
            "Statement.Principal: not allowed in an AWS IoT policy (policies are attached to principals)");
}

TEST(PolicyParse, RequiresStatementContents) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17"})"), "policy document: Statement is required");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[]})"), "Statement: must contain at least one statement");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":"x"})"),
            "Statement: must be an object or a list of objects, not a string");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[1]})"), "Statement[0]: must be an object, not a number");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Action":"*","Resource":"*"}]})"),
            "Statement[0]: Effect is required");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]})"),
            "Statement[0]: Action or NotAction is required");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]})"),
            "Statement[0]: Resource or NotResource is required");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]})"),
            "Statement[0]: must have exactly one of Action and NotAction");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}]})"),
            "Statement[0]: must have exactly one of Resource and NotResource");
}

TEST(PolicyParse, EffectMustBeAllowOrDeny) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
                         {"Effect":"allow","Action":"*","Resource":"*"}]})"),
            "Statement[1].Effect: must be Allow or Deny, not 'allow'");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":true,"Action":"*","Resource":"*"}]})"),
            "Statement[0].Effect: must be Allow or Deny");
}

TEST(PolicyParse, ValidatesActions) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish","Publish"],"Resource":"*"}]})"),
            "Statement[0].Action[1]: 'Publish' is not a valid action (expected \"*\" or service:ActionName, e.g. iot:Publish)");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]})"),
            "Statement[0].Action: must not be an empty list");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[7],"Resource":"*"}]})"),
            "Statement[0].Action[0]: must be a string, not a number");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"io*:Publish","Resource":"*"}]})").substr(0, 26),
            "Statement[0].Action: 'io*:");
  // Wildcards in the action name and actions of other services are accepted.
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:P*","iot:?eceive","greengrass:*","iot:CreateThing"],"Resource":"*"}]})"),
            "<accepted>");
}

TEST(PolicyParse, ValidatesResources) {
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"topic/a"}]})"),
            "Statement[0].Resource: 'topic/a' is not a valid resource (expected \"*\" or an ARN such as "
            "arn:aws:iot:us-east-1:123456789012:topic/name)");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":["*","arn:aws:iot"]}]})")
                .substr(0, 39),
            "Statement[0].Resource[1]: 'arn:aws:iot'");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":""}]})").substr(0, 33),
            "Statement[0].Resource: '' is not ");
  EXPECT_EQ(error_of(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":{"a":1}}]})"),
            "Statement[0].Resource: must be a string or a list of strings, not an object");
}

TEST(PolicyParse, ParsesConditionOperators) {
  auto r = parse_policy_document(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",
    "Condition":{
      "StringEqualsIfExists":{"iot:ClientId":["a","b"]},
      "ForAnyValue:StringLike":{"iot:Connection.Thing.Attributes[floor]":"1*"},
      "IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32","192.168.1.1"]},
      "NumericLessThan":{"iot:Connection.Thing.Attributes[rack]":10},
      "Null":{"iot:Connection.Thing.ThingTypeName":"false"}}}]})");
  ASSERT_TRUE(r) << r.error().message;
  const auto& conditions = r->statements[0].conditions;
  ASSERT_EQ(conditions.size(), 5u);
  bool saw_if_exists = false;
  bool saw_for_any = false;
  for (const auto& c : conditions) {
    if (c.op == ConditionOperator::StringEquals) {
      saw_if_exists = c.if_exists == IfExists::Yes;
      EXPECT_EQ(c.values.size(), 2u);
    }
    if (c.op == ConditionOperator::StringLike) saw_for_any = c.qualifier == SetQualifier::ForAnyValue;
    if (c.op == ConditionOperator::NumericLessThan) {
      EXPECT_EQ(c.values, std::vector<std::string>{"10"});
    }
  }
  EXPECT_TRUE(saw_if_exists);
  EXPECT_TRUE(saw_for_any);
}

TEST(PolicyParse, RejectsBadConditions) {
  auto doc = [](std::string condition) {
    return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":)" + condition + "}]}";
  };
  EXPECT_EQ(error_of(doc(R"({"StringEqualz":{"iot:ClientId":"a"}})")),
            "Statement[0].Condition.StringEqualz: unknown condition operator");
  EXPECT_EQ(error_of(doc(R"({"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}})")),
            "Statement[0].Condition.DateLessThan: condition operator not supported by fleetguard");
  EXPECT_EQ(error_of(doc(R"({"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}})")),
            "Statement[0].Condition.IpAddress.aws:SourceIp: '10.0.0.0/33' is not an IP address or CIDR block");
  EXPECT_EQ(error_of(doc(R"({"IpAddress":{"aws:SourceIp":["10.0.0.1","300.1.1.1"]}})")),
            "Statement[0].Condition.IpAddress.aws:SourceIp[1]: '300.1.1.1' is not an IP address or CIDR block");
  EXPECT_EQ(error_of(doc(R"({"Bool":{"iot:Connection.Thing.IsAttached":"yes"}})")),
            "Statement[0].Condition.Bool.iot:Connection.Thing.IsAttached: 'yes' must be true or false");
  EXPECT_EQ(error_of(doc(R"({"NumericEquals":{"iot:Connection.Thing.Attributes[n]":"ten"}})")),
            "Statement[0].Condition.NumericEquals.iot:Connection.Thing.Attributes[n]: 'ten' is not a number");
  EXPECT_EQ(error_of(doc(R"({"StringEquals":{"iot:ClientId":[]}})")),
            "Statement[0].Condition.StringEquals.iot:ClientId: must not be an empty list");
  EXPECT_EQ(error_of(doc(R"({"StringEquals":{"iot:ClientId":{"x":1}}})")),
            "Statement[0].Condition.StringEquals.iot:ClientId: must be a string, number or boolean, not an object");
  EXPECT_EQ(error_of(doc(R"({"StringEquals":"x"})")), "Statement[0].Condition.StringEquals: must be an object, not a string");
  EXPECT_EQ(error_of(doc(R"({"StringEquals":{}})")),
            "Statement[0].Condition.StringEquals: must name at least one condition key");
  EXPECT_EQ(error_of(doc(R"({"NullIfExists":{"iot:ClientId":"true"}})")),
            "Statement[0].Condition.NullIfExists: Null cannot be combined with IfExists or a set qualifier");
  EXPECT_EQ(error_of(doc(R"([1])")), "Statement[0].Condition: must be an object, not a list");
}

TEST(PolicyParse, SizeLimitCountsCharactersExcludingWhitespace) {
  // Build a document of exactly 2048 non-whitespace characters by padding a Sid.
  const std::string head = R"({"Version":"2012-10-17","Statement":{"Sid":")";
  const std::string tail = R"(","Effect":"Allow","Action":"*","Resource":"*"}})";
  const std::size_t fixed = policy_document_size(head + tail);
  const std::string at_limit = head + std::string(kMaxPolicyDocumentChars - fixed, 'x') + tail;
  ASSERT_EQ(policy_document_size(at_limit), kMaxPolicyDocumentChars);
  EXPECT_TRUE(parse_policy_document(at_limit));

  // Whitespace does not count...
  std::string spaced = at_limit;
  spaced.insert(1, std::string(5000, ' '));
  spaced.insert(spaced.size() - 1, "\n\t\r\n");
  EXPECT_TRUE(parse_policy_document(spaced));

  // ...one more character does.
  const std::string over = head + std::string(kMaxPolicyDocumentChars - fixed + 1, 'x') + tail;
  EXPECT_EQ(error_of(over), "policy document: 2049 characters excluding whitespace; the maximum is 2048");

  // A multi-byte UTF-8 character counts once.
  EXPECT_EQ(policy_document_size("\xc3\xa9 \xe2\x82\xac"), 2u);
}

TEST(PolicyParse, ActionNamesRoundTrip) {
  for (std::size_t i = 0; i < kActionCount; ++i) {
    const auto a = static_cast<Action>(i);
    const auto back = action_from_string(to_string(a));
    ASSERT_TRUE(back.has_value()) << to_string(a);
    EXPECT_EQ(*back, a);
  }
  EXPECT_EQ(action_from_string("iot:publish"), Action::Publish);
  EXPECT_EQ(action_from_string("IOT:CONNECT"), Action::Connect);
  EXPECT_FALSE(action_from_string("iot:P*").has_value());
  EXPECT_FALSE(action_from_string("Publish").has_value());
  EXPECT_EQ(to_string(Action::RetainPublish), "iot:RetainPublish");
  EXPECT_EQ(resource_type(Action::Connect), ResourceType::Client);
  EXPECT_EQ(resource_type(Action::Subscribe), ResourceType::TopicFilter);
  EXPECT_EQ(resource_type(Action::Receive), ResourceType::Topic);
  EXPECT_EQ(resource_type(Action::UpdateThingShadow), ResourceType::Thing);
}

TEST(PolicyParse, DistinguishedNameFieldsUseAwsNames) {
  std::map<std::string, std::string, std::less<>> fields;
  add_distinguished_name_fields(fields, "Subject", {{"CN", "sensor-1"}, {"O", "acme"}, {"weird", "x"}});
  add_distinguished_name_fields(fields, "Issuer", {{"CN", "fleetguard CA"}});
  EXPECT_EQ(fields.at("Subject.CommonName"), "sensor-1");
  EXPECT_EQ(fields.at("Subject.Organization"), "acme");
  EXPECT_EQ(fields.at("Issuer.CommonName"), "fleetguard CA");
  EXPECT_EQ(fields.size(), 3u);
}

}  // namespace
}  // namespace fg::policy
