"""Scenario (issue 5): a device provisioned entirely through the AWS CLI
connects with mutual TLS using the certificate and key the API returned, and
loses its connection as soon as the certificate is set INACTIVE through the
API. The thing-scoped policy (a device may connect as its thing and publish
under dc1/<thing>/) is attached through the API too."""

import json
import ssl

from fgtest import HOST, PahoClient, mosquitto_pub

THING_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
        {"Effect": "Allow", "Action": "iot:Publish",
         "Resource": "arn:aws:iot:*:*:topic/dc1/${iot:Connection.Thing.ThingName}/*"},
    ],
}


def test_provision_connect_and_deactivate_through_the_api(broker, tmp_path):
    broker.aws("create-thing", "--thing-name", "dock-door-3")
    cert = broker.aws("create-keys-and-certificate", "--set-as-active",
                      "--certificate-pem-outfile", str(tmp_path / "dev.crt"),
                      "--private-key-outfile", str(tmp_path / "dev.key"))
    broker.aws("attach-thing-principal", "--thing-name", "dock-door-3", "--principal", cert["certificateArn"])
    broker.aws("create-policy", "--policy-name", "DockDoor", "--policy-document", json.dumps(THING_POLICY))
    broker.aws("attach-policy", "--policy-name", "DockDoor", "--target", cert["certificateArn"])
    endpoint = broker.aws("describe-endpoint", "--endpoint-type", "iot:Data-ATS")["endpointAddress"]
    host, port = endpoint.rsplit(":", 1)
    assert (host, int(port)) == (HOST, broker.tls_port)

    device = PahoClient(int(port), "dock-door-3", 5)
    device.client.tls_set(ca_certs=broker.cert, certfile=str(tmp_path / "dev.crt"),
                          keyfile=str(tmp_path / "dev.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    try:
        device.connect()
        device.publish("dc1/dock-door-3/state", b"open", qos=1)

        broker.aws("update-certificate", "--certificate-id", cert["certificateId"], "--new-status", "INACTIVE")
        device.wait_disconnected(timeout=5)
    finally:
        device.close()

    # A new connection with the now inactive certificate is refused.
    r = mosquitto_pub(broker.tls_port, "dc1/dock-door-3/state", "x", tls_cafile=broker.cert, check=False,
                      extra=["--cert", str(tmp_path / "dev.crt"), "--key", str(tmp_path / "dev.key"),
                             "-i", "dock-door-3"])
    assert r.returncode != 0
