// The broker's hot path in one process, no sockets: bytes of a PUBLISH in,
// decode, route through the subscription tree, encode for every subscriber,
// coalesced write out. Connections are stub transports that count the bytes
// the broker writes; the workers' io_contexts run on the benchmark thread.
// This is the baseline the policy checks (issue: authorise every publish and
// delivery) will be measured against.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"
#include "net/worker_pool.hpp"

namespace fg::broker {
namespace {

class CountingClient final : public Client {
 public:
  CountingClient(Worker& w) : Client(w) {}
  void start() override {}
  void resume_reading() override { process_buffered(); }
  std::string remote_address() const override { return "bench"; }
  void feed(std::string_view bytes) {
    on_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  size_t bytes_out = 0;
  std::string acks;  // PUBACKs this subscriber owes for what it received

  // Sends the owed PUBACKs, as a subscriber keeping up would.
  void ack_all() {
    if (acks.empty()) return;
    std::string a;
    a.swap(acks);
    feed(a);
  }

 protected:
  void write_bytes() override {
    bytes_out += out_.size();
    // Find QoS 1 PUBLISH packet ids (3.1.1 framing) without a full decode.
    size_t pos = 0;
    while (pos < out_.size()) {
      const uint8_t first = static_cast<uint8_t>(out_[pos]);
      uint32_t len = 0;
      size_t hl = 1;
      for (int shift = 0;; shift += 7) {
        const uint8_t b = static_cast<uint8_t>(out_[pos + hl++]);
        len |= uint32_t{b & 0x7Fu} << shift;
        if (!(b & 0x80)) break;
      }
      if ((first >> 4) == 3 && ((first >> 1) & 3) == 1) {
        const size_t t = pos + hl;
        const size_t topic_len = (static_cast<uint8_t>(out_[t]) << 8) | static_cast<uint8_t>(out_[t + 1]);
        acks += '\x40';
        acks += '\x02';
        acks.append(out_, t + 2 + topic_len, 2);
      }
      pos += hl + len;
    }
    out_.clear();
  }
  void close_transport() override {}
  size_t writing_size() const override { return 0; }
};

std::string encoded(const mqtt::Packet& p, mqtt::ProtocolVersion v = mqtt::ProtocolVersion::V311) {
  std::string out;
  mqtt::encode(p, v, out);
  return out;
}

// One worker, `subscribers` clients subscribed to sensors/+/temp, one publisher.
struct Fixture {
  explicit Fixture(int subscribers, mqtt::QoS qos) : pool(1), broker(config(), pool) {
    broker.start();
    run();
    Worker& w = broker.worker(0);
    for (int i = 0; i <= subscribers; ++i) {
      auto c = std::make_shared<CountingClient>(w);
      w.add_client(c);
      mqtt::Connect con;
      con.client_id = "c" + std::to_string(i);
      c->feed(encoded(con));
      if (i > 0) {
        mqtt::Subscribe s;
        s.packet_id = 1;
        s.subscriptions.push_back({"sensors/+/temp", {qos, false, false, {}}});
        c->feed(encoded(s));
      }
      clients.push_back(c);
    }
    run();
  }
  static BrokerConfig config() {
    BrokerConfig cfg;
    cfg.max_queued_messages = 1u << 20;      // the subscribers acknowledge between batches
    cfg.max_outbound_bytes = size_t{1} << 40;  // nothing is slow here: never drop QoS 0
    return cfg;
  }
  void run() {
    auto& ctx = pool.context(0);
    if (ctx.stopped()) ctx.restart();
    ctx.poll();
    broker.worker(0).flush();
  }
  net::WorkerPool pool;
  Broker broker;
  std::vector<std::shared_ptr<CountingClient>> clients;
};

void BM_PublishRouteDeliver(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const auto qos = static_cast<mqtt::QoS>(state.range(1));
  Fixture f(subscribers, qos);
  mqtt::Publish p;
  p.topic = "sensors/dc1-conveyor-7/temp";
  p.payload.assign(100, 'x');
  p.qos = qos;
  p.packet_id = qos == mqtt::QoS::AtMostOnce ? 0 : 1;
  // 64 publishes per read, as a busy publisher's socket delivers them.
  std::string batch;
  for (int i = 0; i < 64; ++i) batch += encoded(p);
  auto& publisher = *f.clients[0];
  for (auto _ : state) {
    publisher.feed(batch);
    f.broker.worker(0).flush();
    for (size_t i = 1; i < f.clients.size(); ++i) f.clients[i]->ack_all();
    f.broker.worker(0).flush();
  }
  state.SetItemsProcessed(state.iterations() * 64);  // messages in
  state.counters["deliveries/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 64 * subscribers, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PublishRouteDeliver)
    ->ArgNames({"subscribers", "qos"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({10, 0})
    ->Args({10, 1})
    ->Args({100, 0})
    ->Args({100, 1});

}  // namespace
}  // namespace fg::broker

BENCHMARK_MAIN();
