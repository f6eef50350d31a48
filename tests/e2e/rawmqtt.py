"""A tiny MQTT 3.1.1 / 5.0 client for tests: it encodes and decodes packets
byte for byte and never does anything on its own (no automatic acks, no
keepalive pings, no retries), so a test can send malformed packets, withhold
acknowledgements or drop the connection at any point.

Only what the end-to-end tests need is here; it is not a general client.
"""

import socket
import ssl
import struct
import time

# Packet types.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)

PACKET_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

V311, V5 = 4, 5

# MQTT 5 properties: id -> (name, wire type).
_PROPS = {
    0x01: ("PayloadFormatIndicator", "byte"),
    0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"),
    0x08: ("ResponseTopic", "str"),
    0x09: ("CorrelationData", "bin"),
    0x0B: ("SubscriptionIdentifier", "varint"),
    0x11: ("SessionExpiryInterval", "u32"),
    0x12: ("AssignedClientIdentifier", "str"),
    0x13: ("ServerKeepAlive", "u16"),
    0x15: ("AuthenticationMethod", "str"),
    0x16: ("AuthenticationData", "bin"),
    0x17: ("RequestProblemInformation", "byte"),
    0x18: ("WillDelayInterval", "u32"),
    0x19: ("RequestResponseInformation", "byte"),
    0x1A: ("ResponseInformation", "str"),
    0x1C: ("ServerReference", "str"),
    0x1F: ("ReasonString", "str"),
    0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"),
    0x23: ("TopicAlias", "u16"),
    0x24: ("MaximumQoS", "byte"),
    0x25: ("RetainAvailable", "byte"),
    0x26: ("UserProperty", "pair"),
    0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"),
    0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
_PROP_IDS = {name: (pid, kind) for pid, (name, kind) in _PROPS.items()}
# Properties that may appear more than once; decoded as lists.
_REPEATABLE = {"UserProperty", "SubscriptionIdentifier"}


class ProtocolViolation(Exception):
    """The server sent bytes this decoder cannot make sense of."""


# ------------------------------------------------------------------ encoding

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return struct.pack("!H", n)


def u32(n):
    return struct.pack("!I", n)


def mqtt_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return u16(len(b)) + b


def properties(props):
    """Encodes a property block (with its length prefix) from a dict name -> value.
    UserProperty takes a list of (key, value); SubscriptionIdentifier an int or list."""
    body = bytearray()
    for name, value in (props or {}).items():
        pid, kind = _PROP_IDS[name]
        values = value if name in _REPEATABLE and isinstance(value, (list, tuple)) else [value]
        for v in values:
            body.append(pid)
            if kind == "byte":
                body.append(v)
            elif kind == "u16":
                body += u16(v)
            elif kind == "u32":
                body += u32(v)
            elif kind == "varint":
                body += varint(v)
            elif kind in ("str", "bin"):
                body += mqtt_str(v)
            elif kind == "pair":
                body += mqtt_str(v[0]) + mqtt_str(v[1])
    return varint(len(body)) + bytes(body)


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect_packet(client_id="", version=V5, clean_start=True, keepalive=60, props=None,
                   will=None, username=None, password=None, protocol_name="MQTT"):
    """will: dict(topic, payload, qos=0, retain=False, props=None)."""
    flags = 0
    if clean_start:
        flags |= 0x02
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    body = mqtt_str(protocol_name) + bytes([version, flags]) + u16(keepalive)
    if version == V5:
        body += properties(props)
    body += mqtt_str(client_id)
    if will:
        if version == V5:
            body += properties(will.get("props"))
        body += mqtt_str(will["topic"]) + mqtt_str(will.get("payload", b""))
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_str(password)
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                   props=None, version=V5):
    if isinstance(payload, str):
        payload = payload.encode()
    body = mqtt_str(topic)
    if qos > 0:
        body += u16(packet_id)
    if version == V5:
        body += properties(props)
    body += payload
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    return packet(PUBLISH, flags, body)


