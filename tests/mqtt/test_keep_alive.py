"""Keep alive (§3.1.2.10, §3.2.2.3.14): the server's cap is announced as Server Keep Alive in
CONNACK, a silent client is disconnected at 1.5x keep alive to within a second (and its will
is published), and a client that keeps talking stays connected."""

import time

import pytest

import expect
from rawmqtt import DISCONNECT, PUBLISH, pingreq
from util import ON_SHARDHUB, TOLERANCE_S, assert_on_time

CAP = 10
KA = 2   # keep alive for the timing tests: the close is due at 3 s


@pytest.mark.broker_config(mqtt={"keep_alive_max_secs": CAP})
def test_server_keep_alive_caps_a_longer_request(raw, uid):
    """[MQTT-3.2.2-21]: if the server sends Server Keep Alive the client must use it; a
    request above the cap gets the cap."""
    ack = raw().connect(uid("c"), keepalive=CAP * 3)
    assert ack.reason == 0
    assert ack.props.get("server_keep_alive") == CAP, ack


@pytest.mark.broker_config(mqtt={"keep_alive_max_secs": CAP})
def test_keep_alive_within_the_cap_is_kept(raw, uid):
    ack = raw().connect(uid("c"), keepalive=CAP - 5)
    assert ack.reason == 0
    assert ack.props.get("server_keep_alive", CAP - 5) == CAP - 5, ack


@pytest.mark.broker_config(mqtt={"keep_alive_max_secs": CAP})
def test_keep_alive_zero_gets_the_cap(raw, uid):
    """Keep alive 0 switches the mechanism off (§3.1.2.10); a server with a cap answers with
    Server Keep Alive (shardhub's config: "when a client asks more, or asks none")."""
    ack = raw().connect(uid("c"), keepalive=0)
    assert ack.reason == 0
    assert ack.props.get("server_keep_alive") == CAP, ack


def _silent_close(raw, uid, version, keepalive, will_topic=None):
    c = raw(version=version)
    will = {"topic": will_topic, "payload": b"timed out", "qos": 1} if will_topic else None
    ack = c.connect(uid("quiet"), keepalive=keepalive, will=will)
    assert ack.reason == 0
    due = 1.5 * ack.props.get("server_keep_alive", keepalive)
    seen, closed_at = c.wait_closed(due + TOLERANCE_S + 0.5)
    elapsed = None if closed_at is None else closed_at - c.last_sent
    return due, seen, elapsed


@pytest.mark.mosquitto_deviates(
    "[MQTT-3.1.2-22] close at 1.5x keep alive: Mosquitto 2.0 checks keep alive only every "
    "~5 s (src/keepalive.c), so the close comes up to 6 s late", strict=False)
@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_silent_client_is_disconnected_at_one_and_a_half_keep_alive(raw, uid, version):
    due, seen, elapsed = _silent_close(raw, uid, version, KA)
    assert_on_time(elapsed, due, "keep-alive close")
    # An optional DISCONNECT before the close must say why (§4.13, 0x8D); 3.1.1 has none.
    disc = [p for p in seen if p.type == DISCONNECT]
    if version == 4:
        assert not disc
    elif disc:
        assert disc[0].reason == expect.KEEP_ALIVE_TIMEOUT, disc


@pytest.mark.mosquitto_deviates(
    "[MQTT-3.1.2-22] close at 1.5x keep alive: Mosquitto 2.0 checks keep alive only every "
    "~5 s (src/keepalive.c)", strict=False)
@pytest.mark.broker_config(mqtt={"keep_alive_max_secs": KA})
def test_server_keep_alive_is_enforced(raw, uid):
    """A client asking 60 s under a 2 s cap is held to 1.5 x 2 s."""
    due, _, elapsed = _silent_close(raw, uid, 5, 60)
    assert due == 1.5 * KA
    assert_on_time(elapsed, due, "keep-alive close under Server Keep Alive")


def test_keep_alive_timeout_publishes_the_will(raw, mqtt, uid):
    """§3.1.2.5: a keep-alive timeout is an abnormal end: the will is published. (Timing is
    checked above; this waits long enough for Mosquitto's coarse check too.)"""
    topic = uid("will")
    watch = mqtt(uid("w"))
    watch.subscribe(topic, qos=1)
    c = raw()
    c.connect(uid("quiet"), keepalive=KA, will={"topic": topic, "payload": b"timed out"})
    t0 = c.last_sent
    wait = 1.5 * KA + TOLERANCE_S + (0 if ON_SHARDHUB else 7)
    m = watch.recv(wait)
    assert m.payload == b"timed out"
    if ON_SHARDHUB:
        assert_on_time(m.at - t0, 1.5 * KA, "will after keep-alive timeout")


def test_activity_keeps_the_connection(raw, uid):
    """Packets (PINGREQ) within the keep alive keep the connection open past 1.5x."""
    c = raw()
    c.connect(uid("busy"), keepalive=KA)
    end = time.monotonic() + 3 * KA
    while time.monotonic() < end:
        assert c.is_open(1.0), "closed although the client pinged within its keep alive"
        time.sleep(KA / 2)


def test_pingreq_gets_pingresp(raw, uid):
    c = raw(version=4)
    c.connect(uid("p"), version=4, keepalive=30)
    c.send(pingreq())
    assert c.is_open()
    assert [p for p in c.drain(0.2) if p.type == PUBLISH] == []
