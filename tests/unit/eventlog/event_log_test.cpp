// EventLog: JSON lines with the documented fields, filtering by the logging
// options, rotation bounds, drop counting with a full queue, draining on
// shutdown and concurrent writers.
#include "eventlog/event_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "eventlog_test_util.hpp"
#include "store/store.hpp"

namespace fg::eventlog {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::FakeClock;
using testing::read_lines;
using testing::TempDir;

constexpr int64_t kT0 = 1234567890123;  // 2009-02-13T23:31:30.123Z

class EventLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventLog> open_log(const LoggingOptions* options, EventLogConfig::Writer writer,
                                     size_t capacity = 1024, uint64_t max_bytes = 10 << 20, uint32_t max_files = 5) {
    EventLogConfig cfg;
    cfg.directory = dir_.file("events");
    cfg.now_ms = clock_.fn();
    cfg.writer = writer;
    cfg.queue_capacity = capacity;
    cfg.max_file_bytes = max_bytes;
    cfg.max_files = max_files;
    auto log = EventLog::open(cfg, options);
    EXPECT_TRUE(log.has_value()) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }
  std::vector<json> lines(const std::string& name = "events.log") {
    std::vector<json> out;
    for (const auto& l : read_lines(dir_.file("events/" + name))) {
      json j = json::parse(l, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << l;
      out.push_back(j);
    }
    return out;
  }

  TempDir dir_;
  FakeClock clock_{kT0};
};

TEST_F(EventLogTest, FormatsIso8601UtcWithMilliseconds) {
  EXPECT_EQ(EventLog::iso8601_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(EventLog::iso8601_utc(kT0), "2009-02-13T23:31:30.123Z");
  EXPECT_EQ(EventLog::iso8601_utc(1764286500007), "2025-11-27T23:35:00.007Z");
}

TEST_F(EventLogTest, WritesOneJsonObjectPerEventWithItsFields) {
  auto log = open_log(nullptr, EventLogConfig::Writer::Manual);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->record(Event::connect("dev-1", "c0ffee", "thing-1", "10.0.0.1")));
  ASSERT_TRUE(log->record(Event::disconnect("dev-1", "c0ffee", "thing-1", "10.0.0.1", "CONNECTION_LOST")));
  ASSERT_TRUE(log->record(Event::authentication_failure("192.0.2.7", "certificate not registered")));
  ASSERT_TRUE(log->record(Event::authorization_failure("dev-1", "c0ffee", "10.0.0.1", "iot:Publish",
                                                       "arn:aws:iot:us-east-1:123456789012:topic/dc1/x")));
  ASSERT_TRUE(log->record(Event::certificate_status_change("c0ffee", "ACTIVE", "INACTIVE")));
  log->flush();

  auto js = lines();
  ASSERT_EQ(js.size(), 5u);
  for (const auto& j : js) EXPECT_EQ(j["timestamp"], "2009-02-13T23:31:30.123Z");
  EXPECT_EQ(js[0]["eventType"], "Connect");
  EXPECT_EQ(js[0]["logLevel"], "INFO");
  EXPECT_EQ(js[0]["clientId"], "dev-1");
  EXPECT_EQ(js[0]["thingName"], "thing-1");
  EXPECT_EQ(js[0]["certificateId"], "c0ffee");
  EXPECT_EQ(js[0]["sourceIp"], "10.0.0.1");
  EXPECT_EQ(js[1]["eventType"], "Disconnect");
  EXPECT_EQ(js[1]["disconnectReason"], "CONNECTION_LOST");
  EXPECT_EQ(js[2]["eventType"], "AuthenticationFailure");
  EXPECT_EQ(js[2]["logLevel"], "ERROR");
  EXPECT_EQ(js[2]["sourceIp"], "192.0.2.7");
  EXPECT_EQ(js[2]["reason"], "certificate not registered");
  EXPECT_FALSE(js[2].contains("clientId"));
  EXPECT_EQ(js[3]["eventType"], "AuthorizationFailure");
  EXPECT_EQ(js[3]["action"], "iot:Publish");
  EXPECT_EQ(js[3]["resource"], "arn:aws:iot:us-east-1:123456789012:topic/dc1/x");
  EXPECT_EQ(js[4]["eventType"], "CertificateStatusChange");
  EXPECT_EQ(js[4]["oldStatus"], "ACTIVE");
  EXPECT_EQ(js[4]["newStatus"], "INACTIVE");
  EXPECT_EQ(log->stats().written, 5u);
}

TEST_F(EventLogTest, InvalidUtf8FromDevicesStillMakesValidJson) {
  auto log = open_log(nullptr, EventLogConfig::Writer::Manual);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->record(Event::connect(std::string("bad\xff\xfe", 5), "", "", "10.0.0.1")));
  log->flush();
  auto js = lines();
  ASSERT_EQ(js.size(), 1u);
  EXPECT_EQ(js[0]["eventType"], "Connect");
}

