"""The API's front door (issue 5): SigV4 on every request, admin and
read-only keys, persistence of keys and the account id, and the AWS error
shape for bad requests (as botocore sends and reads them)."""

import http.client
import json
import os
import stat
import threading
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from fgtest import HOST, Broker


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    e = info.value.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]


def signed(broker, method, path, body=b"", service="execute-api", key=None, headers=None, when=None):
    """A request signed by botocore's own SigV4 signer: (method, path, body, headers)."""
    access, secret = key or broker.credentials()
    req = AWSRequest(method=method, url=f"{broker.api_url}{path}", data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(access, secret), service, "eu-west-1")
    if when is not None:
        # botocore signs with the current time; pin it for clock-skew tests.
        import datetime
        from unittest import mock
        fixed = datetime.datetime.utcfromtimestamp(when)
        with mock.patch("botocore.auth.datetime") as dt:
            dt.datetime.utcnow.return_value = fixed
            dt.datetime.now.return_value = fixed.replace(tzinfo=datetime.timezone.utc)
            dt.timezone = datetime.timezone
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    return method, path, body, dict(req.headers.items())


def send(conn, request):
    method, path, body, headers = request
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def test_admin_credentials_file_is_private_and_works(broker):
    mode = stat.S_IMODE(os.stat(broker.admin_credentials).st_mode)
    assert mode == 0o600
    access, secret = broker.credentials()
    assert access.startswith("AKIA") and len(access) == 20 and len(secret) == 40
    assert broker.aws("list-things") == {"things": []}
    assert secret not in broker.log()


def test_wrong_secret_unknown_key_and_missing_signature_get_403(broker):
    access, _ = broker.credentials()
    iot = broker.boto3_client(access, "x" * 40)
    code, status = error_of(iot.list_things)
    assert (code, status) == ("InvalidSignatureException", 403)
    iot = broker.boto3_client("AKIAAAAAAAAAAAAAAAAA", "x" * 40)
    code, status = error_of(iot.create_thing, thingName="t")
    assert (code, status) == ("UnrecognizedClientException", 403)

    conn = http.client.HTTPConnection(HOST, broker.api_port, timeout=10)
    status, headers, body = send(conn, ("GET", "/things", b"", {}))
    assert status == 403 and headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert "message" in json.loads(body)

    # A signed request altered after signing (path, body) is refused.
    method, path, body, headers = signed(broker, "POST", "/things/a", b"{}")
    status, h, _ = send(conn, (method, "/things/b", body, headers))
    assert status == 403 and h["x-amzn-ErrorType"] == "InvalidSignatureException"
    status, h, _ = send(conn, (method, path, b'{"attributePayload":{}}', headers | {"Content-Length": "23"}))
    assert status == 403
    assert broker.boto3_client().list_things()["things"] == []


