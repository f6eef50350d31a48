// Policy evaluation on the data plane: one authorisation against a compiled
// PolicySnapshot (issue 4 target: at most 100 ns median for a Publish against
// a typical device policy of 3 statements, thing-name variables and 20
// resources), plus a Deny-heavy snapshot, a request that matches nothing,
// a hostile glob, and the control-plane cost of compiling a snapshot.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "policy/policy.hpp"

namespace fg::policy {
namespace {

constexpr const char* kArn = "arn:aws:iot:us-east-1:123456789012:";

std::string arn(const std::string& rest) { return "\"" + std::string(kArn) + rest + "\""; }

// 3 statements, 20 resources, scoped by ${iot:Connection.Thing.ThingName}.
std::string typical_device_policy() {
  const std::string t = "${iot:Connection.Thing.ThingName}";
  std::string topics;
  const char* leaves[] = {"telemetry", "status", "alarms", "config/get", "config/set", "metrics", "events",
                          "diag", "ota/progress", "ota/result", "logs/*", "cmd/*", "shadow/*", "heartbeat"};
  for (const char* leaf : leaves) {
    if (!topics.empty()) topics += ",";
    topics += arn("topic/dc1/" + t + "/" + leaf);
  }
  // 14 topic resources + 1 client + 5 topic filters = 20.
  return R"({"Version":"2012-10-17","Statement":[)"
         R"({"Effect":"Allow","Action":"iot:Connect","Resource":)" +
         arn("client/" + t) + "}," +
         R"({"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[)" + topics + "]}," +
         R"({"Effect":"Allow","Action":"iot:Subscribe","Resource":[)" + arn("topicfilter/dc1/" + t + "/cmd/#") + "," +
         arn("topicfilter/dc1/" + t + "/config/+") + "," + arn("topicfilter/dc1/" + t + "/ota/#") + "," +
         arn("topicfilter/dc1/broadcast/#") + "," + arn("topicfilter/dc1/" + t + "/shadow/*") + "]}]}";
}

// Deny-heavy: one document allows everything, three more (as thing groups
// would attach) deny 8 wildcard patterns each: 24 Deny globs tried per request.
std::vector<std::string> deny_heavy_policies() {
  std::vector<std::string> docs = {
      R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}})"};
  for (int d = 0; d < 3; ++d) {
    std::string resources;
    for (int i = 0; i < 8; ++i) {
      if (!resources.empty()) resources += ",";
      const std::string n = std::to_string(d * 8 + i);
      resources += (i % 2 == 0) ? arn("topic/restricted/" + n + "/*/secret") : arn("topic/*/admin" + n + "/?");
    }
    docs.push_back(R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":["iot:Publish","iot:Receive"],"Resource":[)" +
                   resources + "]}}");
  }
  return docs;
}

ConnectionContext device_context() {
  ConnectionContext ctx;
  ctx.client_id = "sensor-0042";
  ctx.thing = ThingContext{"sensor-0042", "conveyor", {{"floor", "2"}}, ThingAttachment::Attached};
  ctx.certificate_id = "4f1c0b9e2d";
  ctx.source_ip = "10.1.2.3";
  return ctx;
}

std::shared_ptr<const PolicyDocument> parse_or_die(const std::string& json) {
  auto r = parse_policy_document(json);
  if (!r) {
    std::fprintf(stderr, "policy bench: %s\n", r.error().message.c_str());
    std::abort();
  }
  return std::make_shared<const PolicyDocument>(std::move(*r));
}

std::shared_ptr<const PolicySnapshot> compile(const std::string& json) {
  return compile_policies(std::vector<std::shared_ptr<const PolicyDocument>>{parse_or_die(json)}, device_context());
}

std::shared_ptr<const PolicySnapshot> compile_all(const std::vector<std::string>& jsons) {
  std::vector<std::shared_ptr<const PolicyDocument>> docs;
  for (const auto& j : jsons) docs.push_back(parse_or_die(j));
  return compile_policies(docs, device_context());
}

