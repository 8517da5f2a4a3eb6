"""Malformed packets and protocol errors over raw sockets (§4.13, §2, §3.3): the offender gets
a DISCONNECT with the right reason code (MQTT 5) or a plain close (3.1.1, which has no server
DISCONNECT), and a second, healthy connection keeps working throughout.

The reason codes come from expect.MALFORMED: against shardhub its own choice, against
Mosquitto any code the specification allows."""

import pytest

from rawmqtt import (CONNACK, DISCONNECT, PUBACK, PUBLISH, connect, mqtt_str, packet, publish,
                     subscribe, u16)
from util import allowed_codes

NO_DISCONNECT = ("§4.13.1: on a Malformed Packet or Protocol Error the server SHOULD send "
                 "DISCONNECT with the reason code before closing; Mosquitto 2.0 only closes here")


def _qos3(version):
    body = mqtt_str("a/b") + u16(1) + (b"\x00" if version == 5 else b"") + b"x"
    return packet(PUBLISH, 0x06, body)


def _qos0_dup(version):
    body = mqtt_str("a/b") + (b"\x00" if version == 5 else b"") + b"x"
    return packet(PUBLISH, 0x08, body)


# case id -> (expect.MALFORMED key, bytes builder(version))
CASES = {
    "subscribe_reserved_flags": ("reserved_flags",
                                 lambda v: subscribe(1, [("a", 0)], version=v, flags=0x00)),
    "publish_qos3": ("publish_qos3", _qos3),
    "publish_qos0_dup": ("publish_qos0_dup", _qos0_dup),
    "publish_wildcard_plus": ("publish_wildcard", lambda v: publish("a/+", b"x", version=v)),
    "publish_wildcard_hash": ("publish_wildcard", lambda v: publish("a/#", b"x", version=v)),
    "invalid_utf8_topic": ("invalid_utf8", lambda v: publish(b"a/\xff\xfe", b"x", version=v)),
    "utf8_surrogate_topic": ("invalid_utf8",
                             lambda v: publish(b"a/\xed\xa0\x80", b"x", version=v)),
    "utf8_null_topic": ("utf8_null", lambda v: publish(b"a/\x00b", b"x", version=v)),
    "second_connect": ("second_connect", lambda v: connect("again", version=v)),
    "packet_id_zero": ("packet_id_zero",
                       lambda v: publish("a/b", b"x", qos=1, pid=0, version=v)),
    "remaining_length_too_long": ("remaining_length_too_long",
                                  lambda v: bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])),
    "reserved_packet_type": ("reserved_packet_type", lambda v: bytes([0x00, 0x00])),
}

V5_ONLY = {
    "topic_alias_zero": ("topic_alias_zero",
                         lambda v: publish("a/b", b"x", props={"topic_alias": 0})),
    "duplicate_property": ("duplicate_property",
                           lambda v: publish("a/b", b"x", props=[("message_expiry_interval", 5),
                                                                 ("message_expiry_interval", 6)])),
    "duplicate_content_type": ("duplicate_property",
                               lambda v: publish("a/b", b"x", props=[("content_type", "a"),
                                                                     ("content_type", "b")])),
    "unknown_property": ("unknown_property",
                         lambda v: packet(PUBLISH, 0, mqtt_str("a/b") + b"\x02\x7f\x00" + b"x")),
    "property_not_allowed": ("property_not_allowed",
                             lambda v: publish("a/b", b"x",
                                               props={"session_expiry_interval": 5})),
}

# Cases where Mosquitto 2.0.11 closes without a DISCONNECT (found by running the suite).
MOSQUITTO_SILENT = {"duplicate_property", "duplicate_content_type", "remaining_length_too_long",
                    "second_connect"}
# [MQTT-3.3.1-2] obliges the sender (DUP must be 0 at QoS 0); refusing such a packet as
# malformed is shardhub's choice (net/src/mqtt/error.rs, DupAtQos0). Mosquitto accepts it.
SHARDHUB_STRICT = {"publish_qos0_dup"}


