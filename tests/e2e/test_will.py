"""Will messages: published when a client vanishes, not when it says goodbye;
v5 Will Delay Interval, cancelled by reconnecting, cut short by session end."""

import time

import pytest

import rawmqtt
from rawmqtt import DISCONNECT
from fgtest import PacketTypes, mosquitto_pub, props

VERSIONS = [311, 5]


def will_args(topic, payload, qos=1, retain=False):
    args = ["--will-topic", topic, "--will-payload", payload, "--will-qos", str(qos)]
    return args + (["--will-retain"] if retain else [])


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_will_is_published_when_client_process_dies(broker, sub, version):
    watcher = sub("will/#", version=version, qos=1, count=1).wait_subscribed()
    device = sub("will/device/cmd", version=version, client_id="device-1",
                 extra=will_args("will/device-1/status", "offline")).wait_subscribed()
    device.kill()  # SIGKILL: the socket closes without DISCONNECT
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload, m.qos, m.retain) == ("will/device-1/status", "offline", 1, 0)


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_retained_will_is_kept_for_later_subscribers(broker, sub, version):
    watcher = sub("willr/+/status", version=version, qos=1, count=1).wait_subscribed()
    device = sub("willr/cmd", version=version, client_id="device-r",
                 extra=will_args("willr/device-r/status", "lost", retain=True)).wait_subscribed()
    device.kill()
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload, m.retain) == ("willr/device-r/status", "lost", 0)
    later = sub("willr/+/status", version=version, qos=1, count=1).wait_subscribed()
    [m] = later.wait_messages(1)
    assert (m.topic, m.payload, m.retain) == ("willr/device-r/status", "lost", 1)


@pytest.mark.parametrize("version", VERSIONS, ids=["v311", "v5"])
def test_will_is_not_published_after_normal_disconnect(broker, sub, version):
    watcher = sub("willn/#", version=version, qos=1).wait_subscribed()
    # mosquitto_pub publishes, sends DISCONNECT and exits.
    mosquitto_pub(broker.port, "willn/data", "reading", version=version, qos=1,
                  extra=["-i", "device-n", *will_args("willn/status", "offline")])
    mosquitto_pub(broker.port, "willn/status", "sentinel", version=version, qos=1)
    got = watcher.wait_until(lambda m: m.payload == "sentinel", what="the sentinel")
    assert [(m.topic, m.payload) for m in got] == [("willn/data", "reading"), ("willn/status", "sentinel")]


@pytest.mark.parametrize("version", [rawmqtt.V311, rawmqtt.V5], ids=["v311", "v5"])
def test_will_is_published_when_the_server_closes_a_silent_client(broker, sub, raw_client, version):
    watcher = sub("willk/#", version=5, qos=1, count=1).wait_subscribed()
    c = raw_client(version)
    c.connect("silent", keepalive=1, will={"topic": "willk/silent", "payload": b"timed out", "qos": 1})
    c.recv_until_closed(timeout=5)  # keep alive expired
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload) == ("willk/silent", "timed out")


def test_v5_disconnect_with_will_message_publishes_the_will(broker, sub, raw_client):
    watcher = sub("willd/#", version=5, qos=1, count=1).wait_subscribed()
    c = raw_client()
    c.connect("leaver", will={"topic": "willd/leaver", "payload": b"bye", "qos": 1})
    c.disconnect(reason=0x04)  # Disconnect with Will Message
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload) == ("willd/leaver", "bye")


def test_v5_will_properties_are_forwarded(broker, paho_client, raw_client):
    watcher = paho_client("willp-watch")
    watcher.connect()
    watcher.subscribe("willp/#", qos=1)
    c = raw_client()
    c.connect("willp-dev", will={"topic": "willp/dev", "payload": b'{"state":"gone"}', "qos": 1,
                                 "props": {"ContentType": "application/json",
                                           "UserProperty": [("site", "north")],
                                           "ResponseTopic": "willp/reply",
                                           "CorrelationData": b"\x01\x02"}})
    c.close()
    [m] = watcher.wait_messages(1)
    assert m.payload == b'{"state":"gone"}'
    assert m.properties.ContentType == "application/json"
    assert m.properties.UserProperty == [("site", "north")]
    assert m.properties.ResponseTopic == "willp/reply"
    assert m.properties.CorrelationData == b"\x01\x02"


def _delayed_will_client(paho_client, client_id, delay, expiry, topic):
    c = paho_client(client_id)
    c.client.will_set(topic, b"delayed", qos=1,
                      properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay))
    c.connect(clean_start=False,
              properties=props(PacketTypes.CONNECT, SessionExpiryInterval=expiry))
    return c


def test_v5_will_delay_publishes_after_the_delay(broker, paho_client, sub):
    watcher = sub("willdelay/#", version=5, qos=1, count=1).wait_subscribed()
    c = _delayed_will_client(paho_client, "wd-1", delay=1, expiry=30, topic="willdelay/wd-1")
    dropped_at = time.monotonic()
    c.abort()
    [m] = watcher.wait_messages(1, timeout=6)
    elapsed = time.monotonic() - dropped_at
    assert (m.topic, m.payload) == ("willdelay/wd-1", "delayed")
    assert elapsed >= 0.95, f"will published {elapsed:.2f}s after the drop, before its 1s delay"


