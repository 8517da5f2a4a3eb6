"""QoS 0, 1 and 2: round trips, downgrade to the subscription's QoS, exactly-once in the face
of a resent QoS 2 PUBLISH, ordering, and redelivery of unacknowledged messages (with DUP and
the original packet identifiers) when a persistent session reconnects."""

import pytest

from rawmqtt import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL
from rawmqtt import ack as ack_packet


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_round_trip(mqtt, uid, qos, version):
    topic = uid("t")
    sub = mqtt(uid("s"), version=version)
    assert sub.subscribe(topic, qos=qos) == [qos]
    pub = mqtt(uid("p"), version=version)
    rc = pub.publish(topic, b"payload-%d" % qos, qos=qos)
    if qos:
        assert rc == 0
    m = sub.recv()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"payload-%d" % qos, qos, False)
    sub.expect_nothing(0.3)


@pytest.mark.parametrize("sub_qos,pub_qos", [(0, 2), (1, 2), (2, 1), (0, 1)])
def test_delivered_at_the_lower_qos(mqtt, uid, sub_qos, pub_qos):
    """§3.8.4: the delivery QoS is the minimum of the published and the granted QoS."""
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=sub_qos)
    mqtt(uid("p")).publish(topic, b"x", qos=pub_qos)
    assert sub.recv().qos == min(sub_qos, pub_qos)


def test_qos1_order_is_kept(mqtt, uid):
    """§4.6: messages from one publisher on one topic arrive in order."""
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    pub = mqtt(uid("p"))
    for i in range(50):
        pub.publish(topic, b"%d" % i, qos=1, wait=False)
    got = [int(m.payload) for m in sub.recv_n(50)]
    assert got == list(range(50))


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_qos2_resent_publish_is_delivered_once(raw, mqtt, uid, version):
    """§4.3.3: a QoS 2 PUBLISH resent (DUP) before PUBREL is not delivered twice."""
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=2)
    p = raw(version=version)
    p.connect(uid("p"))
    p.publish(topic, b"once", qos=2, pid=7)
    assert p.expect(PUBREC).pid == 7
    p.publish(topic, b"once", qos=2, pid=7, dup=True)
    assert p.expect(PUBREC).pid == 7
    p.ack(PUBREL, 7)
    assert p.expect(PUBCOMP).pid == 7
    assert sub.recv().payload == b"once"
    sub.expect_nothing(0.5)


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_unacknowledged_messages_are_redelivered_with_dup(raw, mqtt, uid, version):
    """§4.4 [MQTT-4.4.0-1]: on reconnect with a kept session the server resends unacknowledged
    PUBLISH packets with their original packet identifiers, DUP set [MQTT-3.3.1-1]."""
    cid, topic = uid("s"), uid("t")
    props = {"session_expiry_interval": 60} if version == 5 else None
    s = raw(version=version)
    s.connect(cid, clean=version == 5, props=props)   # 3.1.1 keeps the session with clean=0
    s.subscribe([(topic, 2)])
    pub = mqtt(uid("p"))
    pub.publish(topic, b"q1", qos=1)
    pub.publish(topic, b"q2", qos=2)
    first = [s.expect(PUBLISH), s.expect(PUBLISH)]
    assert [(p.payload, p.qos, p.dup) for p in first] == [(b"q1", 1, False), (b"q2", 2, False)]
    s.close()   # no PUBACK, no PUBREC

    s = raw(version=version)
    ack = s.connect(cid, clean=False, props=props)
    assert ack.session_present is True
    again = [s.expect(PUBLISH), s.expect(PUBLISH)]
    assert [(p.payload, p.qos, p.dup) for p in again] == [(b"q1", 1, True), (b"q2", 2, True)]
    assert [p.pid for p in again] == [p.pid for p in first]
    # Acknowledge now: nothing more comes.
    s.ack(PUBACK, again[0].pid)
    s.ack(PUBREC, again[1].pid)
    assert s.expect(PUBREL).pid == again[1].pid
    s.ack(PUBCOMP, again[1].pid)
    assert s.drain(0.5) == []


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_pubrel_is_resent_after_reconnect(raw, mqtt, uid, version):
    """§4.4: after PUBREC the server resends PUBREL (not the PUBLISH) on reconnect."""
    cid, topic = uid("s"), uid("t")
    props = {"session_expiry_interval": 60} if version == 5 else None
    s = raw(version=version)
    s.connect(cid, clean=version == 5, props=props)
    s.subscribe([(topic, 2)])
    mqtt(uid("p")).publish(topic, b"q2", qos=2)
    p = s.expect(PUBLISH)
    s.ack(PUBREC, p.pid)
    assert s.expect(PUBREL).pid == p.pid
    s.close()   # no PUBCOMP

    s = raw(version=version)
    s.connect(cid, clean=False, props=props)
    rel = s.expect(PUBREL)
    assert rel.pid == p.pid
    assert rel.flags == 0x02
    s.ack(PUBCOMP, p.pid)
    assert [x for x in s.drain(0.5) if x.type == PUBLISH] == []


def test_publisher_qos1_puback_and_qos2_flow(raw, uid):
    """The server's side of the publisher flows, at the packet level."""
    p = raw()
    p.connect(uid("p"))
    p.publish(uid("t"), b"a", qos=1, pid=11)
    ack = p.expect(PUBACK)
    assert ack.pid == 11 and ack.reason in (0, 0x10)   # 0x10: no matching subscribers
    p.publish(uid("t"), b"b", qos=2, pid=12)
    rec = p.expect(PUBREC)
    assert rec.pid == 12 and rec.reason in (0, 0x10)
    p.send(ack_packet(PUBREL, 12))
    assert p.expect(PUBCOMP).pid == 12
