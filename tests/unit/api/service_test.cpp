// The request pipeline without sockets: routing from the model's URI
// templates, input binding and validation, access levels, AWS error shapes.
#include "api/service.hpp"

#include <gtest/gtest.h>

#include "api/pagination.hpp"

namespace fg::api {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const AccessKey kAdmin{"AKIAADMINADMINADMIN1", "adminsecretadminsecretadminsecretadminse", AccessLevel::Full};
const AccessKey kReader{"AKIAREADERREADERREA1", "readersecretreadersecretreadersecretread", AccessLevel::ReadOnly};

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest()
      : service_(Model::iot(),
                 [](const std::string& id) -> std::optional<AccessKey> {
                   if (id == kAdmin.id) return kAdmin;
                   if (id == kReader.id) return kReader;
                   return std::nullopt;
                 },
                 ServiceConfig{[] { return kNow; }}) {
    for (const auto& [name, op] : Model::iot().operations()) {
      service_.add_operation(name, [this](const OperationContext& c) -> ApiResult<nlohmann::json> {
        last_op_ = c.operation.name;
        last_input_ = c.input;
        return nlohmann::json{{"ok", true}};
      });
    }
  }

  HttpResponse call(std::string method, std::string target, std::string body = "", const AccessKey& key = kAdmin,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest r{std::move(method), std::move(target), std::move(headers), std::move(body)};
    r.headers.emplace_back("Host", "127.0.0.1:8080");
    sign_request(r, key, "us-east-1", "execute-api", kNow);
    return service_.handle(r);
  }

  static std::string header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (iequals(k, name)) return v;
    return "";
  }

  ApiService service_;
  std::string last_op_;
  nlohmann::json last_input_;
};

TEST_F(ServiceTest, RoutesByMethodAndTemplateAndBindsLabelsQueryHeadersBody) {
  auto r = call("POST", "/things/dc1%3Abelt", R"({"thingTypeName":"t","attributePayload":{"attributes":{"a":"b"}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_op_, "CreateThing");
  EXPECT_EQ(last_input_["thingName"], "dc1:belt");
  EXPECT_EQ(last_input_["attributePayload"]["attributes"]["a"], "b");

  EXPECT_EQ(call("GET", "/things/x").status, 200);
  EXPECT_EQ(last_op_, "DescribeThing");
  EXPECT_EQ(call("DELETE", "/things/x?expectedVersion=3").status, 200);
  EXPECT_EQ(last_op_, "DeleteThing");
  EXPECT_EQ(last_input_["expectedVersion"], 3);

  // A literal segment wins over a label.
  EXPECT_EQ(call("PUT", "/thing-groups/addThingToThingGroup", R"({"thingGroupName":"g","thingName":"t"})").status, 200);
  EXPECT_EQ(last_op_, "AddThingToThingGroup");

  auto p = call("PUT", "/things/t/principals", "", kAdmin, {{"x-amzn-principal", "arn:aws:iot:us-east-1:1:cert/ab"}});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(last_op_, "AttachThingPrincipal");
  EXPECT_EQ(last_input_["principal"], "arn:aws:iot:us-east-1:1:cert/ab");

  ASSERT_EQ(call("POST", "/keys-and-certificate?setAsActive=true").status, 200);
  EXPECT_EQ(last_input_["setAsActive"], true);
  ASSERT_EQ(call("GET", "/certificates?isAscendingOrder=true&pageSize=5").status, 200);
  EXPECT_EQ(last_op_, "ListCertificates");
  EXPECT_EQ(last_input_["ascendingOrder"], true);
  EXPECT_EQ(last_input_["pageSize"], 5);
}

TEST_F(ServiceTest, ValidationErrorsAreInvalidRequestBeforeTheHandler) {
  struct Case {
    const char* method;
    std::string target;
    std::string body;
  };
  std::vector<Case> cases = {
      {"POST", "/things/bad%20name", ""},
      {"POST", "/things/" + std::string(129, 'a'), ""},
      {"POST", "/things/t", "{not json"},
      {"POST", "/things/t", "[1,2]"},
      {"POST", "/things/t", R"({"attributePayload":{"attributes":{"k":5}}})"},
      {"POST", "/things/t", R"({"thingTypeName":""})"},
      {"GET", "/things?maxResults=0", ""},
      {"GET", "/things?maxResults=251", ""},
      {"GET", "/things?maxResults=x", ""},
      {"GET", "/things?usePrefixAttributeValue=yes", ""},
      {"GET", "/certificates/" + std::string(64, 'z'), ""},
      {"GET", "/certificates/abc", ""},
      {"PUT", "/certificates/" + std::string(64, 'a'), ""},                     // newStatus required
      {"PUT", "/certificates/" + std::string(64, 'a') + "?newStatus=SLEEPY", ""},  // enum
      {"GET", "/things?x=%zz", ""},
      {"PATCH", "/thing-groups/g", "{}"},  // thingGroupProperties required
  };
  for (const auto& c : cases) {
    last_op_.clear();
    auto r = call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.method << " " << c.target << " " << r.body;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), "InvalidRequestException") << c.target;
    EXPECT_TRUE(nlohmann::json::parse(r.body).contains("message"));
    EXPECT_EQ(last_op_, "") << "handler ran for " << c.target;
  }
}

