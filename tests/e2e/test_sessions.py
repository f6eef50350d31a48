"""Sessions: persistence across connections (3.1.1 clean session, v5 session
expiry), client id takeover, assigned client ids, message expiry while
queued, and the bound on an offline session's queue."""

import time

import pytest

import rawmqtt
from rawmqtt import DISCONNECT, PUBLISH
from fgtest import PacketTypes, mosquitto_pub, payloads, props, let_time_pass


def v5_session(expiry):
    return props(PacketTypes.CONNECT, SessionExpiryInterval=expiry)


def test_v311_persistent_session_gets_messages_published_while_offline(broker, paho_client):
    c = paho_client("ps-311", version=311, clean_session=False)
    flags, _, _ = c.connect()
    assert flags["session present"] == 0
    c.subscribe("ps/t", qos=1)
    c.disconnect()

    for i in range(3):
        mosquitto_pub(broker.port, "ps/t", f"offline-{i}", qos=1)

    back = paho_client("ps-311", version=311, clean_session=False)
    flags, _, _ = back.connect()
    assert flags["session present"] == 1
    got = back.wait_messages(3)
    assert payloads(got) == ["offline-0", "offline-1", "offline-2"]
    assert all(m.topic == "ps/t" and m.qos == 1 for m in got)
    # The subscription itself is part of the session.
    mosquitto_pub(broker.port, "ps/t", "online", qos=1)
    assert payloads(back.wait_messages(4))[3] == "online"


def test_v311_persistent_session_with_mosquitto_sub(broker, sub):
    first = sub("ps2/t", version=311, qos=1, client_id="ps-mosq", extra=["-c"]).wait_subscribed()
    first.kill()
    # Once the broker has seen the connection go, messages are queued for the session;
    # the reconnecting client sees them whether or not the kill was noticed first.
    for i in range(3):
        mosquitto_pub(broker.port, "ps2/t", f"m{i}", qos=1)
    again = sub("ps2/t", version=311, qos=1, client_id="ps-mosq", count=3, extra=["-c"])
    assert [m.payload for m in again.wait_messages(3)] == ["m0", "m1", "m2"]
    assert again.finish() == 0


def test_v311_clean_session_discards_the_previous_session(broker, paho_client):
    c = paho_client("cs-311", version=311, clean_session=False)
    c.connect()
    c.subscribe("cs/t", qos=1)
    c.disconnect()
    mosquitto_pub(broker.port, "cs/t", "queued", qos=1)

    clean = paho_client("cs-311", version=311, clean_session=True)
    flags, _, _ = clean.connect()
    assert flags["session present"] == 0
    clean.disconnect()

    again = paho_client("cs-311", version=311, clean_session=False)
    flags, _, _ = again.connect()
    assert flags["session present"] == 0
    again.subscribe("cs/other", qos=1)
    mosquitto_pub(broker.port, "cs/t", "after", qos=1)
    mosquitto_pub(broker.port, "cs/other", "sentinel", qos=1)
    got = again.wait_until(lambda m: m.payload == b"sentinel", what="the sentinel")
    assert payloads(got) == ["sentinel"]


def test_v5_session_survives_within_its_expiry_interval(broker, paho_client):
    c = paho_client("se-1")
    flags, _, _ = c.connect(clean_start=False, properties=v5_session(2))
    assert flags["session present"] == 0
    c.subscribe("se/t", qos=1)
    c.disconnect()
    disconnected_at = time.monotonic()
    mosquitto_pub(broker.port, "se/t", "while away", version=5, qos=1)

    back = paho_client("se-1")
    flags, _, _ = back.connect(clean_start=False, properties=v5_session(2))
    assert time.monotonic() - disconnected_at < 2, "reconnected too late for this test"
    assert flags["session present"] == 1
    assert payloads(back.wait_messages(1)) == ["while away"]


