"""Receive Maximum both ways (§3.3.4, flow control §4.9): a client that exceeds the server's
Receive Maximum with unacknowledged QoS 2 PUBLISHes gets DISCONNECT 0x93; the server never
has more unacknowledged QoS 1/2 PUBLISHes out to a client than the client's Receive Maximum
(nor than its own in-flight limit)."""

import pytest

import expect
from rawmqtt import DISCONNECT, PUBACK, PUBLISH, PUBREC, RawClient

SERVER_RM = 5


@pytest.mark.broker_config(mqtt={"receive_maximum": SERVER_RM, "max_inflight": SERVER_RM})
def test_connack_announces_receive_maximum(raw, uid):
    ack = raw().connect(uid("c"))
    assert ack.props.get("receive_maximum") == SERVER_RM, ack


@pytest.mark.mosquitto_deviates("§3.3.4: exceeding the server's Receive Maximum -> DISCONNECT "
                                "0x93; Mosquitto 2.0 answers PUBREC 0x97 and stays connected")
@pytest.mark.broker_config(mqtt={"receive_maximum": SERVER_RM, "max_inflight": SERVER_RM})
def test_client_exceeding_receive_maximum_is_disconnected(raw, uid):
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    ack = c.connect(uid("greedy"))
    rm = ack.props.get("receive_maximum", 65535)
    assert rm == SERVER_RM
    for pid in range(1, rm + 1):           # rm unfinished QoS 2 flows: allowed
        c.publish(uid("t"), b"x", qos=2, pid=pid)
    recs = [c.expect(PUBREC) for _ in range(rm)]
    assert all(r.reason < 0x80 for r in recs), recs
    c.publish(uid("t"), b"one too many", qos=2, pid=rm + 1)
    seen, closed = c.wait_closed(3)
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason == expect.RECEIVE_MAXIMUM_EXCEEDED, seen
    assert closed is not None
    assert healthy.is_open()


def _max_in_flight(sub: RawClient, total: int) -> tuple[int, list[bytes]]:
    """Receives `total` QoS 1 messages, acknowledging one at a time only when nothing else
    arrives; returns the largest number ever unacknowledged and the payloads."""
    in_flight: list[int] = []
    peak, payloads = 0, []
    while len(payloads) < total:
        got = [p for p in sub.drain(0.4) if p.type == PUBLISH]
        for p in got:
            in_flight.append(p.pid)
            payloads.append(p.payload)
        peak = max(peak, len(in_flight))
        if not in_flight:
            raise AssertionError(f"stalled after {len(payloads)} of {total} messages")
        sub.ack(PUBACK, in_flight.pop(0))
    for pid in in_flight:
        sub.ack(PUBACK, pid)
    return peak, payloads


@pytest.mark.mosquitto_deviates("[MQTT-3.3.4-9]: the server must not exceed the client's "
                                "Receive Maximum; Mosquitto 2.0.11 sends two new PUBLISHes per "
                                "PUBACK once the window has filled")
def test_server_respects_the_client_receive_maximum(raw, mqtt, uid):
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"), props={"receive_maximum": 2})
    sub.subscribe([(topic, 1)])
    pub = mqtt(uid("p"))
    for i in range(10):
        pub.publish(topic, b"%d" % i, qos=1)
    peak, payloads = _max_in_flight(sub, 10)
    assert payloads == [b"%d" % i for i in range(10)]
    assert peak <= 2, f"{peak} unacknowledged PUBLISHes with the client's Receive Maximum 2"


@pytest.mark.mosquitto_deviates("max_inflight_messages is not kept once the window has "
                                "filled (as above)")
@pytest.mark.broker_config(mqtt={"receive_maximum": 3, "max_inflight": 3})
def test_server_in_flight_limit(raw, mqtt, uid):
    """The server's own in-flight limit (max_inflight) holds even when the client allows
    more; the rest wait in the session queue and all arrive in order."""
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"), props={"receive_maximum": 100})
    sub.subscribe([(topic, 1)])
    pub = mqtt(uid("p"))
    for i in range(10):
        pub.publish(topic, b"%d" % i, qos=1)
    peak, payloads = _max_in_flight(sub, 10)
    assert payloads == [b"%d" % i for i in range(10)]
    assert peak <= 3, f"{peak} unacknowledged PUBLISHes with max_inflight 3"