def test_v5_will_delay_is_cancelled_by_reconnecting(broker, paho_client, sub):
    watcher = sub("willc/#", version=5, qos=1).wait_subscribed()
    c = _delayed_will_client(paho_client, "wd-2", delay=1, expiry=30, topic="willc/wd-2")
    dropped_at = time.monotonic()
    c.abort()
    back = paho_client("wd-2")
    flags, rc, _ = back.connect(clean_start=False,
                                properties=props(PacketTypes.CONNECT, SessionExpiryInterval=30))
    assert flags["session present"] == 1
    assert time.monotonic() - dropped_at < 1.0, "reconnect took longer than the will delay"
    # Past the delay (plus the broker's timer granularity) nothing was published.
    remaining = dropped_at + 3.0 - time.monotonic()
    watcher.assert_quiet_for(remaining)
    mosquitto_pub(broker.port, "willc/sentinel", "s", version=5, qos=1)
    got = watcher.wait_until(lambda m: m.payload == "s", what="the sentinel")
    assert [m.topic for m in got] == ["willc/sentinel"]


def test_v5_will_is_published_when_session_ends_before_the_delay(broker, paho_client, sub):
    watcher = sub("wille/#", version=5, qos=1, count=1).wait_subscribed()
    c = _delayed_will_client(paho_client, "wd-3", delay=60, expiry=1, topic="wille/wd-3")
    dropped_at = time.monotonic()
    c.abort()
    [m] = watcher.wait_messages(1, timeout=6)
    elapsed = time.monotonic() - dropped_at
    assert (m.topic, m.payload) == ("wille/wd-3", "delayed")
    assert 0.95 <= elapsed < 5, f"will published {elapsed:.2f}s after the drop (session expiry 1s)"


def test_v5_reconnect_with_clean_start_publishes_the_pending_will(broker, paho_client, sub):
    watcher = sub("willcs/#", version=5, qos=1, count=1).wait_subscribed()
    c = _delayed_will_client(paho_client, "wd-4", delay=60, expiry=60, topic="willcs/wd-4")
    c.abort()
    fresh = paho_client("wd-4")
    flags, _, _ = fresh.connect(clean_start=True)
    assert flags["session present"] == 0
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload) == ("willcs/wd-4", "delayed")


def test_will_is_published_on_session_takeover(broker, sub, raw_client):
    """v5 3.1.4: the will of the existing connection is sent when another
    connection takes over its client id (no will delay)."""
    watcher = sub("willt/#", version=5, qos=1, count=1).wait_subscribed()
    old = raw_client()
    old.connect("twin", will={"topic": "willt/twin", "payload": b"replaced", "qos": 1})
    new = raw_client()
    new.connect("twin")
    [d] = old.recv_until_closed()
    assert (d.type, d.reason) == (DISCONNECT, 0x8E)
    [m] = watcher.wait_messages(1)
    assert (m.topic, m.payload) == ("willt/twin", "replaced")


def test_v5_takeover_with_clean_start_publishes_the_delayed_will(broker, sub, raw_client):
    """v5 3.1.3.2.2 / 3.1.4: the existing connection's will is sent on takeover
    unless the new connection has Clean Start 0 and the will has a delay. Here
    the new connection starts clean, so the old session ends and its will goes
    out (at the latest when the session ends, which is now)."""
    watcher = sub("willtc/#", version=5, qos=1, count=1).wait_subscribed()
    old = raw_client()
    old.connect("twin-delay", props={"SessionExpiryInterval": 60},
                will={"topic": "willtc/twin", "payload": b"session ended", "qos": 1,
                      "props": {"WillDelayInterval": 30}})
    new = raw_client()
    assert not new.connect("twin-delay", clean_start=True).session_present
    assert [(p.type, p.reason) for p in old.recv_until_closed()] == [(DISCONNECT, 0x8E)]
    [m] = watcher.wait_messages(1, timeout=5)
    assert (m.topic, m.payload) == ("willtc/twin", "session ended")


def test_v5_takeover_without_clean_start_keeps_the_delayed_will_unsent(broker, sub, raw_client):
    watcher = sub("willtk/#", version=5, qos=1).wait_subscribed()
    old = raw_client()
    old.connect("twin-keep", props={"SessionExpiryInterval": 60},
                will={"topic": "willtk/twin", "payload": b"should not appear", "qos": 1,
                      "props": {"WillDelayInterval": 1}})
    new = raw_client()
    assert new.connect("twin-keep", clean_start=False, props={"SessionExpiryInterval": 60}).session_present
    assert [(p.type, p.reason) for p in old.recv_until_closed()] == [(DISCONNECT, 0x8E)]
    watcher.assert_quiet_for(2.5)  # past the 1 s will delay and the broker's timer tick
    new.ping()
