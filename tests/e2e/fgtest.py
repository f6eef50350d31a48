"""Shared helpers for the end-to-end tests: the fleetguard process, waiting on
conditions with deadlines, and thin wrappers around real third-party clients
(mosquitto_pub / mosquitto_sub and paho-mqtt).

Nothing here sleeps to synchronise: every wait polls a condition until a
deadline and fails with a message naming what did not happen.
"""

import os
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]


def fleetguard_bin():
    return os.environ.get("FLEETGUARD_BIN") or str(REPO_ROOT / "build" / "fleetguard")


def wait_for(predicate, timeout=5.0, interval=0.01, what="condition"):
    """Polls predicate() until it returns a truthy value (returned) or fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- the broker

class Broker:
    """A running `fleetguard serve` with its ports and data directory."""

    START_TIMEOUT = 10.0
    STOP_TIMEOUT = 15.0

    # Plaintext clients (most MQTT-core tests) are authorised by this policy,
    # created through the API at start; pass anonymous_policy=None to have
    # them refused, as a server without --anonymous-policy does.
    ANONYMOUS_POLICY = "fg-test-anonymous"
    ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'

    def __init__(self, workdir, extra_args=(), anonymous_policy=ANONYMOUS_POLICY):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.extra_args = list(extra_args)
        self.anonymous_policy = anonymous_policy
        if anonymous_policy is not None:
            extra_args = ["--anonymous-policy", anonymous_policy, *extra_args]
        self.data_dir = self.workdir / "data"
        self.stdout_path = self.workdir / "broker.stdout"
        self.stderr_path = self.workdir / "broker.stderr"
        self.args = [fleetguard_bin(), "serve", "--mqtt-port", "0", "--mqtts-port", "0",
                     "--bind", HOST, "--data-dir", str(self.data_dir), "--workers", "2",
                     "--log-level", "debug", "--api-port", "0", *extra_args]
        self.returncode = None
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        try:
            self.port, self.tls_port = self._read_ports()
            self.api_port = self._read_api_port()
            self.api_tls_port = self._read_api_port("APIS")
            if anonymous_policy is not None and self.api_port is not None:
                self.ensure_policy(anonymous_policy, self.ALLOW_ALL)
        except BaseException:
            # Never leave a broker behind when it could not be used.
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self._close_files()
            raise

    def _read_ports(self):
        def ports():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"fleetguard exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            ports = {}
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                words = line.split()
                # "MQTT listening on 127.0.0.1:<port>"
                if len(words) == 4 and words[1:3] == ["listening", "on"] and words[0] in ("MQTT", "MQTTS"):
                    ports[words[0]] = int(words[3].rsplit(":", 1)[1])
            return ports if len(ports) == 2 else None

        found = wait_for(ports, self.START_TIMEOUT, what="fleetguard to print its listening ports")
        return found["MQTT"], found["MQTTS"]

    def _read_api_port(self, what="API"):
        """The port of "API listening on <addr>:<port>" (or "APIS ..." for
        HTTPS; printed with the MQTT lines, in the same flush), or None when
        that listener is off."""
        for line in self.stdout_path.read_text(errors="replace").splitlines():
            words = line.split()
            if len(words) == 4 and words[:3] == [what, "listening", "on"]:
                return int(words[3].rsplit(":", 1)[1])
        return None

    # ------------------------------------------------ the AWS-compatible API

    @property
    def api_url(self):
        return f"http://{HOST}:{self.api_port}"

    @property
    def admin_credentials(self):
        """Path of the admin AWS shared credentials file."""
        return str(self.data_dir / "admin-credentials")

    def aws(self, *args, credentials_file=None, check=True, region="us-east-1", timeout=60):
        """Runs Debian's AWS CLI v2 (`aws --endpoint-url ... iot <args>`) against
        the broker. Returns the parsed JSON output (None when empty) when
        check=True, else the CompletedProcess."""
        import json
        env = dict(os.environ)
        env.update({"AWS_SHARED_CREDENTIALS_FILE": credentials_file or self.admin_credentials,
                    "AWS_CONFIG_FILE": os.devnull, "AWS_PAGER": "", "AWS_EC2_METADATA_DISABLED": "true"})
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(k, None)
        cmd = ["/usr/bin/aws", "--endpoint-url", self.api_url, "--region", region, "--output", "json",
               "iot", *[str(a) for a in args]]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if not check:
            return r
        assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else None

    def credentials(self):
        """(access key id, secret) of the admin key."""
        import configparser
        cp = configparser.ConfigParser()
        cp.read(self.admin_credentials)
        return cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]

    def boto3_client(self, access_key=None, secret_key=None, service="iot", region="us-east-1", https=False):
        """A boto3 client for the API (admin key unless another is given);
        https=True uses the HTTPS listener, trusting the built-in CA."""
        import boto3
        from botocore.config import Config
        if access_key is None:
            access_key, secret_key = self.credentials()
        url = f"https://{HOST}:{self.api_tls_port}" if https else self.api_url
        return boto3.session.Session().client(
            service, endpoint_url=url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=Config(retries={"max_attempts": 1}),
            verify=self.cert if https else None)

    def create_api_key(self, read_only=False):
        """Runs `fleetguard keys create` on the broker's data directory;
        returns (access key id, secret)."""
        cmd = [fleetguard_bin(), "keys", "create", "--data-dir", str(self.data_dir)]
        if read_only:
            cmd.append("--read-only")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"{' '.join(cmd)} failed: {r.stdout}{r.stderr}"
        values = dict(line.split(" = ", 1) for line in r.stdout.splitlines() if " = " in line)
        return values["aws_access_key_id"], values["aws_secret_access_key"]

    @property
    def cert(self):
        """The built-in CA's certificate: what devices trust."""
        return str(self.data_dir / "ca.pem")

    DEVICE_POLICY = "fg-test-device"

    def device(self, thing=None, active=True, policy=DEVICE_POLICY):
        """Provisions a device through the API, as a customer would: a thing
        (if named), a certificate from CreateKeysAndCertificate attached to it
        and to `policy` (by default one allowing everything; None: no policy),
        and the PEM files written next to the broker's logs."""
        iot = self.boto3_client()
        made = iot.create_keys_and_certificate(setAsActive=active)
        if policy == self.DEVICE_POLICY:
            self.ensure_policy(policy, self.ALLOW_ALL)
        if policy is not None:
            iot.attach_policy(policyName=policy, target=made["certificateArn"])
        if thing is not None:
            iot.create_thing(thingName=thing)
            iot.attach_thing_principal(thingName=thing, principal=made["certificateArn"])
        name = thing or made["certificateId"][:12]
        cert_file = self.workdir / f"{name}.cert.pem"
        key_file = self.workdir / f"{name}.key.pem"
        cert_file.write_text(made["certificatePem"])
        key_file.write_text(made["keyPair"]["PrivateKey"])
        key_file.chmod(0o600)
        return Device(thing, made["certificateId"], made["certificateArn"], str(cert_file), str(key_file),
                      self.cert)

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        """Signals the broker and waits for it to exit; returns the exit code."""
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                self.returncode = self.proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                raise AssertionError(
                    f"fleetguard did not exit within {self.STOP_TIMEOUT}s of {sig!r}:\n"
                    f"{self.log_tail()}") from None
            self._close_files()
        return self.returncode

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def kill9(self):
        """SIGKILL: the server vanishes mid-flight (no shutdown, no flush)."""
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.returncode = self.proc.wait(self.STOP_TIMEOUT)
            self._close_files()
        return self.returncode

    def restart(self, kill=False):
        """Stops this broker (SIGTERM, or SIGKILL with kill=True) and starts a
        new one on the same data directory and options; returns the new one
        (its ports differ). The caller stops the new broker."""
        if kill:
            self.kill9()
        else:
            rc = self.stop()
            assert rc == 0, f"fleetguard exited with {rc} on SIGTERM:\n{self.log_tail()}"
        return Broker(self.workdir, self.extra_args, self.anonymous_policy)

    def ensure_policy(self, name, document):
        """Creates policy `name` through the API unless it exists already."""
        iot = self.boto3_client()
        try:
            iot.create_policy(policyName=name, policyDocument=document)
        except iot.exceptions.ResourceAlreadyExistsException:
            pass


