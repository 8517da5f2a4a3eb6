"""A small raw MQTT (v5 and 3.1.1) packet builder and reader, for the packet-level tests.

It writes exactly the bytes a test asks for, including bytes no real client would send
(reserved flags, duplicated properties, bad UTF-8), and reads back every packet the broker
sends, so a test can check DUP flags, topic aliases, property lists and reason codes that
a client library would hide.

    c = RawClient(host, port, version=5)
    ack = c.connect("cid", keepalive=10, props={"topic_alias_maximum": 5})
    c.subscribe([("a/#", 1)])
    c.publish("a/b", b"x", qos=1, pid=1)
    p = c.expect(PUBACK)
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

# Packet types (fixed header, high nibble).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)

TYPE_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

# MQTT 5.0 section 2.2.2.2: identifier -> (name, wire type).
PROPERTIES = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROPERTY_IDS = {name: (pid, kind) for pid, (name, kind) in PROPERTIES.items()}
# Properties that may appear more than once; they decode to lists.
REPEATABLE = {"user_property", "subscription_identifier"}


class ProtocolViolation(AssertionError):
    """The broker sent bytes that are not a valid MQTT packet."""


class Closed(Exception):
    """The broker closed the connection."""


# --- encoding -------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"variable byte integer out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def mqtt_bytes(b: bytes) -> bytes:
    """Two-byte length prefix + data (binary data, and strings once encoded)."""
    return u16(len(b)) + b


def mqtt_str(s: str | bytes) -> bytes:
    """A UTF-8 string; pass bytes to send something that is not valid UTF-8."""
    return mqtt_bytes(s if isinstance(s, bytes) else s.encode("utf-8"))


def encode_properties(props: dict[str, Any] | Iterable[tuple[str, Any]] | None) -> bytes:
    """Properties as a length-prefixed block. A dict's list values for repeatable
    properties become several entries; a list of (name, value) pairs is written as given,
    duplicates included (for protocol-error tests)."""
    if props is None:
        items: list[tuple[str, Any]] = []
    elif isinstance(props, dict):
        items = []
        for name, value in props.items():
            if name in REPEATABLE and isinstance(value, list):
                items.extend((name, v) for v in value)
            else:
                items.append((name, value))
    else:
        items = list(props)
    body = bytearray()
    for name, value in items:
        pid, kind = PROPERTY_IDS[name]
        body += varint(pid)
        if kind == "byte":
            body.append(value)
        elif kind == "u16":
            body += u16(value)
        elif kind == "u32":
            body += u32(value)
        elif kind == "varint":
            body += varint(value)
        elif kind == "str":
            body += mqtt_str(value)
        elif kind == "bin":
            body += mqtt_bytes(value)
        elif kind == "pair":
            k, v = value
            body += mqtt_str(k) + mqtt_str(v)
    return varint(len(body)) + bytes(body)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    """A whole packet: fixed header (type, flags, remaining length) + body."""
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


def connect(client_id: str | bytes = "", *, version: int = 5, clean: bool = True,
            keepalive: int = 60, username: str | bytes | None = None,
            password: bytes | str | None = None, will: dict | None = None,
            props: dict | list | None = None, reserved_flag: bool = False) -> bytes:
    """CONNECT. `will` = {"topic", "payload", "qos"=0, "retain"=False, "props"={}}."""
    flags = 0x02 if clean else 0
    if reserved_flag:
        flags |= 0x01
    will_part = b""
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == 5:
            will_part += encode_properties(will.get("props"))
        payload = will.get("payload", b"")
        will_part += mqtt_str(will["topic"]) + mqtt_bytes(
            payload.encode() if isinstance(payload, str) else payload)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = mqtt_str("MQTT") + bytes([version, flags]) + u16(keepalive)
    if version == 5:
        body += encode_properties(props)
    body += mqtt_str(client_id) + will_part
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_bytes(password.encode() if isinstance(password, str) else password)
    return packet(CONNECT, 0, body)


def publish(topic: str | bytes, payload: bytes | str = b"", *, qos: int = 0,
            retain: bool = False, dup: bool = False, pid: int | None = None,
            props: dict | list | None = None, version: int = 5) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += u16(pid if pid is not None else 1)
    if version == 5:
        body += encode_properties(props)
    return packet(PUBLISH, flags, body + payload)


def ack(ptype: int, pid: int, reason: int = 0, props: dict | None = None,
        version: int = 5) -> bytes:
    """PUBACK, PUBREC, PUBREL (flags 0b0010) or PUBCOMP."""
    body = u16(pid)
    if version == 5 and (reason or props):
        body += bytes([reason])
        if props:
            body += encode_properties(props)
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def sub_options(qos: int = 0, no_local: bool = False, retain_as_published: bool = False,
                retain_handling: int = 0) -> int:
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (
        retain_handling << 4)


def subscribe(pid: int, filters: list[tuple[str | bytes, int]], *,
              props: dict | list | None = None, version: int = 5, flags: int = 0x02) -> bytes:
    """filters: (filter, options byte) pairs; for 3.1.1 the options byte is the QoS."""
    body = u16(pid)
    if version == 5:
        body += encode_properties(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(pid: int, filters: list[str], *, version: int = 5) -> bytes:
    body = u16(pid)
    if version == 5:
        body += encode_properties(None)
    for f in filters:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def pingreq() -> bytes:
    return packet(PINGREQ, 0, b"")


def disconnect(reason: int = 0, props: dict | None = None, version: int = 5) -> bytes:
    if version != 5 or (reason == 0 and not props):
        return packet(DISCONNECT, 0, b"")
    return packet(DISCONNECT, 0, bytes([reason]) + encode_properties(props))


def auth(reason: int = 0x18, props: dict | None = None) -> bytes:
    return packet(AUTH, 0, bytes([reason]) + encode_properties(props))


# --- decoding -------------------------------------------------------------------------------

@dataclass
class Packet:
    type: int
    flags: int
    body: bytes
    # Decoded fields (those that apply to the type).
    reason: int | None = None          # CONNACK/PUBACK/.../DISCONNECT/AUTH reason code
    session_present: bool | None = None
    pid: int | None = None
    topic: str | None = None
    payload: bytes | None = None
    qos: int = 0
    retain: bool = False
    dup: bool = False
    reasons: list[int] = field(default_factory=list)   # SUBACK/UNSUBACK
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type{self.type}")

    def __repr__(self) -> str:
        parts = [self.name]
        for k in ("reason", "session_present", "pid", "topic", "payload", "qos", "retain",
                  "dup"):
            v = getattr(self, k)
            if v not in (None, False, 0) or (k == "reason" and v == 0):
                parts.append(f"{k}={v!r}")
        if self.reasons:
            parts.append(f"reasons={[hex(r) for r in self.reasons]}")
        if self.props:
            parts.append(f"props={self.props}")
        return "<" + " ".join(parts) + ">"


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolViolation(f"packet ends early: need {n} bytes at {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def left(self) -> int:
        return len(self.data) - self.pos

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def varint(self) -> int:
        n, mult = 0, 1
        for _ in range(4):
            b = self.u8()
            n += (b & 0x7F) * mult
            if not b & 0x80:
                return n
            mult *= 128
        raise ProtocolViolation("variable byte integer longer than 4 bytes")

    def bin(self) -> bytes:
        return self.take(self.u16())

    def str(self) -> str:
        raw = self.bin()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolViolation(f"invalid UTF-8 from the broker: {raw!r}") from e

    def props(self) -> dict[str, Any]:
        end = self.varint()
        end += self.pos
        out: dict[str, Any] = {}
        while self.pos < end:
            pid = self.varint()
            if pid not in PROPERTIES:
                raise ProtocolViolation(f"unknown property id {pid:#x}")
            name, kind = PROPERTIES[pid]
            value: Any
            if kind == "byte":
                value = self.u8()
            elif kind == "u16":
                value = self.u16()
            elif kind == "u32":
                value = self.u32()
            elif kind == "varint":
                value = self.varint()
            elif kind == "str":
                value = self.str()
            elif kind == "bin":
                value = self.bin()
            else:
                value = (self.str(), self.str())
            if name in REPEATABLE:
                out.setdefault(name, []).append(value)
            elif name in out:
                raise ProtocolViolation(f"broker sent property {name} twice")
            else:
                out[name] = value
        if self.pos != end:
            raise ProtocolViolation("property block length mismatch")
        return out


def decode(ptype: int, flags: int, body: bytes, version: int) -> Packet:
    p = Packet(ptype, flags, body)
    r = _Reader(body)
    v5 = version == 5
    if ptype == CONNACK:
        p.session_present = bool(r.u8() & 1)
        p.reason = r.u8()
        if v5 and r.left():
            p.props = r.props()
    elif ptype == PUBLISH:
        p.qos, p.retain, p.dup = (flags >> 1) & 3, bool(flags & 1), bool(flags & 8)
        p.topic = r.str()
        if p.qos:
            p.pid = r.u16()
        if v5:
            p.props = r.props()
        p.payload = r.take(r.left())
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.pid = r.u16()
        p.reason = 0
        if v5 and r.left():
            p.reason = r.u8()
            if r.left():
                p.props = r.props()
    elif ptype in (SUBACK, UNSUBACK):
        p.pid = r.u16()
        if v5:
            p.props = r.props()
        p.reasons = list(r.take(r.left()))
    elif ptype in (DISCONNECT, AUTH):
        p.reason = 0
        if r.left():
            p.reason = r.u8()
            if r.left():
                p.props = r.props()
    elif ptype == PINGRESP:
        pass
    else:
        raise ProtocolViolation(f"broker sent a {p.name} packet")
    return p


# --- a blocking client over one socket ----------------------------------------------------

class RawClient:
    """One TCP connection speaking raw MQTT. Reads are blocking with timeouts."""

    def __init__(self, host: str, port: int, version: int = 5, timeout: float = 5.0):
        self.version = version
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self.closed_at: float | None = None   # time.monotonic() when the close was seen
        self.last_sent: float = time.monotonic()

    # sending
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.last_sent = time.monotonic()

    def connect(self, client_id: str | bytes = "", expect_connack: bool = True,
                **kw: Any) -> Packet | None:
        kw.setdefault("version", self.version)
        self.send(connect(client_id, **kw))
        if not expect_connack:
            return None
        return self.expect(CONNACK)

    def publish(self, topic: str | bytes, payload: bytes | str = b"", **kw: Any) -> None:
        kw.setdefault("version", self.version)
        self.send(publish(topic, payload, **kw))

    def subscribe(self, filters: list[tuple[str | bytes, int]], pid: int = 1,
                  props: dict | list | None = None) -> Packet:
        self.send(subscribe(pid, filters, props=props, version=self.version))
        return self.expect(SUBACK)

    def ack(self, ptype: int, pid: int, reason: int = 0) -> None:
        self.send(ack(ptype, pid, reason, version=self.version))

    def disconnect(self, reason: int = 0, props: dict | None = None) -> None:
        try:
            self.send(disconnect(reason, props, version=self.version))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # receiving
    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False on timeout. Raises Closed at EOF or reset."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, OSError):
            chunk = b""
        if not chunk:
            if not self.closed:
                self.closed, self.closed_at = True, time.monotonic()
            raise Closed()
        self.buf += chunk
        return True

    def _take_packet(self) -> Packet | None:
        if len(self.buf) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mult
            i += 1
            if not b & 0x80:
                break
            mult *= 128
            if i > 4:
                raise ProtocolViolation("remaining length longer than 4 bytes")
        if len(self.buf) < i + n:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + n])
        del self.buf[:i + n]
        return decode(first >> 4, first & 0x0F, body, self.version)

    def recv(self, timeout: float | None = None) -> Packet | None:
        """The next packet, or None on timeout. Raises Closed if the broker closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            p = self._take_packet()
            if p is not None:
                return p
            if self.closed:
                raise Closed()
            if not self._fill(deadline):
                return None

    def expect(self, ptype: int, timeout: float | None = None, skip: Iterable[int] = ()) -> Packet:
        """The next packet, which must be of `ptype` (types in `skip` are passed over)."""
        while True:
            try:
                p = self.recv(timeout)
            except Closed:
                raise AssertionError(f"connection closed while waiting for {TYPE_NAMES[ptype]}")
            if p is None:
                raise AssertionError(f"no {TYPE_NAMES[ptype]} within {timeout or self.timeout} s")
            if p.type in skip:
                continue
            if p.type != ptype:
                raise AssertionError(f"expected {TYPE_NAMES[ptype]}, got {p!r}")
            return p

    def drain(self, timeout: float = 0.5) -> list[Packet]:
        """Every packet that arrives within `timeout` (stops early if the broker closes)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                p = self.recv(max(0.0, deadline - time.monotonic()))
            except Closed:
                return out
            if p is None:
                return out
            out.append(p)

    def wait_closed(self, timeout: float = 5.0) -> tuple[list[Packet], float | None]:
        """Reads until the broker closes: (packets seen, monotonic time of the close), or
        (packets, None) if it is still open after `timeout`."""
        seen: list[Packet] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                p = self.recv(max(0.0, deadline - time.monotonic()))
            except Closed:
                return seen, self.closed_at
            if p is None:
                return seen, None
            seen.append(p)

    def is_open(self, timeout: float = 0.5) -> bool:
        """Pings and waits for PINGRESP: whether the connection still works."""
        try:
            self.send(pingreq())
        except OSError:
            return False
        try:
            while True:
                p = self.recv(timeout)
                if p is None:
                    return False
                if p.type == PINGRESP:
                    return True
        except Closed:
            return False
