"""Protocol violations from a raw socket. Each one closes only the offending
connection, with the MQTT 5 reason code where the spec gives one (3.1.1 has
no server DISCONNECT: the connection is just closed), and the broker keeps
serving everybody else.

Expectations:
  SILENT               closed without any packet;
  disconnect(codes)    exactly one DISCONNECT with one of these reason codes, then closed;
  refused(codes)       closed, optionally after one CONNACK with one of these codes
                       (a server MAY answer a bad CONNECT before closing).
"""

from dataclasses import dataclass, field

import pytest

import rawmqtt
from rawmqtt import (CONNACK, DISCONNECT, PUBCOMP, PUBLISH, V311, V5, connect_packet, mqtt_str, packet,
                     publish_packet, properties, subscribe_packet, subscription_options, u16, varint)


@dataclass
class Expect:
    kind: str
    codes: tuple = field(default_factory=tuple)


SILENT = Expect("silent")


def disconnect(*codes):
    return Expect("disconnect", codes)


def refused(*codes):
    return Expect("refused", codes)


@dataclass
class Case:
    id: str
    version: int
    connect_first: bool
    data: bytes
    expect: Expect
    broker_bug: str = ""  # known broker misbehaviour: the case is a strict xfail

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=f"broker bug: {self.broker_bug}")] if self.broker_bug else []
        return pytest.param(self, id=self.id, marks=marks)


def raw_publish(topic_bytes, payload=b"x", flags=0, version=V5, props=b"\x00", packet_id=b""):
    body = u16(len(topic_bytes)) + topic_bytes + packet_id
    if version == V5:
        body += props
    return packet(rawmqtt.PUBLISH, flags, body + payload)


def raw_connect(version, flags, tail=b"", client_id="pe", props=b"\x00"):
    body = mqtt_str("MQTT") + bytes([version, flags]) + u16(60)
    if version == V5:
        body += props
    return packet(rawmqtt.CONNECT, 0, body + mqtt_str(client_id) + tail)


def both(id, data_v5, data_v311, v5_expect):
    """The same violation after CONNECT in both versions."""
    return [Case(f"{id}-v5", V5, True, data_v5, v5_expect),
            Case(f"{id}-v311", V311, True, data_v311, SILENT)]


