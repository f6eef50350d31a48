"""QoS 1 and 2 guarantees end to end: exactly once for QoS 2 (including when
the publisher or the subscriber loses its connection in the middle of the
handshake) and redelivery of unacknowledged QoS 1 messages."""

import collections

import pytest

import rawmqtt
from rawmqtt import PUBCOMP, PUBLISH, PUBREC, PUBREL, ack_packet
from fgtest import payloads


@pytest.mark.parametrize("version", [311, 5], ids=["v311", "v5"])
def test_qos2_exactly_once_with_paho(broker, paho_client, version):
    s = paho_client("eo-sub", version=version)
    s.connect()
    assert s.subscribe("eo/t", qos=2) == [2]
    p = paho_client("eo-pub", version=version)
    p.connect()
    n = 100
    infos = [p.client.publish("eo/t", f"m{i}".encode(), qos=2) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    p.publish("eo/t", b"end", qos=2)
    got = s.wait_until(lambda m: m.payload == b"end", timeout=10, what="the sentinel")
    counts = collections.Counter(payloads(got))
    assert counts == collections.Counter([f"m{i}" for i in range(n)] + ["end"])
    assert all(m.qos == 2 for m in got)


def test_qos2_resent_publish_is_routed_once(broker, raw_client, paho_client):
    """A publisher that resends a QoS 2 PUBLISH (DUP) before PUBREL, on the same
    connection and again after reconnecting, has it delivered once."""
    s = paho_client("eo2-sub")
    s.connect()
    s.subscribe("eo2/t", qos=2)

    pub = raw_client()
    pub.connect("eo2-pub", clean_start=True, props={"SessionExpiryInterval": 60})
    pub.publish("eo2/t", b"once", qos=2, packet_id=7)
    pub.expect(PUBREC, packet_id=7)
    pub.publish("eo2/t", b"once", qos=2, packet_id=7, dup=True)
    pub.expect(PUBREC, packet_id=7)
    pub.close()  # connection lost before PUBREL

    pub = raw_client()
    ack = pub.connect("eo2-pub", clean_start=False, props={"SessionExpiryInterval": 60})
    assert ack.session_present
    pub.publish("eo2/t", b"once", qos=2, packet_id=7, dup=True)
    pub.expect(PUBREC, packet_id=7)
    pub.send(ack_packet(PUBREL, 7))
    pub.expect(PUBCOMP, packet_id=7, reason=0)
    pub.publish_and_ack("eo2/t", b"end", qos=2)

    got = s.wait_until(lambda m: m.payload == b"end", what="the sentinel")
    assert payloads(got) == ["once", "end"]


def test_qos2_subscriber_reconnecting_after_pubrec_gets_pubrel_not_publish(broker, raw_client):
    sub = raw_client()
    sub.connect("eo3-sub", props={"SessionExpiryInterval": 60})
    sub.subscribe([("eo3/t", 2)])
    pub = raw_client()
    pub.connect("eo3-pub")
    pub.publish_and_ack("eo3/t", b"one", qos=2)

    m = sub.expect(PUBLISH, payload=b"one", qos=2)
    sub.ack(m)  # PUBREC
    rel = sub.expect(PUBREL, packet_id=m.packet_id)
    assert rel.flags == 0x02
    sub.close()  # gone before sending PUBCOMP

    sub = raw_client()
    assert sub.connect("eo3-sub", clean_start=False, props={"SessionExpiryInterval": 60}).session_present
    # The broker resumes with PUBREL: the message itself is not sent again.
    sub.expect(PUBREL, packet_id=m.packet_id)
    sub.send(ack_packet(PUBCOMP, m.packet_id))
    pub.publish_and_ack("eo3/t", b"two", qos=2)
    nxt = sub.expect(PUBLISH)
    assert nxt.payload == b"two"


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5], ids=["v311", "v5"])
@pytest.mark.parametrize("qos", [1, 2])
def test_unacknowledged_message_is_redelivered_with_dup_after_reconnect(broker, raw_client, version, qos):
    session = {"SessionExpiryInterval": 60} if version == rawmqtt.V5 else None
    sub = raw_client(version)
    sub.connect("redeliver", clean_start=False, props=session)
    sub.subscribe([("rd/t", qos)])
    pub = raw_client(version)
    pub.connect("redeliver-pub")
    pub.publish_and_ack("rd/t", b"payload", qos=qos)
    first = sub.expect(PUBLISH, payload=b"payload", qos=qos, dup=False)
    sub.close()  # no PUBACK / PUBREC

    sub = raw_client(version)
    assert sub.connect("redeliver", clean_start=False, props=session).session_present
    again = sub.expect(PUBLISH, payload=b"payload", qos=qos, dup=True)
    assert again.topic == "rd/t"
    assert again.packet_id == first.packet_id
    sub.ack(again)
    if qos == 2:
        sub.expect(PUBREL, packet_id=again.packet_id)
        sub.send(ack_packet(PUBCOMP, again.packet_id, version=version))
    # Acknowledged: not sent a third time on the next reconnect.
    sub.ping()
    sub.close()
    sub = raw_client(version)
    assert sub.connect("redeliver", clean_start=False, props=session).session_present
    pub.publish_and_ack("rd/t", b"next", qos=qos)
    assert sub.expect(PUBLISH).payload == b"next"


