"""PUBLISH properties passed through unchanged (§3.3.2.3): Payload Format Indicator, Content
Type, Response Topic, Correlation Data and User Properties (order kept); a request/response
round trip; 3.1.1 subscribers get the message without them."""

from rawmqtt import PUBLISH

PROPS = {
    "payload_format_indicator": 1,
    "content_type": "application/json; charset=utf-8",
    "response_topic": "replies/requester-1",
    "correlation_data": b"\x00\xffcorrelation-42",
    "user_property": [("trace", "abc"), ("b", "2"), ("trace", "def"), ("ключ", "значение")],
}


def test_properties_are_forwarded_unchanged(raw, uid):
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"))
    sub.subscribe([(topic, 1)])
    pub = raw()
    pub.connect(uid("p"))
    pub.publish(topic, '{"a": 1}', qos=1, pid=1, props=PROPS)
    p = sub.expect(PUBLISH, skip=[4])
    assert p.payload == b'{"a": 1}'
    for k, v in PROPS.items():
        # [MQTT-3.3.2-17/18]: user properties forwarded, in order.
        assert p.props.get(k) == v, (k, p.props)


def test_request_response_round_trip(mqtt, uid):
    """§4.10: the responder answers on the Response Topic with the Correlation Data."""
    req_topic, resp_topic = uid("req"), uid("resp")
    requester = mqtt(uid("requester"))
    requester.subscribe(resp_topic, qos=1)
    responder = mqtt(uid("responder"))
    responder.subscribe(req_topic, qos=1)
    requester.publish(req_topic, b"what time is it", qos=1,
                      pub_props={"ResponseTopic": resp_topic, "CorrelationData": b"id-7"})
    req = responder.recv()
    assert req.props["ResponseTopic"] == resp_topic
    responder.publish(req.props["ResponseTopic"], b"noon", qos=1,
                      pub_props={"CorrelationData": req.props["CorrelationData"]})
    resp = requester.recv()
    assert resp.payload == b"noon"
    assert resp.props["CorrelationData"] == b"id-7"


def test_v311_subscriber_gets_the_payload(mqtt, raw, uid):
    topic = uid("t")
    sub = mqtt(uid("s"), version=4)
    sub.subscribe(topic, qos=1)
    pub = raw()
    pub.connect(uid("p"))
    pub.publish(topic, b"plain", qos=1, pid=1, props=PROPS)
    m = sub.recv()
    assert (m.payload, m.props) == (b"plain", {})


def test_user_properties_on_acks_do_not_break_the_flow(raw, mqtt, uid):
    """Properties a client puts on its PUBACK are allowed (§3.4.2.2) and ignored."""
    from rawmqtt import ack
    topic = uid("t")
    sub = raw()
    sub.connect(uid("s"))
    sub.subscribe([(topic, 1)])
    mqtt(uid("p")).publish(topic, b"x", qos=1)
    p = sub.expect(PUBLISH)
    sub.send(ack(4, p.pid, 0, {"user_property": [("ack", "note")]}))
    assert sub.is_open()
