"""Keep alive: a silent client is disconnected after one and a half keep alive
periods, an active one is not; the v5 Server Keep Alive override."""

import threading
import time

import pytest

import rawmqtt
from rawmqtt import DISCONNECT


def _watch_close(client, result):
    """Thread body: records when and with what the server closed `client`."""
    try:
        result["packets"] = client.recv_until_closed(timeout=8)
    except AssertionError as e:
        result["error"] = str(e)
    result["closed_at"] = time.monotonic()


def test_silent_clients_are_disconnected_and_active_ones_are_not(broker, raw_client):
    silent_v311 = raw_client(rawmqtt.V311)
    silent_v5 = raw_client(rawmqtt.V5)
    active = raw_client(rawmqtt.V5)
    results = {}
    threads = []
    for name, c in (("v311", silent_v311), ("v5", silent_v5)):
        c.connect(f"silent-{name}", keepalive=1)
        connected_at = time.monotonic()
        results[name] = {"connected_at": connected_at}
        t = threading.Thread(target=_watch_close, args=(c, results[name]), daemon=True)
        t.start()
        threads.append(t)
    active.connect("active", keepalive=1)
    start = time.monotonic()

    # The active client pings twice a keep alive period for 3.5 s: it outlives
    # the silent ones and is never disconnected.
    while time.monotonic() - start < 3.5:
        active.ping()
        time.sleep(0.4)  # the client's own ping schedule, not synchronisation
    for t in threads:
        t.join(8)

    for name, r in results.items():
        assert "error" not in r, f"{name}: {r['error']}"
        elapsed = r["closed_at"] - r["connected_at"]
        assert 1.4 <= elapsed <= 3.5, f"{name}: closed {elapsed:.2f}s after CONNACK with keep alive 1s"
    assert results["v311"]["packets"] == []
    assert [(p.type, p.reason) for p in results["v5"]["packets"]] == [(DISCONNECT, 0x8D)]
    active.ping()


def test_keepalive_zero_means_no_timeout(broker, raw_client):
    c = raw_client()
    c.connect("no-keepalive", keepalive=0)
    # Past the point where a keep alive of 1 s would have closed it (1.5 s plus
    # the broker's 1 s timer tick).
    c.nothing_for(2.6)
    c.ping()


@pytest.mark.broker_args("--max-keepalive", "2")
def test_v5_server_keep_alive_caps_the_client_keep_alive(broker, raw_client):
    asked_60 = raw_client()
    ack = asked_60.connect("ska-60", keepalive=60)
    assert ack.props.get("ServerKeepAlive") == 2
    connected_at = time.monotonic()

    asked_0 = raw_client()
    assert asked_0.connect("ska-0", keepalive=0).props.get("ServerKeepAlive") == 2
    asked_1 = raw_client()
    assert "ServerKeepAlive" not in asked_1.connect("ska-1", keepalive=1).props  # within the cap

    # The server enforces the keep alive it announced.
    packets = asked_60.recv_until_closed(timeout=6)
    elapsed = time.monotonic() - connected_at
    assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x8D)]
    assert 2.9 <= elapsed <= 5.0, f"closed {elapsed:.2f}s after CONNACK with Server Keep Alive 2s"


@pytest.mark.broker_args("--max-keepalive", "2")
def test_v311_client_above_max_keepalive_is_refused(broker, raw_client):
    # A 3.1.1 client cannot be told a shorter keep alive, so it is refused at
    # CONNECT (return code 2, as mosquitto does) instead of being cut off later.
    c = raw_client(version=rawmqtt.V311)
    ack = c.connect("ka-311-60", keepalive=60, expect_reason=None)
    assert ack.reason == 0x02
    c.recv_until_closed(timeout=3)
    ok = raw_client(version=rawmqtt.V311)
    assert ok.connect("ka-311-2", keepalive=2, expect_reason=None).reason == 0x00