def test_v5_publish_without_subscribers_is_acknowledged_with_no_matching_subscribers(broker, raw_client):
    c = raw_client()
    c.connect("nomatch")
    assert c.publish_and_ack("nobody/listens", b"x", qos=1).reason == 0x10
    assert c.publish_and_ack("nobody/listens", b"x", qos=2).reason == 0x10
    listener = raw_client()
    listener.connect("listener")
    listener.subscribe([("nobody/listens", 0)])
    assert c.publish_and_ack("nobody/listens", b"x", qos=1).reason == 0x00


def test_qos2_packet_id_is_reusable_after_pubcomp(broker, raw_client, paho_client):
    s = paho_client("reuse-sub")
    s.connect()
    s.subscribe("reuse/t", qos=2)
    c = raw_client()
    c.connect("reuse-pub")
    for payload in (b"first", b"second"):
        c.publish("reuse/t", payload, qos=2, packet_id=42)
        c.expect(PUBREC, packet_id=42)
        c.send(ack_packet(PUBREL, 42))
        c.expect(PUBCOMP, packet_id=42)
    assert payloads(s.wait_messages(2)) == ["first", "second"]


def test_pubrec_with_error_ends_the_qos2_flow(broker, raw_client):
    """v5 4.3.3: a PUBREC with a reason code >= 0x80 ends the exchange: no
    PUBREL, and the slot in the receive window is free again."""
    s = raw_client()
    s.connect("pubrec-err", props={"ReceiveMaximum": 1})
    s.subscribe([("pre/t", 2)])
    p = raw_client()
    p.connect("pubrec-err-pub")
    p.publish_and_ack("pre/t", b"refused", qos=2)
    p.publish_and_ack("pre/t", b"next", qos=2)
    m = s.expect(PUBLISH, payload=b"refused")
    s.send(ack_packet(PUBREC, m.packet_id, reason=0x80))
    nxt = s.expect(PUBLISH)  # not a PUBREL
    assert nxt.payload == b"next"


@pytest.mark.broker_args("--max-queued-messages", "5")
def test_online_queue_behind_a_full_inflight_window_is_bounded(broker, raw_client):
    s = raw_client()
    s.connect("obq", props={"ReceiveMaximum": 1})
    s.subscribe([("obq/t", 1)])
    p = raw_client()
    p.connect("obq-pub")
    for i in range(20):
        p.publish_and_ack("obq/t", str(i).encode(), qos=1)
    # One in flight plus five queued; the newest were dropped.
    got = []
    for _ in range(6):
        m = s.expect(PUBLISH)
        got.append(m.payload.decode())
        s.ack(m)
    assert got == [str(i) for i in range(6)], got
    # Drained: the next message is a new one, nothing of the 14 dropped.
    p.publish_and_ack("obq/t", b"after", qos=1)
    assert s.expect(PUBLISH).payload == b"after"
