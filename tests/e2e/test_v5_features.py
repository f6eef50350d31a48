"""MQTT 5 features: topic aliases both ways, flow control (Receive Maximum),
Maximum Packet Size both ways, forwarded message properties, subscription
identifiers, No Local and the payload format indicator."""

import pytest

import rawmqtt
from rawmqtt import DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREL, ack_packet
from fgtest import PacketTypes, SubscribeOptions, mosquitto_pub, payloads, props


def publish_props(**values):
    return props(PacketTypes.PUBLISH, **values)


# ---------------------------------------------------------------- topic aliases

def test_client_to_server_topic_alias(broker, paho_client, sub):
    s = sub("ta/#", version=5, qos=1, count=4).wait_subscribed()
    p = paho_client("ta-pub")
    _, _, connack = p.connect()
    assert connack.TopicAliasMaximum >= 1
    p.publish("ta/in", b"first", qos=1, properties=publish_props(TopicAlias=1))
    p.publish("", b"second", qos=1, properties=publish_props(TopicAlias=1))
    p.publish("ta/other", b"third", qos=1, properties=publish_props(TopicAlias=1))  # rebinds alias 1
    p.publish("", b"fourth", qos=1, properties=publish_props(TopicAlias=1))
    got = s.wait_messages(4)
    assert [(m.topic, m.payload) for m in got] == [
        ("ta/in", "first"), ("ta/in", "second"), ("ta/other", "third"), ("ta/other", "fourth")]


@pytest.mark.broker_args("--topic-alias-maximum", "2")
def test_topic_alias_above_the_maximum_is_refused(broker, raw_client):
    c = raw_client()
    ack = c.connect("ta-max")
    assert ack.props["TopicAliasMaximum"] == 2
    c.publish("ta/x", b"ok", qos=1, props={"TopicAlias": 2})
    c.expect(PUBACK)
    c.publish("ta/x", b"too high", qos=1, props={"TopicAlias": 3})
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x94)]


def test_unknown_topic_alias_is_a_protocol_error(broker, raw_client):
    c = raw_client()
    c.connect("ta-unknown")
    c.publish("", b"which topic?", qos=0, props={"TopicAlias": 1})
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x82)]


def test_topic_alias_zero_is_refused(broker, raw_client):
    c = raw_client()
    c.connect("ta-zero")
    c.publish("ta/z", b"x", qos=0, props={"TopicAlias": 0})
    # 3.3.2.3.4: alias 0 is not permitted. Topic Alias Invalid (0x94) or the
    # generic Protocol Error (0x82) both tell the client what it did wrong.
    [d] = c.recv_until_closed()
    assert d.type == DISCONNECT and d.reason in (0x82, 0x94), d


def test_server_to_client_topic_aliases(broker, raw_client):
    s = raw_client()
    s.connect("ta-sub", props={"TopicAliasMaximum": 2})
    s.subscribe([("tb/#", 0)])
    p = raw_client()
    p.connect("tb-pub")
    topics = ["tb/a", "tb/a", "tb/b", "tb/c", "tb/c", "tb/a", "tb/b"]
    for i, t in enumerate(topics):
        p.publish_and_ack(t, str(i).encode(), qos=1)
    got = [s.expect(PUBLISH) for _ in topics]  # the raw client resolves aliases
    assert [(m.topic, m.payload) for m in got] == [(t, str(i).encode()) for i, t in enumerate(topics)]
    aliases = [m.props.get("TopicAlias") for m in got]
    assert all(a is None or 1 <= a <= 2 for a in aliases), aliases
    # The repeated topic was sent as an alias alone (empty topic name on the wire).
    assert got[1].raw[2:4] == b"\x00\x00", f"second PUBLISH to tb/a carries its topic: {got[1]!r}"
    assert aliases[1] == aliases[0] is not None


