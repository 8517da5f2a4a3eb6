"""Token authentication and the ACL (shardhub, auth = "token"): the CONNECT password is an HS256
JWT whose `sub` is the client id, with `exp` and an optional `role` ("device" or "service").
A device may only use devices/{id}/# and $shadow/{id}/#; a service may use any topic and
$share. Reason codes: expect.AUTH_* and expect.ACL_*."""

import time

import jwt
import pytest

import expect
from brokers import Shardhub
from rawmqtt import DISCONNECT, PUBACK, PUBLISH, PUBREC
from util import metric_sum

pytestmark = [
    pytest.mark.shardhub_only,
    pytest.mark.broker_config(mqtt={"auth": "token", "token_secret": expect.TOKEN_SECRET}),
]


def token(sub, exp_in=3600, role=None, secret=expect.TOKEN_SECRET, alg="HS256", **extra):
    claims = {"sub": sub, "exp": int(time.time()) + exp_in, **extra}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm=alg)


def connect(raw, cid, password, version=5, username=None):
    c = raw(version=version)
    ack = c.connect(cid, username=username if username is not None else cid, password=password)
    return c, ack


# --- authentication ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_valid_device_token(raw, uid, version):
    cid = uid("dev")
    _, ack = connect(raw, cid, token(cid), version)
    assert ack.reason == 0


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
@pytest.mark.parametrize("case", ["bad_signature", "not_a_jwt", "no_password", "alg_none",
                                  "missing_exp"])
def test_bad_token(raw, uid, version, case):
    cid = uid("dev")
    password = {
        "bad_signature": token(cid, secret="some-other-secret-of-enough-length"),
        "not_a_jwt": "not.a.jwt",
        "no_password": None,
        "alg_none": jwt.encode({"sub": cid, "exp": int(time.time()) + 60}, None, algorithm="none"),
        "missing_exp": jwt.encode({"sub": cid}, expect.TOKEN_SECRET, algorithm="HS256"),
    }[case]
    c, ack = connect(raw, cid, password, version)
    want = expect.AUTH_BAD_TOKEN_V5 if version == 5 else expect.AUTH_BAD_TOKEN_V311
    assert ack.reason == want, ack
    _, closed = c.wait_closed(2)
    assert closed is not None


@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
@pytest.mark.parametrize("case", ["expired", "other_client", "unknown_role"])
def test_token_not_allowed(raw, uid, version, case):
    cid = uid("dev")
    password = {
        "expired": token(cid, exp_in=-60),
        "other_client": token(uid("someone-else")),
        "unknown_role": token(cid, role="admin"),
    }[case]
    c, ack = connect(raw, cid, password, version)
    want = expect.AUTH_NOT_ALLOWED_V5 if version == 5 else expect.AUTH_NOT_ALLOWED_V311
    assert ack.reason == want, ack
    _, closed = c.wait_closed(2)
    assert closed is not None


@pytest.mark.broker_config(mqtt={"auth": "token", "token_secret": expect.TOKEN_SECRET,
                                 "token_leeway_secs": 30})
def test_leeway_forgives_a_recently_expired_token(raw, uid):
    cid = uid("dev")
    _, ack = connect(raw, cid, token(cid, exp_in=-10))
    assert ack.reason == 0
    _, ack = connect(raw, uid("dev"), token(cid, exp_in=-120))
    assert ack.reason != 0


def test_paho_client_with_token(mqtt, uid):
    cid = uid("dev")
    c = mqtt(cid, username=cid, password=token(cid))
    assert c.connack_reason == 0
    assert c.subscribe(f"devices/{cid}/cmd", qos=1) == [1]


# --- ACL -------------------------------------------------------------------------------------------

def _device(raw, uid):
    cid = uid("dev")
    c, ack = connect(raw, cid, token(cid))
    assert ack.reason == 0
    return c, cid


def _service(raw, uid):
    cid = uid("svc")
    c, ack = connect(raw, cid, token(cid, role="service"))
    assert ack.reason == 0
    return c, cid


def test_device_subscriptions(raw, uid):
    c, me = _device(raw, uid)
    other = uid("dev")
    filters = [
        (f"devices/{me}/#", 1),             # own namespace
        (f"$shadow/{me}/#", 1),
        (f"devices/{me}/cmd", 1),
        (f"devices/{other}/#", 1),           # another device
        ("#", 1),
        ("devices/+/cmd", 1),                # could match other devices
        (f"$share/g/devices/{me}/x", 1),     # $share is for services
        (f"$shadow/{other}/update/accepted", 1),
    ]
    ack = c.subscribe(filters)
    d = expect.ACL_SUBACK_DENIED
    assert ack.reasons == [1, 1, 1, d, d, d, d, d], [hex(r) for r in ack.reasons]
    assert c.is_open()


