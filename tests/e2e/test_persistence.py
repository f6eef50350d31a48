"""Durability: retained messages and persistent sessions (subscriptions and
queued QoS 1/2 messages) survive a restart and a kill -9 of the server;
nothing a client was acknowledged is lost. Clean sessions leave nothing on
disk. The restarted server uses the same data directory (messages.db)."""

import sqlite3

import pytest

from fgtest import Broker, PacketTypes, PahoClient, let_time_pass, mosquitto_pub, payloads, props, wait_for


@pytest.fixture
def restart(broker):
    """restart(b, kill=False) -> a new broker on b's data directory (stopped
    after the test; it must still be running then and exit cleanly)."""
    started = []

    def make(b, kill=False):
        nb = b.restart(kill=kill)
        started.append(nb)
        return nb

    yield make
    for b in started:
        if b.returncode is None:
            alive = b.alive()
            rc = b.stop()
            assert alive, f"restarted fleetguard died during the test with {rc}:\n{b.log_tail()}"
            assert rc == 0, f"restarted fleetguard exited with {rc} on SIGTERM:\n{b.log_tail()}"


def client(port, client_id, version=311, clean_session=False, made=None):
    c = PahoClient(port, client_id, version, clean_session=clean_session if version == 311 else None)
    if made is not None:
        made.append(c)
    return c


@pytest.fixture
def clients():
    made = []
    yield made
    for c in made:
        c.close()


def db_rows(broker, table):
    db = sqlite3.connect(str(broker.data_dir / "messages.db"))
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill9"])
def test_retained_message_survives(broker, restart, sub, kill):
    mosquitto_pub(broker.port, "dur/retained/a", "kept", qos=1, retain=True)
    mosquitto_pub(broker.port, "dur/retained/b", "qos0 kept too", qos=0, retain=True)
    mosquitto_pub(broker.port, "dur/retained/c", "cleared", qos=1, retain=True)
    mosquitto_pub(broker.port, "dur/retained/c", None, qos=1, retain=True)
    if kill:
        # QoS 0 retained messages are written without waiting: let the
        # server's own write (not a timer) show that it is on disk.
        wait_for(lambda: db_rows(broker, "retained") == 2, what="QoS 0 retained message on disk")
    b2 = restart(broker, kill=kill)
    s = sub("dur/retained/#", qos=1, count=2, port=b2.port)
    got = sorted(s.wait_messages(2), key=lambda m: m.topic)
    assert [(m.topic, m.payload, m.retain) for m in got] == [
        ("dur/retained/a", "kept", 1), ("dur/retained/b", "qos0 kept too", 1)]
    assert s.finish() == 0


def test_persistent_subscription_survives_restart(broker, restart, clients):
    c = client(broker.port, "dur-sub", made=clients)
    c.connect()
    assert c.subscribe("dur/sub/+", qos=1) == [1]
    c.disconnect()

    b2 = restart(broker)
    again = client(b2.port, "dur-sub", made=clients)
    flags, _, _ = again.connect()
    assert flags["session present"] == 1
    mosquitto_pub(b2.port, "dur/sub/x", "after restart", qos=1)
    got = again.wait_messages(1)
    assert payloads(got) == ["after restart"]
    assert got[0].qos == 1


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill9"])
def test_acknowledged_qos1_messages_for_offline_session_survive(broker, restart, clients, kill):
    n = 200
    s = client(broker.port, "dur-q1", made=clients)
    s.connect()
    s.subscribe("dur/q1", qos=1)
    s.disconnect()

    pub = client(broker.port, "dur-q1-pub", clean_session=True, made=clients)
    pub.connect()
    infos = [pub.client.publish("dur/q1", f"m{i}", qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
    assert all(info.is_published() for info in infos), "not every PUBACK arrived"
    # Every PUBACK is in: kill the server at once.
    b2 = restart(broker, kill=kill)
    pub.close()

    again = client(b2.port, "dur-q1", made=clients)
    flags, _, _ = again.connect()
    assert flags["session present"] == 1
    got = again.wait_messages(n, timeout=15)
    assert payloads(got) == [f"m{i}" for i in range(n)]
    assert all(m.qos == 1 for m in got)


def test_qos2_messages_for_offline_v5_session_survive_kill9(broker, restart, clients):
    s = client(broker.port, "dur-q2", version=5, made=clients)
    s.connect(clean_start=True, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
    s.subscribe("dur/q2", qos=2)
    s.disconnect()
    mosquitto_pub(broker.port, "dur/q2", None, qos=2, version=5,
                  lines=[f"x{i}" for i in range(20)])
    b2 = restart(broker, kill=True)

    again = client(b2.port, "dur-q2", version=5, made=clients)
    flags, _, _ = again.connect(clean_start=False,
                                properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
    assert flags["session present"] == 1
    got = again.wait_messages(20)
    assert payloads(got) == [f"x{i}" for i in range(20)]
    assert all(m.qos == 2 for m in got)


def test_acknowledged_messages_are_not_redelivered_after_restart(broker, restart, clients):
    s = client(broker.port, "dur-acked", made=clients)
    s.connect()
    s.subscribe("dur/acked", qos=1)
    mosquitto_pub(broker.port, "dur/acked", "online", qos=1)
    assert payloads(s.wait_messages(1)) == ["online"]
    # paho acknowledged it; the broker forgets it (asynchronously).
    wait_for(lambda: db_rows(broker, "deliveries") == 0, what="acknowledged delivery forgotten")
    s.disconnect()
    mosquitto_pub(broker.port, "dur/acked", "offline", qos=1)

    b2 = restart(broker, kill=True)
    again = client(b2.port, "dur-acked", made=clients)
    again.connect()
    assert payloads(again.wait_messages(1)) == ["offline"]
    again.disconnect()
    assert payloads(again.messages) == ["offline"]


def test_expired_session_is_gone_after_restart(broker, clients):
    short = client(broker.port, "dur-short", version=5, made=clients)
    short.connect(properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
    short.subscribe("dur/exp", qos=1)
    short.disconnect()
    long = client(broker.port, "dur-long", version=5, made=clients)
    long.connect(properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
    long.subscribe("dur/exp", qos=1)
    long.disconnect()
    assert broker.stop() == 0
    let_time_pass(1.5)  # the subject: the short session expires while the server is down
    b2 = Broker(broker.workdir, broker.extra_args)
    try:
        again = client(b2.port, "dur-short", version=5, made=clients)
        flags, _, _ = again.connect(clean_start=False,
                                    properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
        assert flags["session present"] == 0
        kept = client(b2.port, "dur-long", version=5, made=clients)
        flags, _, _ = kept.connect(clean_start=False,
                                   properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
        assert flags["session present"] == 1
    finally:
        assert b2.stop() == 0


def test_clean_sessions_leave_nothing_on_disk(broker, sub, clients):
    s = sub("dur/clean/#", qos=2, count=3).wait_subscribed()
    v5 = client(broker.port, "", version=5, made=clients)
    v5.connect()
    v5.subscribe("dur/clean/#", qos=1)
    for q in (0, 1, 2):
        mosquitto_pub(broker.port, f"dur/clean/{q}", f"q{q}", qos=q)
    assert len(s.wait_messages(3)) == 3
    v5.wait_messages(3)
    v5.disconnect()
    assert s.finish() == 0
    assert broker.stop() == 0
    for table in ("sessions", "subscriptions", "messages", "deliveries", "retained"):
        assert db_rows(broker, table) == 0, f"{table} is not empty"