void run(benchmark::State& state, const PolicySnapshot& snap, Action action, const std::string& resource,
         bool expected) {
  if (snap.allowed(action, resource) != expected) {
    state.SkipWithError("unexpected decision");
    return;
  }
  for (auto _ : state) {
    std::string_view r = resource;
    benchmark::DoNotOptimize(r);
    bool ok = snap.allowed(action, r);
    benchmark::DoNotOptimize(ok);
  }
}

void BM_PublishTypicalExact(benchmark::State& state) {
  static const auto snap = compile(typical_device_policy());
  run(state, *snap, Action::Publish, "dc1/sensor-0042/telemetry", true);
}
BENCHMARK(BM_PublishTypicalExact);

void BM_PublishTypicalPrefix(benchmark::State& state) {
  static const auto snap = compile(typical_device_policy());
  run(state, *snap, Action::Publish, "dc1/sensor-0042/logs/boot/2026-11-27", true);
}
BENCHMARK(BM_PublishTypicalPrefix);

void BM_PublishTypicalOtherThing(benchmark::State& state) {
  static const auto snap = compile(typical_device_policy());
  run(state, *snap, Action::Publish, "dc1/sensor-0043/telemetry", false);
}
BENCHMARK(BM_PublishTypicalOtherThing);

void BM_SubscribeTypical(benchmark::State& state) {
  static const auto snap = compile(typical_device_policy());
  run(state, *snap, Action::Subscribe, "dc1/sensor-0042/cmd/#", true);
}
BENCHMARK(BM_SubscribeTypical);

void BM_PublishDenyHeavyAllowed(benchmark::State& state) {
  // Allowed only after every Deny pattern has been tried.
  static const auto snap = compile_all(deny_heavy_policies());
  run(state, *snap, Action::Publish, "dc1/sensor-0042/telemetry/with/a/longer/topic/name", true);
}
BENCHMARK(BM_PublishDenyHeavyAllowed);

void BM_PublishDenyHeavyDenied(benchmark::State& state) {
  static const auto snap = compile_all(deny_heavy_policies());
  run(state, *snap, Action::Publish, "restricted/20/x/secret", false);
}
BENCHMARK(BM_PublishDenyHeavyDenied);

void BM_PublishNoMatch(benchmark::State& state) {
  // Implicit deny: nothing for this action matches.
  static const auto snap = compile(typical_device_policy());
  run(state, *snap, Action::Publish, "factory/other/topic/entirely", false);
}
BENCHMARK(BM_PublishNoMatch);

void BM_HostileGlob(benchmark::State& state) {
  // The greedy matcher's worst case: `*aaaaaaaaaaaaaaaaaaaab*` against 1 KiB
  // of 'a' retries 20 characters at every position: O(n*m), not exponential.
  static const auto snap = compile(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":)" +
                                   arn("topic/*" + std::string(20, 'a') + "b*") + "}}");
  run(state, *snap, Action::Publish, std::string(1024, 'a'), false);
}
BENCHMARK(BM_HostileGlob);

void BM_CompileTypicalSnapshot(benchmark::State& state) {
  // Control plane: one connection's snapshot from an already parsed document.
  const std::vector<std::shared_ptr<const PolicyDocument>> docs = {parse_or_die(typical_device_policy())};
  const ConnectionContext ctx = device_context();
  for (auto _ : state) {
    auto snap = compile_policies(docs, ctx);
    benchmark::DoNotOptimize(snap);
  }
}
BENCHMARK(BM_CompileTypicalSnapshot);

void BM_ParseTypicalPolicy(benchmark::State& state) {
  const std::string json = typical_device_policy();
  for (auto _ : state) {
    auto r = parse_policy_document(json);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseTypicalPolicy);

}  // namespace
}  // namespace fg::policy

BENCHMARK_MAIN();
