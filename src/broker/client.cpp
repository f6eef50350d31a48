#include "broker/client.hpp"

#include <algorithm>

#include "broker/broker.hpp"
#include "broker/persist.hpp"
#include "broker/worker.hpp"
#include "common/log.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace fg::broker {

using mqtt::ProtocolVersion;
using mqtt::QoS;
using mqtt::ReasonCode;

namespace {

constexpr uint32_t kSessionNeverExpires = 0xFFFFFFFF;
constexpr auto kClosingGrace = std::chrono::seconds(5);

mqtt::ServerProtocolLimits limits_from(const BrokerConfig& cfg) {
  mqtt::ServerProtocolLimits l;
  l.max_packet_size = cfg.max_packet_size;
  l.topic_alias_maximum = cfg.topic_alias_maximum;
  return l;
}

bool is_error(ReasonCode rc) { return static_cast<uint8_t>(rc) >= 0x80; }

}  // namespace

Client::Client(Worker& worker)
    : worker_(worker),
      proto_(limits_from(worker.broker().config())),
      state_since_(Clock::now()),
      last_rx_(state_since_) {}

const std::string& Client::client_id() const {
  static const std::string kNone;
  if (session_) return session_->client_id();
  return client_id_ ? *client_id_ : kNone;
}

Client::~Client() {
  if (linked_) worker_.remove_client(this);
}

// ---------------------------------------------------------------- input

void Client::on_bytes(std::span<const uint8_t> bytes) {
  proto_.receive(bytes);
  process_packets();
}

void Client::process_buffered() { process_packets(); }

void Client::process_packets() {
  last_rx_ = Clock::now();
  // Stops early when a route hit a congested subscriber (throttled_): the rest
  // stays buffered until the transport resumes reading.
  while ((state_ == State::AwaitConnect || state_ == State::Connected) && !throttled_) {
    auto next = proto_.next();
    if (!next) {
      WorkerStats::inc(worker_.stats().protocol_errors);
      const auto& f = next.error();
      log::debug("client {} ({}): {}: {}", client_id(), remote_address(), mqtt::reason_name(f.reason), f.message);
      if (f.before_connect) {
        refuse_connect(f.reason, f.message);
      } else if (state_ == State::Connected) {
        fail(f.reason, f.message);
      } else {
        close_now();
      }
      return;
    }
    if (!next->has_value()) return;  // need more bytes
    mqtt::Packet& packet = **next;
    std::visit(
        [this](auto& p) {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, mqtt::Pingreq>) {
            send(mqtt::Pingresp{});
          } else if constexpr (std::is_same_v<T, mqtt::Connect> || std::is_same_v<T, mqtt::Publish> ||
                               std::is_same_v<T, mqtt::Puback> || std::is_same_v<T, mqtt::Pubrec> ||
                               std::is_same_v<T, mqtt::Pubrel> || std::is_same_v<T, mqtt::Pubcomp> ||
                               std::is_same_v<T, mqtt::Subscribe> ||
                               std::is_same_v<T, mqtt::Unsubscribe> ||
                               std::is_same_v<T, mqtt::Disconnect>) {
            handle(p);
          }
          // Server-to-client packets and AUTH are rejected by ServerProtocol.
        },
        packet);
  }
}

// ---------------------------------------------------------------- CONNECT

