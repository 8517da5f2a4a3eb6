"""Device shadows over MQTT (AWS IoT convention): $shadow/{device}/update|get|delete and their
accepted / rejected / delta / documents replies; JSON merge patch (RFC 7386) on desired and
reported, null deletes, version +1 per accepted update, 409 on a version conflict, 400 on bad
JSON, 413 when too large, 404 when there is no shadow."""

import time

import pytest

import expect
from shadow_util import MqttShadow, check_rejected, check_timestamps

pytestmark = pytest.mark.shardhub_only


@pytest.fixture
def shadow(mqtt, uid):
    device = uid("dev")
    return MqttShadow(mqtt(uid("app")), device)


def test_first_update_creates_the_shadow(shadow):
    t0 = int(time.time()) - 2
    r = shadow.update({"desired": {"temp": 21, "mode": "heat"}},
                      want=("update/accepted", "update/delta", "update/documents"))
    acc = r["update/accepted"]
    assert acc["state"] == {"desired": {"temp": 21, "mode": "heat"}}
    assert acc["version"] == 1
    assert isinstance(acc["timestamp"], int) and acc["timestamp"] >= t0
    check_timestamps(acc["metadata"]["desired"], t0)
    assert set(acc["metadata"]["desired"]) == {"temp", "mode"}

    delta = r["update/delta"]
    assert delta["state"] == {"temp": 21, "mode": "heat"}, delta
    assert delta["version"] == 1

    docs = r["update/documents"]
    assert docs["previous"] is None
    assert docs["current"]["state"] == {"desired": {"temp": 21, "mode": "heat"}}
    assert docs["current"]["version"] == 1
    assert "update/rejected" not in r


def test_reported_in_sync_has_no_delta(shadow):
    shadow.update({"desired": {"temp": 21}}, want=("update/accepted", "update/delta"))
    r = shadow.update({"reported": {"temp": 21}}, want=("update/accepted", "update/documents"))
    assert r["update/accepted"]["version"] == 2
    assert "update/delta" not in r, r.get("update/delta")
    docs = r["update/documents"]
    assert docs["previous"]["version"] == 1 and docs["current"]["version"] == 2
    assert docs["previous"]["state"] == {"desired": {"temp": 21}}
    assert docs["current"]["state"] == {"desired": {"temp": 21}, "reported": {"temp": 21}}
    g = shadow.get()["get/accepted"]
    assert g["state"] == {"desired": {"temp": 21}, "reported": {"temp": 21}}   # no delta
    assert g["version"] == 2


def test_delta_is_desired_that_differs_from_reported(shadow):
    shadow.update({"reported": {"temp": 18, "fan": "low", "fw": "1.0"}})
    r = shadow.update({"desired": {"temp": 21, "fan": "low"}},
                      want=("update/accepted", "update/delta"))
    assert r["update/delta"]["state"] == {"temp": 21}
    g = shadow.get()["get/accepted"]
    assert g["state"]["delta"] == {"temp": 21}
    assert g["state"]["reported"] == {"temp": 18, "fan": "low", "fw": "1.0"}
    assert g["version"] == 2
    check_timestamps(g["metadata"], int(time.time()) - 5)


def test_merge_patch_semantics(shadow):
    """RFC 7386: objects merge recursively, null removes a member, `"desired": null` clears
    the section; arrays are replaced whole."""
    shadow.update({"desired": {"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2, 3]}})
    shadow.update({"desired": {"a": None, "nested": {"y": None, "z": 3}, "list": [9]}})
    g = shadow.get()["get/accepted"]
    assert g["state"]["desired"] == {"nested": {"x": 1, "z": 3}, "list": [9]}
    assert g["version"] == 2
    assert "a" not in g["metadata"]["desired"]
    shadow.update({"reported": {"on": True}})
    shadow.update({"desired": None})
    g = shadow.get()["get/accepted"]
    assert g["state"] == {"reported": {"on": True}}
    assert g["version"] == 4


def test_version_conflict(shadow):
    shadow.update({"desired": {"v": 1}})
    shadow.update({"desired": {"v": 2}})
    r = shadow.update({"desired": {"v": 3}}, version=1, clientToken="tok-409",
                      want=("update/rejected",))
    check_rejected(r["update/rejected"], expect.SHADOW_VERSION_CONFLICT)
    assert r["update/rejected"].get("clientToken") == "tok-409"
    assert "update/accepted" not in r and "update/delta" not in r
    g = shadow.get()["get/accepted"]
    assert g["version"] == 2 and g["state"]["desired"] == {"v": 2}
    # Naming the current version is accepted.
    r = shadow.update({"desired": {"v": 3}}, version=2)
    assert r["update/accepted"]["version"] == 3


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"version": 1}',
                                  b'{"state": {"desired": 5}}', b'{"state": {"delta": {}}}'],
                         ids=["not_json", "empty", "array", "no_state", "desired_not_object",
                              "state_delta"])
