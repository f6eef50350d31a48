#include "bench/bench_client.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace fg::bench {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// One write carries at most this much; big enough to amortise the syscall and
// TLS record overhead, small enough to keep every connection's turn short.
constexpr size_t kBatchBytes = 64 * 1024;
// Read buffers: a subscriber takes in whole bursts per read; a publisher reads
// only acknowledgements; an idle connection reads a PINGRESP now and then.
constexpr size_t kSubscriberReadBytes = 256 * 1024;
constexpr size_t kPublisherReadBytes = 64 * 1024;
constexpr size_t kIdleReadBytes = 256;
// A broker packet larger than this is a broken broker, not a benchmark.
constexpr size_t kMaxPacketBytes = 64 * 1024 * 1024;
// Rate-limited publishers wake at most this often; each wake sends what is due.
constexpr auto kMinTickInterval = std::chrono::microseconds(500);

constexpr uint64_t kSequenceMask = (uint64_t{1} << 48) - 1;
constexpr size_t kPayloadHeaderBytes = 16;

// Per-packet-id state of a publisher's QoS 1/2 flows.
constexpr uint8_t kIdFree = 0;
constexpr uint8_t kAwaitAck = 1;   // PUBACK (QoS 1) or PUBREC (QoS 2)
constexpr uint8_t kAwaitComp = 2;  // PUBCOMP (QoS 2)

uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

std::string reason_text(mqtt::ReasonCode reason, uint8_t raw) {
  char code[8];
  std::snprintf(code, sizeof code, "0x%02x", raw);
  return std::string(mqtt::reason_name(reason)) + " (" + code + ")";
}

}  // namespace

struct BenchClient::PublisherState {
  explicit PublisherState(asio::io_context& io) : tick(io) {}

  PublisherSettings settings;
  std::string publish_template;
  size_t id_offset = 0;
  size_t payload_offset = 0;
  std::vector<uint8_t> id_state;  // 65536 entries for QoS 1/2, empty for QoS 0
  uint16_t next_id = 1;
  uint32_t inflight = 0;
  uint32_t window = 0;  // min(--inflight, the broker's Receive Maximum)
  uint64_t sequence = 0;
  bool publishing = false;

  // Rate limiting: messages released by the schedule but not yet queued.
  asio::steady_timer tick;
  Clock::time_point start;
  Clock::time_point next_tick;
  Clock::duration tick_interval{};
  uint64_t released = 0;
  uint64_t owed = 0;

  PublisherStats stats;
};

struct BenchClient::SubscriberState {
  SubscriberSettings settings;
  std::vector<uint64_t> next_sequence;  // per publisher index
  SubscriberStats stats;
};

BenchClient::BenchClient(asio::io_context& io, const ClientEnvironment& env, ClientRole role,
                         std::string client_id, std::optional<asio::ip::address> source)
    : io_(io),
      env_(env),
      role_(role),
      client_id_(std::move(client_id)),
      source_(source),
      plain_(io),
      timer_(io),
      keep_alive_(env.keep_alive) {
  if (env_.tls != nullptr) tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *env_.tls);
  const size_t read_bytes = role == ClientRole::Subscriber  ? kSubscriberReadBytes
                            : role == ClientRole::Publisher ? kPublisherReadBytes
                                                            : kIdleReadBytes;
  in_.resize(read_bytes);
}

BenchClient::~BenchClient() = default;