void Client::handle(mqtt::Connect& c) {
  const BrokerConfig& cfg = worker_.broker().config();
  const bool v5 = c.version == ProtocolVersion::V5;
  if (v5 && c.properties.authentication_method) {
    return refuse_connect(ReasonCode::BadAuthenticationMethod,
                          "enhanced authentication is not supported");
  }
  client_id_ = std::make_unique<std::string>(std::move(c.client_id));
  if (client_id_->empty()) {
    if (!v5 && !c.clean_start) {
      return refuse_connect(ReasonCode::ClientIdentifierNotValid,
                            "a persistent session needs a client id");
    }
    *client_id_ = worker_.broker().new_client_id();
    assigned_id_ = true;
  }
  // Kept for the connection's life: the socket is gone when the
  // disconnect is reported. (An IPv4 address fits the string's own buffer.)
  source_ip_ = source_ip();
  if (auto* authorizer = worker_.broker().authorizer()) {
    policy_ = authorizer->snapshot_for(identity_.get(), *client_id_, source_ip_);
    if (!policy_->allowed(policy::Action::Connect, *client_id_)) {
      denied(policy::Action::Connect, *client_id_);
      return refuse_connect(ReasonCode::NotAuthorized, "not authorized to connect as this client id");
    }
  }
  if (c.will) {
    if (!mqtt::valid_topic_name(c.will->topic)) {
      return refuse_connect(ReasonCode::TopicNameInvalid, "invalid will topic");
    }
    if (v5 && c.will->properties.payload_format_indicator.value_or(0) == 1 &&
        !mqtt::valid_mqtt_utf8(c.will->payload)) {
      return refuse_connect(ReasonCode::PayloadFormatInvalid, "will payload is not UTF-8");
    }
    will_ = std::make_unique<mqtt::Will>(std::move(*c.will));
  }
  keepalive_ = c.keep_alive;
  if (cfg.max_keepalive != 0 && (keepalive_ == 0 || keepalive_ > cfg.max_keepalive)) {
    if (!v5) {
      // A 3.1.1 client cannot be told a shorter keep alive; cutting it off
      // later would look like a network fault, so refuse it now (as mosquitto does).
      return refuse_connect(ReasonCode::ClientIdentifierNotValid,
                            "keep alive above the server maximum of " + std::to_string(cfg.max_keepalive));
    }
    keepalive_ = cfg.max_keepalive;
  }
  if (v5) {
    session_expiry_ = std::min(c.properties.session_expiry_interval.value_or(0), cfg.max_session_expiry);
    inflight_window_ = std::min<uint16_t>(cfg.max_inflight, c.properties.receive_maximum.value_or(65535));
  } else {
    session_expiry_ = c.clean_start ? 0 : kSessionNeverExpires;
    inflight_window_ = cfg.max_inflight;
  }
  if (inflight_window_ == 0) inflight_window_ = 1;
  state_ = State::Connecting;
  requested_keepalive_ = c.keep_alive;
  requested_expiry_ = c.properties.session_expiry_interval.value_or(0);
  worker_.broker().open_session(shared_from_this(), *client_id_, c.clean_start);
}

bool Client::attach_session(const std::shared_ptr<Session>& s, bool session_present) {
  if (state_ != State::Connecting) return false;
  session_ = s;
  s->client = shared_from_this();
  s->online.store(true, std::memory_order_relaxed);
  s->expiry_interval = session_expiry_;
  s->expires_at = Clock::time_point::max();
  s->will.reset();  // reconnected within the will delay: the will is not sent

  // A persistent session is acknowledged only once it is on disk; until then
  // the connection stays Connecting (pipelined packets wait, QoS 1/2 queue).
  if (worker_.persist_session_attach(*s)) {
    std::weak_ptr<Client> weak = weak_from_this();
    worker_.after_durable([weak, session_present](bool ok) {
      auto c = weak.lock();
      if (!c || c->state_ != State::Connecting || !c->session_) return;
      if (!ok) return c->refuse_connect(ReasonCode::ServerUnavailable, "cannot store the session");
      c->complete_connect(session_present);
    });
    return true;
  }
  complete_connect(session_present);
  return true;
}

