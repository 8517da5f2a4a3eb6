"""Message Expiry Interval (§3.3.2.3.3): an expired message is not delivered from the offline
queue (nor as a retained message), to within a second; what is delivered carries the
remaining interval."""

import time

from rawmqtt import PUBLISH

EXPIRY = 2


def _offline_subscriber(mqtt, cid, topic):
    s = mqtt(cid, session_expiry=300)
    s.subscribe(topic, qos=1)
    s.disconnect()


def _resume(mqtt, cid):
    return mqtt(cid, session_expiry=300, clean=False)


def test_expired_messages_are_not_delivered_from_the_queue(mqtt, uid):
    topic = uid("t")
    early, late = uid("early"), uid("late")
    _offline_subscriber(mqtt, early, topic)
    _offline_subscriber(mqtt, late, topic)
    pub = mqtt(uid("p"))
    pub.publish(topic, b"short", qos=1, pub_props={"MessageExpiryInterval": EXPIRY})
    pub.publish(topic, b"long", qos=1, pub_props={"MessageExpiryInterval": 60})
    pub.publish(topic, b"forever", qos=1)
    t0 = time.monotonic()

    # Just before the short expiry: all three, the short one with little time left.
    time.sleep(max(0.0, t0 + EXPIRY - 0.7 - time.monotonic()))
    got = {m.payload: m for m in _resume(mqtt, early).recv_n(3)}
    assert set(got) == {b"short", b"long", b"forever"}
    assert got[b"short"].props.get("MessageExpiryInterval", 0) <= EXPIRY - 1

    # A second after it: the short one is gone.
    time.sleep(max(0.0, t0 + EXPIRY + 1.0 - time.monotonic()))
    waited = time.monotonic() - t0
    s = _resume(mqtt, late)
    got = {m.payload: m for m in s.drain(1.0)}
    assert set(got) == {b"long", b"forever"}, f"after {waited:.1f} s got {sorted(got)}"
    # The remaining interval is forwarded: 60 less the time it waited (to within a second).
    remaining = got[b"long"].props.get("MessageExpiryInterval")
    assert remaining is not None and 60 - waited - 1 <= remaining <= 60 - waited + 1, remaining
    assert "MessageExpiryInterval" not in got[b"forever"].props


def test_live_delivery_forwards_the_interval(raw, mqtt, uid):
    """[MQTT-3.3.2-6]: the PUBLISH to the subscriber carries the received interval less the
    time the message waited in the server."""
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"))
    sub.subscribe([(topic, 1)])
    mqtt(uid("p")).publish(topic, b"x", qos=1, pub_props={"MessageExpiryInterval": 30})
    p = sub.expect(PUBLISH)
    assert p.props.get("message_expiry_interval") in (29, 30), p


def test_retained_message_expires(mqtt, uid):
    """[MQTT-3.3.2-5]: once expired, a retained message is not sent to new subscribers."""
    gone, kept = uid("gone"), uid("kept")
    pub = mqtt(uid("p"))
    pub.publish(gone, b"short", qos=1, retain=True, pub_props={"MessageExpiryInterval": 1})
    pub.publish(kept, b"long", qos=1, retain=True, pub_props={"MessageExpiryInterval": 60})
    time.sleep(1 + 1.0)
    s = mqtt(uid("s"))
    s.subscribe(gone, qos=1)
    s.expect_nothing(0.5)
    s.subscribe(kept, qos=1)
    m = s.recv()
    assert m.payload == b"long" and m.retain
    assert 57 <= m.props.get("MessageExpiryInterval", -1) <= 59, m.props
