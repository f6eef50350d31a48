"""AWS IoT policies enforced on live mutual-TLS devices (issue 4), managed
with the AWS CLI and boto3 (issue 5): a device policy scoped with
${iot:Connection.Thing.ThingName} lets a device publish to its own topics and
not another's; moving the thing into a quarantine group with a Deny-all
policy stops its publishes and deliveries within a second, and removing it
restores them; plaintext clients need --anonymous-policy."""

import json
import socket
import time

import pytest
from botocore.exceptions import ClientError

import rawmqtt
from fgtest import HOST, Broker, mosquitto_pub

DEVICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": "arn:aws:iot:*:*:topic/dc/${iot:Connection.Thing.ThingName}/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": "arn:aws:iot:*:*:topicfilter/dc/${iot:Connection.Thing.ThingName}/*"},
    ],
}
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iot:*", "Resource": "*"}]}


def error_code(call, **kw):
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value.response["Error"]["Code"]


def test_policy_lifecycle_with_awscli(broker):
    doc = json.dumps(DEVICE_POLICY)
    out = broker.aws("create-policy", "--policy-name", "SensorPolicy", "--policy-document", doc)
    assert out["policyVersionId"] == "1" and out["policyArn"].endswith(":policy/SensorPolicy")
    got = broker.aws("get-policy", "--policy-name", "SensorPolicy")
    assert got["defaultVersionId"] == "1" and json.loads(got["policyDocument"]) == DEVICE_POLICY
    broker.aws("create-policy-version", "--policy-name", "SensorPolicy", "--policy-document",
               json.dumps(DENY_ALL), "--set-as-default")
    versions = broker.aws("list-policy-versions", "--policy-name", "SensorPolicy")["policyVersions"]
    assert [(v["versionId"], v["isDefaultVersion"]) for v in versions] == [("2", True), ("1", False)]
    r = broker.aws("delete-policy-version", "--policy-name", "SensorPolicy", "--policy-version-id", "2", check=False)
    assert r.returncode != 0 and "DeleteConflictException" in r.stderr
    broker.aws("set-default-policy-version", "--policy-name", "SensorPolicy", "--policy-version-id", "1")
    broker.aws("delete-policy-version", "--policy-name", "SensorPolicy", "--policy-version-id", "2")
    r = broker.aws("create-policy", "--policy-name", "Broken", "--policy-document", '{"Statement": 1}', check=False)
    assert r.returncode != 0 and "MalformedPolicyException" in r.stderr
    names = [p["policyName"] for p in broker.aws("list-policies")["policies"]]
    assert "SensorPolicy" in names and "Broken" not in names
    broker.aws("delete-policy", "--policy-name", "SensorPolicy")


def test_policy_errors_and_attachments_with_boto3(broker):
    iot = broker.boto3_client()
    iot.create_policy(policyName="P", policyDocument=json.dumps(DEVICE_POLICY))
    for _ in range(4):
        iot.create_policy_version(policyName="P", policyDocument=json.dumps(DEVICE_POLICY))
    assert error_code(iot.create_policy_version, policyName="P",
                      policyDocument=json.dumps(DEVICE_POLICY)) == "VersionsLimitExceededException"
    assert error_code(iot.create_policy, policyName="P",
                      policyDocument=json.dumps(DEVICE_POLICY)) == "ResourceAlreadyExistsException"
    assert error_code(iot.get_policy, policyName="Nope") == "ResourceNotFoundException"

    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.create_thing_group(thingGroupName="NorthAmerica")
    group_arn = iot.describe_thing_group(thingGroupName="NorthAmerica")["thingGroupArn"]
    iot.attach_policy(policyName="P", target=cert["certificateArn"])
    iot.attach_policy(policyName="P", target=group_arn)
    assert sorted(iot.list_targets_for_policy(policyName="P")["targets"]) == sorted([cert["certificateArn"], group_arn])
    attached = iot.list_attached_policies(target=cert["certificateArn"])["policies"]
    assert [p["policyName"] for p in attached] == ["P"]
    assert error_code(iot.delete_policy, policyName="P") == "DeleteConflictException"
    assert error_code(iot.attach_policy, policyName="P", target="not-an-arn") == "InvalidRequestException"
    iot.detach_policy(policyName="P", target=cert["certificateArn"])
    iot.detach_policy(policyName="P", target=group_arn)
    assert iot.list_targets_for_policy(policyName="P")["targets"] == []


def _provision(broker, thing, policy):
    d = broker.device(thing, policy=None)
    broker.boto3_client().attach_policy(policyName=policy, target=d.certificate_arn)
    return d


def _raw_device(broker, device, client_id):
    """A raw MQTT 5 client over mutual TLS (it sees PUBACK reason codes)."""
    sock = socket.create_connection((HOST, broker.tls_port), timeout=5)
    tls = device.ssl_context().wrap_socket(sock, server_hostname=HOST)
    c = rawmqtt.RawClient(None, sock=tls)
    c.connect(client_id)
    return c


def _until(predicate, what, seconds=1.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not within {seconds} s"


def test_thing_scoped_policy_and_live_quarantine(broker, paho_client):
    iot = broker.boto3_client()
    iot.create_policy(policyName="SensorPolicy", policyDocument=json.dumps(DEVICE_POLICY))
    iot.create_policy(policyName="QuarantinePolicy", policyDocument=json.dumps(DENY_ALL))
    iot.create_thing_group(thingGroupName="Quarantine")
    quarantine_arn = iot.describe_thing_group(thingGroupName="Quarantine")["thingGroupArn"]
    iot.attach_policy(policyName="QuarantinePolicy", target=quarantine_arn)
    a = _provision(broker, "sensor-a", "SensorPolicy")
    b = _provision(broker, "sensor-b", "SensorPolicy")

    # mosquitto_pub (MQTT 3.1.1): its own topic works; another device's topic
    # closes the connection (3.1.1 has no negative PUBACK); another client id
    # is refused at CONNECT.
    mosquitto_pub(broker.tls_port, "dc/sensor-a/temp", "21", qos=1, device=a, extra=["-i", "sensor-a"])
    r = mosquitto_pub(broker.tls_port, "dc/sensor-b/temp", "21", qos=1, device=a, extra=["-i", "sensor-a"],
                      check=False)
    assert r.returncode != 0
    r = mosquitto_pub(broker.tls_port, "dc/sensor-a/temp", "21", qos=1, device=a, extra=["-i", "sensor-b"],
                      check=False)
    assert r.returncode != 0

    # MQTT 5: a denied publish gets PUBACK "Not authorized" and the
    # connection stays.
    dev_a = _raw_device(broker, a, "sensor-a")
    assert dev_a.publish_and_ack("dc/sensor-b/cmd", b"x", qos=1).reason == 0x87
    assert dev_a.publish_and_ack("dc/sensor-a/ok", b"x", qos=1).reason in (0, 0x10)
    dev_a.close()

    dev_b = _raw_device(broker, b, "sensor-b")
    assert dev_b.subscribe([("dc/sensor-b/in", 1)]).reasons == [1]
    assert dev_b.subscribe([("dc/sensor-a/#", 1)]).reasons == [0x87], "another device's topics"
    operator = paho_client("operator", version=5)  # plaintext, the anonymous policy allows it
    operator.connect()
    operator.publish("dc/sensor-b/in", b"before", qos=1)
    got = dev_b.expect(rawmqtt.PUBLISH)
    assert got.payload == b"before"
    dev_b.ack(got)

    # Quarantine: within a second sensor-b can no longer publish ...
    iot.add_thing_to_thing_group(thingGroupName="Quarantine", thingName="sensor-b")
    _until(lambda: dev_b.publish_and_ack("dc/sensor-b/out", b"q", qos=1).reason == 0x87, "quarantine")
    # ... nor receive: this message is never delivered (see below).
    operator.publish("dc/sensor-b/in", b"during", qos=1)

    # Released: publishing works again within a second, and the next message
    # it receives is one published after the release, not the one from
    # during the quarantine.
    iot.remove_thing_from_thing_group(thingGroupName="Quarantine", thingName="sensor-b")
    _until(lambda: dev_b.publish_and_ack("dc/sensor-b/out", b"r", qos=1).reason in (0, 0x10), "release")
    operator.publish("dc/sensor-b/in", b"after", qos=1)
    got = dev_b.expect(rawmqtt.PUBLISH)
    assert got.payload == b"after"
    dev_b.close()


def test_new_default_version_applies_to_live_connections(broker):
    iot = broker.boto3_client()
    iot.create_policy(policyName="SensorPolicy", policyDocument=json.dumps(DEVICE_POLICY))
    d = _provision(broker, "sensor-c", "SensorPolicy")
    c = _raw_device(broker, d, "sensor-c")
    assert c.publish_and_ack("dc/sensor-c/t", b"1", qos=1).reason in (0, 0x10)
    iot.create_policy_version(policyName="SensorPolicy", policyDocument=json.dumps(DENY_ALL), setAsDefault=True)
    _until(lambda: c.publish_and_ack("dc/sensor-c/t", b"2", qos=1).reason == 0x87, "the new default version")
    c.close()


def test_plaintext_clients_need_an_anonymous_policy(tmp_path):
    b = Broker(tmp_path / "strict", anonymous_policy=None)
    try:
        r = mosquitto_pub(b.port, "a/b", "x", check=False)
        assert r.returncode != 0, "no --anonymous-policy: plaintext clients are refused"
        assert b.alive()
    finally:
        assert b.stop() == 0