TEST_F(ServiceTest, UnknownOperationsAndMethods) {
  auto r = call("GET", "/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(header(r, "x-amzn-ErrorType"), "UnknownOperationException");
  r = call("POST", "/endpoint");
  EXPECT_EQ(r.status, 405);
}

TEST_F(ServiceTest, ReadOnlyKeysMayOnlyRead) {
  EXPECT_EQ(call("GET", "/things", "", kReader).status, 200);
  EXPECT_EQ(call("GET", "/things/t", "", kReader).status, 200);
  EXPECT_EQ(call("GET", "/endpoint", "", kReader).status, 200);
  for (auto [m, t] : std::vector<std::pair<const char*, const char*>>{
           {"POST", "/things/t"}, {"DELETE", "/things/t"}, {"POST", "/keys-and-certificate"}}) {
    last_op_.clear();
    auto r = call(m, t, "", kReader);
    EXPECT_EQ(r.status, 403) << t;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), "AccessDeniedException");
    EXPECT_EQ(last_op_, "");
  }
  EXPECT_EQ(access_of("ListThings"), Access::Read);
  EXPECT_EQ(access_of("GetPolicy"), Access::Read);
  EXPECT_EQ(access_of("CreateThing"), Access::Write);
  EXPECT_EQ(access_of("AttachThingPrincipal"), Access::Write);
}

TEST_F(ServiceTest, UnauthenticatedRequestsLearnNothing) {
  HttpRequest r{"GET", "/nothing/here", {{"Host", "h"}}, ""};
  auto res = service_.handle(r);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(header(res, "x-amzn-ErrorType"), "MissingAuthenticationTokenException");
  EXPECT_FALSE(header(res, "x-amzn-RequestId").empty());
}

TEST_F(ServiceTest, HandlerExceptionsBecomeInternalFailure) {
  service_.add_operation("DescribeThing", [](const OperationContext&) -> ApiResult<nlohmann::json> {
    throw std::runtime_error("boom");
  });
  auto r = call("GET", "/things/t");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(header(r, "x-amzn-ErrorType"), "InternalFailureException");
  EXPECT_THROW(service_.add_operation("NoSuchOperation", nullptr), std::logic_error);
}

TEST(Pagination, TokensResumeAfterTheLastItemAndRejectGarbage) {
  std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
  auto p = paginate(keys, std::nullopt, 2);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->begin, 0u);
  EXPECT_EQ(p->end, 2u);
  ASSERT_TRUE(p->next_token);
  // An item removed between calls does not shift the next page.
  std::vector<std::string> fewer = {"a", "c", "d", "e"};
  auto q = paginate(fewer, p->next_token, 2);
  ASSERT_TRUE(q);
  EXPECT_EQ(fewer[q->begin], "c");
  auto last = paginate(keys, encode_page_token("d"), 2);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->begin, 4u);
  EXPECT_FALSE(last->next_token);
  std::vector<std::string> desc = {"e", "d", "c", "b", "a"};
  auto d = paginate(desc, encode_page_token("d"), 10, SortOrder::Descending);
  ASSERT_TRUE(d);
  EXPECT_EQ(desc[d->begin], "c");
  for (const char* bad : {"", "garbage!", "Zm9v", "%%%%"}) {
    auto e = paginate(keys, std::string(bad), 2);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().type, "InvalidRequestException");
  }
  EXPECT_EQ(decode_page_token(encode_page_token("x|y:z")), "x|y:z");
}

TEST(PatternMatcher, CharacterClassesAndFallbacks) {
  PatternMatcher name("[a-zA-Z0-9:_-]+");
  EXPECT_TRUE(name.matches("dc1:belt_7-a"));
  EXPECT_FALSE(name.matches(""));
  EXPECT_FALSE(name.matches("a b"));
  EXPECT_FALSE(name.matches("a/b"));
  PatternMatcher value("[a-zA-Z0-9_.,@/:#-]*");
  EXPECT_TRUE(value.matches(""));
  EXPECT_TRUE(value.matches("a/b@c,d#e"));
  EXPECT_FALSE(value.matches("a b"));
  PatternMatcher graph("[\\p{Graph}\\x20]*");
  EXPECT_TRUE(graph.matches("door cameras!"));
  EXPECT_FALSE(graph.matches("tab\there"));
  PatternMatcher any("[\\s\\S]*");
  EXPECT_TRUE(any.matches(std::string(100000, '\n')));
  PatternMatcher id("(0x)?[a-fA-F0-9]+");
  EXPECT_TRUE(id.matches("0xabcDEF"));
  EXPECT_FALSE(id.matches("xyz"));
}

TEST(Model, EveryOperationHasARouteAndInputShape) {
  const Model& m = Model::iot();
  EXPECT_GE(m.operations().size(), 32u);
  for (const auto& [name, op] : m.operations()) {
    EXPECT_FALSE(op.method.empty()) << name;
    EXPECT_EQ(op.uri.front(), '/') << name;
    if (!op.input.empty()) {
      EXPECT_NE(m.shape(op.input), nullptr) << name;
    }
  }
}

}  // namespace
}  // namespace fg::api

namespace fg::api {
namespace {

TEST(PatternMatcher, SequencesRepetitionsAndUnsupportedSyntax) {
  PatternMatcher b64("[A-Za-z0-9+/]+={0,2}");
  EXPECT_TRUE(b64.matches("Zm9vYg=="));
  EXPECT_TRUE(b64.matches("Zm9v"));
  EXPECT_FALSE(b64.matches("Zm9v==="));
  EXPECT_FALSE(b64.matches("=="));
  PatternMatcher id("(0x)?[a-fA-F0-9]+");
  EXPECT_TRUE(id.matches("0abc"));
  EXPECT_FALSE(id.matches("0x"));
  EXPECT_FALSE(id.matches(""));
  // Unicode property classes are not checked (always match).
  PatternMatcher tags("^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$");
  EXPECT_TRUE(tags.matches("anything at all"));
  // Long inputs cost no recursion per character.
  EXPECT_TRUE(PatternMatcher("[a-z]+").matches(std::string(1 << 20, 'a')));
}

}  // namespace
}  // namespace fg::api
