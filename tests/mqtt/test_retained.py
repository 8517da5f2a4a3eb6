"""Retained messages: set, replace, clear with an empty payload, Retain Handling 0/1/2,
Retain As Published, and the retain flag on live deliveries."""

import pytest

from rawmqtt import PUBLISH, sub_options


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_new_subscriber_gets_the_retained_message(mqtt, uid, version):
    topic = uid("t")
    pub = mqtt(uid("p"), version=version)
    pub.publish(topic, b"first", qos=1, retain=True)
    pub.publish(topic, b"second", qos=1, retain=True)   # replaces it
    sub = mqtt(uid("s"), version=version)
    sub.subscribe(topic, qos=1)
    m = sub.recv()
    assert (m.payload, m.retain, m.qos) == (b"second", True, 1)
    sub.expect_nothing(0.3)


def test_retained_message_matches_wildcards(mqtt, uid):
    base = uid("t")
    pub = mqtt(uid("p"))
    for leaf in ("a", "b", "c/d"):
        pub.publish(f"{base}/{leaf}", leaf.encode(), qos=1, retain=True)
    sub = mqtt(uid("s"))
    sub.subscribe(f"{base}/+", qos=1)
    assert sorted(m.payload for m in sub.recv_n(2)) == [b"a", b"b"]
    sub.subscribe(f"{base}/#", qos=1)
    assert sorted(m.payload for m in sub.recv_n(3)) == [b"a", b"b", b"c/d"]


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_empty_payload_clears_it(mqtt, uid, version):
    """§3.3.1.3 [MQTT-3.3.1-6]: a retained PUBLISH with a zero-length payload removes the
    retained message, and is itself not retained [MQTT-3.3.1-7]."""
    topic = uid("t")
    pub = mqtt(uid("p"), version=version)
    pub.publish(topic, b"set", qos=1, retain=True)
    pub.publish(topic, b"", qos=1, retain=True)
    sub = mqtt(uid("s"), version=version)
    sub.subscribe(topic, qos=1)
    sub.expect_nothing(0.7)


def test_live_delivery_clears_the_retain_flag(mqtt, uid):
    """§3.3.1.3: a message sent because of an existing subscription has RETAIN 0 (unless
    Retain As Published)."""
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    mqtt(uid("p")).publish(topic, b"live", qos=1, retain=True)
    m = sub.recv()
    assert (m.payload, m.retain) == (b"live", False)


def test_retain_as_published(mqtt, uid):
    """§3.8.3.1: Retain As Published keeps the RETAIN flag the publisher used."""
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1, retain_as_published=True)
    pub = mqtt(uid("p"))
    pub.publish(topic, b"r", qos=1, retain=True)
    pub.publish(topic, b"n", qos=1, retain=False)
    got = [(m.payload, m.retain) for m in sub.recv_n(2)]
    assert got == [(b"r", True), (b"n", False)]


def test_retain_handling(raw, mqtt, uid):
    """§3.8.3.1 Retain Handling: 0 = send retained at every subscribe, 1 = only if the
    subscription is new, 2 = never."""
    topic = uid("t")
    mqtt(uid("p")).publish(topic, b"kept", qos=1, retain=True)
    c = raw()
    c.connect(uid("s"))

    def retained_after(options, pid):
        assert c.subscribe([(topic, options)], pid=pid).reasons == [1]
        return [p.payload for p in c.drain(0.5) if p.type == PUBLISH]

    assert retained_after(sub_options(1, retain_handling=0), 1) == [b"kept"]
    assert retained_after(sub_options(1, retain_handling=0), 2) == [b"kept"]   # again
    assert retained_after(sub_options(1, retain_handling=1), 3) == []          # exists
    assert retained_after(sub_options(1, retain_handling=2), 4) == []
    # A fresh subscription with 1 gets it; with 2 it does not.
    other = uid("t")
    mqtt(uid("p")).publish(other, b"other", qos=1, retain=True)
    assert c.subscribe([(other, sub_options(1, retain_handling=1))], pid=5).reasons == [1]
    assert [p.payload for p in c.drain(0.5) if p.type == PUBLISH] == [b"other"]
    third = uid("t")
    mqtt(uid("p")).publish(third, b"third", qos=1, retain=True)
    assert c.subscribe([(third, sub_options(1, retain_handling=2))], pid=6).reasons == [1]
    assert c.drain(0.5) == []


def test_retained_delivery_has_retain_flag_and_granted_qos(raw, mqtt, uid):
    topic = uid("t")
    mqtt(uid("p")).publish(topic, b"r2", qos=2, retain=True)
    c = raw()
    c.connect(uid("s"))
    c.subscribe([(topic, sub_options(1))])
    p = c.expect(PUBLISH)
    assert (p.payload, p.retain, p.qos) == (b"r2", True, 1)
