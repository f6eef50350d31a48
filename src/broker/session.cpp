#include "broker/session.hpp"

#include <algorithm>

namespace fg::broker {

uint16_t Session::next_packet_id() {
  for (;;) {
    ++last_packet_id;
    if (last_packet_id == 0) continue;
    // In-flight ids are nearly always older than the counter, so a collision
    // needs a full wrap; scanning the window is the rare, simple check.
    bool used = std::any_of(inflight.begin(), inflight.end(),
                            [id = last_packet_id](const Inflight& f) { return f.packet_id == id; });
    if (!used) return last_packet_id;
  }
}

}  // namespace fg::broker
