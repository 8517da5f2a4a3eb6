"""What survives a restart (graceful stop, same data directory): retained messages (set and
cleared) on both brokers, device shadows on shardhub."""

import pytest

from shadow_util import HttpShadow, MqttShadow


@pytest.mark.broker_config(persistence=True)
def test_retained_messages_survive_a_restart(broker, mqtt, uid):
    kept, cleared, replaced = uid("kept"), uid("cleared"), uid("replaced")
    pub = mqtt(uid("p"))
    pub.publish(kept, b"kept", qos=1, retain=True,
                pub_props={"ContentType": "text/plain", "UserProperty": [("k", "v")]})
    pub.publish(cleared, b"soon gone", qos=1, retain=True)
    pub.publish(cleared, b"", qos=1, retain=True)
    pub.publish(replaced, b"old", qos=1, retain=True)
    pub.publish(replaced, b"new", qos=2, retain=True)
    pub.disconnect()

    broker.restart()

    sub = mqtt(uid("s"))
    sub.subscribe([(kept, 1), (cleared, 1), (replaced, 2)])
    got = {m.topic: m for m in sub.drain(1.0)}
    assert set(got) == {kept, replaced}, sorted(got)
    assert (got[kept].payload, got[kept].retain, got[kept].qos) == (b"kept", True, 1)
    assert got[kept].props.get("ContentType") == "text/plain"
    assert got[kept].props.get("UserProperty") == [("k", "v")]
    assert (got[replaced].payload, got[replaced].qos) == (b"new", 2)


@pytest.mark.shardhub_only
def test_shadows_survive_a_restart(broker, mqtt, uid):
    device = uid("dev")
    shadow = MqttShadow(mqtt(uid("app")), device)
    shadow.update({"desired": {"temp": 22, "mode": "eco"}})
    shadow.update({"reported": {"temp": 19}})
    shadow.update({"desired": {"mode": None}})
    before = shadow.get()["get/accepted"]
    gone = uid("gone")
    http_gone = HttpShadow(broker.http_url, gone)
    assert http_gone.patch({"state": {"desired": {"x": 1}}}).status_code == 200
    assert http_gone.delete().status_code == 200

    broker.restart()

    shadow = MqttShadow(mqtt(uid("app")), device)
    after = shadow.get()["get/accepted"]
    assert after["state"] == before["state"] == {"desired": {"temp": 22},
                                                 "reported": {"temp": 19},
                                                 "delta": {"temp": 22}}
    assert after["version"] == before["version"] == 3
    assert after["metadata"] == before["metadata"]
    # Versions go on from where they were.
    assert shadow.update({"reported": {"temp": 22}})["update/accepted"]["version"] == 4
    # A deleted shadow stays deleted.
    assert http_gone.get().status_code == 404
    # HTTP sees the same.
    assert HttpShadow(broker.http_url, device).get().json()["version"] == 4


@pytest.mark.shardhub_only
def test_restart_twice_keeps_everything(broker, mqtt, uid):
    """Replay after a restart that itself replayed (snapshot + log) loses nothing."""
    topic, device = uid("t"), uid("dev")
    mqtt(uid("p")).publish(topic, b"r1", qos=1, retain=True)
    MqttShadow(mqtt(uid("app")), device).update({"desired": {"n": 1}})
    broker.restart()
    mqtt(uid("p")).publish(topic, b"r2", qos=1, retain=True)
    MqttShadow(mqtt(uid("app")), device).update({"desired": {"n": 2}})
    broker.restart()
    sub = mqtt(uid("s"))
    sub.subscribe(topic, qos=1)
    assert sub.recv().payload == b"r2"
    g = MqttShadow(mqtt(uid("app")), device).get()["get/accepted"]
    assert g["state"]["desired"] == {"n": 2} and g["version"] == 2
