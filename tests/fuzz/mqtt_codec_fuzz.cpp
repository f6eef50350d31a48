// libFuzzer target for the MQTT codec, the first parser that sees bytes from
// the network. Besides "no crash, no sanitizer report" it checks oracles:
//  - round trip: every packet that decodes (as 3.1.1 and as 5) re-encodes to
//    exactly encoded_size() bytes, decodes again to an equal packet, and
//    encodes again to the same bytes;
//  - a decode error carries one of the reason codes a parser may report;
//  - CONNECT decodes the same whatever version the caller passes;
//  - encode_publish (PublishView) agrees with encode() on every PUBLISH;
//  - peek_frame agrees with itself on every prefix of the input;
//  - valid_mqtt_utf8 and topic_matches agree with slow reference versions.
// Seed corpus: tests/fuzz/corpus/mqtt_codec.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"
#include "support/reference_utf8.hpp"

namespace {

using fg::mqtt::ProtocolVersion;
using fg::mqtt::ReasonCode;

void require(bool ok, const char* oracle) {
  if (!ok) {
    std::fprintf(stderr, "oracle failed: %s\n", oracle);
    std::abort();
  }
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool parser_reason(ReasonCode rc) {
  return rc == ReasonCode::MalformedPacket || rc == ReasonCode::ProtocolError ||
         rc == ReasonCode::UnsupportedProtocolVersion || rc == ReasonCode::TopicNameInvalid;
}

// encode_publish (the writer of every PUBLISH) with the delivery path's
// overrides: moving the message expiry, topic alias and one subscription
// identifier out of the properties into the view's overrides must write a
// packet that decodes to the same PUBLISH.
void check_publish_view(const fg::mqtt::Publish& p, ProtocolVersion version) {
  fg::mqtt::Properties rest = p.properties;
  fg::mqtt::PublishView view;
  view.dup = p.dup;
  view.qos = p.qos;
  view.retain = p.retain;
  view.topic = p.topic;
  view.packet_id = p.packet_id;
  view.properties = &rest;
  view.payload = p.payload;
  view.topic_alias = rest.topic_alias.value_or(0);
  rest.topic_alias.reset();
  view.message_expiry_interval = rest.message_expiry_interval;
  rest.message_expiry_interval.reset();
  if (!rest.subscription_identifiers.empty()) {
    // The override is written after the forwarded identifiers.
    view.subscription_identifier = rest.subscription_identifiers.back();
    rest.subscription_identifiers.pop_back();
  }
  std::string wire;
  fg::mqtt::encode_publish(view, version, wire);
  require(wire.size() == fg::mqtt::encoded_publish_size(view, version),
          "encoded_publish_size differs from encode_publish");
  auto decoded = fg::mqtt::decode_one(as_bytes(wire), version);
  require(decoded.has_value(), "encode_publish output does not decode");
  require(*decoded == fg::mqtt::Packet{p}, "encode_publish changed the packet");
}

void check_round_trip(std::span<const uint8_t> data, ProtocolVersion version) {
  size_t consumed = 0;
  auto first = fg::mqtt::decode_one(data, version, &consumed);
  if (!first) {
    require(parser_reason(first.error().reason), "unexpected reason code from the decoder");
    require(!first.error().message.empty(), "decode error without a message");
    return;
  }
  require(consumed > 0 && consumed <= data.size(), "consumed out of range");

  std::string wire;
  fg::mqtt::encode(*first, version, wire);
  require(wire.size() == fg::mqtt::encoded_size(*first, version), "encoded_size differs from encode");

  size_t consumed_again = 0;
  auto second = fg::mqtt::decode_one(as_bytes(wire), version, &consumed_again);
  require(second.has_value(), "re-encoded packet does not decode");
  require(consumed_again == wire.size(), "re-encoded packet has trailing bytes");
  require(*second == *first, "round trip changed the packet");

  std::string again;
  fg::mqtt::encode(*second, version, again);
  require(again == wire, "encoding is not deterministic");

  if (const auto* publish = std::get_if<fg::mqtt::Publish>(&*first)) check_publish_view(*publish, version);
}

void check_connect_ignores_version(std::span<const uint8_t> data) {
  if (data.empty() || (data[0] >> 4) != 1) return;
  auto v311 = fg::mqtt::decode_one(data, ProtocolVersion::V311);
  auto v5 = fg::mqtt::decode_one(data, ProtocolVersion::V5);
  require(v311.has_value() == v5.has_value(), "CONNECT result depends on the caller's version");
  if (v311) {
    require(*v311 == *v5, "CONNECT decodes differently per caller's version");
  } else {
    require(v311.error().reason == v5.error().reason, "CONNECT error depends on the caller's version");
  }
}

void check_peek_prefixes(std::span<const uint8_t> data) {
  auto full = fg::mqtt::peek_frame(data);
  const size_t limit = data.size() < 6 ? data.size() : 6;
  for (size_t n = 0; n <= limit; ++n) {
    auto h = fg::mqtt::peek_frame(data.first(n));
    if (!h) {
      // Once the prefix is known to be bad, the longer input is bad too.
      require(!full.has_value(), "peek_frame error on a prefix but not on the whole");
      continue;
    }
    if (h->header_length == 0) continue;
    require(full.has_value() && full->header_length == h->header_length &&
                full->remaining_length == h->remaining_length,
            "peek_frame changed its mind with more bytes");
  }
}

std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

bool reference_matches(std::string_view filter, std::string_view topic) {
  const auto f = levels(filter);
  const auto t = levels(topic);
  if (topic[0] == '$' && (f[0] == "+" || f[0] == "#")) return false;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

void check_topics(std::span<const uint8_t> data) {
  const std::string_view all(reinterpret_cast<const char*>(data.data()), data.size());
  require(fg::mqtt::valid_mqtt_utf8(all) == fg::testing::reference_valid_utf8(all), "UTF-8 validator disagrees");
  if (data.empty()) return;
  // The first byte picks where the filter ends and the topic begins.
  const size_t split = 1 + data[0] % data.size();
  const std::string_view filter = all.substr(1, split - 1);
  const std::string_view topic = all.substr(split);
  const bool matches = fg::mqtt::topic_matches(filter, topic);  // must not crash on anything
  if (fg::mqtt::valid_topic_name(topic) && fg::mqtt::valid_topic_filter(filter) &&
      !fg::mqtt::parse_shared_filter(filter)) {
    require(matches == reference_matches(filter, topic), "topic_matches disagrees with the reference");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  check_round_trip(input, ProtocolVersion::V311);
  check_round_trip(input, ProtocolVersion::V5);
  check_connect_ignores_version(input);
  check_peek_prefixes(input);
  check_topics(input);
  return 0;
}