def ack_packet(ptype, packet_id, reason=None, version=V5):
    body = u16(packet_id)
    if version == V5 and reason is not None:
        body += bytes([reason])
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def subscribe_packet(packet_id, filters, version=V5, props=None):
    """filters: list of (filter, options_byte) or (filter, qos)."""
    body = u16(packet_id)
    if version == V5:
        body += properties(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(SUBSCRIBE, 0x02, body)


def subscription_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def unsubscribe_packet(packet_id, filters, version=V5):
    body = u16(packet_id)
    if version == V5:
        body += properties(None)
    for f in filters:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def disconnect_packet(reason=0, props=None, version=V5):
    if version != V5:
        return packet(DISCONNECT, 0, b"")
    return packet(DISCONNECT, 0, bytes([reason]) + properties(props))


# ------------------------------------------------------------------ decoding

class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolViolation("truncated packet")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        mult, value = 1, 0
        for _ in range(4):
            b = self.byte()
            value += (b & 0x7F) * mult
            if not b & 0x80:
                return value
            mult *= 128
        raise ProtocolViolation("malformed variable byte integer")

    def binary(self):
        return self.take(self.u16())

    def string(self):
        return self.binary().decode("utf-8")

    def properties(self):
        length = self.varint()
        end = self.pos + length
        props = {}
        while self.pos < end:
            pid = self.byte()
            if pid not in _PROPS:
                raise ProtocolViolation(f"unknown property 0x{pid:02x}")
            name, kind = _PROPS[pid]
            if kind == "byte":
                v = self.byte()
            elif kind == "u16":
                v = self.u16()
            elif kind == "u32":
                v = self.u32()
            elif kind == "varint":
                v = self.varint()
            elif kind == "str":
                v = self.string()
            elif kind == "bin":
                v = self.binary()
            else:
                v = (self.string(), self.string())
            if name in _REPEATABLE:
                props.setdefault(name, []).append(v)
            elif name in props:
                raise ProtocolViolation(f"property {name} twice")
            else:
                props[name] = v
        if self.pos != end:
            raise ProtocolViolation("property block overruns")
        return props


class Packet:
    """A decoded packet. Always has .type, .flags, .raw; other fields by type."""

    def __init__(self, ptype, flags, body, raw):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.raw = raw
        self.props = {}
        self.reason = None

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, f"type{self.type}")

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("body", "raw")}
        return f"<{self.name} {fields} raw={self.raw.hex()}>"


def decode(ptype, flags, body, raw, version):
    p = Packet(ptype, flags, body, raw)
    r = Reader(body)
    v5 = version == V5
    if ptype == CONNACK:
        p.session_present = bool(r.byte() & 0x01)
        p.reason = r.byte()
        if v5 and r.remaining():
            p.props = r.properties()
    elif ptype == PUBLISH:
        p.dup = bool(flags & 0x08)
        p.qos = (flags >> 1) & 0x03
        p.retain = bool(flags & 0x01)
        p.topic = r.string()
        p.packet_id = r.u16() if p.qos else None
        if v5:
            p.props = r.properties()
        p.payload = r.take(r.remaining())
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.packet_id = r.u16()
        p.reason = 0
        if v5 and r.remaining():
            p.reason = r.byte()
            if r.remaining():
                p.props = r.properties()
    elif ptype in (SUBACK, UNSUBACK):
        p.packet_id = r.u16()
        if v5:
            p.props = r.properties()
        p.reasons = list(r.take(r.remaining()))
    elif ptype == DISCONNECT:
        p.reason = 0
        if r.remaining():
            p.reason = r.byte()
            if r.remaining():
                p.props = r.properties()
    elif ptype == PINGRESP:
        pass
    else:
        raise ProtocolViolation(f"server sent a {p.name}")
    return p


class Closed(Exception):
    """The server closed the connection."""


