"""Retained messages: storing, replacing, clearing, the RETAIN flag as seen by
subscribers, and the v5 subscription options Retain Handling and Retain As
Published."""

import pytest

from fgtest import SubscribeOptions, mosquitto_pub

VERSIONS = [311, 5]


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_retained_message_is_delivered_to_later_subscriber(broker, sub, version):
    mosquitto_pub(broker.port, "ret/a", "r-a", version=version, qos=1, retain=True)
    mosquitto_pub(broker.port, "ret/b/c", "r-bc", version=version, qos=1, retain=True)
    s = sub("ret/#", version=version, qos=1, count=2).wait_subscribed()
    got = s.wait_messages(2)
    assert sorted((m.topic, m.payload, m.retain, m.qos) for m in got) == [
        ("ret/a", "r-a", 1, 1), ("ret/b/c", "r-bc", 1, 1)]
    assert s.finish() == 0


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_retained_message_is_replaced_then_cleared_by_empty_payload(broker, sub, version):
    mosquitto_pub(broker.port, "ret2/t", "old", version=version, qos=1, retain=True)
    mosquitto_pub(broker.port, "ret2/t", "new", version=version, qos=1, retain=True)
    s = sub("ret2/#", version=version, qos=1).wait_subscribed()
    mosquitto_pub(broker.port, "ret2/sentinel", "s1", version=version, qos=1)
    got = s.wait_until(lambda m: m.payload == "s1", what="the first sentinel")
    assert [(m.topic, m.payload, m.retain) for m in got] == [("ret2/t", "new", 1), ("ret2/sentinel", "s1", 0)]

    # A zero-byte retained message clears the topic; current subscribers still get it.
    mosquitto_pub(broker.port, "ret2/t", None, version=version, qos=1, retain=True)
    mosquitto_pub(broker.port, "ret2/sentinel", "s2", version=version, qos=1)
    got = s.wait_until(lambda m: m.payload == "s2", what="the second sentinel")
    assert [(m.topic, m.payload, m.retain) for m in got[2:]] == [("ret2/t", "", 0), ("ret2/sentinel", "s2", 0)]

    later = sub("ret2/#", version=version, qos=1).wait_subscribed()
    mosquitto_pub(broker.port, "ret2/sentinel", "s3", version=version, qos=1)
    got = later.wait_until(lambda m: m.payload == "s3", what="the third sentinel")
    assert [(m.topic, m.payload) for m in got] == [("ret2/sentinel", "s3")]


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_retain_flag_is_cleared_for_established_subscriptions(broker, sub, version):
    s = sub("ret3/t", version=version, qos=1, count=1).wait_subscribed()
    mosquitto_pub(broker.port, "ret3/t", "live", version=version, qos=1, retain=True)
    [m] = s.wait_messages(1)
    assert (m.payload, m.retain) == ("live", 0)
    # ... but it was stored: a new subscription receives it with the flag set.
    later = sub("ret3/t", version=version, qos=1, count=1).wait_subscribed()
    [m] = later.wait_messages(1)
    assert (m.payload, m.retain) == ("live", 1)


def test_retained_delivery_uses_the_lower_of_message_and_subscription_qos(broker, sub):
    mosquitto_pub(broker.port, "ret4/t", "q2", version=5, qos=2, retain=True)
    s0 = sub("ret4/t", version=5, qos=0, count=1).wait_subscribed()
    s2 = sub("ret4/t", version=5, qos=2, count=1).wait_subscribed()
    assert s0.wait_messages(1)[0].qos == 0
    assert s2.wait_messages(1)[0].qos == 2


def _subscribe_then_sentinel(client, publisher, flt, retain_handling, sentinel):
    """Subscribes with the Retain Handling option and returns what arrives up to
    a live sentinel published after the SUBACK."""
    before = len(client.messages)
    client.subscribe(flt, options=SubscribeOptions(qos=1, retainHandling=retain_handling))
    publisher.publish("rh/sentinel", sentinel, qos=1)
    got = client.wait_until(lambda m: m.payload == sentinel, what=f"sentinel {sentinel!r}")
    return [(m.topic, m.payload, m.retain) for m in got[before:]]


def test_v5_retain_handling(broker, paho_client):
    publisher = paho_client("rh-pub")
    publisher.connect()
    publisher.publish("rh/a", b"kept", qos=1, retain=True)
    retained = ("rh/a", b"kept", 1)

    # 0: sent on every subscribe, even when the subscription already exists.
    c0 = paho_client("rh-0")
    c0.connect()
    assert _subscribe_then_sentinel(c0, publisher, "rh/#", 0, b"s0a") == [retained, ("rh/sentinel", b"s0a", 0)]
    assert _subscribe_then_sentinel(c0, publisher, "rh/#", 0, b"s0b") == [retained, ("rh/sentinel", b"s0b", 0)]

    # 1: sent only if the subscription did not exist.
    c1 = paho_client("rh-1")
    c1.connect()
    assert _subscribe_then_sentinel(c1, publisher, "rh/#", 1, b"s1a") == [retained, ("rh/sentinel", b"s1a", 0)]
    assert _subscribe_then_sentinel(c1, publisher, "rh/#", 1, b"s1b") == [("rh/sentinel", b"s1b", 0)]
    # A new filter is a new subscription. The sentinel now matches two of c1's
    # subscriptions: one copy or one per subscription are both allowed.
    got = _subscribe_then_sentinel(c1, publisher, "rh/+", 1, b"s1c")
    assert got[0] == retained
    assert got[1:] in ([("rh/sentinel", b"s1c", 0)], [("rh/sentinel", b"s1c", 0)] * 2)

    # 2: never sent.
    c2 = paho_client("rh-2")
    c2.connect()
    assert _subscribe_then_sentinel(c2, publisher, "rh/#", 2, b"s2a") == [("rh/sentinel", b"s2a", 0)]


def test_v5_retain_as_published(broker, paho_client):
    rap = paho_client("rap-1")
    rap.connect()
    rap.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=True))
    plain = paho_client("rap-0")
    plain.connect()
    plain.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=False))

    pub = paho_client("rap-pub")
    pub.connect()
    pub.publish("rap/t", b"retained", qos=1, retain=True)
    pub.publish("rap/t", b"not retained", qos=1, retain=False)

    assert [(m.payload, m.retain) for m in rap.wait_messages(2)] == [(b"retained", 1), (b"not retained", 0)]
    assert [(m.payload, m.retain) for m in plain.wait_messages(2)] == [(b"retained", 0), (b"not retained", 0)]


def test_retained_messages_survive_publisher_disconnect_and_are_per_topic(broker, sub):
    for i in range(5):
        mosquitto_pub(broker.port, f"ret5/{i}", f"v{i}", version=5, qos=1, retain=True)
    mosquitto_pub(broker.port, "ret5/2", "v2b", version=5, qos=1, retain=True)
    s = sub("ret5/+", version=5, qos=1, count=5).wait_subscribed()
    got = s.wait_messages(5)
    assert sorted((m.topic, m.payload) for m in got) == [
        ("ret5/0", "v0"), ("ret5/1", "v1"), ("ret5/2", "v2b"), ("ret5/3", "v3"), ("ret5/4", "v4")]
    assert s.finish() == 0
