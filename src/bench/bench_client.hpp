// BenchClient: one MQTT connection of the bench tool, over TCP or TLS. It
// connects, sends CONNECT (and SUBSCRIBE for a subscriber), then plays its
// role: a publisher streams PUBLISH packets, a subscriber measures what
// arrives, an idle client only keeps its session alive.
//
// DESIGN: the tool shares the CPU with the broker it measures, so its hot path
// is frugal.
//  - Outgoing packets are appended to one buffer and written in batches of up
//    to 64 KiB, one write in flight at a time.
//  - Reads go into a large buffer; every complete packet in it is handled
//    before the next read, and the replies they cause (PUBACK, PUBREC, PUBREL,
//    PUBCOMP) and the PUBLISHes that freed window slots allow join the next write.
//  - PUBLISH packets are copies of a template encoded once by the codec, with
//    packet id, send time and sequence number patched in place.
//  - Received PUBLISH and acknowledgements are parsed in place: mqtt::decode
//    would allocate the topic and payload of every message. Framing and every
//    other packet go through the codec.
//  - The clock is read once per batch, not once per message.
//
// Payload layout of a bench message (payload >= 16 bytes): bytes 0..7 the
// steady_clock send time in nanoseconds, bytes 8..15 a tag whose top 16 bits
// are the publisher index and low 48 bits its sequence number (both in host
// byte order: sender and receiver are the same program on the same machine,
// which a steady_clock timestamp requires anyway). The rest is filler.
//
// Threading: a client lives on one io_context; all its methods except
// progress() must run on that io_context's thread (post them). The counters
// the coordinator watches during a run are published as relaxed atomics once
// per batch. The owner keeps the client alive until the io threads stop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/client_environment.hpp"
#include "bench/latency_histogram.hpp"
#include "mqtt/codec.hpp"

namespace fg::bench {

enum class ClientRole : uint8_t { Publisher, Subscriber, Idle };

struct PublisherSettings {
  uint32_t index = 0;  // < 65536, carried in every payload
  std::string topic;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  uint32_t payload_bytes = 100;  // >= 16
  double rate = 0;               // messages/s, 0: as fast as the connection takes them
  uint32_t inflight = 64;        // QoS 1/2 window
  // Where in its tick period this publisher wakes (0..1): spreading publishers
  // over the period keeps their bursts from landing on the broker together.
  double tick_phase = 0;
};

struct SubscriberSettings {
  std::string filter;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  uint32_t publishers = 0;  // publisher indexes below this are tracked for loss and duplicates
};

struct PublisherStats {
  uint64_t sent = 0;            // PUBLISH packets queued for writing
  uint64_t sent_in_window = 0;  // of those, queued inside the measurement window
  uint64_t acked = 0;           // QoS 1/2 flows completed with success
  uint64_t rejected = 0;        // QoS 1/2 flows the broker refused (reason >= 0x80)
};

struct SubscriberStats {
  uint64_t received = 0;    // every bench PUBLISH, duplicates included
  uint64_t unique = 0;      // first deliveries (sequence above any seen before)
  uint64_t in_window = 0;   // unique deliveries received inside the window
  uint64_t duplicates = 0;  // repeated or out-of-order sequence numbers
  uint64_t foreign = 0;     // payloads not from this run's publishers
  LatencyHistogram latency;  // in-window deliveries, nanoseconds
};

// What the coordinator may read while the run goes on.
struct ClientProgress {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> inflight{0};
  std::atomic<uint64_t> received{0};   // unique
  std::atomic<bool> publishing{false};
};

class BenchClient {
 public:
  BenchClient(boost::asio::io_context& io, const ClientEnvironment& env, ClientRole role,
              std::string client_id, std::optional<boost::asio::ip::address> source = std::nullopt);
  ~BenchClient();
  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  // Before start(), from the thread that created the client. Throw BenchFailure.
  void configure_publisher(const PublisherSettings& settings);
  void configure_subscriber(const SubscriberSettings& settings);

  // On the client's io thread.
  void start();  // connect, TLS handshake, CONNECT, SUBSCRIBE; reports ready or failed
  void start_publishing(Clock::time_point start);  // publishers, once everyone is ready
  void disconnect();  // DISCONNECT and close; reports closed exactly once

  boost::asio::io_context& io() { return io_; }
  const std::string& client_id() const { return client_id_; }
  ClientRole role() const { return role_; }
  const ClientProgress& progress() const { return progress_; }
  // After the io threads have stopped.
  const PublisherStats* publisher_stats() const;
  const SubscriberStats* subscriber_stats() const;

 private:
  enum class State : uint8_t {
    Created, Connecting, Handshaking, AwaitConnack, AwaitSuback, Ready, Closing, Closed, Failed
  };
  struct PublisherState;
  struct SubscriberState;

  boost::asio::ip::tcp::socket& socket();
  template <class Fn>
  void with_stream(Fn&& fn);

  void arm_connect_timeout();
  const char* setup_stage() const;  // what a client that is not ready yet waits for
  void on_connected(const boost::system::error_code& ec);
  void on_handshake(const boost::system::error_code& ec);
  void send_connect();
  void become_ready();
  void arm_keepalive();

  void start_read();
  void on_read(const boost::system::error_code& ec, size_t n);
  bool process_input(int64_t now_ns);
  bool handle_packet(const mqtt::FrameHeader& header, std::span<const uint8_t> frame, int64_t now_ns,
                     bool in_window);
  bool handle_decoded(const mqtt::FrameHeader& header, std::span<const uint8_t> frame);
  bool handle_publish(const mqtt::FrameHeader& header, std::span<const uint8_t> frame, int64_t now_ns,
                      bool in_window);
  bool handle_ack(mqtt::PacketType type, uint16_t id, uint8_t reason);
  void record_delivery(std::span<const uint8_t> payload, int64_t now_ns, bool in_window);

  void flush();
  void on_write(const boost::system::error_code& ec);
  void append_ack(const AckTemplate& t, uint16_t id);

  void pump(Clock::time_point now);
  size_t append_publishes(size_t max_count, int64_t now_ns);
  uint16_t allocate_packet_id();
  void arm_tick();
  void stop_publishing();
  void publish_progress();

  void handle_io_error(const char* operation, const boost::system::error_code& ec);
  void fail(const std::string& message);
  void close_socket();
  void report_closed();

  boost::asio::io_context& io_;
  const ClientEnvironment& env_;
  const ClientRole role_;
  const std::string client_id_;
  const std::optional<boost::asio::ip::address> source_;

  boost::asio::ip::tcp::socket plain_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  boost::asio::steady_timer timer_;  // connect timeout, then keepalive pings
  State state_ = State::Created;
  bool writing_ = false;
  bool closed_reported_ = false;
  uint16_t keep_alive_ = 0;

  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
  std::string out_;      // being written
  std::string pending_;  // next write

  std::unique_ptr<PublisherState> pub_;
  std::unique_ptr<SubscriberState> sub_;
  ClientProgress progress_;
};

}  // namespace fg::bench
