"""Enhanced authentication (§4.12): an Authentication Method the server does not support is
answered with CONNACK 0x8C (Bad authentication method) and the connection closes; other
connections are untouched."""

import pytest

import expect
from rawmqtt import AUTH, DISCONNECT, auth
from util import allowed_codes


@pytest.mark.parametrize("method", ["SCRAM-SHA-256", "GS2-KRB5", "x-unknown"])
def test_unsupported_method_gets_0x8c(raw, uid, method):
    healthy = raw()
    healthy.connect(uid("ok"))
    c = raw()
    ack = c.connect(uid("c"), props={"authentication_method": method,
                                     "authentication_data": b"client-first"})
    assert ack.reason == expect.BAD_AUTH_METHOD, ack
    assert ack.session_present is False
    _, closed = c.wait_closed(2)
    assert closed is not None, "connection left open after CONNACK 0x8C"
    assert healthy.is_open()


@pytest.mark.mosquitto_deviates("§4.13.1: on a Protocol Error the server SHOULD send DISCONNECT "
                                "with the reason code; Mosquitto 2.0 only closes")
def test_auth_packet_without_enhanced_auth_is_a_protocol_error(raw, uid):
    """§4.12 [MQTT-4.12.0-6/7]: a client that did not name an Authentication Method in CONNECT
    must not send AUTH; the server treats it as a Protocol Error."""
    c = raw()
    c.connect(uid("c"))
    c.send(auth(0x19, {"authentication_method": "SCRAM-SHA-256"}))   # re-authenticate
    seen, closed = c.wait_closed(3)
    assert closed is not None
    disc = [p for p in seen if p.type == DISCONNECT]
    assert not [p for p in seen if p.type == AUTH], seen
    assert disc and disc[0].reason in allowed_codes("auth_without_enhanced_auth"), seen