void Client::complete_connect(bool session_present) {
  const std::shared_ptr<Session>& s = session_;
  mqtt::Connack ack;
  ack.session_present = session_present;
  if (version() == ProtocolVersion::V5) {
    const BrokerConfig& cfg = worker_.broker().config();
    auto& p = ack.properties;
    p.receive_maximum = cfg.receive_maximum;
    p.maximum_packet_size = cfg.max_packet_size;
    if (cfg.topic_alias_maximum > 0) p.topic_alias_maximum = cfg.topic_alias_maximum;
    if (assigned_id_) p.assigned_client_identifier = s->client_id();
    if (keepalive_ != requested_keepalive_) p.server_keep_alive = keepalive_;
    if (session_expiry_ != requested_expiry_) p.session_expiry_interval = session_expiry_;
  }
  send(ack);
  state_ = State::Connected;
  client_id_.reset();  // the session holds it from now on
  if (session_present) {
    resend_inflight();
    pump_session();
  }
  if (auto* events = worker_.broker().connection_events()) event_handle_ = events->connected(facts(source_ip()));
  // Packets the client pipelined behind CONNECT.
  process_packets();
}

ConnectionFacts Client::facts(const std::string& source_ip) const {
  return ConnectionFacts{client_id(), identity_.get(), source_ip};
}

void Client::refresh_policy() {
  auto* authorizer = worker_.broker().authorizer();
  if (authorizer == nullptr || (!client_id_ && !session_)) return;
  if (state_ != State::Connecting && state_ != State::Connected) return;
  policy_ = authorizer->snapshot_for(identity_.get(), client_id(), source_ip());
}

void Client::denied(policy::Action action, std::string_view resource) {
  WorkerStats::inc(worker_.stats().authz_failures);
  if (auto* events = worker_.broker().connection_events()) {
    const std::string ip = source_ip();
    events->authorization_failed(facts(ip), policy::to_string(action), resource);
  }
  log::debug("not authorized: {} {} on {} (client {})", remote_address(), policy::to_string(action), resource,
             client_id());
}

std::string Client::source_ip() const {
  if (!source_ip_.empty()) return source_ip_;
  std::string address = remote_address();
  if (auto colon = address.rfind(':'); colon != std::string::npos) address.resize(colon);
  return address;
}

void Client::refuse_connect(ReasonCode rc, const std::string& why) {
  log::debug("refusing connection from {}: {}", remote_address(), why);
  if (version() == ProtocolVersion::V5 || rc == ReasonCode::UnsupportedProtocolVersion ||
      mqtt::to_v311_connack_code(rc) != 0) {
    mqtt::Connack ack;
    ack.reason = rc;
    if (version() == ProtocolVersion::V5 && !why.empty()) ack.properties.reason_string = why;
    proto_.send(ack, out_);
  }
  will_.reset();
  state_ = State::Closing;
  state_since_ = Clock::now();
  mark_dirty();
}

// ---------------------------------------------------------------- PUBLISH