TEST_F(EventLogTest, AppendsAcrossReopen) {
  {
    auto log = open_log(nullptr, EventLogConfig::Writer::Background);
    ASSERT_TRUE(log);
    log->record(Event::connect("a", "", "", ""));
  }
  {
    auto log = open_log(nullptr, EventLogConfig::Writer::Background);
    ASSERT_TRUE(log);
    log->record(Event::connect("b", "", "", ""));
  }
  auto js = lines();
  ASSERT_EQ(js.size(), 2u);
  EXPECT_EQ(js[0]["clientId"], "a");
  EXPECT_EQ(js[1]["clientId"], "b");
}

TEST_F(EventLogTest, HonoursLoggingOptions) {
  auto s = store::open_sqlite_store(dir_.file("fleetguard.db"));
  ASSERT_TRUE(s.has_value());
  auto o = LoggingOptions::open(**s);
  ASSERT_TRUE(o.has_value());
  LoggingOptions& options = **o;
  auto log = open_log(&options, EventLogConfig::Writer::Manual);
  ASSERT_TRUE(log);

  // Default: disabled, nothing is written.
  EXPECT_FALSE(log->record(Event::authentication_failure("10.0.0.1", "unknown certificate")));

  ASSERT_TRUE(options.set_v2({"", LogLevel::Error, false}).has_value());
  EXPECT_FALSE(log->record(Event::connect("dev-1", "cert1", "", "10.0.0.1")));  // INFO < ERROR
  EXPECT_TRUE(log->record(Event::authentication_failure("10.0.0.1", "unknown certificate")));

  ASSERT_TRUE(options.set_level({LogTargetType::ClientId, "dev-1"}, LogLevel::Debug).has_value());
  EXPECT_TRUE(log->record(Event::connect("dev-1", "cert1", "", "10.0.0.1")));
  EXPECT_FALSE(log->record(Event::connect("dev-2", "cert2", "", "10.0.0.2")));

  Event in_group = Event::connect("dev-3", "cert3", "", "10.0.0.3");
  in_group.thing_groups = {"debugging"};
  EXPECT_FALSE(log->record(in_group));
  ASSERT_TRUE(options.set_level({LogTargetType::ThingGroup, "debugging"}, LogLevel::Info).has_value());
  EXPECT_TRUE(log->record(in_group));

  ASSERT_TRUE(options.set_v2({"", LogLevel::Error, true}).has_value());  // disableAllLogs
  EXPECT_FALSE(log->record(Event::authentication_failure("10.0.0.1", "unknown certificate")));

  log->flush();
  auto js = lines();
  ASSERT_EQ(js.size(), 3u);
  EXPECT_EQ(js[0]["eventType"], "AuthenticationFailure");
  EXPECT_EQ(js[1]["clientId"], "dev-1");
  EXPECT_EQ(js[2]["clientId"], "dev-3");
  EXPECT_FALSE(js[2].contains("thingGroups"));
}

