"""Offline queueing for persistent sessions: QoS 1/2 messages published while the client is
away arrive, in order, when it comes back; the queue is bounded by max_queued_messages, and
shardhub drops the oldest (and counts the drop)."""

import pytest

import expect
from brokers import Shardhub
from util import metric_sum

QUEUE_MAX = 5


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_messages_wait_for_the_client(mqtt, uid, version):
    cid, topic = uid("s"), uid("t")
    kw = {"session_expiry": 300} if version == 5 else {"clean": False}
    sub = mqtt(cid, version=version, **kw)
    sub.subscribe(topic, qos=2)
    sub.disconnect()
    pub = mqtt(uid("p"))
    for i in range(5):
        pub.publish(topic, b"%d" % i, qos=1 + i % 2)
    sub = mqtt(cid, version=version, **({"session_expiry": 300, "clean": False}
                                         if version == 5 else {"clean": False}))
    assert sub.session_present is True
    got = sub.recv_n(5)
    assert sorted((m.payload, m.qos) for m in got) == [(b"%d" % i, 1 + i % 2) for i in range(5)]
    # [MQTT-4.6.0-6]: order is kept per topic *and QoS* (Mosquitto sends the QoS 1 ones first).
    for qos in (1, 2):
        assert [m.payload for m in got if m.qos == qos] == [
            b"%d" % i for i in range(5) if 1 + i % 2 == qos]
    sub.expect_nothing(0.3)


@pytest.mark.broker_config(mqtt={"max_queued_messages": QUEUE_MAX})
def test_queue_is_bounded(mqtt, uid):
    """A session holds at most max_queued_messages while offline."""
    cid, topic = uid("s"), uid("t")
    sub = mqtt(cid, session_expiry=300)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = mqtt(uid("p"))
    for i in range(12):
        pub.publish(topic, b"%d" % i, qos=1)
    sub = mqtt(cid, session_expiry=300, clean=False)
    got = [int(m.payload) for m in sub.drain(1.0)]
    assert len(got) == QUEUE_MAX, got
    assert got == sorted(got), "queued messages out of order"


@pytest.mark.shardhub_only   # Mosquitto drops the newest; MQTT leaves the choice open
@pytest.mark.broker_config(mqtt={"max_queued_messages": QUEUE_MAX})
def test_oldest_is_dropped_and_counted(broker, mqtt, uid):
    assert expect.QUEUE_DROPS_OLDEST
    cid, topic = uid("s"), uid("t")
    sub = mqtt(cid, session_expiry=300)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    assert isinstance(broker, Shardhub)
    before = metric_sum(broker.metrics(), expect.QUEUE_DROPPED_METRIC)
    pub = mqtt(uid("p"))
    for i in range(12):
        pub.publish(topic, b"%d" % i, qos=1)
    sub = mqtt(cid, session_expiry=300, clean=False)
    got = [int(m.payload) for m in sub.drain(1.0)]
    assert got == list(range(12 - QUEUE_MAX, 12))
    after = metric_sum(broker.metrics(), expect.QUEUE_DROPPED_METRIC)
    assert after - before == 12 - QUEUE_MAX, (
        f"/metrics {expect.QUEUE_DROPPED_METRIC}: {before} -> {after}")


def test_qos0_subscription_messages_are_not_required_offline(mqtt, uid):
    """§4.1: the session state holds the QoS 1/2 messages for an absent client, and
    "optionally, QoS 0 messages". Mixing them loses none of the QoS 1 ones."""
    cid, topic = uid("s"), uid("t")
    sub = mqtt(cid, session_expiry=300)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = mqtt(uid("p"))
    pub.publish(topic, b"q0", qos=0)
    pub.publish(topic, b"q1", qos=1)
    sub = mqtt(cid, session_expiry=300, clean=False)
    got = [m.payload for m in sub.drain(1.0)]
    assert b"q1" in got and got.count(b"q1") == 1
    assert set(got) <= {b"q0", b"q1"}