void Client::handle(mqtt::Publish& p) {
  const bool v5 = version() == ProtocolVersion::V5;
  Session& s = *session_;
  if (v5 && !p.properties.subscription_identifiers.empty()) {
    return fail(ReasonCode::ProtocolError, "PUBLISH from a client carries a subscription identifier");
  }
  if (!mqtt::valid_topic_name(p.topic)) return fail(ReasonCode::TopicNameInvalid, "invalid topic name");
  if (policy_ && (!policy_->allowed(policy::Action::Publish, p.topic) ||
                  (p.retain && !policy_->allowed(policy::Action::RetainPublish, p.topic)))) {
    denied(p.retain ? policy::Action::RetainPublish : policy::Action::Publish, p.topic);
    // As AWS IoT: MQTT 3.1.1 has no way to say no, so the connection closes;
    // a v5 client is told (QoS 1/2) and keeps its connection.
    if (!v5) return fail(ReasonCode::NotAuthorized, "not authorized to publish to this topic");
    if (p.qos == QoS::AtLeastOnce) send(mqtt::Puback{p.packet_id, ReasonCode::NotAuthorized, {}});
    if (p.qos == QoS::ExactlyOnce) send(mqtt::Pubrec{p.packet_id, ReasonCode::NotAuthorized, {}});
    return;
  }
  if (v5 && p.properties.payload_format_indicator.value_or(0) == 1 && !mqtt::valid_mqtt_utf8(p.payload)) {
    if (p.qos == QoS::AtMostOnce) return fail(ReasonCode::PayloadFormatInvalid, "payload is not UTF-8");
    if (p.qos == QoS::AtLeastOnce) send(mqtt::Puback{p.packet_id, ReasonCode::PayloadFormatInvalid, {}});
    else send(mqtt::Pubrec{p.packet_id, ReasonCode::PayloadFormatInvalid, {}});
    return;
  }
  if (p.qos == QoS::ExactlyOnce) {
    if (std::find(s.inbound_qos2.begin(), s.inbound_qos2.end(), p.packet_id) != s.inbound_qos2.end()) {
      send(mqtt::Pubrec{p.packet_id, ReasonCode::Success, {}});  // duplicate: already routed
      return;
    }
    if (s.inbound_qos2.size() >= worker_.broker().config().receive_maximum) {
      return fail(ReasonCode::ReceiveMaximumExceeded, "too many unreleased QoS 2 messages");
    }
  }

  auto msg = std::make_shared<Message>();
  msg->qos = p.qos;
  msg->retain = p.retain;
  msg->origin_session = s.id();
  if (v5) {
    if (p.properties.message_expiry_interval) {
      msg->expires_at = Clock::now() + std::chrono::seconds(*p.properties.message_expiry_interval);
      p.properties.message_expiry_interval.reset();
    }
    msg->properties = std::move(p.properties);
  }
  msg->topic = std::move(p.topic);
  msg->payload = std::move(p.payload);
  MessagePtr shared = std::move(msg);
  WorkerStats::inc(worker_.stats().messages_in);
  bool durable = false;  // the acknowledgement waits for the message store
  if (shared->retain) {
    worker_.broker().retained().set(shared);
    durable = worker_.persist_retained(shared);
  }
  bool congested = false;
  size_t persisted = 0;
  size_t matched = worker_.route(shared, &congested, &persisted);
  if (congested || worker_.persist_congested()) throttled_ = true;
  // Acknowledgements go out in order: once one waits, the next ones do too.
  durable = durable || persisted > 0 || acks_waiting_ > 0;

  ReasonCode rc = (v5 && matched == 0) ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success;
  if (p.qos == QoS::AtLeastOnce) {
    mqtt::Puback ack{p.packet_id, rc, {}};
    if (durable) return ack_after_durable(std::move(ack));
    send(ack);
  } else if (p.qos == QoS::ExactlyOnce) {
    s.inbound_qos2.push_back(p.packet_id);
    mqtt::Pubrec ack{p.packet_id, rc, {}};
    if (durable) return ack_after_durable(std::move(ack));
    send(ack);
  }
}

void Client::ack_after_durable(mqtt::Packet ack) {
  ++acks_waiting_;
  std::weak_ptr<Client> weak = weak_from_this();
  worker_.after_durable([weak, ack = std::move(ack)](bool ok) {
    auto c = weak.lock();
    if (!c) return;
    --c->acks_waiting_;
    if (c->state_ != State::Connected) return;
    if (!ok) return c->fail(ReasonCode::UnspecifiedError, "cannot store the message");
    c->send(ack);
  });
}

void Client::handle(const mqtt::Puback& p) {
  ptrdiff_t at = session_->find_inflight(p.packet_id, Inflight::State::AwaitPuback);
  if (at < 0) return;  // unknown id: nothing to release
  worker_.forget_delivery(session_->inflight[static_cast<size_t>(at)].delivery);
  session_->erase_inflight(static_cast<size_t>(at));
  pump_session();
}