def _params(cases, v5=True):
    out = []
    for name, (key, build) in cases.items():
        marks = []
        if v5 and name in MOSQUITTO_SILENT:
            marks.append(pytest.mark.mosquitto_deviates(NO_DISCONNECT))
        if name in SHARDHUB_STRICT:
            marks.append(pytest.mark.shardhub_only)
        out.append(pytest.param(key, build, id=name, marks=marks))
    return out


def _healthy(raw, uid, version):
    """A connection with a subscription, to show it is untouched by another's error."""
    c = raw(version=version)
    assert c.connect(uid("healthy")).reason == 0
    topic = uid("t")
    assert c.subscribe([(topic, 1)]).reasons == [1]
    return c, topic


def _still_works(c, topic):
    c.publish(topic, b"still here", qos=1, pid=99)
    got = [c.recv(2), c.recv(2)]
    for p in got:
        if p is not None and p.type == PUBLISH and p.qos:
            c.ack(PUBACK, p.pid)
    got += c.drain(0.2)
    assert [p.payload for p in got if p.type == PUBLISH] == [b"still here"], got
    assert [p.pid for p in got if p.type == PUBACK] == [99], got


@pytest.mark.parametrize("key,build", _params({**CASES, **V5_ONLY}))
def test_v5_offender_gets_disconnect_with_reason(raw, uid, key, build):
    healthy, topic = _healthy(raw, uid, 5)
    bad = raw()
    assert bad.connect(uid("bad")).reason == 0
    bad.send(build(5))
    seen, closed = bad.wait_closed(3)
    assert closed is not None, f"offender still connected; it got {seen}"
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc, f"closed without a DISCONNECT (packets seen: {seen})"
    assert disc[0].reason in allowed_codes(key), (
        f"DISCONNECT reason {disc[0].reason:#04x}, expected one of "
        f"{sorted(hex(c) for c in allowed_codes(key))}")
    _still_works(healthy, topic)


@pytest.mark.parametrize("key,build", _params(CASES, v5=False))
def test_v311_offender_is_closed(raw, uid, key, build):
    healthy, topic = _healthy(raw, uid, 4)
    bad = raw(version=4)
    assert bad.connect(uid("bad")).reason == 0
    bad.send(build(4))
    seen, closed = bad.wait_closed(3)
    assert closed is not None, f"offender still connected; it got {seen}"
    assert not [p for p in seen if p.type == DISCONNECT], "3.1.1 has no server DISCONNECT"
    _still_works(healthy, topic)


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_first_packet_must_be_connect(raw, uid, version):
    """[MQTT-3.1.0-1]: anything before CONNECT closes the connection."""
    healthy, topic = _healthy(raw, uid, version)
    c = raw(version=version)
    c.send(publish("a/b", b"x", version=version))
    seen, closed = c.wait_closed(3)
    assert closed is not None
    assert not [p for p in seen if p.type == CONNACK and p.reason == 0]
    _still_works(healthy, topic)


def test_invalid_utf8_client_id(raw, uid):
    """§1.5.4: a bad string in CONNECT: CONNACK 0x81/0x85 (optional), then close."""
    healthy, topic = _healthy(raw, uid, 5)
    c = raw()
    c.send(connect(b"bad\xff\xfeid"))
    seen, closed = c.wait_closed(3)
    assert closed is not None
    acks = [p for p in seen if p.type == CONNACK]
    assert not acks or acks[0].reason in allowed_codes("connect_invalid_utf8"), acks
    _still_works(healthy, topic)


def test_truncated_packet_then_close_leaves_others_alone(raw, uid):
    """Half a packet and a hang-up must not disturb anyone else."""
    healthy, topic = _healthy(raw, uid, 5)
    c = raw()
    c.connect(uid("half"))
    full = publish("a/b", b"x" * 100, qos=1, pid=3)
    c.send(full[:20])
    c.close()
    _still_works(healthy, topic)
