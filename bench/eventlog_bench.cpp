// What the broker's workers pay for the event log and the connection history:
// EventLog::record() on the caller's thread (logging disabled, the default,
// and enabled with the background writer really writing to a file), and
// ConnectionHistory::connected()+disconnected() with the background thread
// committing batches to a real SQLite store. Files go to a temporary
// directory removed at exit.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "eventlog/connection_history.hpp"
#include "eventlog/event_log.hpp"
#include "eventlog/logging_options.hpp"
#include "store/store.hpp"

namespace fg::eventlog {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "fg-eventlog-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

// One store, options, log and history shared by the threads of a benchmark.
struct Fixture {
  explicit Fixture(bool logging_on) {
    auto s = store::open_sqlite_store((dir.path / "fleetguard.db").string());
    if (!s) std::abort();
    store = std::move(*s);
    auto o = LoggingOptions::open(*store);
    if (!o) std::abort();
    options = std::move(*o);
    if (logging_on && !options->set_v2({"", LogLevel::Info, false})) std::abort();
    EventLogConfig cfg;
    cfg.directory = (dir.path / "events").string();
    auto l = EventLog::open(cfg, options.get());
    if (!l) std::abort();
    log = std::move(*l);
    auto h = ConnectionHistory::open(*store, ConnectionHistoryConfig{});
    if (!h) std::abort();
    history = std::move(*h);
  }
  TempDir dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<LoggingOptions> options;
  std::unique_ptr<EventLog> log;
  std::unique_ptr<ConnectionHistory> history;
};

std::unique_ptr<Fixture> g_fixture;

void setup_off(const benchmark::State&) { g_fixture = std::make_unique<Fixture>(false); }
void setup_on(const benchmark::State&) { g_fixture = std::make_unique<Fixture>(true); }
void teardown(const benchmark::State&) { g_fixture.reset(); }

Event sample_event(int thread) {
  return Event::authorization_failure("conveyor-" + std::to_string(thread), std::string(64, 'c'), "10.1.2.3",
                                      "iot:Publish", "arn:aws:iot:us-east-1:123456789012:topic/dc1/conveyor/7");
}

// An event site with logging disabled (the default), checking enabled()
// before building the event: the cost every event site pays.
void BM_EventSiteLoggingDisabled(benchmark::State& state) {
  const int t = state.thread_index();
  for (auto _ : state) {
    if (g_fixture->log->enabled()) benchmark::DoNotOptimize(g_fixture->log->record(sample_event(t)));
  }
}
BENCHMARK(BM_EventSiteLoggingDisabled)->Setup(setup_off)->Teardown(teardown)->Threads(1)->Threads(2);

// record() of a prebuilt event with logging disabled (includes copying it in).
void BM_RecordLoggingDisabled(benchmark::State& state) {
  Event e = sample_event(state.thread_index());
  for (auto _ : state) benchmark::DoNotOptimize(g_fixture->log->record(e));
}
BENCHMARK(BM_RecordLoggingDisabled)->Setup(setup_off)->Teardown(teardown)->Threads(1);

// record() with logging at INFO and room in the queue (60,000 events into a
// 65,536 queue, so nothing is dropped): policy lookup, time stamp, copy in,
// enqueue. The writer drains concurrently.
void BM_RecordLoggingEnabledNoDrops(benchmark::State& state) {
  Event e = sample_event(state.thread_index());
  for (auto _ : state) benchmark::DoNotOptimize(g_fixture->log->record(e));
  g_fixture->log->flush();  // after the timed loop
  state.counters["dropped"] = static_cast<double>(g_fixture->log->stats().dropped);
}
BENCHMARK(BM_RecordLoggingEnabledNoDrops)->Setup(setup_on)->Teardown(teardown)->Iterations(60000);

// The writer thread's throughput: 50,000 events recorded then flushed to the
// file (formatting, writing, rotation checks), per event.
void BM_WriterThroughput(benchmark::State& state) {
  Event e = sample_event(0);
  for (auto _ : state) {
    for (int i = 0; i < 50000; ++i) g_fixture->log->record(e);
    g_fixture->log->flush();
  }
  state.SetItemsProcessed(state.iterations() * 50000);
  state.counters["dropped"] = static_cast<double>(g_fixture->log->stats().dropped);
}
BENCHMARK(BM_WriterThroughput)->Setup(setup_on)->Teardown(teardown)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

// record() with logging at INFO: policy lookup, time stamp, enqueue (the event
// is copied in, as a worker building it would). The writer thread formats and
// writes meanwhile; events it cannot keep up with are dropped and counted.
void BM_RecordLoggingEnabled(benchmark::State& state) {
  Event e = sample_event(state.thread_index());
  auto before = g_fixture->log->stats();
  for (auto _ : state) benchmark::DoNotOptimize(g_fixture->log->record(e));
  if (state.thread_index() == 0) {
    g_fixture->log->flush();
    auto after = g_fixture->log->stats();
    state.counters["queued"] = static_cast<double>(after.queued - before.queued);
    state.counters["dropped"] = static_cast<double>(after.dropped - before.dropped);
  }
}
BENCHMARK(BM_RecordLoggingEnabled)->Setup(setup_on)->Teardown(teardown)->Threads(1)->Threads(2);

// connected() + disconnected() for one connection, as a worker does over a
// connection's life; the history thread commits batches to SQLite meanwhile.
void BM_HistoryConnectDisconnect(benchmark::State& state) {
  ConnectionInfo info{"conveyor-" + std::to_string(state.thread_index()), std::string(64, 'c'), "conveyor-7",
                      "10.1.2.3"};
  auto before = g_fixture->history->stats();
  for (auto _ : state) {
    ConnectionId id = g_fixture->history->connected(info);
    g_fixture->history->disconnected(id, DisconnectReason::ClientInitiated);
  }
  if (state.thread_index() == 0) {
    g_fixture->history->flush();
    auto after = g_fixture->history->stats();
    state.counters["dropped"] = static_cast<double>(after.dropped - before.dropped);
    state.counters["batches"] = static_cast<double>(after.batches - before.batches);
  }
}
BENCHMARK(BM_HistoryConnectDisconnect)->Setup(setup_off)->Teardown(teardown)->Threads(1)->Threads(2);

// The same with room in the 100,000-operation queue (40,000 connections = 80,000
// operations), so that nothing is dropped.
BENCHMARK(BM_HistoryConnectDisconnect)->Name("BM_HistoryConnectDisconnectNoDrops")->Setup(setup_off)
    ->Teardown(teardown)->Iterations(40000);

// The history thread's throughput: 40,000 connections (connect + disconnect)
// queued, then flushed: applied in memory and committed to SQLite, per connection.
void BM_HistoryWriterThroughput(benchmark::State& state) {
  ConnectionInfo info{"conveyor-0", std::string(64, 'c'), "conveyor-7", "10.1.2.3"};
  for (auto _ : state) {
    for (int i = 0; i < 40000; ++i) {
      ConnectionId id = g_fixture->history->connected(info);
      g_fixture->history->disconnected(id, DisconnectReason::ClientInitiated);
    }
    g_fixture->history->flush();
  }
  state.SetItemsProcessed(state.iterations() * 40000);
  auto st = g_fixture->history->stats();
  state.counters["dropped"] = static_cast<double>(st.dropped);
  state.counters["batches"] = static_cast<double>(st.batches);
}
BENCHMARK(BM_HistoryWriterThroughput)->Setup(setup_off)->Teardown(teardown)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace fg::eventlog

BENCHMARK_MAIN();