TEST_F(EventLogTest, RotationKeepsAtMostMaxFilesEachBounded) {
  constexpr uint64_t kMaxBytes = 1000;
  constexpr uint32_t kMaxFiles = 3;
  auto log = open_log(nullptr, EventLogConfig::Writer::Manual, 4096, kMaxBytes, kMaxFiles);
  ASSERT_TRUE(log);
  for (int i = 0; i < 300; ++i) {
    log->record(Event::connect("client-" + std::to_string(i), "", "", "10.0.0.1"));
    if (i % 50 == 0) log->flush();
  }
  log->flush();
  const fs::path dir = dir_.file("events");
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_LE(fs::file_size(entry.path()), kMaxBytes) << entry.path();
  }
  EXPECT_EQ(files, kMaxFiles);
  EXPECT_TRUE(fs::exists(dir / "events.log.2"));
  EXPECT_FALSE(fs::exists(dir / "events.log.3"));
  EXPECT_GT(log->stats().rotations, 2u);
  // The newest event is the last line of events.log; .1 holds the ones just before.
  auto current = lines("events.log");
  ASSERT_FALSE(current.empty());
  EXPECT_EQ(current.back()["clientId"], "client-299");
  auto previous = lines("events.log.1");
  ASSERT_FALSE(previous.empty());
  const std::string last_prev = previous.back()["clientId"];
  const std::string first_cur = current.front()["clientId"];
  EXPECT_EQ(std::stoi(last_prev.substr(7)) + 1, std::stoi(first_cur.substr(7)));
}

TEST_F(EventLogTest, FullQueueDropsAndCountsThenReportsOnce) {
  auto log = open_log(nullptr, EventLogConfig::Writer::Manual, 4);
  ASSERT_TRUE(log);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += log->record(Event::connect("c" + std::to_string(i), "", "", "")) ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(log->stats().dropped, 6u);
  log->flush();
  auto js = lines();
  ASSERT_EQ(js.size(), 5u);
  EXPECT_EQ(js[3]["clientId"], "c3");
  EXPECT_EQ(js[4]["eventType"], "EventsDropped");
  EXPECT_EQ(js[4]["count"], 6);
  EXPECT_EQ(js[4]["logLevel"], "WARN");

  // Recovered: new events are accepted and the drop is not reported again.
  EXPECT_TRUE(log->record(Event::connect("after", "", "", "")));
  log->flush();
  js = lines();
  ASSERT_EQ(js.size(), 6u);
  EXPECT_EQ(js[5]["clientId"], "after");
}

TEST_F(EventLogTest, DestructorDrainsTheQueue) {
  {
    auto log = open_log(nullptr, EventLogConfig::Writer::Background, 100000);
    ASSERT_TRUE(log);
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(log->record(Event::connect("c", "", "", "")));
  }
  EXPECT_EQ(lines().size(), 5000u);
}

TEST_F(EventLogTest, ConcurrentWritersLoseNothingWhenTheQueueHasRoom) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  auto log = open_log(nullptr, EventLogConfig::Writer::Background, kThreads * kPerThread);
  ASSERT_TRUE(log);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Event e = Event::authorization_failure("worker-" + std::to_string(t), "cert", "10.0.0.1", "iot:Publish",
                                               std::to_string(i));
        log->record(std::move(e));
      }
    });
  }
  for (auto& th : threads) th.join();
  log->flush();
  EXPECT_EQ(log->stats().dropped, 0u);
  std::map<std::string, int> next;  // per writer, events keep their order
  auto js = lines();
  ASSERT_EQ(js.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& j : js) {
    const std::string who = j["clientId"];
    EXPECT_EQ(j["resource"], std::to_string(next[who]++));
  }
  EXPECT_EQ(next.size(), static_cast<size_t>(kThreads));
}

TEST_F(EventLogTest, OpenFailsClearlyWhenTheDirectoryCannotBeCreated) {
  std::ofstream(dir_.file("not-a-dir")) << "x";
  EventLogConfig cfg;
  cfg.directory = dir_.file("not-a-dir") + "/events";
  auto log = EventLog::open(cfg, nullptr);
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().kind, LoggingError::Kind::Internal);
  EXPECT_NE(log.error().message.find("not-a-dir"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace fg::eventlog