class RawClient:
    """One TCP connection. recv() returns decoded packets; nothing is automatic."""

    def __init__(self, port, host="127.0.0.1", version=V5, timeout=5.0, sock=None):
        """Connects over TCP, or uses `sock` (e.g. an ssl.SSLSocket) when given."""
        self.version = version
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = bytearray()
        self.closed = False
        self.next_id = 1
        # Topic aliases the server set up towards us.
        self.aliases = {}

    # -------- sending
    def send(self, data):
        self.sock.sendall(data)

    def connect(self, client_id="", clean_start=True, keepalive=60, props=None, will=None,
                expect_reason=0, timeout=5.0, **kw):
        """Sends CONNECT and returns the CONNACK (asserting its reason code unless
        expect_reason is None)."""
        self.send(connect_packet(client_id, self.version, clean_start, keepalive, props, will, **kw))
        ack = self.recv(timeout)
        assert ack.type == CONNACK, f"expected CONNACK, got {ack!r}"
        if expect_reason is not None:
            assert ack.reason == expect_reason, f"CONNACK reason 0x{ack.reason:02x}: {ack!r}"
        return ack

    def packet_id(self):
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, packet_id=None,
                dup=False):
        """Sends a PUBLISH and returns its packet id (no waiting for acks)."""
        if qos and packet_id is None:
            packet_id = self.packet_id()
        self.send(publish_packet(topic, payload, qos, retain, dup, packet_id, props, self.version))
        return packet_id

    def publish_and_ack(self, topic, payload=b"", qos=1, retain=False, props=None, timeout=5.0):
        """Publishes and completes the QoS 1/2 flow; returns the final ack packet."""
        pid = self.publish(topic, payload, qos, retain, props)
        if qos == 0:
            return None
        if qos == 1:
            return self.expect(PUBACK, timeout, packet_id=pid)
        rec = self.expect(PUBREC, timeout, packet_id=pid)
        self.send(ack_packet(PUBREL, pid, version=self.version))
        self.expect(PUBCOMP, timeout, packet_id=pid)
        return rec

    def subscribe(self, filters, props=None, timeout=5.0):
        """filters: list of (filter, options_byte). Returns the SUBACK."""
        pid = self.packet_id()
        self.send(subscribe_packet(pid, filters, self.version, props))
        return self.expect(SUBACK, timeout, packet_id=pid)

    def ack(self, pub):
        """Acknowledges a received PUBLISH (PUBACK, or PUBREC for QoS 2)."""
        if pub.qos == 1:
            self.send(ack_packet(PUBACK, pub.packet_id, version=self.version))
        elif pub.qos == 2:
            self.send(ack_packet(PUBREC, pub.packet_id, version=self.version))

    def ping(self, timeout=5.0):
        self.send(packet(PINGREQ, 0, b""))
        return self.expect(PINGRESP, timeout)

    def disconnect(self, reason=0, props=None):
        self.send(disconnect_packet(reason, props, self.version))
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -------- receiving
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no packet from the server before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no packet from the server before the deadline") from None
        except (ConnectionResetError, ssl.SSLEOFError):
            data = b""
        if not data:
            raise Closed()
        self.buf += data

    def _frame(self):
        """A whole frame from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ProtocolViolation("malformed remaining length from server")
        if len(self.buf) < i + length:
            return None
        raw = bytes(self.buf[:i + length])
        del self.buf[:i + length]
        return raw, i

    def recv(self, timeout=5.0):
        """The next packet; raises Closed on EOF and TimeoutError past the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._frame()
            if frame:
                raw, hl = frame
                p = decode(raw[0] >> 4, raw[0] & 0x0F, raw[hl:], raw, self.version)
                if p.type == PUBLISH and "TopicAlias" in p.props:
                    alias = p.props["TopicAlias"]
                    if p.topic:
                        self.aliases[alias] = p.topic
                    else:
                        p.topic = self.aliases[alias]
                return p
            self._fill(deadline)

    def expect(self, ptype, timeout=5.0, **fields):
        """The next packet, asserting its type (and given fields)."""
        p = self.recv(timeout)
        assert p.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {p!r}"
        for k, v in fields.items():
            assert getattr(p, k) == v, f"{k}: expected {v!r}: {p!r}"
        return p

    def recv_until_closed(self, timeout=5.0):
        """Every packet received until the server closes the connection."""
        deadline = time.monotonic() + timeout
        packets = []
        while True:
            try:
                packets.append(self.recv(max(0.0, deadline - time.monotonic())))
            except Closed:
                return packets
            except TimeoutError:
                raise AssertionError(
                    f"server did not close the connection within {timeout}s; got {packets!r}") from None

    def nothing_for(self, seconds):
        """Asserts no packet arrives within `seconds` (the connection may stay open)."""
        try:
            p = self.recv(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected packet {p!r}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