CASES = [
    # ---- before (or instead of) CONNECT
    Case("publish-before-connect", V5, False, publish_packet("a/b", b"x"), SILENT),
    Case("pingreq-before-connect", V311, False, packet(rawmqtt.PINGREQ, 0, b""), SILENT),
    Case("subscribe-before-connect", V5, False, subscribe_packet(1, [("a", 0)]), SILENT),
    # 'G' = 0x47 is a PUBACK fixed header, 'E' a remaining length of 69 that never comes.
    Case("http-request", V311, False, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", SILENT),
    Case("malformed-remaining-length-before-connect", V5, False, b"\x10\xff\xff\xff\xff\x01", SILENT),
    Case("protocol-level-6", V311, False, connect_packet("pe", version=6), refused(0x01)),
    Case("protocol-level-3-mqisdp", V311, False, connect_packet("pe", version=3, protocol_name="MQIsdp"),
         refused(0x01)),
    Case("wrong-protocol-name", V311, False, connect_packet("pe", version=4, protocol_name="MQTX"),
         refused(0x01)),
    Case("connect-reserved-flag-v311", V311, False, raw_connect(V311, 0x03), SILENT),
    Case("connect-reserved-flag-v5", V5, False, raw_connect(V5, 0x03), refused(0x81)),
    Case("connect-will-qos-3-v5", V5, False,
         raw_connect(V5, 0x02 | 0x04 | 0x18, tail=b"\x00" + mqtt_str("w") + mqtt_str("x")), refused(0x81)),
    Case("connect-will-retain-without-will-v311", V311, False, raw_connect(V311, 0x02 | 0x20), SILENT),
    Case("connect-password-without-username-v311", V311, False,
         raw_connect(V311, 0x02 | 0x40, tail=mqtt_str("secret")), SILENT),
    Case("connect-truncated-v5", V5, False, packet(rawmqtt.CONNECT, 0, mqtt_str("MQTT") + b"\x05\x02\x00"),
         refused(0x81)),
    Case("connect-bad-property-length-v5", V5, False, raw_connect(V5, 0x02, props=b"\x7f"), refused(0x81)),
    Case("connect-receive-maximum-0", V5, False, connect_packet("pe", props={"ReceiveMaximum": 0}),
         refused(0x82)),
    Case("connect-maximum-packet-size-0", V5, False, connect_packet("pe", props={"MaximumPacketSize": 0}),
         refused(0x82)),
    Case("connect-will-topic-with-wildcard", V5, False,
         connect_packet("pe", will={"topic": "w/#", "payload": b"x"}), refused(0x90, 0x82)),
    Case("connect-reserved-flags-in-fixed-header", V311, False,
         bytes([0x11]) + connect_packet("pe", version=4)[1:], SILENT),

    # ---- after CONNECT
    *both("second-connect", connect_packet("pe2", V5), connect_packet("pe2", V311), disconnect(0x82)),
    *both("malformed-remaining-length", b"\x30\xff\xff\xff\xff\x01", b"\x30\xff\xff\xff\xff\x01",
          disconnect(0x81)),
    *both("invalid-utf8-topic", raw_publish(b"a/\xff"), raw_publish(b"a/\xff", version=V311),
          disconnect(0x81)),
    *both("nul-in-topic", raw_publish(b"a/\x00b"), raw_publish(b"a/\x00b", version=V311), disconnect(0x81)),
    *both("utf16-surrogate-in-topic", raw_publish(b"a/\xed\xa0\x80"),
          raw_publish(b"a/\xed\xa0\x80", version=V311), disconnect(0x81)),
    *both("publish-qos-3", raw_publish(b"a/b", flags=0x06, packet_id=b"\x00\x01"),
          raw_publish(b"a/b", flags=0x06, packet_id=b"\x00\x01", version=V311), disconnect(0x81)),
    *both("publish-wildcard-topic", publish_packet("a/+"), publish_packet("a/#", version=V311),
          disconnect(0x90, 0x82)),
    *both("publish-empty-topic", publish_packet(""), raw_publish(b"", version=V311), disconnect(0x82)),
    *both("publish-qos1-packet-id-0", publish_packet("a/b", qos=1, packet_id=0),
          publish_packet("a/b", qos=1, packet_id=0, version=V311), disconnect(0x81, 0x82)),
    *both("subscribe-reserved-flags", packet(rawmqtt.SUBSCRIBE, 0, subscribe_packet(1, [("a", 0)])[2:]),
          packet(rawmqtt.SUBSCRIBE, 0, subscribe_packet(1, [("a", 0)], V311)[2:]), disconnect(0x81)),
    *both("pubrel-reserved-flags", packet(rawmqtt.PUBREL, 0, u16(1)), packet(rawmqtt.PUBREL, 0, u16(1)),
          disconnect(0x81)),
    *both("pingreq-reserved-flags", packet(rawmqtt.PINGREQ, 1, b""), packet(rawmqtt.PINGREQ, 1, b""),
          disconnect(0x81)),
    *both("subscribe-without-filters", packet(rawmqtt.SUBSCRIBE, 2, u16(1) + b"\x00"),
          packet(rawmqtt.SUBSCRIBE, 2, u16(1)), disconnect(0x82, 0x81)),
    *both("subscribe-qos-3", subscribe_packet(1, [("a", 3)]), subscribe_packet(1, [("a", 3)], V311),
          disconnect(0x81)),
    *both("unsubscribe-without-filters", packet(rawmqtt.UNSUBSCRIBE, 2, u16(1) + b"\x00"),
          packet(rawmqtt.UNSUBSCRIBE, 2, u16(1)), disconnect(0x82, 0x81)),
    *both("reserved-packet-type-0", b"\x00\x00", b"\x00\x00", disconnect(0x81)),
    *both("client-sends-connack", b"\x20\x03\x00\x00\x00", b"\x20\x02\x00\x00", disconnect(0x81, 0x82)),
    *both("truncated-topic", packet(rawmqtt.PUBLISH, 0, b"\x00\x10ab"), packet(rawmqtt.PUBLISH, 0, b"\x00\x10ab"),
          disconnect(0x81)),
    Case("subscribe-options-reserved-bits", V5, True, subscribe_packet(1, [("a", 0xC1)]), disconnect(0x81)),
    Case("subscribe-retain-handling-3", V5, True,
         subscribe_packet(1, [("a", subscription_options(qos=1, retain_handling=3))]), disconnect(0x81, 0x82)),
    Case("property-not-allowed-in-publish", V5, True,
         raw_publish(b"a/b", props=properties({"SessionExpiryInterval": 5})), disconnect(0x81)),
    Case("unknown-property", V5, True, raw_publish(b"a/b", props=b"\x02\x7f\x00"), disconnect(0x81)),
    Case("duplicate-property", V5, True,
         raw_publish(b"a/b", props=varint(10) + b"\x03\x00\x02ab" + b"\x03\x00\x02cd"), disconnect(0x82)),
    Case("auth-without-authentication-method", V5, True, b"\xf0\x00", disconnect(0x82)),
    Case("subscription-identifier-0", V5, True,
         subscribe_packet(1, [("a", 0)], props={"SubscriptionIdentifier": 0}), disconnect(0x82)),
    Case("response-topic-with-wildcard", V5, True,
         publish_packet("a/b", props={"ResponseTopic": "reply/+"}), disconnect(0x82)),
    Case("disconnect-sets-session-expiry-after-zero", V5, True,
         rawmqtt.disconnect_packet(props={"SessionExpiryInterval": 30}), disconnect(0x82)),
    Case("disconnect-reserved-flags", V5, True, packet(rawmqtt.DISCONNECT, 1, b"\x00\x00"), disconnect(0x81)),
    Case("property-length-overruns-packet", V5, True, raw_publish(b"a/b", props=b"\x20", payload=b""),
         disconnect(0x81)),
]


def assert_broker_serves(raw_client):
    s = raw_client()
    s.connect("alive-sub")
    s.subscribe([("alive/check", 1)])
    p = raw_client()
    p.connect("alive-pub")
    p.publish_and_ack("alive/check", b"still here", qos=1)
    assert s.expect(PUBLISH).payload == b"still here"


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_protocol_violation_closes_only_that_connection(broker, raw_client, case):
    bystander = raw_client(case.version)
    bystander.connect("bystander")

    c = raw_client(case.version)
    if case.connect_first:
        c.connect("offender")
    c.send(case.data)
    packets = c.recv_until_closed(timeout=3)
    summary = [(p.name, p.reason) for p in packets]

    e = case.expect
    if e.kind == "silent":
        assert packets == [], f"expected a silent close, got {packets!r}"
    elif e.kind == "disconnect":
        assert len(packets) == 1 and packets[0].type == DISCONNECT and packets[0].reason in e.codes, (
            f"expected DISCONNECT with one of {[hex(x) for x in e.codes]}, got {packets!r}")
    else:
        assert len(packets) <= 1, summary
        if packets:
            p = packets[0]
            assert p.type == CONNACK and p.reason in e.codes, (
                f"expected CONNACK with one of {[hex(x) for x in e.codes]} or a silent close, got {p!r}")
            if case.version == V311:
                assert len(p.raw) == 4, f"3.1.1 CONNACK expected: {p!r}"

    # The other connection and new ones are unaffected.
    bystander.ping()
    assert_broker_serves(raw_client)


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_pubrel_for_unknown_packet_id_is_answered_not_fatal(broker, raw_client, version):
    c = raw_client(version)
    c.connect("pubrel-unknown")
    c.send(rawmqtt.ack_packet(rawmqtt.PUBREL, 99, version=version))
    comp = c.expect(PUBCOMP, packet_id=99)
    if version == V5:
        assert comp.reason == 0x92  # Packet Identifier not found
    c.ping()


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_packets_split_across_writes_are_reassembled(broker, raw_client, version):
    s = raw_client(version)
    s.connect("split-sub")
    s.subscribe([("split/t", 1)])
    c = raw_client(version)
    data = connect_packet("split", version) + publish_packet("split/t", b"p" * 300, qos=1, packet_id=1,
                                                              version=version)
    for i in range(len(data)):
        c.send(data[i:i + 1])
    assert c.recv().type == CONNACK
    assert c.expect(rawmqtt.PUBACK).packet_id == 1
    assert s.expect(PUBLISH).payload == b"p" * 300


@pytest.mark.parametrize("version", [V311, V5], ids=["v311", "v5"])
def test_many_packets_in_one_write_are_all_processed(broker, raw_client, version):
    s = raw_client(version)
    s.connect("batch-sub")
    s.subscribe([("batch/t", 1)])
    c = raw_client(version)
    data = connect_packet("batch", version) + b"".join(
        publish_packet("batch/t", str(i).encode(), qos=1, packet_id=i + 1, version=version) for i in range(50))
    c.send(data)
    assert c.recv().type == CONNACK
    assert [c.expect(rawmqtt.PUBACK).packet_id for _ in range(50)] == list(range(1, 51))
    got = []
    for _ in range(50):
        m = s.expect(PUBLISH)
        s.ack(m)
        got.append(m.payload)
    assert got == [str(i).encode() for i in range(50)]
