// A broker Client over a stub transport: tests feed it packets and read what
// the broker wrote back, with no sockets. Worker io_contexts are driven by the
// test thread (BrokerHarness::pump), so every test is deterministic.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"
#include "net/worker_pool.hpp"

namespace fg::broker::testing {

class StubClient final : public Client {
 public:
  StubClient(Worker& w, mqtt::ProtocolVersion v) : Client(w), version_(v) {}

  void start() override {}
  std::string remote_address() const override { return "stub"; }
  void resume_reading() override { ++resumed_; }
  int resumed() const { return resumed_; }

  // Client -> broker.
  void feed(const mqtt::Packet& p) {
    std::string bytes;
    mqtt::encode(p, version_, bytes);
    feed_bytes(bytes);
  }
  void feed_bytes(std::string_view bytes) {
    on_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    worker().flush();
  }
  // The peer vanished (no DISCONNECT).
  void drop() {
    on_transport_error("test: peer vanished");
    worker().flush();
  }

  // Broker -> client: every packet written so far and not yet taken, decoded.
  std::vector<mqtt::Packet> take() {
    decode_written();
    std::vector<mqtt::Packet> out(std::make_move_iterator(pending_.begin()),
                                  std::make_move_iterator(pending_.end()));
    pending_.clear();
    return out;
  }
  // Only the packets of type T (the others stay for later takes).
  template <class T>
  std::vector<T> take_of() {
    decode_written();
    std::vector<T> out;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (auto* t = std::get_if<T>(&*it)) {
        out.push_back(std::move(*t));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  bool transport_closed() const { return closed_; }

 protected:
  void write_bytes() override {
    written_ += out_;
    out_.clear();
  }
  void close_transport() override { closed_ = true; }
  size_t writing_size() const override { return 0; }

 private:
  mqtt::ProtocolVersion version_;
  void decode_written() {
    size_t pos = 0;
    while (pos < written_.size()) {
      size_t used = 0;
      auto r = mqtt::decode_one({reinterpret_cast<const uint8_t*>(written_.data()) + pos, written_.size() - pos},
                                version_, &used);
      EXPECT_TRUE(r.has_value()) << "broker wrote an undecodable packet";
      if (!r) break;
      pending_.push_back(std::move(*r));
      pos += used;
    }
    written_.erase(0, pos);
  }

  std::string written_;
  std::deque<mqtt::Packet> pending_;
  bool closed_ = false;
  int resumed_ = 0;
};

// A broker with `workers` workers whose io_contexts run on the test thread.
// `before_start` runs on the broker before it starts (e.g. attach_store).
class BrokerHarness {
 public:
  explicit BrokerHarness(unsigned workers = 2, BrokerConfig cfg = {},
                         const std::function<void(Broker&)>& before_start = {})
      : pool_(workers), broker_(cfg, pool_) {
    if (before_start) before_start(broker_);
    broker_.start();
    pump();
  }

  Broker& broker() { return broker_; }

  // Runs the workers' ready handlers once (a message store may still be writing).
  size_t poll() {
    size_t ran = 0;
    for (unsigned i = 0; i < pool_.size(); ++i) {
      auto& ctx = pool_.context(i);
      if (ctx.stopped()) ctx.restart();
      ran += ctx.poll();
    }
    return ran;
  }

  // Runs every ready handler on every worker (and waits for the persistence
  // thread, when the broker has a message store) until all are idle.
  void pump() {
    for (int round = 0; round < 1000; ++round) {
      size_t ran = poll();
      if (auto* persister = broker_.persister()) {
        persister->wait_idle();
        ran += poll();
      }
      if (ran == 0) return;
    }
    ADD_FAILURE() << "workers did not go idle";
  }

  std::shared_ptr<StubClient> client(unsigned worker, mqtt::ProtocolVersion v = mqtt::ProtocolVersion::V311) {
    auto c = std::make_shared<StubClient>(broker_.worker(worker), v);
    broker_.worker(worker).add_client(c);
    return c;
  }

  // Connects and returns the CONNACK.
  mqtt::Connack connect(StubClient& c, mqtt::Connect req) {
    c.feed(req);
    pump();
    auto acks = c.take_of<mqtt::Connack>();
    EXPECT_EQ(acks.size(), 1u);
    return acks.empty() ? mqtt::Connack{} : acks.front();
  }

 private:
  net::WorkerPool pool_;
  Broker broker_;
};

inline mqtt::Connect connect_packet(std::string id, mqtt::ProtocolVersion v = mqtt::ProtocolVersion::V311,
                                    bool clean = true) {
  mqtt::Connect c;
  c.version = v;
  c.client_id = std::move(id);
  c.clean_start = clean;
  c.keep_alive = 60;
  return c;
}

inline mqtt::Subscribe subscribe_packet(uint16_t id, std::string filter, mqtt::QoS qos) {
  mqtt::Subscribe s;
  s.packet_id = id;
  mqtt::TopicSubscription ts;
  ts.filter = std::move(filter);
  ts.options.max_qos = qos;
  s.subscriptions.push_back(std::move(ts));
  return s;
}

inline mqtt::Publish publish_packet(std::string topic, std::string payload, mqtt::QoS qos = mqtt::QoS::AtMostOnce,
                                    uint16_t id = 0) {
  mqtt::Publish p;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  p.qos = qos;
  p.packet_id = id;
  return p;
}

}  // namespace fg::broker::testing
