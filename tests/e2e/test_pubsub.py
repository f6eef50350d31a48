"""Publish/subscribe between real clients: QoS levels, both protocol versions,
wildcards and $-topics."""

import pytest

import rawmqtt
from fgtest import PacketTypes, mosquitto_pub, payloads, props

VERSIONS = [311, 5]


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_reaches_subscriber_at_each_qos(broker, sub, version, qos):
    s = sub("qos/test", version=version, qos=2, count=1).wait_subscribed()
    mosquitto_pub(broker.port, "qos/test", f"hello-{qos}", version=version, qos=qos)
    [m] = s.wait_messages(1)
    assert (m.topic, m.payload, m.qos, m.retain) == ("qos/test", f"hello-{qos}", qos, 0)
    assert s.finish() == 0


@pytest.mark.parametrize("pub_version,sub_version", [(311, 5), (5, 311)], ids=["v311-to-v5", "v5-to-v311"])
def test_versions_interoperate(broker, sub, pub_version, sub_version):
    s = sub("mixed/t", version=sub_version, qos=1, count=1).wait_subscribed()
    mosquitto_pub(broker.port, "mixed/t", "across versions", version=pub_version, qos=1)
    [m] = s.wait_messages(1)
    assert (m.topic, m.payload, m.qos) == ("mixed/t", "across versions", 1)


@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 0), (2, 1), (1, 0), (0, 2)])
def test_delivery_qos_is_the_minimum_of_publish_and_subscription(broker, sub, pub_qos, sub_qos):
    s = sub("downgrade/t", version=5, qos=sub_qos, count=1).wait_subscribed()
    mosquitto_pub(broker.port, "downgrade/t", "m", version=5, qos=pub_qos)
    [m] = s.wait_messages(1)
    assert m.qos == min(pub_qos, sub_qos)


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_wildcard_subscriptions(broker, sub, version):
    s = sub(["wc/+/temp", "wc/a/#"], version=version, qos=1).wait_subscribed()
    published = [
        "wc/x/temp",        # + matches one level
        "wc/x/temp/extra",  # + does not match two levels
        "wc/temp",          # + does not match zero levels
        "wc/a",             # # also matches the parent level
        "wc/a/b/c",         # # matches any depth
        "wc//temp",         # + matches an empty level
        "wcx/a/b",          # no partial-level matches
        "wc/b/humidity",
        "WC/x/temp",        # topics are case sensitive
        "wc/a/end",         # sentinel
    ]
    for t in published:
        mosquitto_pub(broker.port, t, f"to {t}", version=version, qos=1)
    got = s.wait_until(lambda m: m.topic == "wc/a/end", what="the sentinel")
    assert [(m.topic, m.payload) for m in got] == [
        (t, f"to {t}") for t in ["wc/x/temp", "wc/a", "wc/a/b/c", "wc//temp", "wc/a/end"]]


def test_multi_level_wildcard_alone_matches_everything_but_dollar_topics(broker, sub):
    everything = sub("#", version=5, qos=1).wait_subscribed()
    plus_first = sub("+/sys/#", version=5, qos=1).wait_subscribed()
    explicit = sub("$fg/#", version=5, qos=1).wait_subscribed()
    mosquitto_pub(broker.port, "$fg/sys/load", "dollar", version=5, qos=1)
    mosquitto_pub(broker.port, "x/sys/load", "plain", version=5, qos=1)

    # The message on the $-topic was routed: a filter starting with $fg gets it.
    [m] = explicit.wait_messages(1)
    assert (m.topic, m.payload) == ("$fg/sys/load", "dollar")
    # '#' and '+/...' do not match a topic starting with '$'.
    for s in (everything, plus_first):
        got = s.wait_until(lambda m: m.payload == "plain", what="the plain message")
        assert [(m.topic, m.payload) for m in got] == [("x/sys/load", "plain")]


def test_unsubscribe_stops_delivery(broker, paho_client):
    c = paho_client("unsub-1")
    c.connect()
    c.subscribe("unsub/a", qos=1)
    c.subscribe("unsub/b", qos=1)
    pub = paho_client("unsub-pub")
    pub.connect()
    pub.publish("unsub/a", b"1", qos=1)
    c.wait_messages(1)
    c.unsubscribe("unsub/a")
    pub.publish("unsub/a", b"2", qos=1)
    pub.publish("unsub/b", b"end", qos=1)
    got = c.wait_until(lambda m: m.payload == b"end", what="the sentinel")
    assert [(m.topic, m.payload) for m in got] == [("unsub/a", b"1"), ("unsub/b", b"end")]


