// libFuzzer target: a whole connection's byte stream through ServerProtocol
// (framing, first-packet rules, topic alias tables, partial reads). The first
// input byte picks how the stream is cut into reads; the rest is the stream.
// Oracles: no crash or sanitizer report, every failure carries a reason, and
// nothing is returned after a failure.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "mqtt/server_protocol.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "oracle failed: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::span<const uint8_t> stream(data + 1, size - 1);
  fg::mqtt::ServerProtocolLimits limits;
  limits.max_packet_size = 4096;
  limits.topic_alias_maximum = 4;
  fg::mqtt::ServerProtocol sp(limits);
  bool failed = false;
  for (size_t pos = 0; pos < stream.size() && !failed; pos += chunk) {
    const size_t n = std::min(chunk, stream.size() - pos);
    // Alternate the two input paths: copy in, and read into prepared space.
    if ((pos / chunk) % 2 == 0) {
      sp.receive(stream.subspan(pos, n));
    } else {
      auto dst = sp.prepare(n);
      std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(pos), n, dst.begin());
      sp.commit(n);
    }
    for (;;) {
      auto r = sp.next();
      if (!r) {
        require(!r.error().message.empty(), "failure without a message");
        failed = true;
        break;
      }
      if (!r->has_value()) break;
      if (auto* p = std::get_if<fg::mqtt::Publish>(&**r)) {
        require(!p->topic.empty(), "PUBLISH left with an unresolved topic alias");
        require(!p->properties.topic_alias.has_value(), "resolved alias forwarded");
      }
    }
  }
  if (failed) require(!sp.next().has_value(), "a packet after a failure");
  // The outbound side with whatever the client asked for.
  if (sp.connected()) {
    fg::mqtt::PublishView v;
    v.topic = "t/1";
    v.payload = "x";
    std::string out;
    sp.send_publish(v, out);
    sp.send_publish(v, out);
  }
  return 0;
}
