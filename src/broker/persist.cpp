#include "broker/persist.hpp"

#include <unordered_map>

#include "broker/broker.hpp"
#include "broker/persister.hpp"
#include "common/log.hpp"

namespace fg::broker {

namespace {

enum Tag : uint8_t {
  kPayloadFormat = 0x01,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kUserProperty = 0x26,
};

void put_string(std::string& out, const std::string& s) {
  const auto n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out += s;
}

bool get_string(const std::string& in, size_t& pos, std::string& s) {
  if (in.size() - pos < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t{static_cast<uint8_t>(in[pos + i])} << (8 * i);
  pos += 4;
  if (in.size() - pos < n) return false;
  s.assign(in, pos, n);
  pos += n;
  return true;
}

}  // namespace

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t to_wall_ms(Clock::time_point t, Clock::time_point now, int64_t wall_now) {
  if (t == Clock::time_point::max()) return 0;
  return wall_now + std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
}

Clock::time_point from_wall_ms(int64_t ms, Clock::time_point now, int64_t wall_now) {
  if (ms == 0) return Clock::time_point::max();
  return now + std::chrono::milliseconds(ms - wall_now);
}

std::string encode_properties(const mqtt::Properties& p) {
  std::string out;
  if (p.payload_format_indicator) {
    out.push_back(static_cast<char>(kPayloadFormat));
    out.push_back(static_cast<char>(*p.payload_format_indicator));
  }
  auto opt = [&out](Tag tag, const std::optional<std::string>& v) {
    if (!v) return;
    out.push_back(static_cast<char>(tag));
    put_string(out, *v);
  };
  opt(kContentType, p.content_type);
  opt(kResponseTopic, p.response_topic);
  opt(kCorrelationData, p.correlation_data);
  for (const auto& up : p.user_properties) {
    out.push_back(static_cast<char>(kUserProperty));
    put_string(out, up.key);
    put_string(out, up.value);
  }
  return out;
}

mqtt::Properties decode_properties(const std::string& in) {
  mqtt::Properties p;
  size_t pos = 0;
  while (pos < in.size()) {
    const auto tag = static_cast<uint8_t>(in[pos++]);
    std::string a;
    switch (tag) {
      case kPayloadFormat:
        if (pos >= in.size()) return p;
        p.payload_format_indicator = static_cast<uint8_t>(in[pos++]);
        break;
      case kContentType:
        if (!get_string(in, pos, a)) return p;
        p.content_type = std::move(a);
        break;
      case kResponseTopic:
        if (!get_string(in, pos, a)) return p;
        p.response_topic = std::move(a);
        break;
      case kCorrelationData:
        if (!get_string(in, pos, a)) return p;
        p.correlation_data = std::move(a);
        break;
      case kUserProperty: {
        std::string b;
        if (!get_string(in, pos, a) || !get_string(in, pos, b)) return p;
        p.user_properties.push_back(mqtt::UserProperty{std::move(a), std::move(b)});
        break;
      }
      default:
        return p;  // written by a newer build: keep what we understood
    }
  }
  return p;
}

uint8_t options_byte(const mqtt::SubscribeOptions& o) {
  return static_cast<uint8_t>(static_cast<uint8_t>(o.max_qos) | (o.no_local ? 0x04 : 0) |
                              (o.retain_as_published ? 0x08 : 0) |
                              (static_cast<uint8_t>(o.retain_handling) << 4));
}

mqtt::SubscribeOptions options_from_byte(uint8_t b) {
  mqtt::SubscribeOptions o;
  o.max_qos = static_cast<mqtt::QoS>(std::min(b & 0x03, 2));
  o.no_local = (b & 0x04) != 0;
  o.retain_as_published = (b & 0x08) != 0;
  o.retain_handling = static_cast<mqtt::RetainHandling>(std::min((b >> 4) & 0x03, 2));
  return o;
}

store::StoredMessage to_stored(const Message& m, int64_t id) {
  store::StoredMessage s;
  s.id = id;
  s.topic = m.topic;
  s.payload = m.payload;
  s.qos = static_cast<uint8_t>(m.qos);
  s.retain = m.retain;
  s.properties = encode_properties(m.properties);
  s.expires_at_ms = to_wall_ms(m.expires_at, Clock::now(), wall_now_ms());
  return s;
}

MessagePtr from_stored(const store::StoredMessage& s, Clock::time_point now, int64_t wall_now) {
  auto m = std::make_shared<Message>();
  m->topic = s.topic;
  m->payload = s.payload;
  m->qos = static_cast<mqtt::QoS>(std::min<uint8_t>(s.qos, 2));
  m->retain = s.retain;
  m->properties = decode_properties(s.properties);
  m->expires_at = from_wall_ms(s.expires_at_ms, now, wall_now);
  return m;
}

// ---------------------------------------------------------------- loading

Result<Broker::RestoreStats, store::StoreError> Broker::attach_store(std::unique_ptr<store::MessageStore> owned) {
  store::MessageStore& st = *owned;
  const int64_t wall_now = wall_now_ms();
  const Clock::time_point now = Clock::now();
  auto loaded = st.load(wall_now);
  if (!loaded) return unexpected(std::move(loaded.error()));
  store::MessageStoreContents& c = *loaded;
  RestoreStats stats;

  for (const auto& r : c.retained) {
    retained_.set(from_stored(r, now, wall_now));
    ++stats.retained;
  }

  std::unordered_map<int64_t, std::shared_ptr<Session>> by_id;
  for (const auto& rec : c.sessions) {
    const unsigned owner = static_cast<unsigned>(static_cast<uint64_t>(rec.id) % worker_count());
    auto s = std::make_shared<Session>(static_cast<uint64_t>(rec.id), rec.client_id, owner);
    s->expiry_interval = rec.expiry_interval;
    s->durable.store(true, std::memory_order_relaxed);
    if (rec.expiry_interval != 0xFFFFFFFF) {
      // Offline when written: its deadline stands. Connected when the server
      // went away: the clock starts now, as if it had just disconnected.
      s->expires_at = rec.expires_at_ms != 0 ? from_wall_ms(rec.expires_at_ms, now, wall_now)
                                             : now + std::chrono::seconds(rec.expiry_interval);
    }
    {
      std::lock_guard lock(sessions_mu_);
      sessions_.emplace(s->client_id(), s);
    }
    workers_[owner]->restore_offline(s);
    by_id.emplace(rec.id, std::move(s));
    ++stats.sessions;
  }

  for (const auto& rec : c.subscriptions) {
    auto it = by_id.find(rec.session_id);
    if (it == by_id.end()) continue;
    const auto& s = it->second;
    const mqtt::SubscribeOptions options = options_from_byte(rec.options);
    s->subscriptions()[rec.filter] = SubscriptionRecord{options, rec.subscription_id};
    for (auto& w : workers_) w->tree().insert(rec.filter, s->id(), SubscriberRef{s, options, rec.subscription_id});
    ++stats.subscriptions;
  }

  std::unordered_map<int64_t, MessagePtr> messages;
  for (const auto& m : c.messages) messages.emplace(m.id, from_stored(m, now, wall_now));
  for (const auto& d : c.deliveries) {
    auto s = by_id.find(d.session_id);
    auto m = messages.find(d.message_id);
    if (s == by_id.end() || m == messages.end()) continue;
    Delivery del;
    del.msg = m->second;
    del.qos = static_cast<mqtt::QoS>(std::min<uint8_t>(d.qos, 2));
    del.retain = d.retain;
    del.subscription_id = d.subscription_id;
    del.seq = d.seq;
    del.redelivery = true;
    s->second->queue.push_back(std::move(del));
    ++stats.messages;
  }

  const auto next = static_cast<uint64_t>(c.max_id) + 1;
  if (next_session_id_.load() < next) next_session_id_.store(next);
  next_store_id_.store(c.max_id + 1);
  message_store_ = std::move(owned);
  persister_ = std::make_unique<Persister>(st);
  return stats;
}

}  // namespace fg::broker
