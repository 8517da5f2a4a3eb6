//! Tests of the codec as a whole: round trips, spec byte sequences, one test per forbidden
//! thing, property-based round trips and panic hunting, and a differential test against
//! the `mqtt5-protocol` crate. Unit tests of single files sit in those files.

mod differential;
mod errors;
mod fuzz;
mod round_trip;
mod strategies;

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};

use super::*;

pub(super) const V5: ProtocolVersion = ProtocolVersion::V5;
pub(super) const V311: ProtocolVersion = ProtocolVersion::V311;
/// A limit no test packet reaches.
pub(super) const MAX: u32 = 1 << 20;

pub(super) fn s(text: &str) -> MqttStr {
    MqttStr::try_from(text).expect("valid MQTT string")
}

pub(super) fn pid(id: u16) -> PacketId {
    PacketId::new(id).expect("non-zero")
}

pub(super) fn nz16(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).expect("non-zero")
}

pub(super) fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero")
}

pub(super) fn user(name: &str, value: &str) -> UserProperty {
    UserProperty {
        name: s(name),
        value: s(value),
    }
}

pub(super) fn encode(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).expect("encodes");
    buf
}

/// A fixed header for `body`: the first byte, then the remaining length.
pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    varint::put(&mut out, u32::try_from(body.len()).expect("small"));
    out.extend_from_slice(body);
    out
}

/// Decodes `bytes`, which must hold exactly one whole packet.
pub(super) fn decode_one(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, version, MAX)?.expect("a whole packet");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(packet)
}

/// Asserts `bytes` fail to decode with `code`, and returns the error for closer looks.
#[track_caller]
pub(super) fn rejects(bytes: &[u8], version: ProtocolVersion, code: ReasonCode) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, version, MAX) {
        Err(error) => {
            assert_eq!(error.reason_code(), code, "{error}");
            error
        }
        Ok(other) => panic!("expected {code}, decoded {other:?}"),
    }
}

/// One packet of each type with every field and property it can carry set, valid in 5.0.
pub(super) fn full_packets() -> Vec<Packet> {
    let will = Will {
        topic: s("devices/42/status"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: WillProperties {
            will_delay_interval: Some(30),
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(3600),
            content_type: Some(s("text/plain")),
            response_topic: Some(s("devices/42/reply")),
            correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
            user_properties: vec![user("k", "v"), user("k", "v2")],
        },
    };
    let connect = Connect {
        protocol_version: V5,
        clean_start: true,
        keep_alive: 60,
        client_id: s("device-42"),
        will: Some(will),
        username: Some(s("alice")),
        password: Some(Bytes::from_static(b"s3cr3t\x00\xff")),
        properties: ConnectProperties {
            session_expiry_interval: Some(0xffff_ffff),
            receive_maximum: Some(nz16(100)),
            maximum_packet_size: Some(nz32(1 << 20)),
            topic_alias_maximum: Some(10),
            request_response_information: Some(true),
            request_problem_information: Some(false),
            authentication_method: Some(s("SCRAM-SHA-256")),
            authentication_data: Some(Bytes::from_static(b"client-first")),
            user_properties: vec![user("region", "eu"), user("水", "ü")],
        },
    };
    let connack = ConnAck {
        session_present: true,
        reason_code: ReasonCode::SUCCESS,
        properties: ConnAckProperties {
            session_expiry_interval: Some(120),
            receive_maximum: Some(nz16(20)),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(nz32(65_536)),
            assigned_client_identifier: Some(s("auto-1")),
            topic_alias_maximum: Some(5),
            reason_string: Some(s("welcome")),
            user_properties: vec![user("a", "b")],
            wildcard_subscription_available: Some(true),
            subscription_identifiers_available: Some(true),
            shared_subscription_available: Some(false),
            server_keep_alive: Some(30),
            response_information: Some(s("reply/")),
            server_reference: Some(s("other:1883")),
            authentication_method: Some(s("SCRAM-SHA-256")),
            authentication_data: Some(Bytes::from_static(b"server-final")),
        },
    };
    let publish = Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: s("sensors/7/temp"),
        packet_id: Some(pid(7)),
        properties: PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(60),
            topic_alias: Some(nz16(3)),
            response_topic: Some(s("sensors/7/reply")),
            correlation_data: Some(Bytes::from_static(b"id-1")),
            user_properties: vec![user("unit", "C"), user("unit", "K")],
            subscription_identifiers: vec![nz32(1), nz32(varint::VARINT_MAX)],
            content_type: Some(s("application/json")),
        },
        payload: Bytes::from_static(b"{\"t\":21.5}"),
    };
    let ack_properties = AckProperties {
        reason_string: Some(s("why")),
        user_properties: vec![user("x", "y")],
    };
    let ack = |code| Ack {
        packet_id: pid(7),
        reason_code: code,
        properties: ack_properties.clone(),
    };
    vec![
        Packet::Connect(Box::new(connect)),
        Packet::ConnAck(Box::new(connack)),
        Packet::Publish(publish),
        Packet::PubAck(ack(ReasonCode::NO_MATCHING_SUBSCRIBERS)),
        Packet::PubRec(ack(ReasonCode::QUOTA_EXCEEDED)),
        Packet::PubRel(ack(ReasonCode::PACKET_IDENTIFIER_NOT_FOUND)),
        Packet::PubComp(ack(ReasonCode::SUCCESS)),
        Packet::Subscribe(Subscribe {
            packet_id: pid(9),
            properties: SubscribeProperties {
                subscription_identifier: Some(nz32(268_435_455)),
                user_properties: vec![user("s", "1")],
            },
            filters: vec![
                Subscription {
                    filter: s("sport/+/player1"),
                    options: SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::Never,
                    },
                },
                Subscription {
                    filter: s("$share/g/sport/#"),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: RetainHandling::OnNewSubscribe,
                    },
                },
            ],
        }),
        Packet::SubAck(SubAck {
            packet_id: pid(9),
            properties: ack_properties.clone(),
            reason_codes: vec![
                ReasonCode::GRANTED_QOS_2,
                ReasonCode::TOPIC_FILTER_INVALID,
                ReasonCode::GRANTED_QOS_0,
            ],
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(10),
            properties: UnsubscribeProperties {
                user_properties: vec![user("u", "1")],
            },
            filters: vec![s("sport/+/player1"), s("$share/g/sport/#")],
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: pid(10),
            properties: ack_properties.clone(),
            reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::SERVER_MOVED,
            properties: DisconnectProperties {
                session_expiry_interval: Some(10),
                reason_string: Some(s("moving")),
                user_properties: vec![user("d", "1")],
                server_reference: Some(s("other:1883")),
            },
        }),
        Packet::Auth(Auth {
            reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
            properties: AuthProperties {
                authentication_method: Some(s("SCRAM-SHA-256")),
                authentication_data: Some(Bytes::from_static(b"client-final")),
                reason_string: Some(s("step 2")),
                user_properties: vec![user("a", "1")],
            },
        }),
    ]
}

