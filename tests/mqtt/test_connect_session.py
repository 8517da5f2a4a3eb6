"""CONNECT and sessions: both protocol versions, assigned client identifiers, clean start and
Session Present, session expiry (timed), and session takeover."""

import time

import pytest

import expect
from rawmqtt import DISCONNECT, PUBLISH
from util import MOSQUITTO_WHOLE_SECONDS, ON_SHARDHUB


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_connect_and_round_trip(mqtt, uid, version):
    c = mqtt(uid("c"), version=version)
    assert c.connack_reason == 0
    assert c.session_present is False
    topic = uid("t")
    assert c.subscribe(topic, qos=1) == [1]
    c.publish(topic, b"hello", qos=1)
    m = c.recv()
    assert (m.topic, m.payload, m.qos) == (topic, b"hello", 1)
    c.disconnect()


def test_assigned_client_identifier(raw):
    """MQTT 5 §3.2.2.3.7: an empty client id gets an Assigned Client Identifier, unique."""
    ids = []
    for _ in range(2):
        c = raw()
        ack = c.connect("")
        assert ack.reason == 0
        assigned = ack.props.get("assigned_client_identifier")
        assert assigned, f"no Assigned Client Identifier in {ack}"
        ids.append(assigned)
    assert ids[0] != ids[1]


def test_assigned_client_identifier_is_usable(raw, uid):
    """The assigned id names the session: resuming it finds the session."""
    c = raw()
    ack = c.connect("", props={"session_expiry_interval": 30})
    assigned = ack.props["assigned_client_identifier"]
    c.subscribe([(uid("t"), 1)])
    c.disconnect()
    c2 = raw()
    ack2 = c2.connect(assigned, clean=False, props={"session_expiry_interval": 30})
    assert ack2.reason == 0 and ack2.session_present


def test_v311_empty_client_id(raw):
    """3.1.1 §3.1.3.1: an empty id needs CleanSession=1 [MQTT-3.1.3-7]; otherwise return code
    0x02 (identifier rejected) [MQTT-3.1.3-8]."""
    ok = raw(version=4).connect("", version=4, clean=True)
    assert ok.reason == 0
    refused = raw(version=4)
    ack = refused.connect("", version=4, clean=False)
    assert ack.reason == 0x02
    _, closed = refused.wait_closed(2)
    assert closed is not None


def test_clean_start_and_session_present_v5(mqtt, uid):
    cid, topic = uid("c"), uid("t")
    c = mqtt(cid, session_expiry=60)
    assert c.session_present is False
    assert c.subscribe(topic, qos=1) == [1]
    c.disconnect()

    # Resumed: Session Present, and the subscription is still there.
    c = mqtt(cid, clean=False, session_expiry=60)
    assert c.session_present is True
    pub = mqtt(uid("p"))
    pub.publish(topic, b"still subscribed", qos=1)
    assert c.recv().payload == b"still subscribed"
    c.disconnect()

    # Clean Start discards it.
    c = mqtt(cid, clean=True, session_expiry=60)
    assert c.session_present is False
    pub.publish(topic, b"nobody", qos=1)
    c.expect_nothing(0.5)


def test_clean_session_v311(mqtt, uid):
    cid, topic = uid("c"), uid("t")
    c = mqtt(cid, version=4, clean=False)
    assert c.session_present is False
    assert c.subscribe(topic, qos=1) == [1]
    c.disconnect()
    c = mqtt(cid, version=4, clean=False)
    assert c.session_present is True
    pub = mqtt(uid("p"), version=4)
    pub.publish(topic, b"kept", qos=1)
    assert c.recv().payload == b"kept"
    c.disconnect()
    c = mqtt(cid, version=4, clean=True)
    assert c.session_present is False


def test_session_expiry_zero_ends_with_the_connection(mqtt, uid):
    """MQTT 5 §3.1.2.11.2: absent or 0 Session Expiry ends the session with the connection."""
    cid = uid("c")
    c = mqtt(cid)
    c.subscribe(uid("t"), qos=1)
    c.disconnect()
    c = mqtt(cid, clean=False)
    assert c.session_present is False


