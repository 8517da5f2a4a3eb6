"""Shared subscriptions `$share/{group}/{filter}` (MQTT 5 §4.8.2): each message goes to
exactly one member of a group, every member gets some, groups are independent of each other
and of ordinary subscriptions."""

from collections import Counter

import pytest

from rawmqtt import PUBLISH

N = 30


def _spread(members, n):
    got = {i: [m.payload for m in c.drain(1.0)] for i, c in enumerate(members)}
    flat = [p for ps in got.values() for p in ps]
    return got, flat


def test_each_message_to_exactly_one_member(mqtt, uid):
    topic = uid("t")
    members = [mqtt(uid("m")) for _ in range(3)]
    for c in members:
        assert c.subscribe(f"$share/g/{topic}", qos=1) == [1]
    pub = mqtt(uid("p"))
    for i in range(N):
        pub.publish(topic, b"%d" % i, qos=1)
    got, flat = _spread(members, N)
    dupes = [p for p, k in Counter(flat).items() if k > 1]
    assert not dupes, f"delivered to more than one member: {dupes}"
    assert sorted(flat) == sorted(b"%d" % i for i in range(N)), "messages lost"
    assert all(got[i] for i in got), f"a member got nothing: { {i: len(v) for i, v in got.items()} }"


def test_groups_are_independent(mqtt, uid):
    """Every group gets each message once; an ordinary subscriber gets all of them too."""
    topic = uid("t")
    g1 = [mqtt(uid("a")) for _ in range(2)]
    g2 = [mqtt(uid("b")) for _ in range(2)]
    plain = mqtt(uid("plain"))
    for c in g1:
        c.subscribe(f"$share/g1/{topic}", qos=1)
    for c in g2:
        c.subscribe(f"$share/g2/{topic}", qos=1)
    plain.subscribe(topic, qos=1)
    pub = mqtt(uid("p"))
    for i in range(10):
        pub.publish(topic, b"%d" % i, qos=1)
    want = sorted(b"%d" % i for i in range(10))
    for group in (g1, g2):
        _, flat = _spread(group, 10)
        assert sorted(flat) == want
    assert sorted(m.payload for m in plain.drain(0.5)) == want


def test_shared_filter_with_wildcard_and_mixed_versions(mqtt, uid):
    base = uid("t")
    members = [mqtt(uid("m"), version=5), mqtt(uid("m"), version=4)]
    for c in members:
        c.subscribe(f"$share/grp/{base}/+", qos=1)
    pub = mqtt(uid("p"))
    for i in range(20):
        pub.publish(f"{base}/{i % 4}", b"%d" % i, qos=1)
    got, flat = _spread(members, 20)
    assert sorted(flat) == sorted(b"%d" % i for i in range(20))
    assert all(got.values())


def test_leaving_member_gets_no_more(mqtt, uid):
    topic = uid("t")
    stay, leave = mqtt(uid("stay")), mqtt(uid("leave"))
    for c in (stay, leave):
        c.subscribe(f"$share/g/{topic}", qos=1)
    assert leave.unsubscribe(f"$share/g/{topic}") == [0]
    pub = mqtt(uid("p"))
    for i in range(10):
        pub.publish(topic, b"%d" % i, qos=1)
    assert len(stay.drain(0.7)) == 10
    leave.expect_nothing(0.1)


def test_member_disconnect_moves_messages_to_the_others(mqtt, uid):
    topic = uid("t")
    a, b = mqtt(uid("a")), mqtt(uid("b"))
    for c in (a, b):
        c.subscribe(f"$share/g/{topic}", qos=1)
    b.disconnect()
    pub = mqtt(uid("p"))
    for i in range(6):
        pub.publish(topic, b"%d" % i, qos=1)
    assert len(a.drain(0.7)) == 6


def test_connack_advertises_shared_subscriptions(raw, uid):
    """§3.2.2.3.15: Shared Subscription Available absent means supported; if present it is 1."""
    ack = raw().connect(uid("c"))
    assert ack.props.get("shared_subscription_available", 1) == 1


@pytest.mark.mosquitto_deviates("§3.3.1.3: retained messages are sent when a new Non-shared "
                                "Subscription is made; Mosquitto 2.0 sends them to shared ones")
def test_no_retained_messages_for_a_shared_subscription(raw, mqtt, uid):
    """§3.3.1.3: retained messages are sent when a new *non-shared* subscription is made;
    a shared subscription gets none at subscribe time (§4.8.2)."""
    topic = uid("t")
    mqtt(uid("p")).publish(topic, b"retained", qos=1, retain=True)
    c = raw()
    c.connect(uid("m"))
    assert c.subscribe([(f"$share/g/{topic}", 1)]).reasons == [1]
    assert [p for p in c.drain(0.7) if p.type == PUBLISH] == []