/// Adjusts a 5.0 packet to what 3.1.1 can express at all, keeping its properties (which
/// encoding for 3.1.1 must leave out). `None` for AUTH, which 3.1.1 lacks.
pub(super) fn fit_for_v311(packet: Packet) -> Option<Packet> {
    Some(match packet {
        Packet::Auth(_) => return None,
        Packet::Connect(mut c) => {
            c.protocol_version = V311;
            if c.password.is_some() && c.username.is_none() {
                c.username = Some(s("user"));
            }
            if c.client_id.is_empty() {
                c.clean_start = true;
            }
            Packet::Connect(c)
        }
        Packet::ConnAck(mut c) => {
            if c.reason_code.v311_connack_return_code().is_none() {
                c.reason_code = ReasonCode::SERVER_UNAVAILABLE;
                c.session_present = false;
            }
            Packet::ConnAck(c)
        }
        Packet::Publish(mut p) => {
            if p.topic.is_empty() {
                p.topic = s("t");
            }
            Packet::Publish(p)
        }
        other => other,
    })
}

/// What a 3.1.1 decoder makes of a packet encoded for 3.1.1: no properties, reason codes
/// as 3.1.1 can carry them, subscription options reduced to the QoS.
pub(super) fn as_read_in_v311(packet: &Packet) -> Packet {
    let ack = |a: &Ack| Ack::new(a.packet_id);
    match packet {
        Packet::Connect(c) => {
            let mut c = c.clone();
            c.properties = ConnectProperties::default();
            if let Some(will) = &mut c.will {
                will.properties = WillProperties::default();
            }
            Packet::Connect(c)
        }
        Packet::ConnAck(c) => Packet::ConnAck(Box::new(ConnAck {
            session_present: c.session_present,
            reason_code: c
                .reason_code
                .v311_connack_return_code()
                .and_then(ReasonCode::from_v311_connack_return_code)
                .expect("fit_for_v311 leaves a mappable code"),
            properties: ConnAckProperties::default(),
        })),
        Packet::Publish(p) => Packet::Publish(Publish {
            properties: PublishProperties::default(),
            ..p.clone()
        }),
        Packet::PubAck(a) => Packet::PubAck(ack(a)),
        Packet::PubRec(a) => Packet::PubRec(ack(a)),
        Packet::PubRel(a) => Packet::PubRel(ack(a)),
        Packet::PubComp(a) => Packet::PubComp(ack(a)),
        Packet::Subscribe(sub) => Packet::Subscribe(Subscribe {
            packet_id: sub.packet_id,
            properties: SubscribeProperties::default(),
            filters: sub
                .filters
                .iter()
                .map(|f| Subscription {
                    filter: f.filter.clone(),
                    options: SubscriptionOptions {
                        qos: f.options.qos,
                        ..Default::default()
                    },
                })
                .collect(),
        }),
        Packet::SubAck(a) => Packet::SubAck(SubAck {
            packet_id: a.packet_id,
            properties: AckProperties::default(),
            reason_codes: a
                .reason_codes
                .iter()
                .map(|c| ReasonCode(c.v311_suback_return_code()))
                .collect(),
        }),
        Packet::Unsubscribe(u) => Packet::Unsubscribe(Unsubscribe {
            properties: UnsubscribeProperties::default(),
            ..u.clone()
        }),
        Packet::UnsubAck(u) => Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            properties: AckProperties::default(),
            reason_codes: Vec::new(),
        }),
        Packet::PingReq => Packet::PingReq,
        Packet::PingResp => Packet::PingResp,
        Packet::Disconnect(_) => Packet::Disconnect(Disconnect::default()),
        Packet::Auth(a) => Packet::Auth(a.clone()),
    }
}