def test_messages_from_one_publisher_arrive_in_order(broker, paho_client):
    s = paho_client("order-sub")
    s.connect()
    s.subscribe("order/t", qos=1)
    p = paho_client("order-pub")
    p.connect()
    n = 200
    infos = [p.client.publish("order/t", str(i).encode(), qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
    got = s.wait_messages(n, timeout=10)
    assert payloads(got) == [str(i) for i in range(n)]


def test_dollar_topics_are_not_retained_for_wildcard_subscribers(broker, sub):
    mosquitto_pub(broker.port, "$fg/state", "internal", version=5, qos=1, retain=True)
    mosquitto_pub(broker.port, "pub/state", "public", version=5, qos=1, retain=True)
    everything = sub("#", version=5, qos=1).wait_subscribed()
    mosquitto_pub(broker.port, "pub/sentinel", "s", version=5, qos=1)
    got = everything.wait_until(lambda m: m.payload == "s", what="the sentinel")
    assert [(m.topic, m.retain) for m in got] == [("pub/state", 1), ("pub/sentinel", 0)]
    explicit = sub("$fg/+", version=5, qos=1, count=1).wait_subscribed()
    assert [(m.topic, m.payload) for m in explicit.wait_messages(1)] == [("$fg/state", "internal")]


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_resubscribing_replaces_the_subscription(broker, paho_client, version):
    c = paho_client("resub", version=version)
    c.connect()
    c.subscribe("resub/t", qos=2)
    c.subscribe("resub/t", qos=0)  # same filter: replaces, does not add
    p = paho_client("resub-pub")
    p.connect()
    p.publish("resub/t", b"one", qos=2)
    p.publish("resub/t", b"end", qos=2)
    got = c.wait_until(lambda m: m.payload == b"end", what="the sentinel")
    assert [(m.payload, m.qos) for m in got] == [(b"one", 0), (b"end", 0)]


def test_resubscribing_updates_the_subscription_identifier(broker, paho_client):
    c = paho_client("resub-id")
    c.connect()
    c.subscribe("resubid/t", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=1))
    c.subscribe("resubid/t", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=2))
    p = paho_client("resub-id-pub")
    p.connect()
    p.publish("resubid/t", b"x", qos=1)
    [m] = c.wait_messages(1)
    assert m.properties.SubscriptionIdentifier == [2]


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5], ids=["v311", "v5"])
def test_invalid_topic_filters_fail_individually(broker, raw_client, version):
    c = raw_client(version)
    c.connect("bad-filters")
    filters = ["ok/+", "a/#/b", "a+/b", "", "#/x", "$share/g", "$share//t", "$share/g+/t", "ok/#"]
    ack = c.subscribe([(f, 1) for f in filters])
    fail = 0x8F if version == rawmqtt.V5 else 0x80  # Topic Filter invalid / 3.1.1 Failure
    assert ack.reasons == [1, fail, fail, fail, fail, fail, fail, fail, 1], [hex(r) for r in ack.reasons]
    c.ping()  # still connected


def test_fan_out_to_many_subscribers_on_all_workers(broker, raw_client):
    subs = []
    for i in range(24):
        s = raw_client()
        s.connect(f"fan-{i}")
        s.subscribe([("fan/t", 1)])
        subs.append(s)
    p = raw_client()
    p.connect("fan-pub")
    for i in range(5):
        p.publish_and_ack("fan/t", str(i).encode(), qos=1)
    for s in subs:
        got = []
        for _ in range(5):
            m = s.expect(rawmqtt.PUBLISH)
            s.ack(m)
            got.append(m.payload)
        assert got == [b"0", b"1", b"2", b"3", b"4"]



@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_large_payload_round_trip(broker, paho_client, tls):
    kw = {"port": broker.tls_port, "tls_cafile": broker.cert, "device": broker.device()} if tls else {}
    s = paho_client("large-sub", **kw)
    s.connect()
    s.subscribe("large/t", qos=1)
    p = paho_client("large-pub", **kw)
    p.connect()
    payload = bytes(range(256)) * 2048  # 512 KiB
    p.publish("large/t", payload, qos=1, timeout=10)
    [m] = s.wait_messages(1, timeout=10)
    assert m.payload == payload
