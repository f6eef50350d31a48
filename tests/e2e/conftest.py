"""Fixtures for the end-to-end tests.

`broker` starts a fresh `fleetguard serve` per test (port 0, data directory
under tmp_path). Options for the broker come from the `broker_args` marker:

    @pytest.mark.broker_args("--max-packet-size", "1024")

After the test the broker must still be running (a crash fails the test), and
it must exit with status 0 on SIGTERM. A test that stops the broker itself
(graceful shutdown) asserts the exit status itself.

`sub`, `paho_client` and `raw_client` are factories for clients that are closed
after the test, so a failing test does not leak processes or threads.
"""

import os

import pytest

import rawmqtt
from fgtest import Broker, MosquittoSub, PahoClient, fleetguard_bin


def pytest_configure(config):
    config.addinivalue_line("markers", "broker_args(*args): extra `fleetguard serve` arguments")


def pytest_sessionstart(session):
    path = fleetguard_bin()
    if not os.access(path, os.X_OK):
        raise pytest.UsageError(f"fleetguard binary not found at {path}: build it "
                                "(ninja -C build fleetguard) or set FLEETGUARD_BIN")


@pytest.fixture
def broker(request, tmp_path):
    marker = request.node.get_closest_marker("broker_args")
    extra = [str(a) for a in marker.args] if marker else []
    b = Broker(tmp_path / "broker", extra)
    try:
        yield b
    finally:
        if b.returncode is None:
            # A crash during the test must fail it, even if the test passed.
            if not b.alive():
                rc = b.stop()
                pytest.fail(f"fleetguard died during the test with status {rc}:\n{b.log_tail()}")
            rc = b.stop()
            assert rc == 0, f"fleetguard exited with {rc} on SIGTERM:\n{b.log_tail()}"


@pytest.fixture
def sub(broker):
    """sub(topics, version=311, qos=0, count=None, ...) -> a started MosquittoSub."""
    started = []

    def make(topics, **kw):
        port = kw.pop("port", broker.port)
        s = MosquittoSub(port, topics, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()


@pytest.fixture
def paho_client(broker):
    """paho_client(client_id="", version=5, ...) -> an unconnected PahoClient."""
    made = []

    def make(client_id="", version=5, **kw):
        port = kw.pop("port", broker.port)
        c = PahoClient(port, client_id, version, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def raw_client(broker):
    """raw_client(version=rawmqtt.V5) -> a TCP-connected RawClient (no CONNECT sent yet)."""
    made = []

    def make(version=rawmqtt.V5, port=None, timeout=5.0):
        c = rawmqtt.RawClient(port or broker.port, version=version, timeout=timeout)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