void Client::handle(const mqtt::Pubrec& p) {
  auto& inf = session_->inflight;
  ptrdiff_t at = session_->find_inflight(p.packet_id, Inflight::State::AwaitPubrec);
  if (at < 0) {
    send(mqtt::Pubrel{p.packet_id, ReasonCode::PacketIdentifierNotFound, {}});
    return;
  }
  if (is_error(p.reason)) {  // the subscriber refused it: the flow ends here
    worker_.forget_delivery(inf[static_cast<size_t>(at)].delivery);
    session_->erase_inflight(static_cast<size_t>(at));
    pump_session();
    return;
  }
  Inflight& f = inf[static_cast<size_t>(at)];
  f.state = Inflight::State::AwaitPubcomp;
  f.delivery.msg.reset();  // the message is delivered; only the id remains
  send_pubrel(p.packet_id);
}

void Client::handle(const mqtt::Pubrel& p) {
  auto& ids = session_->inbound_qos2;
  auto it = std::find(ids.begin(), ids.end(), p.packet_id);
  if (it == ids.end()) {
    send(mqtt::Pubcomp{p.packet_id, ReasonCode::PacketIdentifierNotFound, {}});
    return;
  }
  ids.erase(it);
  send(mqtt::Pubcomp{p.packet_id, ReasonCode::Success, {}});
}

void Client::handle(const mqtt::Pubcomp& p) {
  ptrdiff_t at = session_->find_inflight(p.packet_id, Inflight::State::AwaitPubcomp);
  if (at < 0) return;
  worker_.forget_delivery(session_->inflight[static_cast<size_t>(at)].delivery);
  session_->erase_inflight(static_cast<size_t>(at));
  pump_session();
}

bool Client::send_delivery(const Delivery& d, uint16_t packet_id, bool dup) {
  if (policy_ && !policy_->allowed(policy::Action::Receive, d.msg->topic)) {
    denied(policy::Action::Receive, d.msg->topic);
    return false;  // not delivered; a QoS 1/2 copy is forgotten by the caller
  }
  mqtt::PublishView v;
  v.dup = dup;
  v.qos = d.qos;
  v.retain = d.retain;
  v.topic = d.msg->topic;
  v.packet_id = packet_id;
  v.properties = &d.msg->properties;
  v.payload = d.msg->payload;
  v.subscription_identifier = d.subscription_id;
  if (d.msg->expires_at != Clock::time_point::max()) v.message_expiry_interval = d.msg->remaining_expiry(Clock::now());
  bool ok = proto_.send_publish(v, out_);
  if (ok) {
    WorkerStats::inc(worker_.stats().messages_out);
    mark_dirty();
  } else {
    WorkerStats::inc(worker_.stats().messages_dropped);
  }
  return ok;
}

void Client::send_pubrel(uint16_t packet_id) { send(mqtt::Pubrel{packet_id, ReasonCode::Success, {}}); }

void Client::pump_session() {
  if (!session_ || state_ != State::Connected) return;
  Session& s = *session_;
  auto now = Clock::now();
  const size_t low_water = worker_.broker().config().max_queued_messages / 4;
  while (s.inflight.size() < inflight_window_ && !s.queue.empty()) {
    Delivery d = std::move(s.queue.front());
    s.queue.pop_front();
    if (d.msg->expired(now)) {
      worker_.forget_delivery(d);
      continue;
    }
    if (d.qos == QoS::AtMostOnce) {
      send_delivery(d, 0, false);
      continue;
    }
    uint16_t id = s.next_packet_id();
    if (!send_delivery(d, id, d.redelivery)) {  // too large for this client: dropped
      worker_.forget_delivery(d);
      continue;
    }
    s.add_inflight(Inflight{id,
                                  d.qos == QoS::AtLeastOnce ? Inflight::State::AwaitPuback
                                                            : Inflight::State::AwaitPubrec,
                                  std::move(d)});
  }
  if (s.queue.size() <= low_water && s.in_transit.load(std::memory_order_relaxed) <= low_water) {
    s.congested.store(false, std::memory_order_relaxed);
  }
}

