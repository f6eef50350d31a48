#include "broker/session.hpp"

#include <algorithm>

namespace fg::broker {

uint16_t Session::next_packet_id() {
  for (;;) {
    ++last_packet_id;
    if (last_packet_id == 0) continue;
    // In-flight ids are nearly always older than the counter, so a collision
    // needs a full wrap; scanning the window is the rare, simple check.
    bool used = false;
    for (size_t i = 0; i < inflight.size() && !used; ++i) used = inflight[i].packet_id == last_packet_id;
    if (!used) return last_packet_id;
  }
}

ptrdiff_t Session::find_inflight(uint16_t id, Inflight::State state) const {
  // Acknowledgements nearly always come in send order: the front matches.
  for (size_t i = 0; i < inflight.size(); ++i) {
    const Inflight& f = inflight[i];
    if (f.packet_id == id && f.state == state) return static_cast<ptrdiff_t>(i);
  }
  return -1;
}

void Session::shrink() {
  inflight.shrink();
  queue.shrink();
  if (inbound_qos2.empty()) inbound_qos2.shrink_to_fit();
}

}  // namespace fg::broker