void BenchClient::configure_publisher(const PublisherSettings& settings) {
  pub_ = std::make_unique<PublisherState>(io_);
  auto& p = *pub_;
  p.settings = settings;
  p.window = std::max<uint32_t>(1, settings.inflight);

  mqtt::Publish publish;
  publish.qos = settings.qos;
  publish.topic = settings.topic;
  publish.packet_id = settings.qos == mqtt::QoS::AtMostOnce ? 0 : 0x0102;
  publish.payload.resize(settings.payload_bytes);
  for (size_t i = 0; i < publish.payload.size(); ++i) publish.payload[i] = static_cast<char>('a' + i % 26);
  mqtt::encode(mqtt::Packet{publish}, env_.version, p.publish_template);

  // Find where the codec put the packet id and the payload, and prove it.
  const auto* data = reinterpret_cast<const uint8_t*>(p.publish_template.data());
  const auto header = mqtt::peek_frame({data, p.publish_template.size()});
  if (!header || header->header_length == 0 || header->total_length() != p.publish_template.size()) {
    throw BenchFailure(ExitCode::RunFailed, "internal error: cannot frame the encoded PUBLISH template");
  }
  p.payload_offset = p.publish_template.size() - settings.payload_bytes;
  p.id_offset = size_t{header->header_length} + 2 + settings.topic.size();
  if (settings.qos != mqtt::QoS::AtMostOnce) {
    if (p.id_offset + 2 > p.payload_offset || data[p.id_offset] != 0x01 || data[p.id_offset + 1] != 0x02) {
      throw BenchFailure(ExitCode::RunFailed, "internal error: unexpected PUBLISH encoding");
    }
    p.id_state.assign(65536, kIdFree);
  }
  if (settings.rate > 0) {
    const auto per_message = std::chrono::duration<double>(1.0 / settings.rate);
    p.tick_interval = std::max<Clock::duration>(
        kMinTickInterval, std::chrono::duration_cast<Clock::duration>(per_message));
  }
}

void BenchClient::configure_subscriber(const SubscriberSettings& settings) {
  sub_ = std::make_unique<SubscriberState>();
  sub_->settings = settings;
  sub_->next_sequence.assign(settings.publishers, 0);
}

const PublisherStats* BenchClient::publisher_stats() const { return pub_ ? &pub_->stats : nullptr; }
const SubscriberStats* BenchClient::subscriber_stats() const { return sub_ ? &sub_->stats : nullptr; }

tcp::socket& BenchClient::socket() { return tls_ ? tls_->next_layer() : plain_; }

template <class Fn>
void BenchClient::with_stream(Fn&& fn) {
  if (tls_) {
    fn(*tls_);
  } else {
    fn(plain_);
  }
}

// ---------------------------------------------------------------------------
// Connection setup

void BenchClient::start() {
  state_ = State::Connecting;
  arm_connect_timeout();
  auto& sock = socket();
  error_code ec;
  sock.open(env_.broker.protocol(), ec);
  if (ec) return fail("cannot open a socket: " + ec.message());
  if (source_) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    // Without this, bind() picks the local port before it knows the
    // destination, and one source address runs out of ports at ~28k
    // connections across all destinations instead of per destination.
    const int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    sock.bind(tcp::endpoint(*source_, 0), ec);
    if (ec) return fail("cannot bind to source address " + source_->to_string() + ": " + ec.message());
  }
  sock.async_connect(env_.broker, [this](const error_code& e) { on_connected(e); });
}

void BenchClient::arm_connect_timeout() {
  timer_.expires_after(env_.connect_timeout);
  timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    const char* stage = setup_stage();
    if (stage == nullptr) return;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(env_.connect_timeout).count();
    fail("timed out after " + std::to_string(ms) + " ms waiting for " + stage + " from " + env_.broker_text);
  });
}

const char* BenchClient::setup_stage() const {
  switch (state_) {
    case State::Connecting: return "the TCP connection";
    case State::Handshaking: return "the TLS handshake";
    case State::AwaitConnack: return "CONNACK";
    case State::AwaitSuback: return "SUBACK";
    default: return nullptr;
  }
}

void BenchClient::on_connected(const error_code& ec) {
  if (state_ != State::Connecting) return;
  if (ec) return fail("cannot connect to " + env_.broker_text + ": " + ec.message());
  error_code ignored;
  // Batching happens here, not in the kernel: Nagle would only add latency.
  socket().set_option(tcp::no_delay(true), ignored);
  if (!tls_) return send_connect();

  state_ = State::Handshaking;
  error_code addr_ec;
  asio::ip::make_address(env_.tls_host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), env_.tls_host.c_str());
  if (env_.verify_peer) tls_->set_verify_callback(asio::ssl::host_name_verification(env_.tls_host));
  tls_->async_handshake(asio::ssl::stream_base::client, [this](const error_code& e) { on_handshake(e); });
}

