"""Topic filters: `+` and `#`, empty levels, `$` topics never matched by a leading wildcard,
invalid filters (SUBACK 0x8F or a DISCONNECT, as the spec allows), and unsubscribe."""

import pytest

import expect
from rawmqtt import DISCONNECT, SUBACK, subscribe
from util import ON_SHARDHUB

TOPICS = ["a", "a/b", "a/b/c", "a/x/c", "b/c", "/a", "a/", "a//c", "$app/x", "$app/x/y"]

# §4.7.1 and §4.7.2: what each filter matches among TOPICS.
MATCHES = {
    "a": {"a"},
    "a/+": {"a/b", "a/"},
    "a/#": {"a", "a/b", "a/b/c", "a/x/c", "a/", "a//c"},
    "a/+/c": {"a/b/c", "a/x/c", "a//c"},
    "+/+": {"a/b", "b/c", "/a", "a/"},
    "+": {"a"},
    "/+": {"/a"},
    "#": {"a", "a/b", "a/b/c", "a/x/c", "b/c", "/a", "a/", "a//c"},
    "+/#": {"a", "a/b", "a/b/c", "a/x/c", "b/c", "/a", "a/", "a//c"},
    "+/x": set(),                      # not $app/x: a leading wildcard never matches $
    "$app/#": {"$app/x", "$app/x/y"},
    "$app/+": {"$app/x"},
    "+/+/+": {"a/b/c", "a/x/c", "a//c"},
}


def test_wildcards_and_dollar_topics(mqtt, uid):
    subs = {}
    for f in MATCHES:
        c = mqtt(uid("s"))
        assert c.subscribe(f, qos=1) == [1], f
        subs[f] = c
    pub = mqtt(uid("p"))
    for t in TOPICS:
        pub.publish(t, t.encode(), qos=1)
    wrong = {}
    for f, c in subs.items():
        got = [m.topic for m in c.drain(0.7)]
        if sorted(got) != sorted(MATCHES[f]):
            wrong[f] = sorted(got)
    assert not wrong, f"filters that matched the wrong topics: {wrong} (expected " + str(
        {f: sorted(MATCHES[f]) for f in wrong}) + ")"


def test_overlapping_filters(mqtt, uid):
    """§3.3.4 [MQTT-3.3.4-2]: with overlapping subscriptions the client gets the message at
    the highest matching QoS; further copies are allowed by the spec, but shardhub sends one
    (the issue: "one delivery ... when a client's subscriptions overlap")."""
    c = mqtt(uid("s"))
    c.subscribe([("o/#", 1), ("o/+", 0)])
    mqtt(uid("p")).publish("o/x", b"m", qos=1)
    got = c.drain(0.7)
    assert got and all(m.payload == b"m" for m in got)
    assert max(m.qos for m in got) == 1
    assert len(got) == 1 if ON_SHARDHUB else len(got) <= 2


INVALID_FILTERS = ["a/#/b", "a#", "a/b+", "#/a", "a/+b", ""]


@pytest.mark.parametrize("bad", INVALID_FILTERS, ids=[repr(f) for f in INVALID_FILTERS])
def test_invalid_filter(raw, uid, bad):
    """§4.7.1 [MQTT-4.7.1-1/2], §4.7.3 [MQTT-4.7.3-1]: a filter with a misplaced wildcard,
    or an empty one, is refused: SUBACK 0x8F for it, or the packet is treated as malformed
    (DISCONNECT, then close). Either way a healthy connection beside it is untouched."""
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    c.connect(uid("bad"))
    c.send(subscribe(1, [("good/topic", 1), (bad, 1)]))
    p = c.recv(3)
    assert p is not None, "no answer to SUBSCRIBE"
    if ON_SHARDHUB and expect.INVALID_FILTER_SHARDHUB_ANSWERS_SUBACK:
        assert p.type == SUBACK, p
    if p.type == SUBACK:
        assert p.reasons[1] == expect.INVALID_FILTER_SUBACK, p
        assert p.reasons[0] == 1, p
        assert c.is_open()
    else:
        assert p.type == DISCONNECT and p.reason in expect.INVALID_FILTER_DISCONNECT, p
        _, closed = c.wait_closed(2)
        assert closed is not None
    assert healthy.is_open()


def test_invalid_filter_v311(raw, uid):
    """3.1.1: SUBACK return code 0x80 for the filter, or the connection is closed."""
    c = raw(version=4)
    c.connect(uid("bad"), version=4)
    c.send(subscribe(1, [("good", 1), ("a/#/b", 1)], version=4))
    seen, closed = c.wait_closed(1.5)
    if ON_SHARDHUB and expect.INVALID_FILTER_SHARDHUB_ANSWERS_SUBACK:
        assert closed is None, "closed instead of answering the SUBACK"
    if closed is None:
        assert seen and seen[0].type == SUBACK, seen
        assert seen[0].reasons == [1, expect.INVALID_FILTER_SUBACK_V311], seen
    else:
        assert not [p for p in seen
                    if p.type == SUBACK and p.reasons[1] != expect.INVALID_FILTER_SUBACK_V311]


def test_unsubscribe(mqtt, uid):
    topic = uid("t")
    c = mqtt(uid("s"))
    c.subscribe(topic, qos=1)
    assert c.unsubscribe(topic) == [0]
    mqtt(uid("p")).publish(topic, b"gone", qos=1)
    c.expect_nothing(0.5)
    # §3.11.2.2: 0x11 "No subscription existed".
    assert c.unsubscribe(topic) == [0x11]


def test_resubscribe_replaces_the_subscription(mqtt, uid):
    """§3.8.4 [MQTT-3.8.4-3]: subscribing again replaces the subscription (new QoS), and
    retained messages are resent (retain handling 0)."""
    topic = uid("t")
    c = mqtt(uid("s"))
    assert c.subscribe(topic, qos=0) == [0]
    assert c.subscribe(topic, qos=2) == [2]
    mqtt(uid("p")).publish(topic, b"x", qos=2)
    got = c.drain(0.7)
    assert [(m.payload, m.qos) for m in got] == [(b"x", 2)]
