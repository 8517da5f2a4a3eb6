"""Topic aliases (§3.3.2.3.4) both ways: the client's aliases within the server's Topic
Alias Maximum, invalid aliases, and aliases the server assigns on deliveries when (and only
as far as) the client's Topic Alias Maximum allows, checked at the packet level."""

import pytest

import expect
from rawmqtt import DISCONNECT, PUBLISH, RawClient
from util import allowed_codes

SERVER_MAX = 10   # expect.SUITE_DEFAULTS["mqtt"]["topic_alias_maximum"]


def test_connack_announces_topic_alias_maximum(raw, uid):
    ack = raw().connect(uid("c"))
    assert ack.props.get("topic_alias_maximum") == SERVER_MAX
    assert expect.SUITE_DEFAULTS["mqtt"]["topic_alias_maximum"] == SERVER_MAX


def test_client_sets_and_uses_aliases(raw, mqtt, uid):
    base = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(f"{base}/#", qos=1)
    c = raw()
    c.connect(uid("p"))
    c.publish(f"{base}/a", b"1", props={"topic_alias": 1})          # set alias 1
    c.publish("", b"2", props={"topic_alias": 1})                   # use it
    c.publish(f"{base}/b", b"3", props={"topic_alias": SERVER_MAX})  # the highest allowed
    c.publish("", b"4", props={"topic_alias": SERVER_MAX})
    c.publish(f"{base}/c", b"5", props={"topic_alias": 1})          # remap alias 1
    c.publish("", b"6", props={"topic_alias": 1})
    got = [(m.topic, m.payload) for m in sub.recv_n(6)]
    assert got == [(f"{base}/a", b"1"), (f"{base}/a", b"2"), (f"{base}/b", b"3"),
                   (f"{base}/b", b"4"), (f"{base}/c", b"5"), (f"{base}/c", b"6")]
    # Deliveries to a client that did not ask for aliases carry the full topic.
    assert c.is_open()


def test_alias_above_the_maximum(raw, uid):
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    c.connect(uid("p"))
    c.publish("t", b"x", props={"topic_alias": SERVER_MAX + 1})
    seen, closed = c.wait_closed(3)
    assert closed is not None
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason in allowed_codes("topic_alias_too_big"), seen
    assert healthy.is_open()


def test_unknown_alias_is_a_protocol_error(raw, uid):
    """§3.3.2.3.4: an alias with an empty topic that has no mapping is a Protocol Error."""
    c = raw()
    c.connect(uid("p"))
    c.publish("", b"x", props={"topic_alias": 3})
    seen, closed = c.wait_closed(3)
    assert closed is not None
    disc = [p for p in seen if p.type == DISCONNECT]
    assert disc and disc[0].reason in allowed_codes("unknown_topic_alias"), seen


def _deliveries(sub: RawClient, n: int) -> list:
    got = []
    while len(got) < n:
        p = sub.expect(PUBLISH, timeout=3)
        got.append(p)
        if p.qos == 1:
            sub.ack(4, p.pid)
    return got


def test_no_server_aliases_without_client_permission(raw, mqtt, uid):
    """§3.1.2.11.8 [MQTT-3.1.2-27]: no Topic Alias Maximum from the client means 0: the
    server sends no aliases at all."""
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"))
    sub.subscribe([(topic, 1)])
    pub = mqtt(uid("p"))
    for i in range(5):
        pub.publish(topic, b"%d" % i, qos=1)
    for p in _deliveries(sub, 5):
        assert p.topic == topic and "topic_alias" not in p.props, p


def _resolve(got, client_max):
    """Resolves the aliases in deliveries as a client must; checks each alias is allowed."""
    table, topics = {}, []
    for p in got:
        alias = p.props.get("topic_alias")
        if alias is not None:
            assert 1 <= alias <= client_max, f"alias {alias} above the client's maximum: {p}"
            if p.topic:
                table[alias] = p.topic
            else:
                assert alias in table, f"alias {alias} used before it was set: {p}"
        else:
            assert p.topic, f"empty topic without an alias: {p}"
        topics.append(p.topic or table[alias])
    return topics


def test_server_aliases_stay_within_the_client_maximum(raw, mqtt, uid):
    """[MQTT-3.3.2-11]: whatever the server does, it never sends an alias above the client's
    Topic Alias Maximum, and every delivery resolves to the published topic."""
    base = uid("t")
    sub = raw()
    sub.connect(uid("s"), props={"topic_alias_maximum": 2})
    sub.subscribe([(f"{base}/#", 1)])
    pub = mqtt(uid("p"))
    sent = [f"{base}/{i % 3}" for i in range(12)]
    for i, t in enumerate(sent):
        pub.publish(t, b"%d" % i, qos=1)
    got = _deliveries(sub, 12)
    assert _resolve(got, 2) == sent
    assert [p.payload for p in got] == [b"%d" % i for i in range(12)]


@pytest.mark.shardhub_only   # optional in MQTT; Mosquitto 2.0 never assigns aliases
def test_server_assigns_aliases(raw, mqtt, uid):
    """The server assigns outgoing aliases when the client's Topic Alias Maximum allows:
    repeated topics arrive with an empty topic name and an alias."""
    assert expect.SERVER_ASSIGNS_TOPIC_ALIASES
    base = uid("t")
    sub = raw()
    sub.connect(uid("s"), props={"topic_alias_maximum": 4})
    sub.subscribe([(f"{base}/#", 1)])
    pub = mqtt(uid("p"))
    sent = [f"{base}/{i % 2}" for i in range(8)]
    for i, t in enumerate(sent):
        pub.publish(t, b"%d" % i, qos=1)
    got = _deliveries(sub, 8)
    assert _resolve(got, 4) == sent
    aliased = [p for p in got if "topic_alias" in p.props]
    assert aliased, "no aliases assigned although the client allowed 4"
    assert any(p.topic == "" for p in got), "aliases assigned but never used"
