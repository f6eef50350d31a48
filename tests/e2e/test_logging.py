"""AWS IoT logging options through the API (issue 3 part 6, issue 5) and the
event log they control: off by default; once v2 logging is on, connects,
disconnects, refused devices and policy denials are written as JSON lines to
<data-dir>/events/events.log; a per-client level can silence one device."""

import json

import pytest
from botocore.exceptions import ClientError

import rawmqtt
from fgtest import mosquitto_pub, wait_for


def events(broker):
    path = broker.data_dir / "events" / "events.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_logging_options_round_trip_with_awscli(broker):
    r = broker.aws("get-v2-logging-options", check=False)
    assert r.returncode != 0 and "NotConfiguredException" in r.stderr, "off until configured, like AWS"
    broker.aws("set-v2-logging-options", "--default-log-level", "INFO")
    got = broker.aws("get-v2-logging-options")
    assert got["defaultLogLevel"] == "INFO" and got["disableAllLogs"] is False
    broker.aws("set-v2-logging-level", "--log-target", "targetType=THING_GROUP,targetName=Quarantine",
               "--log-level", "DEBUG")
    levels = broker.aws("list-v2-logging-levels")["logTargetConfigurations"]
    assert {"logTarget": {"targetType": "THING_GROUP", "targetName": "Quarantine"}, "logLevel": "DEBUG"} in levels
    broker.aws("delete-v2-logging-level", "--target-type", "THING_GROUP", "--target-name", "Quarantine")
    assert all(l["logTarget"]["targetType"] != "THING_GROUP"
               for l in broker.aws("list-v2-logging-levels")["logTargetConfigurations"])
    r = broker.aws("set-v2-logging-options", "--default-log-level", "LOUD", check=False)
    assert r.returncode != 0
    broker.aws("set-logging-options", "--logging-options-payload",
               "roleArn=arn:aws:iam::123456789012:role/IoTLogging,logLevel=WARN")
    assert broker.aws("get-logging-options")["logLevel"] == "WARN"


def test_event_log_follows_the_options(broker, raw_client):
    mosquitto_pub(broker.port, "a/b", "before logging is on")
    assert events(broker) == [], "logging is off by default"
    iot = broker.boto3_client()
    iot.set_v2_logging_options(defaultLogLevel="INFO")
    mosquitto_pub(broker.port, "a/b", "x", extra=["-i", "logged-client"])
    wait_for(lambda: any(e.get("eventType") == "Disconnect" and e.get("clientId") == "logged-client"
                         for e in events(broker)), what="connect and disconnect events")
    kinds = [e["eventType"] for e in events(broker) if e.get("clientId") == "logged-client"]
    assert kinds[:2] == ["Connect", "Disconnect"], kinds
    # A refused TLS client (no certificate) is an authentication failure; INFO
    # lets WARN/ERROR events through.
    mosquitto_pub(broker.tls_port, "a/b", "x", tls_cafile=broker.cert, check=False)
    wait_for(lambda: any(e.get("eventType") == "AuthenticationFailure" for e in events(broker)),
             what="an authentication failure event")
    # A per-client level can silence one device.
    iot.set_v2_logging_level(logTarget={"targetType": "CLIENT_ID", "targetName": "quiet"}, logLevel="DISABLED")
    mosquitto_pub(broker.port, "a/b", "x", extra=["-i", "quiet"])
    mosquitto_pub(broker.port, "a/b", "x", extra=["-i", "after-quiet"])
    wait_for(lambda: any(e.get("clientId") == "after-quiet" and e.get("eventType") == "Disconnect"
                         for e in events(broker)), what="events of the next client")
    assert not any(e.get("clientId") == "quiet" for e in events(broker))
