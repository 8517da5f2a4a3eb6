"""shardhub's configured limits and the reason codes they answer with (expect.py), and that
they reload live (SIGHUP). Receive maximum, in-flight, queue and packet-size limits have
their own files (test_receive_maximum.py, test_offline_queue.py, test_packet_size.py)."""

import socket
import time

import pytest

import expect
from rawmqtt import PUBACK, RawClient, connect
from util import TOLERANCE_S, assert_on_time, wait_until

pytestmark = pytest.mark.shardhub_only


@pytest.mark.broker_config(mqtt={"max_subscriptions_per_client": 3})
def test_subscriptions_per_client(raw, uid):
    c = raw()
    c.connect(uid("c"))
    ack = c.subscribe([("a", 1), ("b", 1), ("c", 1)], pid=1)
    assert ack.reasons == [1, 1, 1]
    ack = c.subscribe([("d", 1)], pid=2)
    assert ack.reasons == [expect.SUBSCRIPTIONS_LIMIT_SUBACK], ack
    # Replacing an existing subscription adds none.
    assert c.subscribe([("a", 2)], pid=3).reasons == [2]
    # Freeing one makes room.
    from rawmqtt import UNSUBACK, unsubscribe
    c.send(unsubscribe(4, ["b"]))
    assert c.expect(UNSUBACK).reasons == [0]
    assert c.subscribe([("d", 1)], pid=5).reasons == [1]
    assert c.is_open()


@pytest.mark.broker_config(mqtt={"max_subscriptions_per_client": 2})
def test_subscription_limit_counts_within_one_subscribe(raw, uid):
    c = raw()
    c.connect(uid("c"))
    ack = c.subscribe([("a", 0), ("b", 0), ("c", 0)])
    assert ack.reasons == [0, 0, expect.SUBSCRIPTIONS_LIMIT_SUBACK], ack


RATE = 5


@pytest.mark.broker_config(mqtt={"publishes_per_sec": RATE})
def test_publish_rate_qos1(raw, mqtt, uid):
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    c = raw()
    c.connect(uid("fast"))
    n = 4 * RATE
    t0 = time.monotonic()
    for pid in range(1, n + 1):
        c.publish(topic, b"%d" % pid, qos=1, pid=pid)
    acks = [c.expect(PUBACK) for _ in range(n)]
    burst_s = time.monotonic() - t0
    assert burst_s < 1.0, "the burst took too long to say anything about a per-second rate"
    ok = [a.pid for a in acks if a.reason < 0x80]
    refused = [a for a in acks if a.reason >= 0x80]
    assert refused, "no publish refused at 4x the rate"
    assert all(a.reason == expect.PUBLISH_RATE_PUBACK for a in refused), refused
    # A burst of up to one second's worth (plus one for a token bucket refilling meanwhile).
    assert 1 <= len(ok) <= 2 * RATE, f"{len(ok)} of {n} accepted at {RATE}/s"
    assert sorted(m.payload for m in sub.drain(0.7)) == sorted(b"%d" % p for p in ok)
    # The connection stays, and a second later publishing works again.
    time.sleep(1.1)
    c.publish(topic, b"later", qos=1, pid=500)
    assert c.expect(PUBACK).reason < 0x80


@pytest.mark.broker_config(mqtt={"publishes_per_sec": RATE})
def test_publish_rate_qos0_is_dropped(raw, mqtt, uid):
    topic = uid("t")
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=0)
    c = raw()
    c.connect(uid("fast"))
    for i in range(4 * RATE):
        c.publish(topic, b"%d" % i)
    got = sub.drain(1.0)
    assert 1 <= len(got) <= 2 * RATE, f"{len(got)} QoS 0 messages passed at {RATE}/s"
    assert c.is_open()


@pytest.mark.broker_config(mqtt={"connect_timeout_ms": 1000})
def test_connect_timeout(broker, raw, uid):
    """A connection that sends no (complete) CONNECT is closed after connect_timeout_ms."""
    idle = socket.create_connection((broker.host, broker.port))
    half = socket.create_connection((broker.host, broker.port))
    half.sendall(connect(uid("slow"))[:5])
    t0 = time.monotonic()
    for s in (idle, half):
        s.settimeout(1.0 + TOLERANCE_S + 1)
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
        elapsed = time.monotonic() - t0
        assert data == b"" or isinstance(data, ConnectionResetError), f"got {data!r}"
        assert_on_time(elapsed, 1.0, "connect timeout close")
        s.close()
    # A prompt client is unaffected.
    assert raw().connect(uid("ok")).reason == 0


SHARDS = 2
PER_SHARD = 2


@pytest.mark.broker_config(mqtt={"max_connections_per_shard": PER_SHARD})
def test_connections_per_shard(broker, uid):
    """The broker runs with --shards 2: at most 4 MQTT connections are served; beyond a
    shard's share the CONNACK says why (expect.CONNECTIONS_LIMIT_CONNACK)."""
    clients, accepted, refused = [], [], []
    for i in range(SHARDS * PER_SHARD + 3):
        c = RawClient(broker.host, broker.port)
        clients.append(c)
        ack = c.connect(uid("c"))
        (accepted if ack.reason == 0 else refused).append((c, ack))
    try:
        assert len(accepted) <= SHARDS * PER_SHARD
        assert len(refused) >= 3
        for c, ack in refused:
            assert ack.reason in expect.CONNECTIONS_LIMIT_CONNACK, ack
            _, closed = c.wait_closed(2)
            assert closed is not None
        assert all(c.is_open() for c, _ in accepted)
        # Room again once the accepted ones leave.
        for c, _ in accepted:
            c.disconnect()
        time.sleep(0.3)
        again = RawClient(broker.host, broker.port)
        clients.append(again)
        assert again.connect(uid("again")).reason == 0
    finally:
        for c in clients:
            c.close()


@pytest.mark.broker_config(mqtt={"session_expiry_max_secs": 2})
def test_session_expiry_is_capped(raw, uid):
    """§3.2.2.3.2: the server may answer a shorter Session Expiry Interval; the session then
    ends after the server's value."""
    cid = uid("c")
    c = raw()
    ack = c.connect(cid, props={"session_expiry_interval": 3600})
    assert ack.props.get("session_expiry_interval") == 2, ack
    c.subscribe([(uid("t"), 1)])
    c.disconnect()
    time.sleep(2 + TOLERANCE_S)
    c = raw()
    assert c.connect(cid, clean=False, props={"session_expiry_interval": 3600}).session_present is False


@pytest.mark.broker_config(mqtt={"max_subscriptions_per_client": 1})
def test_limits_reload_live(broker, raw, uid):
    c = raw()
    c.connect(uid("c"))
    assert c.subscribe([("a", 0), ("b", 0)], pid=1).reasons == [0, expect.SUBSCRIPTIONS_LIMIT_SUBACK]
    broker.reload(mqtt={"max_subscriptions_per_client": 3})
    pid = iter(range(2, 1000))

    def reloaded():
        r = c.subscribe([(f"x{next(pid)}", 0)], pid=next(pid)).reasons
        return r == [0]
    assert wait_until(reloaded, timeout=5, interval=0.2), "limit not reloaded within 5 s"
