"""Bring-your-own CA (issue 3): RegisterCACertificate with proof of
possession, devices of that CA connecting over mutual TLS, just-in-time
registration (PENDING_ACTIVATION plus an event on
$aws/events/certificates/registered/<caCertificateId>), and deactivating the
CA closing its devices' connections. With the AWS CLI, openssl and real
MQTT clients."""

import json
import subprocess

import pytest

from fgtest import Device, mosquitto_pub


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"
    return r.stdout


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "30", "-subj", "/CN=Retailer Device CA/O=Retailer",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def sign(d, name, cn):
    """A key and a certificate with common name `cn`, signed by ca.key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "10", cwd=d)


def register_ca(broker, d, *extra):
    code = broker.aws("get-registration-code")["registrationCode"]
    sign(d, "verification", code)
    out = broker.aws("register-ca-certificate", "--ca-certificate", f"file://{d}/ca.crt",
                     "--verification-certificate", f"file://{d}/verification.crt", *extra)
    return out["certificateId"]


def test_register_ca_needs_proof_of_possession(broker, tmp_path):
    make_ca(tmp_path)
    sign(tmp_path, "wrong", "not-the-registration-code")
    r = broker.aws("register-ca-certificate", "--ca-certificate", f"file://{tmp_path}/ca.crt",
                   "--verification-certificate", f"file://{tmp_path}/wrong.crt", check=False)
    assert r.returncode != 0 and "InvalidRequestException" in r.stderr and "registration code" in r.stderr
    ca_id = register_ca(broker, tmp_path, "--set-as-active")
    d = broker.aws("describe-ca-certificate", "--certificate-id", ca_id)["certificateDescription"]
    assert d["status"] == "ACTIVE" and d["autoRegistrationStatus"] == "DISABLE" and d["certificateMode"] == "DEFAULT"
    assert [c["certificateId"] for c in broker.aws("list-ca-certificates")["certificates"]] == [ca_id]
    r = broker.aws("delete-ca-certificate", "--certificate-id", ca_id, check=False)
    assert r.returncode != 0 and "CertificateStateException" in r.stderr
    broker.aws("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE")
    broker.aws("delete-ca-certificate", "--certificate-id", ca_id)


def test_just_in_time_registration_and_ca_deactivation(broker, sub, tmp_path, paho_client):
    make_ca(tmp_path)
    ca_id = register_ca(broker, tmp_path, "--set-as-active", "--allow-auto-registration")
    events = sub(f"$aws/events/certificates/registered/{ca_id}", qos=1, count=1).wait_subscribed()
    sign(tmp_path, "dev", "scanner-7")
    device = Device("scanner-7", None, None, str(tmp_path / "dev.crt"), str(tmp_path / "dev.key"), broker.cert)

    # First contact: refused, registered PENDING_ACTIVATION, announced.
    r = mosquitto_pub(broker.tls_port, "dc/scanner-7/t", "x", device=device, check=False)
    assert r.returncode != 0
    [event] = events.wait_messages(1)
    body = json.loads(event.payload)
    assert body["caCertificateId"] == ca_id and body["certificateStatus"] == "PENDING_ACTIVATION"
    cert_id = body["certificateId"]
    desc = broker.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert desc["status"] == "PENDING_ACTIVATION" and desc["caCertificateId"] == ca_id
    listed = broker.aws("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"]
    assert [c["certificateId"] for c in listed] == [cert_id]
    r = mosquitto_pub(broker.tls_port, "dc/scanner-7/t", "x", device=device, check=False)
    assert r.returncode != 0, "still refused while PENDING_ACTIVATION"

    # The operator (or a rule) activates it and gives it a policy.
    broker.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "ACTIVE")
    broker.ensure_policy(broker.DEVICE_POLICY, broker.ALLOW_ALL)
    broker.aws("attach-policy", "--policy-name", broker.DEVICE_POLICY, "--target", desc["certificateArn"])
    mosquitto_pub(broker.tls_port, "dc/scanner-7/t", "x", device=device)

    # Deactivating the CA drops its devices at once and refuses them after.
    live = paho_client("scanner-7", version=5, port=broker.tls_port, tls_cafile=broker.cert, device=device)
    live.connect()
    broker.aws("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE")
    live.wait_disconnected(timeout=1.0)
    r = mosquitto_pub(broker.tls_port, "dc/scanner-7/t", "x", device=device, check=False)
    assert r.returncode != 0
