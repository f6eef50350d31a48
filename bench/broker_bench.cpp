// The broker's hot path in one process, no sockets: bytes of a PUBLISH in,
// decode, route through the subscription tree, encode for every subscriber,
// coalesced write out. Connections are stub transports that count the bytes
// the broker writes; the workers' io_contexts run on the benchmark thread.
// With `authz` = 1 every CONNECT, SUBSCRIBE, PUBLISH and delivery is checked
// against a compiled device policy (issue 4: authorisation on versus off).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"
#include "net/worker_pool.hpp"
#include "policy/authorizer.hpp"
#include "policy/policy.hpp"

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

// Every connection gets the same realistic policy: connect as itself,
// publish and receive under sensors/, subscribe to filters under sensors/
// (and a Deny that never matches here, so Deny patterns are evaluated too).
class DevicePolicyAuthorizer final : public policy::Authorizer {
 public:
  DevicePolicyAuthorizer() {
    auto doc = policy::parse_policy_document(R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"},
      {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/sensors/*"},
      {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/sensors/*"},
      {"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/$aws/*"}]})");
    document_ = std::make_shared<const policy::PolicyDocument>(std::move(doc.value()));
  }
  std::shared_ptr<const policy::PolicySnapshot> snapshot_for(const identity::DeviceIdentity*,
                                                             const std::string& client_id,
                                                             const std::string&) override {
    policy::ConnectionContext ctx;
    ctx.client_id = client_id;
    return policy::compile_policies(std::vector<std::shared_ptr<const policy::PolicyDocument>>{document_}, ctx);
  }

 private:
  std::shared_ptr<const policy::PolicyDocument> document_;
};

// One worker, `subscribers` clients subscribed to sensors/+/temp, one publisher.
struct Fixture {
  explicit Fixture(int subscribers, mqtt::QoS qos, bool authorize = false) : pool(1), broker(config(), pool) {
    if (authorize) broker.set_authorizer(&authorizer);
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
  DevicePolicyAuthorizer authorizer;
  net::WorkerPool pool;
  Broker broker;
  std::vector<std::shared_ptr<CountingClient>> clients;
};

void BM_PublishRouteDeliver(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  const auto qos = static_cast<mqtt::QoS>(state.range(1));
  const bool authorize = state.range(2) != 0;
  Fixture f(subscribers, qos, authorize);
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
  if (authorize && f.broker.stats().authz_failures != 0) state.SkipWithError("the device policy denied something");
}
BENCHMARK(BM_PublishRouteDeliver)
    ->ArgNames({"subscribers", "qos", "authz"})
    ->ArgsProduct({{1, 10, 100}, {0, 1}, {0, 1}});

}  // namespace
}  // namespace fg::broker

BENCHMARK_MAIN();