void BenchClient::on_handshake(const error_code& ec) {
  if (state_ != State::Handshaking) return;
  if (ec) return fail("TLS handshake with " + env_.broker_text + " failed: " + ec.message());
  send_connect();
}

void BenchClient::send_connect() {
  mqtt::Connect connect;
  connect.version = env_.version;
  connect.clean_start = true;
  if (env_.persistent_subscribers && role_ == ClientRole::Subscriber) {
    connect.clean_start = false;
    if (env_.version == mqtt::ProtocolVersion::V5) connect.properties.session_expiry_interval = 3600;
  }
  connect.keep_alive = env_.keep_alive;
  connect.client_id = client_id_;
  connect.username = env_.username;
  connect.password = env_.password;
  mqtt::encode(mqtt::Packet{std::move(connect)}, env_.version, pending_);
  state_ = State::AwaitConnack;
  flush();
  start_read();
}

void BenchClient::become_ready() {
  state_ = State::Ready;
  arm_keepalive();  // replaces the connect timeout
  env_.monitor->on_ready();
}

void BenchClient::arm_keepalive() {
  timer_.cancel();
  if (keep_alive_ == 0) return;
  // Half the keep-alive: well inside the broker's 1.5x grace even when a ping
  // waits behind a full socket buffer.
  timer_.expires_after(std::chrono::milliseconds(keep_alive_ * 500));
  timer_.async_wait([this](const error_code& ec) {
    if (ec || state_ != State::Ready) return;
    pending_.append(env_.templates.pingreq);
    flush();
    arm_keepalive();
  });
}

// ---------------------------------------------------------------------------
// Reading

void BenchClient::start_read() {
  with_stream([this](auto& stream) {
    stream.async_read_some(asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
                           [this](const error_code& ec, size_t n) { on_read(ec, n); });
  });
}

void BenchClient::on_read(const error_code& ec, size_t n) {
  if (ec) return handle_io_error("read", ec);
  if (state_ == State::Failed || state_ == State::Closed) return;
  in_len_ += n;
  const auto now = Clock::now();
  if (!process_input(to_ns(now))) return;
  if (pub_) pump(now);
  flush();
  publish_progress();
  start_read();
}

bool BenchClient::process_input(int64_t now_ns) {
  const int64_t window_start = env_.schedule ? env_.schedule->window_start_ns.load(std::memory_order_relaxed)
                                             : std::numeric_limits<int64_t>::max();
  const int64_t window_end = env_.schedule ? env_.schedule->window_end_ns.load(std::memory_order_relaxed)
                                           : std::numeric_limits<int64_t>::max();
  const bool in_window = now_ns >= window_start && now_ns < window_end;

  size_t pos = 0;
  while (pos < in_len_) {
    const std::span<const uint8_t> avail(in_.data() + pos, in_len_ - pos);
    const auto header = mqtt::peek_frame(avail);
    if (!header) {
      fail("malformed packet from broker: " + header.error().message);
      return false;
    }
    if (header->header_length == 0) break;
    const size_t total = header->total_length();
    if (total > avail.size()) {
      if (total > kMaxPacketBytes) {
        fail("broker sent a " + std::to_string(total) + "-byte packet, larger than the tool accepts");
        return false;
      }
      if (total > in_.size()) in_.resize(total);
      break;
    }
    if (!handle_packet(*header, avail.first(total), now_ns, in_window)) return false;
    pos += total;
  }
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }
  return true;
}

bool BenchClient::handle_packet(const mqtt::FrameHeader& header, std::span<const uint8_t> frame,
                                int64_t now_ns, bool in_window) {
  switch (header.type()) {
    case mqtt::PacketType::Publish:
      return handle_publish(header, frame, now_ns, in_window);
    case mqtt::PacketType::Puback:
    case mqtt::PacketType::Pubrec:
    case mqtt::PacketType::Pubrel:
    case mqtt::PacketType::Pubcomp: {
      // The hot shape: a 2-byte packet id, and in v5 an optional reason code.
      // Anything longer carries properties, which we do not need.
      if (header.remaining_length < 2) {
        fail(std::string("malformed ") + std::string(mqtt::packet_type_name(header.type())) + " from broker");
        return false;
      }
      const uint8_t* body = frame.data() + header.header_length;
      const uint8_t reason = header.remaining_length >= 3 ? body[2] : 0;
      return handle_ack(header.type(), read_u16(body), reason);
    }
    case mqtt::PacketType::Pingresp:
      return true;
    default:
      return handle_decoded(header, frame);
  }
}

