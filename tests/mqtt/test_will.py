"""Will messages (§3.1.2.5, §3.1.3.2): sent when the connection ends without a normal
DISCONNECT, not after one; DISCONNECT 0x04 keeps it; Will Delay Interval honoured to within a
second, cancelled by a reconnect within the delay, cut short by the session's end."""

import time

import pytest

from util import MOSQUITTO_WHOLE_SECONDS, assert_on_time

WILL_DELAY = 2


def _will(topic, payload=b"gone", delay=None, **kw):
    w = {"topic": topic, "payload": payload, "qos": kw.pop("qos", 1)}
    if delay is not None:
        w["props"] = {"will_delay_interval": delay}
    w.update(kw)
    return w


def _watcher(mqtt, uid, topic):
    w = mqtt(uid("watch"))
    w.subscribe(topic, qos=1)
    return w


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_will_on_abnormal_close(raw, mqtt, uid, version):
    topic = uid("will")
    watch = _watcher(mqtt, uid, topic)
    c = raw(version=version)
    assert c.connect(uid("c"), will=_will(topic, b"abnormal")).reason == 0
    c.close()   # TCP close, no DISCONNECT
    m = watch.recv(3)
    assert (m.topic, m.payload, m.qos) == (topic, b"abnormal", 1)


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_no_will_after_normal_disconnect(raw, mqtt, uid, version):
    """[MQTT-3.1.2-10] (5.0) / [MQTT-3.1.2-8] (3.1.1): a normal DISCONNECT deletes the will."""
    topic = uid("will")
    watch = _watcher(mqtt, uid, topic)
    c = raw(version=version)
    c.connect(uid("c"), will=_will(topic))
    c.disconnect()
    watch.expect_nothing(1.0)


def test_disconnect_with_will_message_reason(raw, mqtt, uid):
    """§3.14.2.1: DISCONNECT reason 0x04 "Disconnect with Will Message" publishes the will."""
    topic = uid("will")
    watch = _watcher(mqtt, uid, topic)
    c = raw()
    c.connect(uid("c"), will=_will(topic, b"asked"))
    c.disconnect(reason=0x04)
    assert watch.recv(3).payload == b"asked"


def test_retained_will(raw, mqtt, uid):
    topic = uid("will")
    c = raw()
    c.connect(uid("c"), will=_will(topic, b"retained will", retain=True))
    c.close()
    time.sleep(0.5)
    late = mqtt(uid("late"))
    late.subscribe(topic, qos=1)
    m = late.recv(3)
    assert (m.payload, m.retain) == (b"retained will", True)


@pytest.mark.mosquitto_deviates(MOSQUITTO_WHOLE_SECONDS, strict=False)
def test_will_delay_is_honoured(raw, mqtt, uid):
    """§3.1.3.2.2: the will is published Will Delay Interval after the connection ends, not
    earlier, and within a second of it."""
    topic = uid("will")
    watch = _watcher(mqtt, uid, topic)
    c = raw()
    c.connect(uid("c"), props={"session_expiry_interval": 60},
              will=_will(topic, b"delayed", delay=WILL_DELAY))
    c.close()
    t0 = time.monotonic()
    m = watch.recv(WILL_DELAY + 3)
    assert m.payload == b"delayed"
    assert_on_time(m.at - t0, WILL_DELAY, "delayed will")


def test_reconnect_within_the_delay_cancels_the_will(raw, mqtt, uid):
    """§3.1.3.2.2: "If a new Network Connection to this Session is made before the Will Delay
    Interval has passed, the Server MUST NOT send the Will Message"."""
    topic, cid = uid("will"), uid("c")
    watch = _watcher(mqtt, uid, topic)
    c = raw()
    c.connect(cid, props={"session_expiry_interval": 60},
              will=_will(topic, b"cancelled", delay=WILL_DELAY))
    c.close()
    time.sleep(WILL_DELAY / 2)
    back = raw()
    assert back.connect(cid, clean=False, props={"session_expiry_interval": 60}).session_present
    watch.expect_nothing(WILL_DELAY + 1)


@pytest.mark.mosquitto_deviates(MOSQUITTO_WHOLE_SECONDS, strict=False)
def test_session_end_cuts_the_will_delay_short(raw, mqtt, uid):
    """§3.1.3.2.2: the will is published when the delay passes or the session ends,
    whichever is first: session expiry 1 s with a 30 s delay publishes it after ~1 s."""
    topic = uid("will")
    watch = _watcher(mqtt, uid, topic)
    c = raw()
    c.connect(uid("c"), props={"session_expiry_interval": 1},
              will=_will(topic, b"session over", delay=30))
    c.close()
    t0 = time.monotonic()
    m = watch.recv(4)
    assert m.payload == b"session over"
    assert_on_time(m.at - t0, 1, "will at session end")


def test_will_properties_are_passed_on(raw, uid):
    """§3.1.3.2: the will's properties (content type, response topic, correlation data, user
    properties, payload format) travel with it."""
    topic = uid("will")
    watch = raw()
    watch.connect(uid("w"))
    watch.subscribe([(topic, 1)])
    c = raw()
    props = {"content_type": "text/plain", "response_topic": "reply/here",
             "correlation_data": b"\x00\x01corr", "payload_format_indicator": 1,
             "user_property": [("k1", "v1"), ("k2", "v2")]}
    c.connect(uid("c"), will={"topic": topic, "payload": b"bye", "qos": 1, "props": props})
    c.close()
    from rawmqtt import PUBLISH
    p = watch.expect(PUBLISH)
    assert p.payload == b"bye"
    for k, v in props.items():
        assert p.props.get(k) == v, (k, p.props)