void Client::resend_inflight() {
  session_->inflight.for_each([this](const Inflight& f) {
    if (f.state == Inflight::State::AwaitPubcomp) {
      send_pubrel(f.packet_id);
    } else {
      send_delivery(f.delivery, f.packet_id, /*dup=*/true);
    }
  });
}

// ---------------------------------------------------------------- SUBSCRIBE

void Client::handle(mqtt::Subscribe& sub) {
  const bool v5 = version() == ProtocolVersion::V5;
  Session& s = *session_;
  uint32_t sub_id = 0;
  if (!sub.properties.subscription_identifiers.empty()) sub_id = sub.properties.subscription_identifiers.front();

  struct RetainedRequest {
    std::string filter;
    SubscriberRef ref;
  };
  auto suback = std::make_shared<mqtt::Suback>();
  suback->packet_id = sub.packet_id;
  auto retained = std::make_shared<std::vector<RetainedRequest>>();
  std::vector<Broker::TreeChange> changes;
  for (auto& ts : sub.subscriptions) {
    if (!mqtt::valid_topic_filter(ts.filter)) {
      suback->reasons.push_back(v5 ? ReasonCode::TopicFilterInvalid : ReasonCode::UnspecifiedError);
      continue;
    }
    auto shared = mqtt::parse_shared_filter(ts.filter);
    if (shared && ts.options.no_local) {
      return fail(ReasonCode::ProtocolError, "No Local on a shared subscription");
    }
    if (policy_ && !policy_->allowed(policy::Action::Subscribe, ts.filter)) {
      denied(policy::Action::Subscribe, ts.filter);
      suback->reasons.push_back(v5 ? ReasonCode::NotAuthorized : ReasonCode::UnspecifiedError);
      continue;
    }
    SubscriberRef ref{session_, ts.options, sub_id};
    auto& subs = s.subscriptions();
    bool is_new = subs.find(ts.filter) == subs.end();
    subs[ts.filter] = SubscriptionRecord{ts.options, sub_id};
    suback->reasons.push_back(static_cast<ReasonCode>(ts.options.max_qos));
    auto rh = ts.options.retain_handling;
    if (!shared && (rh == mqtt::RetainHandling::SendOnSubscribe ||
                    (rh == mqtt::RetainHandling::SendIfNew && is_new))) {
      retained->push_back({ts.filter, ref});
    }
    changes.push_back(Broker::TreeChange{std::move(ts.filter), true, std::move(ref)});
  }
  std::weak_ptr<Client> weak = weak_from_this();
  auto done = [weak, suback, retained] {
    auto c = weak.lock();
    if (!c || c->state_ != State::Connected) return;
    c->send(*suback);
    auto now = Clock::now();
    for (auto& r : *retained) {
      for (auto& m : c->worker_.broker().retained().match(r.filter, now)) {
        Delivery d;
        d.qos = std::min(m->qos, r.ref.options.max_qos);
        d.retain = true;
        d.subscription_id = r.ref.subscription_id;
        d.msg = std::move(m);
        c->worker_.deliver_local(*c->session_, std::move(d));
      }
    }
  };
  if (changes.empty()) {
    done();
    return;
  }
  if (!s.durable.load(std::memory_order_relaxed)) {
    worker_.broker().change_subscriptions(worker_.index(), session_, std::move(changes), std::move(done));
    return;
  }
  // A persistent session: SUBACK once every worker routes to the new
  // subscriptions and they are on disk, whichever comes last.
  for (const auto& ch : changes) {
    const auto& rec = s.subscriptions()[ch.filter];
    worker_.persist(store::PutSubscription{store::StoredSubscription{
        static_cast<int64_t>(s.id()), ch.filter, options_byte(rec.options), rec.subscription_id}});
  }
  auto remaining = std::make_shared<int>(2);
  auto stored_ok = std::make_shared<bool>(true);
  auto part_done = [weak, remaining, stored_ok, done] {
    if (--*remaining != 0) return;
    if (*stored_ok) return done();
    if (auto c = weak.lock()) c->fail(ReasonCode::UnspecifiedError, "cannot store the subscription");
  };
  worker_.after_durable([part_done, stored_ok](bool ok) {
    *stored_ok = ok;
    part_done();
  });
  worker_.broker().change_subscriptions(worker_.index(), session_, std::move(changes), part_done);
}