bool BenchClient::handle_decoded(const mqtt::FrameHeader& header, std::span<const uint8_t> frame) {
  auto decoded = mqtt::decode(header, frame, env_.version);
  const std::string type_name(mqtt::packet_type_name(header.type()));
  if (!decoded) {
    fail("malformed " + type_name + " from broker: " + decoded.error().message);
    return false;
  }
  const uint8_t raw_reason = header.remaining_length >= 2 ? frame[header.header_length + 1] : 0;

  if (auto* connack = std::get_if<mqtt::Connack>(&*decoded)) {
    if (state_ != State::AwaitConnack) {
      fail("unexpected CONNACK from broker");
      return false;
    }
    if (connack->reason != mqtt::ReasonCode::Success) {
      fail("broker refused the connection: CONNACK " + reason_text(connack->reason, raw_reason));
      return false;
    }
    const auto& props = connack->properties;
    if (props.server_keep_alive) keep_alive_ = *props.server_keep_alive;
    const auto wanted_qos = pub_ ? pub_->settings.qos : sub_ ? sub_->settings.qos : mqtt::QoS::AtMostOnce;
    if (props.maximum_qos && static_cast<uint8_t>(wanted_qos) > *props.maximum_qos) {
      fail("broker supports QoS up to " + std::to_string(*props.maximum_qos) + ", the run needs QoS " +
           std::to_string(static_cast<int>(wanted_qos)));
      return false;
    }
    if (pub_) {
      if (props.receive_maximum) pub_->window = std::min<uint32_t>(pub_->window, *props.receive_maximum);
      if (props.maximum_packet_size && pub_->publish_template.size() > *props.maximum_packet_size) {
        fail("broker's Maximum Packet Size " + std::to_string(*props.maximum_packet_size) +
             " is below the PUBLISH size " + std::to_string(pub_->publish_template.size()));
        return false;
      }
    }
    if (sub_) {
      mqtt::Subscribe subscribe;
      subscribe.packet_id = 1;
      subscribe.subscriptions.push_back({sub_->settings.filter, {.max_qos = sub_->settings.qos}});
      mqtt::encode(mqtt::Packet{std::move(subscribe)}, env_.version, pending_);
      state_ = State::AwaitSuback;
    } else {
      become_ready();
    }
    return true;
  }
  if (auto* suback = std::get_if<mqtt::Suback>(&*decoded)) {
    if (state_ != State::AwaitSuback || suback->packet_id != 1 || suback->reasons.size() != 1) {
      fail("unexpected SUBACK from broker");
      return false;
    }
    const auto reason = suback->reasons.front();
    if (static_cast<uint8_t>(reason) >= 0x80) {
      fail("broker refused the subscription to '" + sub_->settings.filter + "': SUBACK " +
           reason_text(reason, static_cast<uint8_t>(reason)));
      return false;
    }
    become_ready();
    return true;
  }
  if (auto* disconnect = std::get_if<mqtt::Disconnect>(&*decoded)) {
    fail("broker sent DISCONNECT " + reason_text(disconnect->reason, static_cast<uint8_t>(disconnect->reason)) +
         (disconnect->properties.reason_string ? ": " + *disconnect->properties.reason_string : ""));
    return false;
  }
  fail("unexpected " + type_name + " from broker");
  return false;
}

