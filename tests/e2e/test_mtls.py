"""Mutual TLS with real clients (issue 3): a device is its certificate. A
registered, ACTIVE certificate of the built-in CA connects with mosquitto;
no certificate, an unknown one, one of another CA, an INACTIVE, REVOKED or
expired one are refused (logged with the source address and counted);
deactivating a certificate closes its live connection within a second; and
everything survives a restart and a kill -9."""

import datetime
import subprocess

import pytest

from fgtest import HOST, mosquitto_pub, wait_for


def refused(broker, device=None, extra=()):
    args = device.mosquitto_args() if device else ["--cafile", broker.cert]
    r = mosquitto_pub(broker.tls_port, "dc/x", "x", qos=1, check=False, extra=[*args, *extra], timeout=15)
    return r.returncode != 0


def refusals_logged(broker):
    return broker.log_tail(100000).count("refused TLS client")


def test_registered_device_publishes_and_subscribes(broker, sub):
    a = broker.device("sensor-a")
    b = broker.device("sensor-b")
    s = sub("dc/atl1/#", qos=1, count=1, port=broker.tls_port, device=b).wait_subscribed()
    mosquitto_pub(broker.tls_port, "dc/atl1/temp", "21.5", qos=1, device=a)
    [m] = s.wait_messages(1)
    assert (m.topic, m.payload) == ("dc/atl1/temp", "21.5")


def test_no_certificate_is_refused(broker):
    assert refused(broker)
    wait_for(lambda: "peer did not return a certificate" in broker.log_tail(100000), what="the refusal logged")


def test_certificate_of_another_ca_is_refused(broker, tmp_path):
    key, crt = tmp_path / "rogue.key", tmp_path / "rogue.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", "/CN=rogue"],
                   check=True, capture_output=True)
    assert refused(broker, extra=["--cert", str(crt), "--key", str(key)])
    wait_for(lambda: "untrusted-chain" in broker.log_tail(100000), what="an untrusted-chain refusal in the log")
    assert f"refused TLS client {HOST}:" in broker.log_tail(100000), "the source address is logged"


@pytest.mark.parametrize("status", ["INACTIVE", "REVOKED"])
def test_inactive_and_revoked_certificates_are_refused(broker, status):
    d = broker.device("sensor-x")
    assert not refused(broker, d)
    broker.aws("update-certificate", "--certificate-id", d.certificate_id, "--new-status", status)
    assert refused(broker, d)
    wait_for(lambda: f"certificate is {status}" in broker.log_tail(100000), what="the refusal reason in the log")


def test_created_inactive_certificate_is_refused_until_activated(broker):
    d = broker.device("sensor-late", active=False)
    assert refused(broker, d)
    broker.aws("update-certificate", "--certificate-id", d.certificate_id, "--new-status", "ACTIVE")
    assert not refused(broker, d)


def test_expired_certificate_is_refused(broker, tmp_path):
    """A certificate signed by the built-in CA whose validity has ended."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key = serialization.load_pem_private_key((broker.data_dir / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((broker.data_dir / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-device")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "exp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "exp.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    assert refused(broker, extra=["--cert", str(tmp_path / "exp.crt"), "--key", str(tmp_path / "exp.key")])
    wait_for(lambda: "(expired)" in broker.log_tail(100000), what="an expired refusal in the log")


def test_deactivating_a_certificate_drops_its_connection_within_a_second(broker, paho_client):
    """Live enforcement: the broker closes the connection itself (paho does
    not reconnect, so the disconnect it sees is the broker's), within 1 s of
    UpdateCertificate returning, and leaves other devices alone."""
    d = broker.device("conveyor-1")
    bystander = broker.device("conveyor-2")
    target = paho_client("conveyor-1", version=5, port=broker.tls_port, tls_cafile=broker.cert, device=d)
    target.connect()
    other = paho_client("conveyor-2", version=5, port=broker.tls_port, tls_cafile=broker.cert, device=bystander)
    other.connect()
    other.subscribe("dc/other", qos=1)
    broker.aws("update-certificate", "--certificate-id", d.certificate_id, "--new-status", "INACTIVE")
    target.wait_disconnected(timeout=1.0)
    assert target.disconnected == 0x87, "v5 clients are told why: Not authorized"
    other.publish("dc/other", b"still here", qos=1)
    assert [m.payload for m in other.wait_messages(1)] == [b"still here"]
    assert refused(broker, d)


def _check_registry_kept(broker, device, revoked):
    assert not refused(broker, device), "the registered device still connects"
    assert refused(broker, revoked), "the revoked certificate is still refused"
    assert broker.aws("describe-thing", "--thing-name", device.thing)["thingName"] == device.thing
    assert broker.aws("list-thing-principals", "--thing-name", device.thing)["principals"] == [device.certificate_arn]


def test_registry_survives_restart_and_kill9(broker):
    d = broker.device("scanner-9")
    revoked = broker.device("scanner-10")
    broker.aws("update-certificate", "--certificate-id", revoked.certificate_id, "--new-status", "REVOKED")
    restarted = broker.restart()
    try:
        _check_registry_kept(restarted, d, revoked)
        killed = restarted.restart(kill=True)
    except BaseException:
        restarted.stop()
        raise
    try:
        _check_registry_kept(killed, d, revoked)
    finally:
        assert killed.stop() == 0


def test_kill9_during_registry_writes_loses_nothing_acknowledged(broker):
    """CreateThing calls stream in while the server is killed: every call that
    returned success is there after the restart."""
    import threading
    iot = broker.boto3_client()
    acknowledged = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                iot.create_thing(thingName=f"stream-{i}")
                acknowledged.append(f"stream-{i}")
            except Exception:  # the server vanished mid-call: not acknowledged
                return
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    wait_for(lambda: len(acknowledged) >= 50, timeout=30, what="50 acknowledged writes")
    restarted = broker.restart(kill=True)
    stop.set()
    t.join(30)
    try:
        names = set()
        iot2 = restarted.boto3_client()
        for page in iot2.get_paginator("list_things").paginate():
            names.update(th["thingName"] for th in page["things"])
        missing = [n for n in acknowledged if n not in names]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    finally:
        assert restarted.stop() == 0
