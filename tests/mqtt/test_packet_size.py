"""Maximum Packet Size both ways (§3.1.2.11.4, §3.2.2.3.6): CONNACK announces the server's
limit, a bigger packet from a client gets DISCONNECT 0x95, a packet of exactly the limit is
accepted, and the server drops (does not send) messages bigger than the client's limit."""

import pytest

import expect
from rawmqtt import DISCONNECT, PUBACK, PUBLISH, publish

MAX = 2048


def _publish_of_size(topic: str, size: int, pid: int) -> bytes:
    """A v5 QoS 1 PUBLISH of exactly `size` bytes on the wire."""
    empty = publish(topic, b"", qos=1, pid=pid)
    payload_len = size - len(empty)
    for _ in range(3):   # the remaining-length field may grow by a byte
        pkt = publish(topic, b"x" * payload_len, qos=1, pid=pid)
        if len(pkt) == size:
            return pkt
        payload_len += size - len(pkt)
    raise AssertionError("could not build a packet of that size")


@pytest.mark.broker_config(mqtt={"max_packet_bytes": MAX})
def test_connack_announces_maximum_packet_size(raw, uid):
    ack = raw().connect(uid("c"))
    assert ack.props.get("maximum_packet_size") == MAX, ack


@pytest.mark.broker_config(mqtt={"max_packet_bytes": MAX})
def test_packet_of_exactly_the_maximum_is_accepted(raw, mqtt, uid):
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    c = raw()
    c.connect(uid("p"))
    c.send(_publish_of_size(topic, MAX, pid=1))
    assert c.expect(PUBACK).reason == 0
    assert len(sub.recv().payload) > MAX - 100


def _too_large(raw, mqtt, uid, size):
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    c.connect(uid("p"))
    c.send(_publish_of_size(topic, size, pid=1))
    seen, closed = c.wait_closed(3)
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason == expect.PACKET_TOO_LARGE, seen
    assert closed is not None
    assert healthy.is_open()
    sub.expect_nothing(0.3)


@pytest.mark.broker_config(mqtt={"max_packet_bytes": MAX})
def test_bigger_packet_gets_packet_too_large(raw, mqtt, uid):
    _too_large(raw, mqtt, uid, MAX + 100)


@pytest.mark.mosquitto_deviates("§3.2.2.3.6: the packet size is the whole packet; Mosquitto "
                                "2.0 lets packets up to 2 bytes over its max_packet_size in")
@pytest.mark.broker_config(mqtt={"max_packet_bytes": MAX})
def test_one_byte_over_the_maximum(raw, mqtt, uid):
    _too_large(raw, mqtt, uid, MAX + 1)


def test_server_drops_messages_bigger_than_the_client_maximum(raw, mqtt, uid):
    """[MQTT-3.1.2-25]: the server must not send a packet bigger than the client's Maximum
    Packet Size; it discards the message for that client (others still get it)."""
    topic = uid("t")
    small = raw()
    small.connect(uid("small"), props={"maximum_packet_size": 200})
    small.subscribe([(topic, 1)])
    big = mqtt(uid("big"))
    big.subscribe(topic, qos=1)
    pub = mqtt(uid("p"))
    assert pub.publish(topic, b"x" * 500, qos=1) in (0, 0x10)
    pub.publish(topic, b"fits", qos=1)
    got = [p.payload for p in small.drain(1.0) if p.type == PUBLISH]
    assert got == [b"fits"]
    assert [m.payload for m in big.recv_n(2)] == [b"x" * 500, b"fits"]
    assert small.is_open()