def test_v5_session_is_gone_after_its_expiry_interval(broker, paho_client, sub):
    # The session ends when its expiry passes; a will with a longer delay is
    # published at that moment, which tells the test when the session ended.
    watcher = sub("se2/ended", version=5, qos=1, count=1).wait_subscribed()
    c = paho_client("se-2")
    c.client.will_set("se2/ended", b"session over", qos=1,
                      properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=300))
    c.connect(clean_start=False, properties=v5_session(1))
    c.subscribe("se2/t", qos=1)
    dropped_at = time.monotonic()
    c.abort()
    mosquitto_pub(broker.port, "se2/t", "queued then lost", version=5, qos=1)
    watcher.wait_messages(1, timeout=6)
    assert time.monotonic() - dropped_at >= 0.95, "session ended before its 1s expiry"

    back = paho_client("se-2")
    flags, _, _ = back.connect(clean_start=False, properties=v5_session(60))
    assert flags["session present"] == 0
    back.subscribe("se2/sentinel", qos=1)
    mosquitto_pub(broker.port, "se2/t", "not subscribed any more", version=5, qos=1)
    mosquitto_pub(broker.port, "se2/sentinel", "s", version=5, qos=1)
    got = back.wait_until(lambda m: m.payload == b"s", what="the sentinel")
    assert payloads(got) == ["s"]


def test_v5_session_expiry_zero_ends_session_at_disconnect(broker, raw_client):
    c = raw_client()
    c.connect("se-3", clean_start=False)  # no Session Expiry Interval: 0
    c.subscribe([("se3/t", 1)])
    c.send(rawmqtt.disconnect_packet())
    assert c.recv_until_closed() == []
    again = raw_client()
    assert not again.connect("se-3", clean_start=False).session_present


def test_v5_session_expiry_can_be_shortened_at_disconnect(broker, raw_client):
    c = raw_client()
    c.connect("se-5", clean_start=False, props={"SessionExpiryInterval": 60})
    c.subscribe([("se5/t", 1)])
    c.send(rawmqtt.disconnect_packet(props={"SessionExpiryInterval": 0}))
    assert c.recv_until_closed() == []
    again = raw_client()
    assert not again.connect("se-5", clean_start=False).session_present


def test_v5_clean_start_discards_a_persistent_session(broker, raw_client):
    c = raw_client()
    c.connect("se-4", props={"SessionExpiryInterval": 60})
    c.subscribe([("se4/t", 1)])
    c.disconnect()
    again = raw_client()
    assert not again.connect("se-4", clean_start=True, props={"SessionExpiryInterval": 60}).session_present
    # The old subscription went with the old session.
    pub = raw_client()
    pub.connect("se4-pub")
    assert pub.publish_and_ack("se4/t", b"x", qos=1).reason == 0x10  # No matching subscribers


# ---------------------------------------------------------------- takeover

def test_v5_second_connection_with_same_client_id_takes_over(broker, raw_client):
    first = raw_client()
    first.connect("same-id", props={"SessionExpiryInterval": 60})
    first.subscribe([("to/t", 1)])
    second = raw_client()
    ack = second.connect("same-id", clean_start=False, props={"SessionExpiryInterval": 60})
    packets = first.recv_until_closed()
    assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x8E)]
    assert ack.session_present
    # The session, with its subscription, now belongs to the second connection.
    pub = raw_client()
    pub.connect("to-pub")
    pub.publish_and_ack("to/t", b"to the new owner", qos=1)
    m = second.expect(PUBLISH)
    assert (m.topic, m.payload) == ("to/t", b"to the new owner")


def test_v311_second_connection_with_same_client_id_takes_over(broker, raw_client):
    first = raw_client(rawmqtt.V311)
    first.connect("same-311")
    second = raw_client(rawmqtt.V311)
    second.connect("same-311")
    assert first.recv_until_closed() == []
    second.ping()


def test_takeover_by_mosquitto_client(broker, sub, raw_client):
    first = raw_client()
    first.connect("mosq-twin")
    s = sub("twin/t", version=5, client_id="mosq-twin").wait_subscribed()
    assert [(p.type, p.reason) for p in first.recv_until_closed()] == [(DISCONNECT, 0x8E)]
    assert s.proc.poll() is None


# ---------------------------------------------------------------- client ids