bool BenchClient::handle_publish(const mqtt::FrameHeader& header, std::span<const uint8_t> frame,
                                 int64_t now_ns, bool in_window) {
  const uint8_t* p = frame.data() + header.header_length;
  const uint8_t* const end = frame.data() + frame.size();
  const auto malformed = [this] {
    fail("malformed PUBLISH from broker");
    return false;
  };
  const uint8_t qos = (header.flags() >> 1) & 0x03;
  if (qos > 2 || end - p < 2) return malformed();
  const size_t topic_length = read_u16(p);
  p += 2;
  if (static_cast<size_t>(end - p) < topic_length) return malformed();
  p += topic_length;
  uint16_t id = 0;
  if (qos > 0) {
    if (end - p < 2) return malformed();
    id = read_u16(p);
    p += 2;
  }
  if (env_.version == mqtt::ProtocolVersion::V5) {
    uint32_t properties_length = 0;
    int shift = 0;
    for (;;) {
      if (p == end || shift > 21) return malformed();
      const uint8_t byte = *p++;
      properties_length |= static_cast<uint32_t>(byte & 0x7F) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) break;
    }
    if (static_cast<size_t>(end - p) < properties_length) return malformed();
    p += properties_length;
  }
  if (sub_) record_delivery({p, static_cast<size_t>(end - p)}, now_ns, in_window);
  if (qos == 1) append_ack(env_.templates.puback, id);
  if (qos == 2) append_ack(env_.templates.pubrec, id);
  return true;
}

void BenchClient::record_delivery(std::span<const uint8_t> payload, int64_t now_ns, bool in_window) {
  auto& s = *sub_;
  if (payload.size() < kPayloadHeaderBytes) {
    ++s.stats.foreign;
    return;
  }
  int64_t sent_ns = 0;
  uint64_t tag = 0;
  std::memcpy(&sent_ns, payload.data(), 8);
  std::memcpy(&tag, payload.data() + 8, 8);
  const uint64_t publisher = tag >> 48;
  const uint64_t sequence = tag & kSequenceMask;
  if (publisher >= s.next_sequence.size()) {
    ++s.stats.foreign;
    return;
  }
  ++s.stats.received;
  // Brokers keep one publisher's messages in order, so a sequence number at or
  // below one already seen is a redelivery (QoS 1 allows them).
  if (sequence < s.next_sequence[publisher]) {
    ++s.stats.duplicates;
    return;
  }
  s.next_sequence[publisher] = sequence + 1;
  ++s.stats.unique;
  if (in_window) {
    ++s.stats.in_window;
    s.stats.latency.record(now_ns > sent_ns ? static_cast<uint64_t>(now_ns - sent_ns) : 0);
  }
}

