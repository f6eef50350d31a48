"""Graceful shutdown: on SIGTERM or SIGINT the broker tells v5 clients it is
shutting down (DISCONNECT 0x8B), closes every connection, including ones in
the middle of a packet or a TLS handshake, and exits with status 0."""

import signal
import socket
import time

import pytest

import rawmqtt
from rawmqtt import DISCONNECT
from fgtest import HOST


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clients_are_told_and_broker_exits_zero(broker, raw_client, sub, sig):
    v5 = raw_client(rawmqtt.V5)
    v5.connect("shutdown-v5", props={"SessionExpiryInterval": 60})
    v5.subscribe([("sd/#", 1)])
    v311 = raw_client(rawmqtt.V311)
    v311.connect("shutdown-v311")
    mosq = sub("sd/t", version=5, qos=1).wait_subscribed()

    # Connections in awkward states: half a packet, no CONNECT yet, TLS not started.
    half = raw_client(rawmqtt.V5)
    half.connect("half-packet")
    half.send(rawmqtt.publish_packet("sd/t", b"x" * 100, qos=1, packet_id=1)[:20])
    no_connect = socket.create_connection((HOST, broker.port), timeout=5)
    no_handshake = socket.create_connection((HOST, broker.tls_port), timeout=5)
    v5.ping()  # the broker is responsive before the signal

    assert broker.stop(sig) == 0, broker.log_tail()

    assert [(p.type, p.reason) for p in v5.recv_until_closed()] == [(DISCONNECT, 0x8B)]
    assert v311.recv_until_closed() == []
    assert [(p.type, p.reason) for p in half.recv_until_closed()] == [(DISCONNECT, 0x8B)]
    for s in (no_connect, no_handshake):
        s.settimeout(5)
        try:
            assert s.recv(100) == b"", "data from a stopped broker"
        except ConnectionResetError:
            pass
        s.close()
    mosq.finish(timeout=5)
    assert "Received DISCONNECT (139)" in mosq.output, mosq.output


def test_shutdown_is_prompt_with_many_clients(broker, raw_client):
    clients = []
    for i in range(50):
        c = raw_client(rawmqtt.V5 if i % 2 else rawmqtt.V311)
        c.connect(f"many-{i}")
        clients.append(c)
    started = time.monotonic()
    assert broker.stop() == 0, broker.log_tail()
    # Told and closed: every client sees the end of its connection.
    for c in clients:
        packets = c.recv_until_closed(timeout=5)
        if c.version == rawmqtt.V5:
            assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x8B)]
    assert time.monotonic() - started < 5
