// Micro-benchmarks of the subscription trie (TopicTree, consulted on every PUBLISH) and
// of the retained store's wildcard lookup (on every SUBSCRIBE).
//
//   ninja -C build fg_topic_tree_bench && build/bench/fg_topic_tree_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/retained_store.hpp"
#include "broker/topic_tree.hpp"

namespace fg::broker {
namespace {

// Shaped like what the broker stores per subscription: a session handle and options.
struct SubscriptionValue {
  std::shared_ptr<int> session;
  uint8_t qos = 1;
  uint8_t flags = 0;
};
using Tree = TopicTree<SubscriptionValue>;

constexpr int kSites = 100;
constexpr int kSensorsPerSite = 1000;  // kSites * kSensorsPerSite = 100k exact subscriptions
constexpr int kWildcardSubscribers = 10;
constexpr int kSharedMembers = 8;

std::string exact_filter(int site, int sensor) {
  return "dc/" + std::to_string(site) + "/sensor/" + std::to_string(sensor) + "/temp";
}

// 100k exact subscriptions, one "dc/<n>/#" per site, a few "dc/+/sensor/+/temp"
// dashboards and one shared group of workers on the same wildcard.
Tree& big_tree() {
  static Tree* tree = [] {
    auto* t = new Tree();
    auto session = std::make_shared<int>(0);
    uint64_t key = 0;
    for (int site = 0; site < kSites; ++site) {
      for (int sensor = 0; sensor < kSensorsPerSite; ++sensor) t->insert(exact_filter(site, sensor), key++, {session});
      t->insert("dc/" + std::to_string(site) + "/#", key++, {session});
    }
    for (int i = 0; i < kWildcardSubscribers; ++i) t->insert("dc/+/sensor/+/temp", key++, {session});
    for (int i = 0; i < kSharedMembers; ++i) t->insert("$share/workers/dc/+/sensor/+/temp", key++, {session});
    return t;
  }();
  return *tree;
}

void run_match(benchmark::State& state, std::string_view topic, int64_t expected) {
  Tree& tree = big_tree();
  int64_t delivered = 0;
  for (auto _ : state) {
    int64_t n = 0;
    tree.match(
        topic, [&](const SubscriptionValue& v) { n += v.qos; },
        [&](Tree::SharedGroupView& g) { n += g.pick_round_robin().value.qos; });
    benchmark::DoNotOptimize(n);
    delivered = n;
  }
  if (delivered != expected) state.SkipWithError("unexpected match count");
  state.counters["matches"] = static_cast<double>(delivered);
  state.counters["subscriptions"] = static_cast<double>(tree.size());
  state.SetItemsProcessed(state.iterations());
}

// A sensor reading: 1 exact + 1 site "#" + 10 wildcard dashboards + 1 shared group.
void BM_Match_SensorTopic(benchmark::State& state) {
  run_match(state, "dc/42/sensor/512/temp", 1 + 1 + kWildcardSubscribers + 1);
}
BENCHMARK(BM_Match_SensorTopic);

// Same depth, only the site's "#" matches.
void BM_Match_OnlySiteWildcard(benchmark::State& state) { run_match(state, "dc/42/sensor/512/humidity", 1); }
BENCHMARK(BM_Match_OnlySiteWildcard);

// A topic nobody subscribed to: the cost of a miss.
void BM_Match_NoSubscriber(benchmark::State& state) { run_match(state, "fleet/things/robot-17/status", 0); }
BENCHMARK(BM_Match_NoSubscriber);

// One filter with N subscribers (every device of a site on "sensors/+/temp"): the cost
// per delivered subscriber.
void BM_Match_Fanout(benchmark::State& state) {
  Tree tree;
  auto session = std::make_shared<int>(0);
  const int64_t n = state.range(0);
  for (int64_t k = 0; k < n; ++k) tree.insert("sensors/+/temp", static_cast<uint64_t>(k), {session});
  for (auto _ : state) {
    int64_t count = 0;
    tree.match("sensors/dev1/temp", [&](const SubscriptionValue& v) { count += v.qos; }, [](auto&) {});
    benchmark::DoNotOptimize(count);
  }
  state.SetItemsProcessed(state.iterations() * n);  // items = deliveries
}
BENCHMARK(BM_Match_Fanout)->Arg(100)->Arg(20000);

// Subscribe + unsubscribe of a new filter on the 100k tree: creates a path of fresh
// nodes under a big node, then prunes it again.
void BM_InsertErase_NewPath(benchmark::State& state) {
  Tree& tree = big_tree();
  const size_t before = tree.node_count();
  std::vector<std::string> filters;
  for (int i = 0; i < 1024; ++i) filters.push_back("dc/" + std::to_string(i % kSites) + "/sensor/" + std::to_string(5000 + i) + "/temp");
  size_t i = 0;
  for (auto _ : state) {
    const std::string& f = filters[i++ & 1023];
    tree.insert(f, 1'000'000'000, {});
    tree.erase(f, 1'000'000'000);
  }
  if (tree.node_count() != before) state.SkipWithError("nodes leaked");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InsertErase_NewPath);

// Subscribe + unsubscribe one more session on a filter that already has 20k subscribers.
void BM_InsertErase_BusyFilter(benchmark::State& state) {
  Tree tree;
  for (uint64_t k = 0; k < 20000; ++k) tree.insert("sensors/+/temp", k, {});
  uint64_t key = 20000;
  for (auto _ : state) {
    tree.insert("sensors/+/temp", key, {});
    tree.erase("sensors/+/temp", key);
    ++key;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InsertErase_BusyFilter);

// Building the 100k-subscription tree from scratch, per subscription.
void BM_Build100k(benchmark::State& state) {
  std::vector<std::string> filters;
  for (int site = 0; site < kSites; ++site) {
    for (int sensor = 0; sensor < kSensorsPerSite; ++sensor) filters.push_back(exact_filter(site, sensor));
  }
  for (auto _ : state) {
    Tree tree;
    uint64_t key = 0;
    for (const auto& f : filters) tree.insert(f, key++, {});
    benchmark::DoNotOptimize(tree.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(filters.size()));
}
BENCHMARK(BM_Build100k)->Unit(benchmark::kMillisecond);

// 100k retained topics "sensors/dc<d>/<n>/temp" (100 sites x 1000 sensors).
RetainedStore& big_retained() {
  static RetainedStore* store = [] {
    auto* s = new RetainedStore();
    for (int site = 0; site < kSites; ++site) {
      for (int sensor = 0; sensor < kSensorsPerSite; ++sensor) {
        auto m = std::make_shared<RetainedMessage>();
        m->topic = "sensors/dc" + std::to_string(site) + "/" + std::to_string(sensor) + "/temp";
        m->payload = "21.5";
        s->set(std::move(m));
      }
    }
    return s;
  }();
  return *store;
}

void run_retained(benchmark::State& state, std::string_view filter, size_t expected) {
  RetainedStore& store = big_retained();
  const auto now = std::chrono::steady_clock::now();
  size_t found = 0;
  for (auto _ : state) {
    auto result = store.match(filter, now);
    found = result.size();
    benchmark::DoNotOptimize(result.data());
  }
  if (found != expected) state.SkipWithError("unexpected retained count");
  state.counters["messages"] = static_cast<double>(found);
  state.SetItemsProcessed(state.iterations());
}

// One site's sensors: visits 1000 nodes of one site out of 100k.
void BM_Retained_SiteWildcard(benchmark::State& state) { run_retained(state, "sensors/dc1/+/temp", 1000); }
BENCHMARK(BM_Retained_SiteWildcard);

// One sensor across all sites: 100 branches, one exact child each.
void BM_Retained_SensorAcrossSites(benchmark::State& state) { run_retained(state, "sensors/+/512/temp", 100); }
BENCHMARK(BM_Retained_SensorAcrossSites);

void BM_Retained_Exact(benchmark::State& state) { run_retained(state, "sensors/dc1/512/temp", 1); }
BENCHMARK(BM_Retained_Exact);

// Replacing the retained message of an existing topic (the common retained write).
void BM_Retained_Replace(benchmark::State& state) {
  RetainedStore& store = big_retained();
  auto m = std::make_shared<RetainedMessage>();
  m->topic = "sensors/dc7/77/temp";
  m->payload = "22.0";
  std::shared_ptr<const RetainedMessage> msg = m;
  for (auto _ : state) store.set(msg);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Retained_Replace);

}  // namespace
}  // namespace fg::broker

BENCHMARK_MAIN();