def test_no_topic_alias_towards_a_client_that_did_not_ask(broker, raw_client):
    s = raw_client()
    s.connect("ta-none")
    s.subscribe([("tn/#", 0)])
    p = raw_client()
    p.connect("tn-pub")
    for _ in range(3):
        p.publish_and_ack("tn/t", b"x", qos=1)
    for _ in range(3):
        m = s.expect(PUBLISH)
        assert m.topic == "tn/t" and "TopicAlias" not in m.props


# ---------------------------------------------------------------- flow control

def test_receive_maximum_limits_unacknowledged_qos1_messages(broker, raw_client):
    s = raw_client()
    s.connect("rm-sub", props={"ReceiveMaximum": 2})
    s.subscribe([("rm/t", 1)])
    p = raw_client()
    p.connect("rm-pub")
    for i in range(5):
        p.publish_and_ack("rm/t", str(i).encode(), qos=1)

    first = [s.expect(PUBLISH), s.expect(PUBLISH)]
    assert [m.payload for m in first] == [b"0", b"1"]
    s.ping()  # the PINGRESP overtakes nothing: no third PUBLISH was written before it
    s.nothing_for(0.5)  # two unacknowledged: the window is full
    s.ack(first[0])
    third = s.expect(PUBLISH)
    assert third.payload == b"2"
    s.nothing_for(0.3)
    s.ack(first[1])
    s.ack(third)
    rest = [s.expect(PUBLISH), s.expect(PUBLISH)]
    assert [m.payload for m in rest] == [b"3", b"4"]
    for m in rest:
        s.ack(m)
    s.ping()  # nothing else was pending


def test_receive_maximum_counts_qos2_until_pubcomp(broker, raw_client):
    s = raw_client()
    s.connect("rm2-sub", props={"ReceiveMaximum": 1})
    s.subscribe([("rm2/t", 2)])
    p = raw_client()
    p.connect("rm2-pub")
    for i in range(2):
        p.publish_and_ack("rm2/t", str(i).encode(), qos=2)

    m0 = s.expect(PUBLISH, payload=b"0")
    s.ack(m0)  # PUBREC
    s.expect(PUBREL, packet_id=m0.packet_id)
    s.ping()
    s.nothing_for(0.3)  # still in flight until PUBCOMP
    s.send(ack_packet(PUBCOMP, m0.packet_id))
    s.expect(PUBLISH, payload=b"1")


@pytest.mark.broker_args("--receive-maximum", "2")
def test_server_receive_maximum_is_enforced(broker, raw_client):
    c = raw_client()
    ack = c.connect("rm-in")
    assert ack.props["ReceiveMaximum"] == 2
    for i in range(2):
        c.publish("rmin/t", b"x", qos=2)
        c.expect(rawmqtt.PUBREC)
    c.publish("rmin/t", b"one too many", qos=2)  # no PUBREL sent for the first two
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x93)]


# ---------------------------------------------------------------- maximum packet size

def test_message_larger_than_client_maximum_packet_size_is_not_sent(broker, raw_client, sub):
    small = raw_client()
    small.connect("mps-small", props={"MaximumPacketSize": 128})
    small.subscribe([("mps/#", 1)])
    other = sub("mps/#", version=5, qos=1, count=2).wait_subscribed()
    mosquitto_pub(broker.port, "mps/big", "x" * 500, version=5, qos=1)
    mosquitto_pub(broker.port, "mps/small", "fits", version=5, qos=1)
    m = small.expect(PUBLISH)
    assert (m.topic, m.payload) == ("mps/small", b"fits")
    assert len(m.raw) <= 128
    small.ack(m)
    # The big one was routed: a client without the limit got it.
    assert [(m.topic, len(m.payload)) for m in other.wait_messages(2)] == [("mps/big", 500), ("mps/small", 4)]


