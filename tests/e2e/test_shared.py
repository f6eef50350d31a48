"""Shared subscriptions ($share/<group>/<filter>): each message goes to one
member of the group; the group as a whole gets every message once."""

import collections

import pytest

from fgtest import mosquitto_pub, wait_for

N = 20


def _members_total(members):
    return sum(len(m.messages) for m in members)


@pytest.mark.parametrize("version", [311, 5], ids=["v311", "v5"])
def test_shared_subscription_splits_messages_between_members(broker, sub, version):
    a = sub("$share/workers/jobs/#", version=version, qos=1).wait_subscribed()
    b = sub("$share/workers/jobs/#", version=version, qos=1).wait_subscribed()
    everyone = sub("jobs/#", version=version, qos=1).wait_subscribed()

    mosquitto_pub(broker.port, "jobs/new", version=version, qos=1, lines=[f"job-{i}" for i in range(N)])

    everyone.wait_messages(N)
    wait_for(lambda: _members_total([a, b]) >= N, what=f"{N} messages across the group")
    # One more, once everything is in: a late duplicate would show up in the count.
    mosquitto_pub(broker.port, "jobs/new", "last", version=version, qos=1)
    wait_for(lambda: any(m.payload == "last" for m in a.messages + b.messages), what="the last message")
    got = [m.payload for m in a.messages + b.messages]
    counts = collections.Counter(got)
    assert counts == collections.Counter([f"job-{i}" for i in range(N)] + ["last"]), counts
    assert a.messages and b.messages, (
        f"one member got nothing: a={len(a.messages)} b={len(b.messages)}")


def test_shared_group_members_with_different_protocol_versions(broker, sub, paho_client):
    a = sub("$share/mixed/mx/t", version=311, qos=1).wait_subscribed()
    b = paho_client("mx-b")
    b.connect()
    b.subscribe("$share/mixed/mx/t", qos=1)
    mosquitto_pub(broker.port, "mx/t", version=5, qos=1, lines=[str(i) for i in range(N)])
    wait_for(lambda: len(a.messages) + len(b.messages) >= N, what="every message across the group")
    got = [m.payload for m in a.messages] + [m.payload.decode() for m in b.messages]
    assert sorted(got, key=int) == [str(i) for i in range(N)]
    assert a.messages and b.messages


def test_separate_groups_each_get_every_message(broker, sub):
    g1 = sub("$share/g1/multi/t", version=5, qos=1, count=N).wait_subscribed()
    g2 = sub("$share/g2/multi/t", version=5, qos=1, count=N).wait_subscribed()
    mosquitto_pub(broker.port, "multi/t", version=5, qos=1, lines=[str(i) for i in range(N)])
    for g in (g1, g2):
        assert sorted((m.payload for m in g.wait_messages(N)), key=int) == [str(i) for i in range(N)]


def test_remaining_member_gets_everything_after_the_other_leaves(broker, sub):
    a = sub("$share/pair/leave/t", version=5, qos=1).wait_subscribed()
    b = sub("$share/pair/leave/t", version=5, qos=1).wait_subscribed()
    b.kill()
    # Until the broker has seen b's socket close, b still takes its turn. Probe
    # until two probes in a row reach a (impossible while b is a member).
    in_a_row = 0
    for k in range(20):
        mosquitto_pub(broker.port, "leave/t", f"probe-{k}", version=5, qos=1)
        in_a_row = in_a_row + 1 if _received(a, f"probe-{k}") else 0
        if in_a_row == 2:
            break
    assert in_a_row == 2, "the remaining member never got two probes in a row"
    before = len(a.messages)
    mosquitto_pub(broker.port, "leave/t", version=5, qos=1, lines=[f"m{i}" for i in range(10)])
    got = a.wait_messages(before + 10)[before:]
    assert [m.payload for m in got] == [f"m{i}" for i in range(10)]


def _received(s, payload, timeout=0.5):
    """True once `s` has received `payload` (waits briefly)."""
    try:
        s.wait_until(lambda m: m.payload == payload, timeout=timeout, what=payload)
        return True
    except AssertionError:
        return False


def test_shared_subscription_does_not_get_retained_messages(broker, sub):
    mosquitto_pub(broker.port, "shret/t", "retained", version=5, qos=1, retain=True)
    member = sub("$share/grp/shret/t", version=5, qos=1).wait_subscribed()
    mosquitto_pub(broker.port, "shret/t", "live", version=5, qos=1)
    got = member.wait_until(lambda m: m.payload == "live", what="the live message")
    assert [m.payload for m in got] == ["live"]