void Client::handle(const mqtt::Unsubscribe& u) {
  mqtt::Unsuback ack;
  ack.packet_id = u.packet_id;
  std::vector<Broker::TreeChange> changes;
  for (const auto& f : u.filters) {
    auto& subs = session_->subscriptions();
    auto it = subs.find(f);
    if (it == subs.end()) {
      ack.reasons.push_back(ReasonCode::NoSubscriptionExisted);
      continue;
    }
    subs.erase(it);
    if (session_->durable.load(std::memory_order_relaxed)) {
      worker_.persist(store::DeleteSubscription{static_cast<int64_t>(session_->id()), f});
    }
    ack.reasons.push_back(ReasonCode::Success);
    changes.push_back(Broker::TreeChange{f, false, {}});
  }
  if (!changes.empty()) {
    worker_.broker().change_subscriptions(worker_.index(), session_, std::move(changes), nullptr);
  }
  send(ack);
}

// ---------------------------------------------------------------- DISCONNECT

void Client::handle(const mqtt::Disconnect& d) {
  if (version() == ProtocolVersion::V5) {
    if (auto e = d.properties.session_expiry_interval) {
      if (session_expiry_ == 0 && *e != 0) {
        return fail(ReasonCode::ProtocolError, "session expiry set at DISCONNECT after 0 at CONNECT");
      }
      session_expiry_ = std::min(*e, worker_.broker().config().max_session_expiry);
      if (session_) session_->expiry_interval = session_expiry_;
    }
  }
  if (d.reason != ReasonCode::DisconnectWithWillMessage) will_.reset();
  client_disconnected_ = true;
  close_now();
}

// ---------------------------------------------------------------- output and closing

void Client::send(const mqtt::Packet& p) {
  proto_.send(p, out_);
  mark_dirty();
}

void Client::mark_dirty() {
  if (dirty_) return;
  dirty_ = true;
  worker_.mark_dirty(this);
}

void Client::flush_output() {
  dirty_ = false;
  if (state_ == State::Closed) return;
  if (!writing_ && !out_.empty()) write_bytes();
  if (state_ == State::Closing && !writing_ && out_.empty()) close_now();
}

void Client::on_write_done() {
  if (state_ == State::Closed) return;
  flush_output();
}

void Client::fail(ReasonCode rc, const std::string& why) {
  log::debug("client {} ({}): closing: {} ({})", client_id(), remote_address(), mqtt::reason_name(rc), why);
  disconnect(rc, why);
}

void Client::disconnect(ReasonCode rc, const std::string& why) {
  if (state_ == State::Closing || state_ == State::Closed) return;
  close_reason_ = rc;
  if (state_ == State::Connected && version() == ProtocolVersion::V5) {
    mqtt::Disconnect d;
    d.reason = rc;
    if (!why.empty()) d.properties.reason_string = why;
    proto_.send(d, out_);
  }
  state_ = State::Closing;
  state_since_ = Clock::now();
  mark_dirty();
}

void Client::taken_over(bool session_ended) {
  session_.reset();  // the session now belongs to the new connection (or has ended)
  will_now_ = session_ended;
  disconnect(ReasonCode::SessionTakenOver, "another connection took over this session");
}

void Client::on_transport_error(const std::string& what) {
  if (state_ == State::Closed) return;
  log::debug("client {} ({}): connection closed: {}", client_id(), remote_address(), what);
  close_now();
}

void Client::close_now() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  close_transport();
  lost();
}