def test_signing_names_regions_and_clock_skew(broker):
    conn = http.client.HTTPConnection(HOST, broker.api_port, timeout=10)
    for service in ("execute-api", "iot", "iotdata", "sns"):
        status, _, body = send(conn, signed(broker, "GET", "/things", service=service))
        assert status == 200, body
    status, h, _ = send(conn, signed(broker, "GET", "/things", service="s3"))
    assert status == 403
    # 15 minutes of clock skew are tolerated, not more.
    status, _, body = send(conn, signed(broker, "GET", "/things", when=time.time() - 10 * 60))
    assert status == 200, body
    status, h, body = send(conn, signed(broker, "GET", "/things", when=time.time() - 20 * 60))
    assert status == 403 and h["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert b"Signature expired" in body


def test_read_only_key_may_describe_but_not_create(broker):
    broker.boto3_client().create_thing(thingName="visible")
    access, secret = broker.create_api_key(read_only=True)
    ro = broker.boto3_client(access, secret)
    assert [t["thingName"] for t in ro.list_things()["things"]] == ["visible"]
    assert ro.describe_thing(thingName="visible")["thingName"] == "visible"
    code, status = error_of(ro.create_thing, thingName="nope")
    assert (code, status) == ("AccessDeniedException", 403)
    code, status = error_of(ro.create_keys_and_certificate, setAsActive=True)
    assert (code, status) == ("AccessDeniedException", 403)
    assert [t["thingName"] for t in ro.list_things()["things"]] == ["visible"]

    creds = broker.workdir / "ro-credentials"
    creds.write_text(f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
    r = broker.aws("create-thing", "--thing-name", "nope", credentials_file=str(creds), check=False)
    assert r.returncode != 0 and "AccessDeniedException" in r.stderr

    # A full key made by `fleetguard keys create` can create.
    access, secret = broker.create_api_key()
    broker.boto3_client(access, secret).create_thing(thingName="by-user-key")


def test_keys_and_account_id_survive_a_restart(tmp_path):
    first = Broker(tmp_path / "node")
    try:
        admin = first.credentials()
        user = first.create_api_key()
        arn = first.boto3_client().create_thing(thingName="kept")["thingArn"]
    finally:
        assert first.stop() == 0
    second = Broker(tmp_path / "node")
    try:
        assert second.credentials() == admin
        iot = second.boto3_client(*user)
        assert iot.describe_thing(thingName="kept")["thingArn"] == arn
        assert iot.create_thing(thingName="new")["thingArn"].split(":")[4] == arn.split(":")[4]
    finally:
        assert second.stop() == 0


def test_bad_requests_get_aws_errors(broker):
    conn = http.client.HTTPConnection(HOST, broker.api_port, timeout=10)
    status, h, body = send(conn, signed(broker, "POST", "/things/j", b"{not json"))
    assert status == 400 and h["x-amzn-ErrorType"] == "InvalidRequestException"
    status, h, body = send(conn, signed(broker, "POST", "/things/j", b'{"attributePayload": {"attributes": 5}}'))
    assert status == 400 and h["x-amzn-ErrorType"] == "InvalidRequestException"
    status, h, body = send(conn, signed(broker, "GET", "/no/such/operation"))
    assert status == 404 and h["x-amzn-ErrorType"] == "UnknownOperationException"
    status, h, body = send(conn, signed(broker, "GET", "/things?maxResults=0"))
    assert status == 400 and b"greater than or equal to 1" in body
    status, h, body = send(conn, signed(broker, "GET", "/things?maxResults=abc"))
    assert status == 400
    status, h, body = send(conn, signed(broker, "PUT", "/certificates/" + "a" * 64))
    assert status == 400 and b"newStatus" in body  # required query member missing
    # The same connection is still usable (keep-alive across errors).
    status, _, body = send(conn, signed(broker, "GET", "/things"))
    assert status == 200 and json.loads(body) == {"things": []}


def test_oversized_body_is_413(broker):
    # The limit applies as soon as Content-Length is known: before the body
    # is read and before authentication.
    import socket
    with socket.create_connection((HOST, broker.api_port), timeout=10) as s:
        s.sendall(b"POST /things/big HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert "x-amzn-ErrorType: RequestEntityTooLargeException" in head
    assert broker.boto3_client().list_things()["things"] == []


def test_keep_alive_and_concurrent_connections(broker):
    errors = []

    def worker(n):
        try:
            conn = http.client.HTTPConnection(HOST, broker.api_port, timeout=10)
            for i in range(10):
                status, _, body = send(conn, signed(broker, "POST", f"/things/w{n}-{i}", b"{}"))
                assert status == 200, body
                status, _, body = send(conn, signed(broker, "GET", f"/things/w{n}-{i}"))
                assert status == 200 and json.loads(body)["thingName"] == f"w{n}-{i}"
            conn.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(broker.boto3_client().list_things(maxResults=250)["things"]) == 80


@pytest.mark.broker_args("--api-port", "-1")
def test_api_can_be_turned_off(broker):
    assert broker.api_port is None
    assert not os.path.exists(broker.admin_credentials)


@pytest.mark.broker_args("--api-tls-port", "0")
def test_https_listener_with_a_certificate_from_the_built_in_ca(broker):
    assert broker.api_tls_port and broker.api_tls_port != broker.api_port
    iot = broker.boto3_client(https=True)
    iot.create_thing(thingName="over-tls")
    assert [t["thingName"] for t in iot.list_things()["things"]] == ["over-tls"]
    # The plain listener sees the same registry.
    assert broker.boto3_client().describe_thing(thingName="over-tls")["thingName"] == "over-tls"
    import subprocess
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=broker.admin_credentials, AWS_CONFIG_FILE=os.devnull)
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", f"https://{HOST}:{broker.api_tls_port}",
                        "--ca-bundle", broker.cert, "--region", "us-east-1", "iot", "list-things"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["things"][0]["thingName"] == "over-tls"