@pytest.mark.broker_args("--max-packet-size", "1024")
def test_oversized_inbound_packet_closes_v5_connection_with_0x95(broker, raw_client):
    c = raw_client()
    ack = c.connect("mps-in")
    assert ack.props["MaximumPacketSize"] == 1024
    c.publish_and_ack("mps/in", b"y" * 900, qos=1)  # under the limit: fine
    c.publish("mps/in", b"z" * 2000, qos=1)
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x95)]
    # The broker still serves others.
    mosquitto_pub(broker.port, "mps/after", "ok", version=5, qos=1)


@pytest.mark.broker_args("--max-packet-size", "1024")
def test_oversized_inbound_packet_closes_v311_connection(broker, raw_client):
    c = raw_client(rawmqtt.V311)
    c.connect("mps-in-311")
    c.publish("mps/in", b"z" * 2000, qos=1)
    assert c.recv_until_closed() == []


@pytest.mark.broker_args("--max-packet-size", "1024")
def test_oversized_packet_is_refused_from_its_header_alone(broker, raw_client):
    """The broker does not wait for (or buffer) the body of a packet it will refuse."""
    c = raw_client()
    c.connect("mps-hdr")
    c.send(bytes([0x30]) + rawmqtt.varint(10_000_000))
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x95)]


# ---------------------------------------------------------------- properties

def test_message_properties_are_forwarded(broker, paho_client):
    s = paho_client("props-sub")
    s.connect()
    s.subscribe("props/t", qos=1)
    p = paho_client("props-pub")
    p.connect()
    pp = publish_props(PayloadFormatIndicator=1, ContentType="application/json",
                       ResponseTopic="props/reply", CorrelationData=b"\x00\xffid-42")
    pp.UserProperty = [("region", "eu"), ("region", "us"), ("priority", "high")]
    p.publish("props/t", b'{"temp": 21}', qos=1, properties=pp)
    [m] = s.wait_messages(1)
    assert m.payload == b'{"temp": 21}'
    mp = m.properties
    assert mp.PayloadFormatIndicator == 1
    assert mp.ContentType == "application/json"
    assert mp.ResponseTopic == "props/reply"
    assert mp.CorrelationData == b"\x00\xffid-42"
    # Order and duplicates of user properties are preserved.
    assert mp.UserProperty == [("region", "eu"), ("region", "us"), ("priority", "high")]


def test_request_response_with_response_topic_and_correlation_data(broker, paho_client):
    responder = paho_client("rr-responder")
    responder.connect()
    responder.subscribe("rr/request", qos=1)
    requester = paho_client("rr-requester")
    requester.connect()
    requester.subscribe("rr/response/requester", qos=1)
    requester.publish("rr/request", b"ping", qos=1,
                      properties=publish_props(ResponseTopic="rr/response/requester", CorrelationData=b"c-1"))
    [req] = responder.wait_messages(1)
    responder.publish(req.properties.ResponseTopic, b"pong", qos=1,
                      properties=publish_props(CorrelationData=req.properties.CorrelationData))
    [resp] = requester.wait_messages(1)
    assert (resp.payload, resp.properties.CorrelationData) == (b"pong", b"c-1")


def test_properties_are_dropped_for_v311_subscribers(broker, paho_client, sub):
    s = sub("propsv3/t", version=311, qos=1, count=1).wait_subscribed()
    p = paho_client("propsv3-pub")
    p.connect()
    pp = publish_props(ContentType="text/plain")
    pp.UserProperty = [("k", "v")]
    p.publish("propsv3/t", b"plain payload", qos=1, properties=pp)
    [m] = s.wait_messages(1)
    assert (m.topic, m.payload) == ("propsv3/t", "plain payload")


def test_invalid_utf8_payload_with_format_indicator_is_refused(broker, raw_client, sub):
    watcher = sub("pfi/#", version=5, qos=1).wait_subscribed()
    c = raw_client()
    c.connect("pfi")
    ack = c.publish_and_ack("pfi/t", b"\xff\xfe not utf-8", qos=1, props={"PayloadFormatIndicator": 1})
    assert ack.reason == 0x99  # Payload format invalid
    c.publish_and_ack("pfi/t", b"\xff\xfe binary is fine", qos=1, props={"PayloadFormatIndicator": 0})
    c.publish_and_ack("pfi/t", "valid ✓".encode(), qos=1, props={"PayloadFormatIndicator": 1})
    got = watcher.wait_messages(2)
    assert [m.payload for m in got][1] == "valid ✓"