def test_bad_requests_are_400(shadow, body):
    r = shadow.request("update", body, want=("update/rejected",))
    check_rejected(r["update/rejected"], expect.SHADOW_BAD_JSON)
    assert "update/accepted" not in r
    r = shadow.get(want=("get/rejected",))
    check_rejected(r["get/rejected"], expect.SHADOW_NOT_FOUND)


@pytest.mark.broker_config(shadow={"max_document_bytes": 512})
def test_too_large_is_413(shadow):
    r = shadow.update({"desired": {"blob": "x" * 600}}, want=("update/rejected",))
    check_rejected(r["update/rejected"], expect.SHADOW_TOO_LARGE)
    shadow.update({"desired": {"blob": "x" * 100}})   # a small one is fine


@pytest.mark.broker_config(shadow={"max_depth": 3})
def test_too_deep_is_400(shadow):
    shadow.update({"desired": {"a": {"b": 1}}})     # depth 3 counting the section
    r = shadow.update({"desired": {"a": {"b": {"c": {"d": 1}}}}}, want=("update/rejected",))
    check_rejected(r["update/rejected"], expect.SHADOW_BAD_JSON)


def test_get_and_delete(shadow):
    r = shadow.get(want=("get/rejected",), body=b'{"clientToken": "g1"}')
    check_rejected(r["get/rejected"], expect.SHADOW_NOT_FOUND)
    assert r["get/rejected"].get("clientToken") == "g1"
    shadow.update({"desired": {"x": 1}}, clientToken="u1")
    g = shadow.get(body=b'{"clientToken": "g2"}')["get/accepted"]
    assert g["clientToken"] == "g2" and g["version"] == 1
    d = shadow.delete()["delete/accepted"]
    assert d["version"] == 1 and isinstance(d["timestamp"], int)
    check_rejected(shadow.get(want=("get/rejected",))["get/rejected"], expect.SHADOW_NOT_FOUND)
    check_rejected(shadow.delete(want=("delete/rejected",))["delete/rejected"],
                   expect.SHADOW_NOT_FOUND)
    # After a delete the next update starts a new document (AWS keeps counting versions).
    r = shadow.update({"reported": {"y": 2}})
    assert r["update/accepted"]["version"] >= 1
    assert shadow.get()["get/accepted"]["state"] == {"reported": {"y": 2}}


def test_client_token_is_echoed(shadow):
    r = shadow.update({"desired": {"a": 1}}, clientToken="abc-123",
                      want=("update/accepted", "update/delta", "update/documents"))
    for k in ("update/accepted", "update/delta", "update/documents"):
        assert r[k].get("clientToken") == "abc-123", (k, r[k])


def test_shadows_are_per_device(mqtt, uid):
    app = mqtt(uid("app"))
    a, b = MqttShadow(app, uid("dev")), MqttShadow(app, uid("dev"))
    a.update({"desired": {"who": "a"}})
    check_rejected(b.get(want=("get/rejected",))["get/rejected"], expect.SHADOW_NOT_FOUND)
    assert a.get()["get/accepted"]["state"]["desired"] == {"who": "a"}


@pytest.mark.broker_config(mqtt={"auth": "token", "token_secret": expect.TOKEN_SECRET})
def test_shadow_with_token_auth(mqtt, uid):
    """A device reaches its own shadow, not another's."""
    import jwt
    dev = uid("dev")
    tok = jwt.encode({"sub": dev, "exp": int(time.time()) + 600}, expect.TOKEN_SECRET,
                     algorithm="HS256")
    c = mqtt(dev, username=dev, password=tok)
    own = MqttShadow(c, dev)
    r = own.update({"reported": {"battery": 80}})
    assert r["update/accepted"]["version"] == 1
    other = uid("dev")
    assert c.subscribe(f"$shadow/{other}/get/+", qos=1) == [expect.ACL_SUBACK_DENIED]
    assert c.publish(f"$shadow/{other}/update", b'{"state":{"desired":{"x":1}}}',
                     qos=1) == expect.ACL_PUBACK_DENIED
