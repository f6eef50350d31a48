#include "broker/session.hpp"

#include <algorithm>

namespace fg::broker {

namespace {
constexpr size_t kBitmapFrom = 32;  // in-flight count from which ids are indexed
}  // namespace

uint16_t Session::next_packet_id() {
  // At most 65534 ids are in flight (the window is a uint16_t and one slot is
  // free when we are called), so this finds a free id.
  for (;;) {
    ++last_packet_id;
    if (last_packet_id != 0 && !id_in_use(last_packet_id)) return last_packet_id;
  }
}

bool Session::id_in_use(uint16_t id) const {
  if (used_ids_) return (*used_ids_)[id];
  for (size_t i = 0; i < inflight.size(); ++i) {
    if (inflight[i].packet_id == id) return true;
  }
  return false;
}

void Session::add_inflight(Inflight f) {
  if (!used_ids_ && inflight.size() >= kBitmapFrom) {
    used_ids_ = std::make_unique<std::vector<bool>>(65536, false);
    for (size_t i = 0; i < inflight.size(); ++i) (*used_ids_)[inflight[i].packet_id] = true;
  }
  if (used_ids_) (*used_ids_)[f.packet_id] = true;
  inflight.push_back(std::move(f));
}

void Session::erase_inflight(size_t index) {
  if (used_ids_) (*used_ids_)[inflight[index].packet_id] = false;
  inflight.erase(index);
  if (inflight.empty()) used_ids_.reset();
}

void Session::clear_inflight() {
  inflight.clear();
  used_ids_.reset();
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