def test_v5_empty_client_id_gets_an_assigned_identifier(broker, raw_client):
    ids = set()
    for _ in range(2):
        c = raw_client()
        ack = c.connect("")
        assigned = ack.props.get("AssignedClientIdentifier")
        assert assigned, f"no Assigned Client Identifier in {ack!r}"
        ids.add(assigned)
    assert len(ids) == 2


def test_v5_empty_client_id_with_paho(broker, paho_client):
    c = paho_client("")
    _, rc, p = c.connect()
    assert rc == 0
    assert p.AssignedClientIdentifier


def test_v311_empty_client_id_with_clean_session(broker, raw_client):
    c = raw_client(rawmqtt.V311)
    ack = c.connect("", clean_start=True)
    assert ack.raw == bytes([0x20, 0x02, 0x00, 0x00])
    c.ping()


def test_v311_empty_client_id_without_clean_session_is_refused(broker, raw_client):
    c = raw_client(rawmqtt.V311)
    c.send(rawmqtt.connect_packet("", rawmqtt.V311, clean_start=False))
    packets = c.recv_until_closed()
    assert [p.raw for p in packets] == [bytes([0x20, 0x02, 0x00, 0x02])]


# ---------------------------------------------------------------- message expiry

def test_v5_message_expiry_while_queued(broker, paho_client):
    c = paho_client("me-1")
    c.connect(clean_start=False, properties=v5_session(60))
    c.subscribe("me/t", qos=1)
    c.disconnect()

    pub = paho_client("me-pub")
    pub.connect()
    published_at = time.monotonic()
    pub.publish("me/t", b"short", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish("me/t", b"long", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    pub.publish("me/t", b"forever", qos=1)
    let_time_pass(published_at + 2.0 - time.monotonic())

    back = paho_client("me-1")
    flags, _, _ = back.connect(clean_start=False, properties=v5_session(60))
    assert flags["session present"] == 1
    got = back.wait_messages(2)
    assert payloads(got) == ["long", "forever"]
    remaining = got[0].properties.MessageExpiryInterval
    # 60 minus the ~2 s spent queued (either rounding is fine), never the original 60.
    assert 50 <= remaining <= 59, f"expiry forwarded as {remaining}s after 2s in the queue"
    assert not hasattr(got[1].properties, "MessageExpiryInterval")
    pub.publish("me/t", b"sentinel", qos=1)
    assert payloads(back.wait_messages(3))[2] == "sentinel"


def test_v5_retained_message_expires(broker, paho_client):
    pub = paho_client("me2-pub")
    pub.connect()
    published_at = time.monotonic()
    pub.publish("me2/short", b"short", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish("me2/long", b"long", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    let_time_pass(published_at + 2.0 - time.monotonic())

    c = paho_client("me2-sub")
    c.connect()
    c.subscribe("me2/#", qos=1)
    pub.publish("me2/sentinel", b"s", qos=1)
    got = c.wait_until(lambda m: m.payload == b"s", what="the sentinel")
    assert [(m.topic, m.retain) for m in got] == [("me2/long", 1), ("me2/sentinel", 0)]
    assert 50 <= got[0].properties.MessageExpiryInterval <= 59


# ---------------------------------------------------------------- queue bound

@pytest.mark.broker_args("--max-queued-messages", "5")
def test_offline_queue_is_bounded_and_keeps_the_oldest(broker, paho_client):
    c = paho_client("qb-1", version=311, clean_session=False)
    c.connect()
    c.subscribe("qb/t", qos=1)
    c.disconnect()

    pub = paho_client("qb-pub")
    pub.connect()
    for i in range(20):
        pub.publish("qb/t", str(i).encode(), qos=1)

    back = paho_client("qb-1", version=311, clean_session=False)
    flags, _, _ = back.connect()
    assert flags["session present"] == 1
    pub.publish("qb/t", b"sentinel", qos=1)
    got = payloads(back.wait_until(lambda m: m.payload == b"sentinel", what="the sentinel"))
    queued = got[:-1]
    assert 1 <= len(queued) <= 5, f"{len(queued)} queued messages delivered with a bound of 5: {queued}"
    # Past the bound new messages are dropped: what was kept is the oldest, in order.
    assert queued == [str(i) for i in range(len(queued))]