def test_device_qos1_publish_outside_namespace_is_refused(raw, uid):
    svc, _ = _service(raw, uid)
    svc.subscribe([("#", 1)])
    c, me = _device(raw, uid)
    c.publish(f"devices/{me}/telemetry", b"ok", qos=1, pid=1)
    assert c.expect(PUBACK).reason in (0, 0x10)
    c.publish(f"devices/{uid('dev')}/telemetry", b"spoof", qos=1, pid=2)
    ack = c.expect(PUBACK)
    assert ack.pid == 2 and ack.reason == expect.ACL_PUBACK_DENIED, ack
    c.publish("global/alerts", b"spoof", qos=1, pid=3)
    assert c.expect(PUBACK).reason == expect.ACL_PUBACK_DENIED
    # QoS 2: the PUBREC carries the refusal, which ends the flow (§4.3.3).
    c.publish(f"devices/{uid('dev')}/telemetry", b"spoof2", qos=2, pid=4)
    rec = c.expect(PUBREC)
    assert rec.pid == 4 and rec.reason == expect.ACL_PUBACK_DENIED, rec
    got = [p.payload for p in svc.drain(0.7) if p.type == PUBLISH]
    assert got == [b"ok"], got
    assert c.is_open()


def test_device_qos0_publish_outside_namespace_is_dropped_and_counted(broker, raw, uid):
    assert isinstance(broker, Shardhub)
    svc, _ = _service(raw, uid)
    svc.subscribe([("#", 0)])
    c, me = _device(raw, uid)
    before = metric_sum(broker.metrics(), expect.ACL_DENIED_METRIC)
    c.publish(f"devices/{uid('dev')}/telemetry", b"spoof", qos=0)
    c.publish(f"devices/{me}/telemetry", b"ok", qos=0)
    got = [p.payload for p in svc.drain(0.7) if p.type == PUBLISH]
    assert got == [b"ok"]
    assert c.is_open()
    after = metric_sum(broker.metrics(), expect.ACL_DENIED_METRIC)
    assert after - before >= 1, f"/metrics {expect.ACL_DENIED_METRIC}: {before} -> {after}"


def test_service_may_use_any_topic_and_share(raw, uid):
    svc, _ = _service(raw, uid)
    ack = svc.subscribe([("#", 1), ("$share/workers/devices/+/telemetry", 1),
                         ("$shadow/+/update/accepted", 1)])
    assert ack.reasons == [1, 1, 1]
    svc.publish(f"devices/{uid('dev')}/cmd", b"reboot", qos=1, pid=5)
    assert svc.expect(PUBACK, skip=[PUBLISH]).reason in (0, 0x10)


def test_device_receives_commands_in_its_namespace(raw, uid):
    dev, me = _device(raw, uid)
    dev.subscribe([(f"devices/{me}/cmd", 1)])
    svc, _ = _service(raw, uid)
    svc.publish(f"devices/{me}/cmd", b"reboot", qos=1, pid=1)
    p = dev.expect(PUBLISH)
    assert (p.topic, p.payload) == (f"devices/{me}/cmd", b"reboot")


def test_device_will_outside_namespace_is_not_published(raw, uid):
    """A will is a publish too: a device cannot use it to escape its namespace."""
    svc, _ = _service(raw, uid)
    svc.subscribe([("#", 1)])
    cid = uid("dev")
    c = raw()
    ack = c.connect(cid, username=cid, password=token(cid),
                    will={"topic": "global/alerts", "payload": b"spoof", "qos": 1})
    if ack.reason != 0:   # refusing the CONNECT outright is also acceptable (0x87)
        assert ack.reason == expect.AUTH_NOT_ALLOWED_V5
        return
    c.close()
    assert [p for p in svc.drain(1.0) if p.type == PUBLISH] == []


def test_client_id_that_could_cross_namespaces_is_refused(raw):
    """A client id with '/' or a wildcard would reach into other devices' topics."""
    cid = "a/b"
    _, ack = connect(raw, cid, token(cid))
    assert ack.reason in (0x85, expect.AUTH_NOT_ALLOWED_V5), ack


# --- a token that expires while its connection is open (mqtt.token_expiry) --------------------

@pytest.mark.parametrize("version", [5, 4], ids=["v5", "v311"])
def test_expired_token_disconnects_within_a_second(raw, uid, version):
    cid = uid("dev")
    exp = int(time.time()) + 2
    c, ack = connect(raw, cid, jwt.encode({"sub": cid, "exp": exp}, expect.TOKEN_SECRET, algorithm="HS256"),
                     version)
    assert ack.reason == 0
    seen, closed_at = c.wait_closed(6)
    assert closed_at is not None, "still open after its token expired"
    # The close lands within a second of exp (wall clock: exp is in unix seconds).
    assert time.time() - exp < 1.5
    if version == 5:
        disconnects = [p for p in seen if p.type == DISCONNECT]
        assert disconnects and disconnects[0].reason == 0x87, seen


@pytest.mark.broker_config(mqtt={"auth": "token", "token_secret": expect.TOKEN_SECRET,
                                 "token_expiry": "ignore"})
def test_expired_token_is_ignored_when_configured(raw, uid):
    cid = uid("dev")
    c, ack = connect(raw, cid, token(cid, exp_in=1))
    assert ack.reason == 0
    time.sleep(2.5)
    assert c.is_open(), "token_expiry = ignore keeps the connection"


def test_a_token_that_never_expires_is_served(raw, uid):
    # exp near 2^64 (any u64 is a valid claim): served, and the deadline does not overflow.
    cid = uid("dev")
    c, ack = connect(raw, cid, jwt.encode({"sub": cid, "exp": 2**64 - 1}, expect.TOKEN_SECRET,
                                          algorithm="HS256"))
    assert ack.reason == 0
    assert c.is_open()