# ---------------------------------------------------------------- subscription identifiers

def test_subscription_identifiers_are_delivered(broker, paho_client):
    c = paho_client("sid")
    _, _, connack = c.connect()
    assert getattr(connack, "SubscriptionIdentifierAvailable", 1) == 1
    c.subscribe("sid/a", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
    c.subscribe("sid/#", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=300_000))
    c.subscribe("sid/+/none", qos=1)
    p = paho_client("sid-pub")
    p.connect()

    p.publish("sid/b", b"only-hash", qos=1)
    p.publish("sid/x/none", b"no-id-and-hash", qos=1)
    p.publish("sid/a", b"both", qos=1)
    p.publish("sid/end", b"end", qos=1)
    got = c.wait_until(lambda m: m.payload == b"end", what="the sentinel")

    def ids(payload):
        # One copy carrying both identifiers, or one copy per subscription.
        return sorted(i for m in got if m.payload == payload
                      for i in getattr(m.properties, "SubscriptionIdentifier", []))

    assert ids(b"only-hash") == [300_000]
    assert ids(b"both") == [7, 300_000]
    # Matched by a subscription without an identifier and by sid/# (300000):
    # the copy for the identifier-less subscription carries none.
    copies = [m for m in got if m.payload == b"no-id-and-hash"]
    assert ids(b"no-id-and-hash") == [300_000]
    if len(copies) == 2:
        assert sorted(len(getattr(m.properties, "SubscriptionIdentifier", [])) for m in copies) == [0, 1]


def test_subscription_identifier_on_retained_delivery(broker, paho_client):
    p = paho_client("sidr-pub")
    p.connect()
    p.publish("sidr/t", b"kept", qos=1, retain=True)
    c = paho_client("sidr")
    c.connect()
    c.subscribe("sidr/t", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=42))
    [m] = c.wait_messages(1)
    assert (m.payload, m.retain, m.properties.SubscriptionIdentifier) == (b"kept", 1, [42])


def test_client_may_not_send_subscription_identifier_in_publish(broker, raw_client):
    c = raw_client()
    c.connect("sid-bad")
    c.publish("sid/bad", b"x", qos=0, props={"SubscriptionIdentifier": 5})
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x82)]


# ---------------------------------------------------------------- no local

def test_no_local(broker, paho_client):
    me = paho_client("nl-me")
    me.connect()
    me.subscribe("nl/t", options=SubscribeOptions(qos=1, noLocal=True))
    other = paho_client("nl-other")
    other.connect()
    other.subscribe("nl/t", qos=1)

    me.publish("nl/t", b"from me", qos=1)
    other.publish("nl/t", b"from other", qos=1)

    assert payloads(other.wait_messages(2)) == ["from me", "from other"]
    got = me.wait_until(lambda m: m.payload == b"from other", what="the other client's message")
    assert payloads(got) == ["from other"]


def test_without_no_local_a_client_receives_its_own_messages(broker, paho_client):
    me = paho_client("nl-off")
    me.connect()
    me.subscribe("nl2/t", options=SubscribeOptions(qos=1, noLocal=False))
    me.publish("nl2/t", b"echo", qos=1)
    assert payloads(me.wait_messages(1)) == ["echo"]


def test_no_local_on_shared_subscription_is_a_protocol_error(broker, raw_client):
    c = raw_client()
    c.connect("nl-shared")
    c.send(rawmqtt.subscribe_packet(1, [("$share/g/nl/t", rawmqtt.subscription_options(qos=1, no_local=True))]))
    assert [(p.type, p.reason) for p in c.recv_until_closed()] == [(DISCONNECT, 0x82)]