void Client::lost() {
  if (lost_done_) return;
  lost_done_ = true;
  auto self = shared_from_this();  // keep alive until the end of this function
  if (event_handle_ != 0) {
    if (auto* events = worker_.broker().connection_events()) {
      DisconnectCause cause = DisconnectCause::ConnectionLost;
      if (client_disconnected_) {
        cause = DisconnectCause::ClientInitiated;
      } else {
        switch (close_reason_) {
          case ReasonCode::Success: cause = DisconnectCause::ConnectionLost; break;
          case ReasonCode::SessionTakenOver: cause = DisconnectCause::DuplicateClientId; break;
          case ReasonCode::KeepAliveTimeout: cause = DisconnectCause::KeepAliveTimeout; break;
          case ReasonCode::NotAuthorized: cause = DisconnectCause::ForbiddenAccess; break;
          case ReasonCode::ServerShuttingDown:
          case ReasonCode::ServerBusy:
          case ReasonCode::AdministrativeAction: cause = DisconnectCause::ServerInitiated; break;
          default: cause = DisconnectCause::ClientError; break;
        }
      }
      events->disconnected(event_handle_, facts(source_ip_), cause);
    }
    event_handle_ = 0;
  }
  if (session_) {
    session_->client.reset();
    session_->online.store(false, std::memory_order_relaxed);
    session_->congested.store(false, std::memory_order_relaxed);
  }
  release_will();
  if (session_) {
    client_id_ = std::make_unique<std::string>(session_->client_id());  // for logs after the session is gone
    worker_.session_offline(session_);
    session_.reset();
  }
  worker_.remove_client(this);
}

MessagePtr Client::make_will_message() const {
  auto m = std::make_shared<Message>();
  m->topic = will_->topic;
  m->payload = will_->payload;
  m->qos = will_->qos;
  m->retain = will_->retain;
  m->origin_session = session_ ? session_->id() : 0;
  if (version() == ProtocolVersion::V5) {
    m->properties = will_->properties;
    m->properties.will_delay_interval.reset();
    if (auto e = m->properties.message_expiry_interval) {
      m->expires_at = Clock::now() + std::chrono::seconds(*e);
      m->properties.message_expiry_interval.reset();
    }
  }
  return m;
}

void Client::release_will() {
  if (!will_) return;
  uint32_t delay = 0;
  if (version() == ProtocolVersion::V5 && !will_now_) delay = will_->properties.will_delay_interval.value_or(0);
  MessagePtr msg = make_will_message();
  will_.reset();
  if (delay == 0) {
    worker_.publish_will(msg);
  } else if (session_) {
    // Published when the delay ends or the session ends, whichever is first;
    // cancelled if the client reconnects to the session before.
    if (session_expiry_ == 0) {
      worker_.publish_will(msg);
    } else {
      session_->will = std::make_unique<PendingWill>(
          PendingWill{msg, Clock::now() + std::chrono::seconds(std::min(delay, session_expiry_))});
    }
  }
  // Taken over with a will delay: the session lives on, so the will is not sent.
}

void Client::check_timeouts(Clock::time_point now) {
  switch (state_) {
    case State::AwaitConnect:
      if (now - state_since_ > worker_.broker().config().connect_timeout) close_now();
      break;
    case State::Connected:
      // MQTT: one and a half times the keep alive without a packet.
      if (keepalive_ != 0 && now - last_rx_ > std::chrono::milliseconds(uint64_t{keepalive_} * 1500)) {
        disconnect(ReasonCode::KeepAliveTimeout, "keep alive timeout");
      } else if (!writing_ && out_.empty() && proto_.buffered() == 0) {
        // Idle: give back buffers so that a quiet device costs little memory.
        proto_.shrink();
        if (out_.capacity() > 0) std::string().swap(out_);
        if (session_) session_->shrink();
      }
      break;
    case State::Closing:
      if (now - state_since_ > kClosingGrace) close_now();
      break;
    default:
      break;
  }
}

}  // namespace fg::broker
