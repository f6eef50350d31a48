// Micro-benchmarks of the MQTT codec's hot path: a typical telemetry PUBLISH
// (QoS 1, 100 bytes on the wire) decoded and encoded for 3.1.1 and 5, plus the
// topic matching and UTF-8 checks every PUBLISH goes through.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace {

using fg::mqtt::ProtocolVersion;

constexpr size_t kWireSize = 100;

// A QoS 1 PUBLISH whose encoding is exactly kWireSize bytes for `version`.
fg::mqtt::Publish typical_publish(ProtocolVersion version) {
  fg::mqtt::Publish p;
  p.qos = fg::mqtt::QoS::AtLeastOnce;
  p.packet_id = 4242;
  p.topic = "fleet/device-000123/telemetry";
  const size_t without_payload = fg::mqtt::encoded_size(p, version);
  p.payload.assign(kWireSize - without_payload, 'x');
  return p;
}

std::vector<uint8_t> wire_of(const fg::mqtt::Packet& p, ProtocolVersion version) {
  std::string out;
  fg::mqtt::encode(p, version, out);
  return {out.begin(), out.end()};
}

ProtocolVersion version_arg(const benchmark::State& state) {
  return state.range(0) == 5 ? ProtocolVersion::V5 : ProtocolVersion::V311;
}

void BM_DecodePublish(benchmark::State& state) {
  const ProtocolVersion version = version_arg(state);
  const std::vector<uint8_t> wire = wire_of(typical_publish(version), version);
  if (wire.size() != kWireSize) state.SkipWithError("the PUBLISH is not 100 bytes");
  for (auto _ : state) {
    auto header = fg::mqtt::peek_frame(wire);
    auto packet = fg::mqtt::decode(*header, wire, version);
    benchmark::DoNotOptimize(packet);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_DecodePublish)->Arg(4)->Arg(5)->ArgName("version");

// Encoding into a connection's reused output buffer, as the broker does.
void BM_EncodePublish(benchmark::State& state) {
  const ProtocolVersion version = version_arg(state);
  const fg::mqtt::Packet packet = typical_publish(version);
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    fg::mqtt::encode(packet, version, out);
    benchmark::DoNotOptimize(out.data());
  }
  if (out.size() != kWireSize) state.SkipWithError("the PUBLISH is not 100 bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kWireSize));
}
BENCHMARK(BM_EncodePublish)->Arg(4)->Arg(5)->ArgName("version");

// A v5 PUBLISH carrying the properties devices commonly set.
void BM_DecodePublishWithProperties(benchmark::State& state) {
  fg::mqtt::Publish p = typical_publish(ProtocolVersion::V5);
  p.properties.message_expiry_interval = 3600;
  p.properties.content_type = "application/json";
  p.properties.user_properties = {{"trace", "abc123"}};
  const std::vector<uint8_t> wire = wire_of(p, ProtocolVersion::V5);
  for (auto _ : state) {
    auto packet = fg::mqtt::decode_one(wire, ProtocolVersion::V5);
    benchmark::DoNotOptimize(packet);
  }
}
BENCHMARK(BM_DecodePublishWithProperties);

void BM_TopicMatches(benchmark::State& state) {
  const std::string topic = "fleet/device-000123/telemetry/temperature";
  const std::string filters[] = {"fleet/+/telemetry/#", "fleet/device-000123/telemetry/temperature",
                                 "fleet/+/alerts", "#"};
  for (auto _ : state) {
    for (const std::string& f : filters) benchmark::DoNotOptimize(fg::mqtt::topic_matches(f, topic));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * std::size(filters)));
}
BENCHMARK(BM_TopicMatches);

void BM_Utf8Ascii(benchmark::State& state) {
  const std::string s(static_cast<size_t>(state.range(0)), 'a');
  for (auto _ : state) benchmark::DoNotOptimize(fg::mqtt::valid_mqtt_utf8(s));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_Utf8Ascii)->Arg(32)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