class Device:
    """A provisioned device's identity: certificate and key files, and the CA
    it trusts. Pass it as device= to the mosquitto and paho helpers."""

    def __init__(self, thing, certificate_id, certificate_arn, cert_file, key_file, cafile):
        self.thing = thing
        self.certificate_id = certificate_id
        self.certificate_arn = certificate_arn
        self.cert_file = cert_file
        self.key_file = key_file
        self.cafile = cafile

    def mosquitto_args(self):
        return ["--cafile", self.cafile, "--cert", self.cert_file, "--key", self.key_file]

    def ssl_context(self):
        """A Python client context presenting this device's certificate."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


# ---------------------------------------------------------------- mosquitto clients

# Output of mosquitto_sub for one message: a line we can parse unambiguously
# among the -d debug lines.
SUB_FORMAT = "MSG|%q|%r|%t|%p"


class Message:
    def __init__(self, qos, retain, topic, payload):
        self.qos, self.retain, self.topic, self.payload = qos, retain, topic, payload

    def __repr__(self):
        return f"Message(qos={self.qos}, retain={self.retain}, {self.topic!r}, {self.payload!r})"


def version_args(version):
    return ["-V", {311: "mqttv311", 5: "mqttv5"}[version]]


class MosquittoSub:
    """A mosquitto_sub process whose output is read line by line with deadlines.

    It runs with -d so that the SUBACK is visible: wait_subscribed() returns
    once the broker has acknowledged every subscription."""

    def __init__(self, port, topics, version=311, qos=0, count=None, timeout=20, extra=(),
                 client_id=None, tls_cafile=None, device=None):
        # stdbuf: line-buffered stdout, so every line is visible when printed.
        args = ["stdbuf", "-oL", "mosquitto_sub", "-h", HOST, "-p", str(port), *version_args(version),
                "-q", str(qos), "-d", "-F", SUB_FORMAT, "-W", str(timeout)]
        for t in ([topics] if isinstance(topics, str) else topics):
            args += ["-t", t]
        if count is not None:
            args += ["-C", str(count)]
        if client_id is not None:
            args += ["-i", client_id]
        if tls_cafile is not None:
            args += ["--cafile", tls_cafile]
        if device is not None:
            args += device.mosquitto_args()
        args += list(extra)
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace")
        self.lines = queue.Queue()
        self.output = []       # every line, for failure messages
        self.messages = []     # parsed messages, in arrival order
        self.subacks = 0
        self.connacks = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                self.output.append(line)
                if line.startswith("MSG|"):
                    _, qos, retain, topic, payload = line.split("|", 4)
                    self.messages.append(Message(int(qos), int(retain), topic, payload))
                elif "received SUBACK" in line:
                    self.subacks += 1
                elif "received CONNACK" in line:
                    self.connacks.append(line)

    def _describe(self):
        with self._lock:
            return f"{' '.join(self.args)}\noutput:\n" + "\n".join(self.output[-30:])

    def wait_subscribed(self, timeout=5.0):
        try:
            # The reader ends at EOF, after it has parsed the last lines.
            wait_for(lambda: self.subacks > 0 or not self._reader.is_alive(), timeout,
                     what="mosquitto_sub SUBACK")
        except AssertionError:
            raise AssertionError(f"mosquitto_sub got no SUBACK:\n{self._describe()}") from None
        assert self.subacks > 0, f"mosquitto_sub exited before SUBACK:\n{self._describe()}"
        return self

    def wait_messages(self, n, timeout=5.0):
        """The first n messages (waits until they have arrived)."""
        try:
            wait_for(lambda: len(self.messages) >= n, timeout, what=f"{n} messages")
        except AssertionError:
            raise AssertionError(f"mosquitto_sub received {len(self.messages)} of {n} messages:\n"
                                 f"{self._describe()}") from None
        with self._lock:
            return list(self.messages[:n])

    def wait_until(self, predicate, timeout=5.0, what="message"):
        """All messages up to and including the first one for which predicate holds."""
        def found():
            with self._lock:
                for i, m in enumerate(self.messages):
                    if predicate(m):
                        return self.messages[:i + 1]
            return None
        try:
            return wait_for(found, timeout, what=what)
        except AssertionError:
            raise AssertionError(f"mosquitto_sub did not receive {what}:\n{self._describe()}") from None

    def assert_quiet_for(self, seconds):
        """Asserts that no new message arrives within `seconds`."""
        with self._lock:
            before = len(self.messages)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) > before:
                    raise AssertionError(f"unexpected message {self.messages[before]!r}")
            time.sleep(0.02)

    def finish(self, timeout=10.0):
        """Waits for the process to exit (by -C or -W) and returns its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"mosquitto_sub did not exit:\n{self._describe()}") from None
        self._reader.join(5)
        return rc

    def kill(self):
        """SIGKILL: the client vanishes without DISCONNECT."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout:
            self.proc.stdout.close()


def mosquitto_pub(port, topic, payload=None, version=311, qos=0, retain=False, extra=(),
                  tls_cafile=None, timeout=10.0, check=True, lines=None, device=None):
    """Runs mosquitto_pub to completion. payload=None sends an empty message;
    lines=[...] publishes each line as one message over a single connection (-l)."""
    args = ["mosquitto_pub", "-h", HOST, "-p", str(port), *version_args(version),
            "-q", str(qos), "-t", topic]
    stdin_text = None
    if lines is not None:
        args.append("-l")
        stdin_text = "".join(f"{line}\n" for line in lines)
    elif payload is None:
        args.append("-n")
    else:
        args += ["-m", payload]
    if retain:
        args.append("-r")
    if tls_cafile is not None:
        args += ["--cafile", tls_cafile]
    if device is not None:
        args += device.mosquitto_args()
    args += list(extra)
    r = subprocess.run(args, input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}"
    return r


# ---------------------------------------------------------------- paho

def props(packet_type, **values):
    """paho Properties for a packet type, e.g. props(PacketTypes.PUBLISH, ContentType="x")."""
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


class PahoClient:
    """A paho client driven by our own thread (no automatic reconnect), with
    blocking helpers that wait on its callbacks with deadlines."""

    def __init__(self, port, client_id="", version=5, clean_session=None, tls_cafile=None, device=None):
        self.port = port
        self.version = version
        kwargs = {}
        if version == 311:
            kwargs["clean_session"] = True if clean_session is None else clean_session
        self.client = paho.Client(client_id=client_id,
                                  protocol=paho.MQTTv5 if version == 5 else paho.MQTTv311,
                                  **kwargs)
        if tls_cafile:
            import ssl
            self.client.tls_set(ca_certs=tls_cafile, tls_version=ssl.PROTOCOL_TLS_CLIENT,
                                certfile=device.cert_file if device else None,
                                keyfile=device.key_file if device else None)
        self.cond = threading.Condition()
        self.connack = None       # (flags, reason code int, properties)
        self.disconnected = None  # reason code int, once the connection is gone
        self.messages = []
        self.subacks = {}         # mid -> granted (list of int)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.unsubacks = set()    # mids
        self._stop = False
        self._thread = None

    # callbacks run on our loop thread
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (dict(flags), _rc_value(rc), properties)
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.disconnected = _rc_value(rc)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [_rc_value(g) for g in granted]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, *rest):
        with self.cond:
            self.unsubacks.add(mid)
            self.cond.notify_all()

    def _run(self):
        while not self._stop:
            rc = self.client.loop(0.05)
            if rc != paho.MQTT_ERR_SUCCESS:
                time.sleep(0.01)  # not connected: nothing to poll

    def _wait(self, predicate, timeout, what):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError(f"paho client {self.client._client_id!r}: timed out after "
                                     f"{timeout}s waiting for {what}")

    def connect(self, clean_start=True, keepalive=60, properties=None, expect_rc=0, timeout=5.0):
        """Connects and returns (flags, reason code, CONNACK properties)."""
        kwargs = {"keepalive": keepalive}
        if self.version == 5:
            kwargs["clean_start"] = clean_start
            kwargs["properties"] = properties
        self.client.connect(HOST, self.port, **kwargs)
        self._thread = threading.Thread(target=self._run, daemon=True)
        # Tell paho a loop thread exists: it then leaves all socket writes to
        # that thread instead of writing from the caller's (two threads writing
        # one TLS socket break paho 1.6 with SSL "bad length").
        self.client._thread = self._thread
        self._thread.start()
        self._wait(lambda: self.connack is not None or self.disconnected is not None, timeout,
                   "CONNACK")
        assert self.connack is not None, f"connection closed before CONNACK ({self.disconnected})"
        if expect_rc is not None:
            assert self.connack[1] == expect_rc, f"CONNACK reason {self.connack[1]}"
        return self.connack

    def subscribe(self, topic, qos=0, options=None, properties=None, timeout=5.0):
        """Subscribes and waits for the SUBACK; returns the granted codes."""
        if self.version == 5:
            opts = options or SubscribeOptions(qos=qos)
            rc, mid = self.client.subscribe(topic, options=opts, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == paho.MQTT_ERR_SUCCESS, f"subscribe failed: {rc}"
        self._wait(lambda: mid in self.subacks, timeout, f"SUBACK for {topic}")
        return self.subacks[mid]

    def unsubscribe(self, topic, timeout=5.0):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == paho.MQTT_ERR_SUCCESS, f"unsubscribe failed: {rc}"
        self._wait(lambda: mid in self.unsubacks, timeout, f"UNSUBACK for {topic}")

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, timeout=5.0):
        """Publishes and waits until the QoS flow is complete (sent, PUBACK, PUBCOMP)."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish failed: {info.rc}"
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish to {topic!r} not completed within {timeout}s"
        return info

    def wait_messages(self, n, timeout=5.0):
        self._wait(lambda: len(self.messages) >= n, timeout,
                   f"{n} messages (have {len(self.messages)})")
        with self.cond:
            return list(self.messages)

    def wait_until(self, predicate, timeout=5.0, what="message"):
        """All messages up to and including the first one for which predicate holds."""
        def found():
            return any(predicate(m) for m in self.messages)
        self._wait(found, timeout, what)
        with self.cond:
            for i, m in enumerate(self.messages):
                if predicate(m):
                    return list(self.messages[:i + 1])

    def wait_disconnected(self, timeout=5.0):
        self._wait(lambda: self.disconnected is not None, timeout, "disconnection")
        return self.disconnected

    def abort(self):
        """Drops the TCP connection without DISCONNECT (as a crashed device would)."""
        sock = self.client.socket()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        self.wait_disconnected()
        self.stop()

    def disconnect(self):
        """A normal DISCONNECT."""
        self.client.disconnect()
        self.wait_disconnected()
        self.stop()

    def close(self):
        """Stops the loop thread and drops the socket (test teardown)."""
        self.stop()
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def stop(self):
        self._stop = True
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
            self.client._thread = None


def let_time_pass(seconds):
    """For tests whose subject is the passing of time (expiry, delays): the wait
    is the behaviour under test, not a way to synchronise with the broker."""
    time.sleep(seconds)


def _rc_value(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


def payloads(messages):
    return [m.payload.decode() if isinstance(m.payload, bytes) else m.payload for m in messages]


__all__ = ["Broker", "MosquittoSub", "PahoClient", "PacketTypes", "Properties",
           "SubscribeOptions", "mosquitto_pub", "props", "wait_for", "payloads", "let_time_pass", "HOST"]