bool BenchClient::handle_ack(mqtt::PacketType type, uint16_t id, uint8_t reason) {
  if (type == mqtt::PacketType::Pubrel) {
    // Our side of a QoS 2 delivery to us; the message was counted at PUBLISH.
    append_ack(env_.templates.pubcomp, id);
    return true;
  }
  if (!pub_ || pub_->id_state.empty()) {
    fail("unexpected " + std::string(mqtt::packet_type_name(type)) + " from broker");
    return false;
  }
  auto& p = *pub_;
  const uint8_t expected = type == mqtt::PacketType::Pubcomp ? kAwaitComp : kAwaitAck;
  const bool matches_qos = (type == mqtt::PacketType::Puback) == (p.settings.qos == mqtt::QoS::AtLeastOnce);
  if (id == 0 || p.id_state[id] != expected || !matches_qos) {
    fail(std::string(mqtt::packet_type_name(type)) + " for packet id " + std::to_string(id) +
         ", which is not awaiting one");
    return false;
  }
  const bool refused = reason >= 0x80;
  if (type == mqtt::PacketType::Pubrec && !refused) {
    p.id_state[id] = kAwaitComp;
    append_ack(env_.templates.pubrel, id);
    return true;
  }
  p.id_state[id] = kIdFree;
  --p.inflight;
  if (refused) {
    ++p.stats.rejected;
  } else {
    ++p.stats.acked;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Writing

void BenchClient::append_ack(const AckTemplate& t, uint16_t id) {
  const size_t at = pending_.size();
  pending_.append(t.bytes);
  pending_[at + t.id_offset] = static_cast<char>(id >> 8);
  pending_[at + t.id_offset + 1] = static_cast<char>(id & 0xFF);
}

void BenchClient::flush() {
  if (writing_ || pending_.empty()) return;
  if (state_ == State::Failed || state_ == State::Closed) return;
  out_.swap(pending_);
  pending_.clear();
  writing_ = true;
  with_stream([this](auto& stream) {
    asio::async_write(stream, asio::buffer(out_), [this](const error_code& ec, size_t) { on_write(ec); });
  });
}

void BenchClient::on_write(const error_code& ec) {
  writing_ = false;
  out_.clear();
  if (ec) return handle_io_error("write", ec);
  if (state_ == State::Closing && pending_.empty()) {
    close_socket();
    state_ = State::Closed;
    report_closed();
    return;
  }
  if (pub_ && pub_->publishing) {
    pump(Clock::now());
    publish_progress();
  }
  flush();
}

// ---------------------------------------------------------------------------
// Publishing

void BenchClient::start_publishing(Clock::time_point start) {
  if (!pub_ || state_ != State::Ready) return;
  auto& p = *pub_;
  p.publishing = true;
  progress_.publishing.store(true, std::memory_order_relaxed);
  if (p.settings.rate > 0) {
    p.start = start;
    p.next_tick = start + std::chrono::duration_cast<Clock::duration>(p.tick_interval * p.settings.tick_phase);
    arm_tick();
    return;
  }
  pump(Clock::now());
  flush();
  publish_progress();
}

void BenchClient::arm_tick() {
  auto& p = *pub_;
  p.next_tick += p.tick_interval;
  const auto now = Clock::now();
  // After a stall, resume from now rather than firing back-to-back ticks:
  // what is due is computed from elapsed time anyway.
  if (p.next_tick < now) p.next_tick = now + p.tick_interval;
  p.tick.expires_at(p.next_tick);
  p.tick.async_wait([this](const error_code& ec) {
    if (ec || !pub_->publishing || state_ != State::Ready) return;
    auto& ps = *pub_;
    const auto now_tick = Clock::now();
    const double elapsed = std::chrono::duration<double>(now_tick - ps.start).count();
    const auto due_total = static_cast<uint64_t>(std::max(0.0, std::floor(elapsed * ps.settings.rate)));
    // Owed messages are capped at one second's worth: a broker that cannot keep
    // up shows as a lower sent rate, not as an ever-growing burst.
    const auto cap = static_cast<uint64_t>(std::max(1.0, ps.settings.rate));
    ps.owed = std::min(cap, ps.owed + (due_total - std::min(due_total, ps.released)));
    ps.released = std::max(ps.released, due_total);
    pump(now_tick);
    flush();
    publish_progress();
    if (ps.publishing) arm_tick();
  });
}

void BenchClient::pump(Clock::time_point now) {
  auto& p = *pub_;
  if (!p.publishing || state_ != State::Ready) return;
  const int64_t now_ns = to_ns(now);
  const int64_t window_start = env_.schedule->window_start_ns.load(std::memory_order_relaxed);
  const int64_t window_end = env_.schedule->window_end_ns.load(std::memory_order_relaxed);
  if (now_ns >= window_end) return stop_publishing();
  // Keep at most one batch queued behind the write in flight: the socket's
  // pace is the publisher's pace when running flat out.
  if (pending_.size() >= kBatchBytes) return;
  size_t room = std::max<size_t>(1, (kBatchBytes - pending_.size()) / p.publish_template.size());
  if (p.settings.rate > 0) room = std::min<uint64_t>(room, p.owed);
  const size_t n = append_publishes(room, now_ns);
  if (p.settings.rate > 0) p.owed -= n;
  p.stats.sent += n;
  if (now_ns >= window_start) p.stats.sent_in_window += n;
}

size_t BenchClient::append_publishes(size_t max_count, int64_t now_ns) {
  auto& p = *pub_;
  const bool acknowledged = p.settings.qos != mqtt::QoS::AtMostOnce;
  const std::string& tmpl = p.publish_template;
  size_t n = 0;
  for (; n < max_count; ++n) {
    uint16_t id = 0;
    if (acknowledged) {
      if (p.inflight >= p.window) break;
      id = allocate_packet_id();
      if (id == 0) break;
      p.id_state[id] = kAwaitAck;
      ++p.inflight;
    }
    const size_t at = pending_.size();
    pending_.append(tmpl);
    char* message = pending_.data() + at;
    if (acknowledged) {
      message[p.id_offset] = static_cast<char>(id >> 8);
      message[p.id_offset + 1] = static_cast<char>(id & 0xFF);
    }
    const uint64_t tag = (uint64_t{p.settings.index} << 48) | (p.sequence++ & kSequenceMask);
    std::memcpy(message + p.payload_offset, &now_ns, 8);
    std::memcpy(message + p.payload_offset + 8, &tag, 8);
  }
  return n;
}

uint16_t BenchClient::allocate_packet_id() {
  auto& p = *pub_;
  // Ids are handed out in order, so the next one is free unless an old flow
  // is still waiting 65535 ids later; then look further.
  for (uint32_t tries = 0; tries < 65535; ++tries) {
    const uint16_t id = p.next_id;
    p.next_id = static_cast<uint16_t>(id == 65535 ? 1 : id + 1);
    if (p.id_state[id] == kIdFree) return id;
  }
  return 0;
}

void BenchClient::stop_publishing() {
  auto& p = *pub_;
  p.publishing = false;
  p.tick.cancel();
  progress_.publishing.store(false, std::memory_order_relaxed);
}

void BenchClient::publish_progress() {
  if (pub_) {
    progress_.sent.store(pub_->stats.sent, std::memory_order_relaxed);
    progress_.acked.store(pub_->stats.acked, std::memory_order_relaxed);
    progress_.rejected.store(pub_->stats.rejected, std::memory_order_relaxed);
    progress_.inflight.store(pub_->inflight, std::memory_order_relaxed);
  }
  if (sub_) progress_.received.store(sub_->stats.unique, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Shutdown and failure

void BenchClient::disconnect() {
  switch (state_) {
    case State::Ready:
      break;
    case State::Closing:
      return;
    case State::Closed:
    case State::Failed:
      return report_closed();
    default:  // still connecting: nothing to say to the broker
      close_socket();
      state_ = State::Closed;
      return report_closed();
  }
  if (pub_) {
    stop_publishing();
    publish_progress();
  }
  timer_.cancel();
  state_ = State::Closing;
  pending_.append(env_.templates.disconnect);
  flush();
}

void BenchClient::handle_io_error(const char* operation, const error_code& ec) {
  if (state_ == State::Closing || state_ == State::Closed) {
    close_socket();
    state_ = State::Closed;
    return report_closed();
  }
  if (state_ == State::Failed) return;
  // During setup, say what we were waiting for: a broker that rejects a client
  // certificate or an unknown client often just closes the connection.
  const char* stage = setup_stage();
  const std::string when = stage ? std::string(" while waiting for ") + stage : std::string();
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset) {
    return fail("connection closed by broker" + when + " (" + ec.message() + ")");
  }
  fail(std::string(operation) + " failed" + when + ": " + ec.message());
}

void BenchClient::fail(const std::string& message) {
  if (state_ == State::Failed || state_ == State::Closed) return;
  const bool was_ready = state_ == State::Ready;
  const bool was_closing = state_ == State::Closing;
  state_ = State::Failed;
  if (pub_) {
    stop_publishing();
    publish_progress();
  }
  timer_.cancel();
  close_socket();
  const std::string text = client_id_ + ": " + message;
  if (was_closing) {
    report_closed();
  } else if (was_ready) {
    env_.monitor->on_lost(text);
  } else {
    env_.monitor->on_failed(text);
  }
}

void BenchClient::close_socket() {
  error_code ignored;
  auto& sock = socket();
  if (!sock.is_open()) return;
  // No TLS close_notify exchange: the DISCONNECT already said goodbye, and
  // waiting for the broker's close_notify could stall the shutdown.
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

void BenchClient::report_closed() {
  if (closed_reported_) return;
  closed_reported_ = true;
  env_.monitor->on_closed();
}

}  // namespace fg::bench
