"""MQTT over TLS: real clients verify the broker's certificate (signed by the
built-in CA, naming 127.0.0.1) and present a device certificate (mutual TLS:
see test_mtls.py for who is refused), TLS 1.2 and 1.3 work, TLS 1.1 is
refused, and non-TLS bytes on the TLS port (or TLS on the plain port) hurt
nobody."""

import socket
import ssl
import subprocess
import warnings

import pytest

import rawmqtt
from rawmqtt import PUBLISH
from fgtest import HOST, mosquitto_pub


@pytest.mark.parametrize("version", [311, 5], ids=["v311", "v5"])
def test_mosquitto_clients_over_tls(broker, sub, version):
    device = broker.device()
    s = sub("tls/t", version=version, qos=1, count=2, port=broker.tls_port, device=device).wait_subscribed()
    mosquitto_pub(broker.tls_port, "tls/t", "over tls", version=version, qos=1, device=device)
    mosquitto_pub(broker.port, "tls/t", "over plain tcp", version=version, qos=1)
    got = s.wait_messages(2)
    assert [(m.topic, m.payload) for m in got] == [("tls/t", "over tls"), ("tls/t", "over plain tcp")]
    assert s.finish() == 0


def test_paho_over_tls(broker, paho_client):
    c = paho_client("paho-tls", port=broker.tls_port, tls_cafile=broker.cert, device=broker.device())
    c.connect()
    c.subscribe("tls/paho", qos=2)
    c.publish("tls/paho", b"secret", qos=2)
    [m] = c.wait_messages(1)
    assert (m.topic, m.payload, m.qos) == ("tls/paho", b"secret", 2)


def test_certificate_is_checked_by_clients(broker, tmp_path):
    """A client trusting another CA refuses the broker: the test setup really verifies."""
    key, other = tmp_path / "other.key", tmp_path / "other.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(other), "-days", "1", "-subj", "/CN=other",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    device = broker.device()
    r = mosquitto_pub(broker.tls_port, "tls/x", "x", check=False,
                      extra=["--cafile", str(other), "--cert", device.cert_file, "--key", device.key_file])
    assert r.returncode != 0
    mosquitto_pub(broker.tls_port, "tls/x", "x", device=device)  # the right CA works


def _tls_context(cafile, version, device=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    if device is not None:
        ctx.load_cert_chain(device.cert_file, device.key_file)
    # Let this client offer old versions at all (OpenSSL 3 refuses them at the
    # default security level), so that any refusal comes from the broker.
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_modern_tls_versions_are_accepted(broker, raw_client, version):
    ctx = _tls_context(broker.cert, getattr(ssl.TLSVersion, version), broker.device())
    tls = ctx.wrap_socket(socket.create_connection((HOST, broker.tls_port), timeout=5), server_hostname=HOST)
    assert tls.version() == version.replace("_", ".")
    c = rawmqtt.RawClient(None, sock=tls)
    try:
        c.connect("tls-raw")
        c.subscribe([("tls/raw", 1)])
        c.publish("tls/raw", b"hi", qos=0)
        assert c.expect(PUBLISH).payload == b"hi"
    finally:
        c.close()


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_tls_versions_are_refused(broker, raw_client, version):
    ctx = _tls_context(broker.cert, getattr(ssl.TLSVersion, version))
    with socket.create_connection((HOST, broker.tls_port), timeout=5) as s:
        with pytest.raises(ssl.SSLError) as e:
            ctx.wrap_socket(s, server_hostname=HOST)
    # The broker itself answered with a protocol_version alert.
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    _assert_serves_tls(broker)


def test_plain_mqtt_on_the_tls_port_is_closed(broker, raw_client):
    c = raw_client(port=broker.tls_port)
    c.send(rawmqtt.connect_packet("plain-on-tls"))
    with pytest.raises((rawmqtt.Closed, rawmqtt.ProtocolViolation)):
        # Either closed outright or a TLS alert (not MQTT) comes back before the close.
        for _ in range(3):
            c.recv(timeout=5)
    _assert_serves_tls(broker)


def test_tls_on_the_plain_port_fails_cleanly(broker):
    ctx = _tls_context(broker.cert, ssl.TLSVersion.TLSv1_3)
    with socket.create_connection((HOST, broker.port), timeout=5) as s:
        # Closed by the broker (not a timeout): a ClientHello is no MQTT packet.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(s, server_hostname=HOST)
    mosquitto_pub(broker.port, "tls/after", "ok", qos=1)


def _assert_serves_tls(broker):
    mosquitto_pub(broker.tls_port, "tls/alive", "ok", version=5, qos=1, device=broker.device())


def test_tls_subscriber_vanishing_mid_stream_hurts_nobody(broker, raw_client):
    """A TLS subscriber resets its connection while the broker has deliveries
    queued for it: the failure stays on that connection, the broker keeps
    serving (the fixture also checks it is alive and exits cleanly)."""
    ctx = broker.device().ssl_context()
    sock = socket.create_connection((HOST, broker.tls_port), timeout=5)
    tls = ctx.wrap_socket(sock, server_hostname=HOST)
    victim = rawmqtt.RawClient(None, sock=tls)
    victim.connect("tls-vanish")
    victim.subscribe([("flood/#", 0)])

    pub = raw_client()
    pub.connect("flooder")
    payload = b"x" * 4096
    for i in range(200):
        pub.publish("flood/a", payload)
    # Reset (not close) the connection while deliveries are still being written.
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    tls.close()
    for i in range(200):
        pub.publish("flood/a", payload)

    watcher = raw_client()
    watcher.connect("after-vanish")
    watcher.subscribe([("after/#", 0)])
    pub.publish("after/a", b"still here")
    got = watcher.expect(PUBLISH)
    assert (got.topic, got.payload) == ("after/a", b"still here")
