"""A thin, synchronous wrapper around paho-mqtt 2.x for tests: connect and wait for the
CONNACK, subscribe and wait for the SUBACK, publish and wait for the acknowledgment, and a
queue of received messages.

It runs its own network thread over `Client.loop()` and never reconnects by itself (paho's
loop_start would, which makes takeover and refusal tests ping-pong).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

WAIT_S = 5.0


def props(packet_type: int, values: dict[str, Any] | None) -> Properties | None:
    """paho Properties from {"SessionExpiryInterval": 10, "UserProperty": [("k", "v")], ...}."""
    if not values:
        return None
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def props_dict(p: Properties | None) -> dict[str, Any]:
    if p is None:
        return {}
    out = {}
    for name in p.names:
        key = name.replace(" ", "")
        if hasattr(p, key):
            out[key] = getattr(p, key)
    return out


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    props: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0   # time.monotonic() of arrival


class Client:
    def __init__(self, host: str, port: int, client_id: str = "", version: int = 5,
                 clean: bool = True, keepalive: int = 60, session_expiry: int | None = None,
                 connect_props: dict[str, Any] | None = None,
                 will: dict[str, Any] | None = None,
                 username: str | None = None, password: str | bytes | None = None):
        self.host, self.port, self.version = host, port, version
        self.clean, self.keepalive = clean, keepalive
        self.connect_props = dict(connect_props or {})
        if session_expiry is not None:
            self.connect_props["SessionExpiryInterval"] = session_expiry
        kwargs: dict[str, Any] = dict(callback_api_version=CallbackAPIVersion.VERSION2,
                                      client_id=client_id,
                                      protocol=paho.MQTTv5 if version == 5 else paho.MQTTv311)
        if version != 5:
            kwargs["clean_session"] = clean
        self.c = paho.Client(**kwargs)
        self.c.enable_logger()   # paho's log goes to the "paho" logger (pytest shows it on failure)
        if username is not None or password is not None:
            self.c.username_pw_set(username, password)  # type: ignore[arg-type]
        if will is not None:
            self.c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                            will.get("retain", False),
                            props(PacketTypes.WILLMESSAGE, will.get("props")))
        self.messages: queue.Queue[Message] = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack_reason: int | None = None
        self.session_present: bool | None = None
        self.connack_props: dict[str, Any] = {}
        self.disconnect_reason: int | None = None
        self._acks: dict[int, tuple[threading.Event, list]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish

    # --- callbacks (network thread) ---
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack_reason = int(reason_code.value) if hasattr(reason_code, "value") else int(reason_code)
        self.session_present = bool(flags.session_present)
        self.connack_props = props_dict(properties)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnect_reason = int(reason_code.value) if hasattr(reason_code, "value") else int(reason_code)
        self.disconnected.set()
        self._stop.set()

    def _on_message(self, client, userdata, msg):
        self.messages.put(Message(msg.topic, msg.payload, msg.qos, bool(msg.retain),
                                  bool(msg.dup), props_dict(getattr(msg, "properties", None)),
                                  time.monotonic()))

    def _ack(self, mid: int, value: Any) -> None:
        with self._lock:
            ev, box = self._acks.setdefault(mid, (threading.Event(), []))
        box.append(value)
        ev.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._ack(mid, [int(rc.value) if hasattr(rc, "value") else int(rc) for rc in reason_codes])

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        self._ack(mid, [int(rc.value) if hasattr(rc, "value") else int(rc) for rc in reason_codes])

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._ack(mid, int(reason_code.value) if hasattr(reason_code, "value") else int(reason_code))

    def _wait_ack(self, mid: int, timeout: float) -> Any:
        with self._lock:
            ev, box = self._acks.setdefault(mid, (threading.Event(), []))
        if not ev.wait(timeout):
            raise AssertionError(f"no acknowledgment for message id {mid} within {timeout} s")
        with self._lock:
            del self._acks[mid]
        return box[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            rc = self.c.loop(timeout=0.05)
            if rc != paho.MQTT_ERR_SUCCESS and not self._stop.is_set():
                # The connection is gone (closed by the broker or refused).
                if not self.disconnected.is_set():
                    self.disconnected.set()
                break

    # --- API ---
    def connect(self, expect_success: bool = True, timeout: float = WAIT_S) -> "Client":
        kw: dict[str, Any] = {"keepalive": self.keepalive}
        if self.version == 5:
            kw["clean_start"] = self.clean
            kw["properties"] = props(PacketTypes.CONNECT, self.connect_props)
        self.c.connect(self.host, self.port, **kw)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not (self.connected.wait(timeout) or self.disconnected.is_set()):
            raise AssertionError(f"no CONNACK within {timeout} s")
        if expect_success and self.connack_reason != 0:
            raise AssertionError(f"CONNACK refused: {self.connack_reason!r}")
        return self

    def subscribe(self, topic: str | list, qos: int = 0, sub_props: dict | None = None,
                  timeout: float = WAIT_S, **opts: Any) -> list[int]:
        """Returns the SUBACK reason codes. opts (v5): no_local, retain_as_published,
        retain_handling."""
        names = {"no_local": "noLocal", "retain_as_published": "retainAsPublished",
                 "retain_handling": "retainHandling"}
        opts = {names.get(k, k): v for k, v in opts.items()}
        if self.version == 5:
            if isinstance(topic, list):
                arg: Any = [(t, SubscribeOptions(qos=q, **opts)) for t, q in topic]
                rc, mid = self.c.subscribe(arg, properties=props(PacketTypes.SUBSCRIBE, sub_props))
            else:
                rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **opts),
                                           properties=props(PacketTypes.SUBSCRIBE, sub_props))
        else:
            rc, mid = self.c.subscribe(topic if isinstance(topic, list) else (topic, qos))
        assert rc == paho.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        return self._wait_ack(mid, timeout)

    def unsubscribe(self, topic: str, timeout: float = WAIT_S) -> list[int]:
        rc, mid = self.c.unsubscribe(topic)
        assert rc == paho.MQTT_ERR_SUCCESS
        return self._wait_ack(mid, timeout)

    def publish(self, topic: str, payload: bytes | str = b"", qos: int = 0, retain: bool = False,
                pub_props: dict | None = None, wait: bool = True,
                timeout: float = WAIT_S) -> int | None:
        """Publishes; for QoS 1/2 waits for the flow to finish and returns the PUBACK/PUBREC
        reason code (0 when the broker gave none)."""
        info = self.c.publish(topic, payload, qos, retain,
                              props(PacketTypes.PUBLISH, pub_props))
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish failed locally: {info.rc}"
        if not wait:
            return None
        if qos == 0:
            info.wait_for_publish(timeout)
            return None
        return self._wait_ack(info.mid, timeout)

    def recv(self, timeout: float = WAIT_S) -> Message:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def recv_n(self, n: int, timeout: float = WAIT_S) -> list[Message]:
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(out)} of {n} messages within {timeout} s: "
                                     f"{[(m.topic, m.payload) for m in out]}")
            try:
                out.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                pass
        return out

    def drain(self, timeout: float = 0.5) -> list[Message]:
        """Every message that arrives within `timeout`."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                out.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                return out

    def expect_nothing(self, timeout: float = 0.5) -> None:
        got = self.drain(timeout)
        assert not got, f"unexpected messages: {[(m.topic, m.payload) for m in got]}"

    def disconnect(self, reason: int = 0, disconnect_props: dict | None = None) -> None:
        """A normal DISCONNECT (reason 0x04 "with will message" keeps the will)."""
        if not self.disconnected.is_set():
            if self.version == 5:
                from paho.mqtt.reasoncodes import ReasonCode
                rc = ReasonCode(PacketTypes.DISCONNECT, identifier=reason)
                self.c.disconnect(rc, props(PacketTypes.DISCONNECT, disconnect_props))
            else:
                self.c.disconnect()
            self.disconnected.wait(WAIT_S)
        self.close()

    def close(self) -> None:
        """Stops the thread and drops the socket without a DISCONNECT (an abnormal close)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
