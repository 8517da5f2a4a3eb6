"""Subscription options and identifiers (MQTT 5 §3.8.3.1, §3.8.2.1.2, §3.3.4): No Local,
identifiers on deliveries, and overlapping subscriptions delivered once with every matching
identifier. (Retain As Published and Retain Handling: test_retained.py.)"""

import pytest

from rawmqtt import DISCONNECT, PUBLISH, sub_options, subscribe
from util import ON_SHARDHUB, allowed_codes


def test_no_local(mqtt, uid):
    """[MQTT-3.8.3-3]: with No Local, the client's own publications are not sent back."""
    topic = uid("t")
    me = mqtt(uid("me"))
    me.subscribe(topic, qos=1, no_local=True)
    me.publish(topic, b"mine", qos=1)
    me.expect_nothing(0.5)
    mqtt(uid("other")).publish(topic, b"theirs", qos=1)
    assert me.recv().payload == b"theirs"


def test_without_no_local_own_messages_come_back(mqtt, uid):
    topic = uid("t")
    me = mqtt(uid("me"))
    me.subscribe(topic, qos=1)
    me.publish(topic, b"mine", qos=1)
    assert me.recv().payload == b"mine"


def test_subscription_identifier_on_delivery(raw, mqtt, uid):
    topic = uid("t")
    c = raw()
    ack = c.connect(uid("s"))
    assert ack.props.get("subscription_identifier_available", 1) == 1
    assert c.subscribe([(topic, 1)], props={"subscription_identifier": 7}).reasons == [1]
    mqtt(uid("p")).publish(topic, b"x", qos=1)
    p = c.expect(PUBLISH)
    assert p.props.get("subscription_identifier") == [7]


def test_overlapping_subscriptions_one_delivery_with_every_identifier(raw, mqtt, uid):
    """§3.3.4 [MQTT-3.3.4-3/4/5]: every matching identifier is sent; a single copy carries all
    of them. shardhub sends a single copy (the issue); the spec also allows a copy per
    subscription, each with its own identifier."""
    base = uid("t")
    c = raw()
    c.connect(uid("s"))
    c.subscribe([(f"{base}/#", 1)], pid=1, props={"subscription_identifier": 1})
    c.subscribe([(f"{base}/+", 2)], pid=2, props={"subscription_identifier": 2})
    c.subscribe([(f"{base}/x", 0)], pid=3)   # no identifier
    mqtt(uid("p")).publish(f"{base}/x", b"m", qos=2)
    got = [p for p in c.drain(1.0) if p.type == PUBLISH]
    assert got, "nothing delivered"
    ids = sorted(i for p in got for i in p.props.get("subscription_identifier", []))
    assert ids == [1, 2], got
    if ON_SHARDHUB:
        assert len(got) == 1, f"expected one delivery with both identifiers: {got}"
        assert sorted(got[0].props["subscription_identifier"]) == [1, 2]
        assert got[0].qos == 2   # the highest matching QoS [MQTT-3.3.4-2]
    else:
        assert max(p.qos for p in got) == 2


def test_resubscribe_changes_the_identifier(raw, mqtt, uid):
    topic = uid("t")
    c = raw()
    c.connect(uid("s"))
    c.subscribe([(topic, 1)], pid=1, props={"subscription_identifier": 5})
    c.subscribe([(topic, 1)], pid=2, props={"subscription_identifier": 9})
    mqtt(uid("p")).publish(topic, b"x", qos=1)
    got = [p for p in c.drain(0.7) if p.type == PUBLISH]
    assert len(got) == 1 and got[0].props.get("subscription_identifier") == [9], got


def test_subscription_identifier_zero_is_a_protocol_error(raw, uid):
    """§3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value of 0"."""
    c = raw()
    c.connect(uid("s"))
    c.send(subscribe(1, [(uid("t"), 1)], props={"subscription_identifier": 0}))
    seen, closed = c.wait_closed(3)
    assert closed is not None, f"still open after identifier 0: {seen}"
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason in allowed_codes("subscription_identifier_zero"), seen


@pytest.mark.mosquitto_deviates("§3.8.3.1 [MQTT-3.8.3-4]: No Local on a shared subscription "
                                "is a Protocol Error; Mosquitto 2.0 grants it")
def test_no_local_on_shared_subscription_is_a_protocol_error(raw, uid):
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    c.connect(uid("s"))
    c.send(subscribe(1, [(f"$share/g/{uid('t')}", sub_options(1, no_local=True))]))
    seen, closed = c.wait_closed(3)
    assert closed is not None, f"still open: {seen}"
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason in allowed_codes("shared_no_local"), seen
    assert healthy.is_open()