@pytest.mark.mosquitto_deviates(MOSQUITTO_WHOLE_SECONDS, strict=False)
def test_session_expiry_timing(raw, uid):
    """MQTT 5 §3.1.2.11.2: the session lives Session Expiry Interval seconds after the
    connection closes, to within a second: still there just before, gone just after."""
    expiry = 2
    cids = [uid("early"), uid("late")]
    closed_at = {}
    for cid in cids:
        c = raw()
        assert c.connect(cid, props={"session_expiry_interval": expiry}).reason == 0
        c.subscribe([(uid("t"), 1)])
        c.disconnect()
        closed_at[cid] = time.monotonic()

    def resume(cid, at):
        time.sleep(max(0.0, closed_at[cid] + at - time.monotonic()))
        c = raw()
        ack = c.connect(cid, clean=False, props={"session_expiry_interval": expiry})
        c.disconnect()
        return ack.session_present

    assert resume(cids[0], expiry - 0.5) is True, "session gone before its expiry interval"
    assert resume(cids[1], expiry + 1.0) is False, "session still there 1 s after expiry"


def test_session_expiry_from_disconnect_packet(raw, uid):
    """MQTT 5 §3.14.2.2.2: DISCONNECT may change a non-zero Session Expiry Interval."""
    cid = uid("c")
    c = raw()
    c.connect(cid, props={"session_expiry_interval": 1})
    c.subscribe([(uid("t"), 1)])
    c.disconnect(props={"session_expiry_interval": 30})
    time.sleep(2.0)
    c = raw()
    assert c.connect(cid, clean=False, props={"session_expiry_interval": 30}).session_present


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_takeover_closes_the_old_connection(raw, uid, version):
    """§3.1.4 step 2 (both versions): a second CONNECT with the same client id closes the
    first connection [MQTT-3.1.4-3]; the new one works."""
    cid = uid("c")
    old = raw(version=version)
    assert old.connect(cid).reason == 0
    new = raw(version=version)
    assert new.connect(cid).reason == 0
    _, closed = old.wait_closed(3)
    assert closed is not None, "old connection still open after takeover"
    assert new.is_open()


@pytest.mark.mosquitto_deviates("§3.1.4: the existing client is sent DISCONNECT 0x8E "
                                "(Session taken over); Mosquitto 2.0 just closes it")
def test_takeover_sends_session_taken_over_v5(raw, uid):
    cid = uid("c")
    old = raw()
    old.connect(cid)
    new = raw()
    new.connect(cid)
    seen, closed = old.wait_closed(3)
    assert closed is not None
    disconnects = [p for p in seen if p.type == DISCONNECT]
    assert disconnects and disconnects[0].reason == expect.SESSION_TAKEN_OVER, seen


def test_takeover_keeps_the_session(raw, mqtt, uid):
    """A takeover with Clean Start 0 resumes the session the old connection had."""
    cid, topic = uid("c"), uid("t")
    old = raw()
    old.connect(cid, props={"session_expiry_interval": 60})
    old.subscribe([(topic, 1)])
    new = raw()
    ack = new.connect(cid, clean=False, props={"session_expiry_interval": 60})
    assert ack.session_present is True
    mqtt(uid("p")).publish(topic, b"to the new one", qos=1)
    p = new.expect(PUBLISH)
    assert p.payload == b"to the new one"


def test_shutdown_disconnects_with_server_shutting_down(broker, raw, uid):
    """§3.14.2.1: a server going away may send DISCONNECT 0x8B (Server shutting down); shardhub
    does (expect.SERVER_SHUTTING_DOWN), Mosquitto just closes."""
    c = raw()
    c.connect(uid("c"))
    broker.stop()
    seen, closed = c.wait_closed(12)
    assert closed is not None
    disc = [p for p in seen if p.type == DISCONNECT]
    if ON_SHARDHUB:
        assert disc, "no DISCONNECT before the shutdown close"
    if disc:
        assert disc[0].reason == expect.SERVER_SHUTTING_DOWN, disc
