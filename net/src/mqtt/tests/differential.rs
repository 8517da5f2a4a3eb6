//! Differential test against `mqtt5-protocol` (0.16, a dev-dependency) as a reference
//! MQTT 5.0 decoder:
//!
//! - every valid 5.0 packet we encode, the reference decodes to the same fields and
//!   properties (converted into our types and compared whole);
//! - every complete frame the reference refuses, we refuse too, and every frame both accept
//!   decodes to the same packet.
//!
//! Known differences, each pinned by [`known_differences`]:
//!
//! - The reference refuses a 5.0 CONNECT with a password and no user name; MQTT 5.0
//!   section 3.1.2.9 allows it (only 3.1.1 forbids it). We accept it in 5.0.
//! - The reference accepts what we refuse, as the specification tells us to: Topic Alias 0
//!   (0x94), properties not allowed in the packet type, unknown protocol levels, packet
//!   identifier 0, wildcards in PUBLISH topic names, bytes after a PINGREQ, AUTH reason
//!   codes other than 0x00/0x18/0x19, and out-of-range values such as Receive Maximum 0.
//!   That direction is not a disagreement the test flags: it only asserts that we refuse
//!   whatever the reference refuses.

use mqtt5_protocol::packet::{FixedHeader, Packet as RefPacket};
use mqtt5_protocol::{MqttError, Properties as RefProperties, PropertyId as RefId, PropertyValue as RefValue};
use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::packet_v5;
use super::*;
use crate::mqtt::properties::{Property, PropertySet};

/// Decodes one complete frame with the reference, as a 5.0 connection would.
fn reference_decode(bytes: &[u8]) -> Result<RefPacket, MqttError> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let header = FixedHeader::decode(&mut buf)?;
    let len = header.remaining_length as usize;
    if buf.len() != len {
        return Err(MqttError::MalformedPacket(format!(
            "frame of {} bytes for {len}",
            buf.len()
        )));
    }
    RefPacket::decode_from_body_with_version(header.packet_type, &header, &mut buf, 5)
}

/// Valid 5.0 packets the reference refuses (see the module documentation).
fn reference_refuses_valid(packet: &Packet) -> bool {
    matches!(packet, Packet::Connect(c) if c.protocol_version == V5 && c.password.is_some() && c.username.is_none())
}

fn qos(bits: u8) -> QoS {
    QoS::from_bits(bits).expect("the reference only holds QoS 0..=2")
}

fn properties<P: PropertySet>(props: &RefProperties) -> P {
    let mut set = P::default();
    for (id, value) in props.iter() {
        let property = property(id, value);
        set.absorb(property).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
    set
}

/// One reference property as ours.
fn property(id: RefId, value: &RefValue) -> Property {
    let byte = || match value {
        RefValue::Byte(b) => *b,
        other => panic!("{id:?} holds {other:?}"),
    };
    let flag = || byte() == 1;
    let two = || match value {
        RefValue::TwoByteInteger(v) => *v,
        other => panic!("{id:?} holds {other:?}"),
    };
    let four = || match value {
        RefValue::FourByteInteger(v) | RefValue::VariableByteInteger(v) => *v,
        other => panic!("{id:?} holds {other:?}"),
    };
    let text = || match value {
        RefValue::Utf8String(v) => s(v),
        other => panic!("{id:?} holds {other:?}"),
    };
    let data = || match value {
        RefValue::BinaryData(v) => v.clone(),
        other => panic!("{id:?} holds {other:?}"),
    };
    match id {
        RefId::PayloadFormatIndicator => Property::PayloadFormatIndicator(flag()),
        RefId::MessageExpiryInterval => Property::MessageExpiryInterval(four()),
        RefId::ContentType => Property::ContentType(text()),
        RefId::ResponseTopic => Property::ResponseTopic(text()),
        RefId::CorrelationData => Property::CorrelationData(data()),
        RefId::SubscriptionIdentifier => Property::SubscriptionIdentifier(nz32(four())),
        RefId::SessionExpiryInterval => Property::SessionExpiryInterval(four()),
        RefId::AssignedClientIdentifier => Property::AssignedClientIdentifier(text()),
        RefId::ServerKeepAlive => Property::ServerKeepAlive(two()),
        RefId::AuthenticationMethod => Property::AuthenticationMethod(text()),
        RefId::AuthenticationData => Property::AuthenticationData(data()),
        RefId::RequestProblemInformation => Property::RequestProblemInformation(flag()),
        RefId::WillDelayInterval => Property::WillDelayInterval(four()),
        RefId::RequestResponseInformation => Property::RequestResponseInformation(flag()),
        RefId::ResponseInformation => Property::ResponseInformation(text()),
        RefId::ServerReference => Property::ServerReference(text()),
        RefId::ReasonString => Property::ReasonString(text()),
        RefId::ReceiveMaximum => Property::ReceiveMaximum(nz16(two())),
        RefId::TopicAliasMaximum => Property::TopicAliasMaximum(two()),
        RefId::TopicAlias => Property::TopicAlias(nz16(two())),
        RefId::MaximumQoS => Property::MaximumQos(qos(byte())),
        RefId::RetainAvailable => Property::RetainAvailable(flag()),
        RefId::UserProperty => match value {
            RefValue::Utf8StringPair(name, value) => Property::UserProperty(user(name, value)),
            other => panic!("{id:?} holds {other:?}"),
        },
        RefId::MaximumPacketSize => Property::MaximumPacketSize(nz32(four())),
        RefId::WildcardSubscriptionAvailable => Property::WildcardSubscriptionAvailable(flag()),
        RefId::SubscriptionIdentifierAvailable => Property::SubscriptionIdentifierAvailable(flag()),
        RefId::SharedSubscriptionAvailable => Property::SharedSubscriptionAvailable(flag()),
    }
}

/// The reference's packet in our types, field by field.
fn ours(packet: RefPacket) -> Packet {
    let ack = |packet_id: u16, reason: mqtt5_protocol::ReasonCode, props: &RefProperties| Ack {
        packet_id: pid(packet_id),
        reason_code: ReasonCode(u8::from(reason)),
        properties: properties(props),
    };
    match packet {
        RefPacket::Connect(c) => {
            let will_properties = properties(&c.will_properties);
            Packet::Connect(Box::new(Connect {
                protocol_version: ProtocolVersion::from_level(c.protocol_version).expect("4 or 5"),
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: s(&c.client_id),
                will: c.will.map(|w| Will {
                    topic: s(&w.topic),
                    payload: Bytes::from(w.payload),
                    qos: qos(w.qos as u8),
                    retain: w.retain,
                    properties: will_properties,
                }),
                username: c.username.map(|u| s(&u)),
                password: c.password.map(Bytes::from),
                properties: properties(&c.properties),
            }))
        }
        RefPacket::ConnAck(c) => Packet::ConnAck(Box::new(ConnAck {
            session_present: c.session_present,
            reason_code: ReasonCode(u8::from(c.reason_code)),
            properties: properties(&c.properties),
        })),
        RefPacket::Publish(p) => Packet::Publish(Publish {
            dup: p.dup,
            qos: qos(p.qos as u8),
            retain: p.retain,
            topic: s(&p.topic_name),
            packet_id: p.packet_id.map(pid),
            properties: properties(&p.properties),
            payload: p.payload,
        }),
        RefPacket::PubAck(a) => Packet::PubAck(ack(a.packet_id, a.reason_code, &a.properties)),
        RefPacket::PubRec(a) => Packet::PubRec(ack(a.packet_id, a.reason_code, &a.properties)),
        RefPacket::PubRel(a) => Packet::PubRel(ack(a.packet_id, a.reason_code, &a.properties)),
        RefPacket::PubComp(a) => Packet::PubComp(ack(a.packet_id, a.reason_code, &a.properties)),
        RefPacket::Subscribe(sub) => Packet::Subscribe(Subscribe {
            packet_id: pid(sub.packet_id),
            properties: properties(&sub.properties),
            filters: sub
                .filters
                .iter()
                .map(|f| Subscription {
                    filter: s(&f.filter),
                    options: SubscriptionOptions {
                        qos: qos(f.options.qos as u8),
                        no_local: f.options.no_local,
                        retain_as_published: f.options.retain_as_published,
                        retain_handling: RetainHandling::from_bits(f.options.retain_handling as u8).expect("0..=2"),
                    },
                })
                .collect(),
        }),
        RefPacket::SubAck(a) => Packet::SubAck(SubAck {
            packet_id: pid(a.packet_id),
            properties: properties(&a.properties),
            reason_codes: a.reason_codes.iter().map(|c| ReasonCode(*c as u8)).collect(),
        }),
        RefPacket::Unsubscribe(u) => Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(u.packet_id),
            properties: properties(&u.properties),
            filters: u.filters.iter().map(|f| s(f)).collect(),
        }),
        RefPacket::UnsubAck(a) => Packet::UnsubAck(UnsubAck {
            packet_id: pid(a.packet_id),
            properties: properties(&a.properties),
            reason_codes: a.reason_codes.iter().map(|c| ReasonCode(*c as u8)).collect(),
        }),
        RefPacket::PingReq => Packet::PingReq,
        RefPacket::PingResp => Packet::PingResp,
        RefPacket::Disconnect(d) => Packet::Disconnect(Disconnect {
            reason_code: ReasonCode(u8::from(d.reason_code)),
            properties: properties(&d.properties),
        }),
        RefPacket::Auth(a) => Packet::Auth(Auth {
            reason_code: ReasonCode(u8::from(a.reason_code)),
            properties: properties(&a.properties),
        }),
    }
}

/// The reference reads `packet`, written by us, as the same packet.
fn assert_reference_agrees(packet: &Packet) {
    let bytes = encode(packet, V5);
    match reference_decode(&bytes) {
        Ok(theirs) => assert_eq!(&ours(theirs), packet),
        Err(e) => assert!(reference_refuses_valid(packet), "reference refused {packet:?}: {e}"),
    }
}

/// Our verdict on one complete frame against the reference's.
fn assert_no_disagreement(bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    let mine = decode(&mut buf, V5, u32::MAX);
    match (mine, reference_decode(bytes)) {
        (Ok(None), _) => panic!("a complete frame asked for more: {bytes:02x?}"),
        (Ok(Some(packet)), Err(e)) => {
            assert!(
                reference_refuses_valid(&packet),
                "reference refused ({e}) what we accepted: {packet:?}"
            )
        }
        (Ok(Some(packet)), Ok(theirs)) => assert_eq!(ours(theirs), packet, "{bytes:02x?}"),
        (Err(_), _) => {}
    }
}

#[test]
fn reference_reads_every_packet_type_with_every_property() {
    for packet in full_packets() {
        assert_reference_agrees(&packet);
    }
}

#[test]
fn known_differences() {
    let refuses = |bytes: &[u8]| reference_decode(bytes).is_err();
    let accepts = |bytes: &[u8]| reference_decode(bytes).is_ok();

    // 5.0 allows a password without a user name; the reference does not.
    let password_only = frame(0x10, b"\x00\x04MQTT\x05\x42\x00\x3c\x00\x00\x01c\x00\x02pw");
    assert!(refuses(&password_only));
    assert!(decode_one(&password_only, V5).is_ok());

    // The reference accepts each of these; the specification forbids them and so do we.
    let forbidden = [
        // Topic Alias 0.
        (
            frame(0x30, b"\x00\x01a\x03\x23\x00\x00"),
            ReasonCode::TOPIC_ALIAS_INVALID,
        ),
        // Session Expiry Interval in a PUBLISH.
        (
            frame(0x30, b"\x00\x01a\x05\x11\x00\x00\x00\x01"),
            ReasonCode::MALFORMED_PACKET,
        ),
        // Protocol level 6.
        (
            frame(0x10, b"\x00\x04MQTT\x06\x02\x00\x3c\x00\x00\x01c"),
            ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        ),
        // Packet identifier 0 at QoS 1.
        (frame(0x32, b"\x00\x01a\x00\x00\x00"), ReasonCode::PROTOCOL_ERROR),
        // A wildcard in a topic name.
        (frame(0x30, b"\x00\x02a#\x00"), ReasonCode::TOPIC_NAME_INVALID),
        // A PINGREQ with a body.
        (frame(0xc0, b"\x00"), ReasonCode::MALFORMED_PACKET),
        // AUTH with "Not authorized".
        (frame(0xf0, b"\x87\x00"), ReasonCode::MALFORMED_PACKET),
        // Receive Maximum 0.
        (
            frame(0x10, b"\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x01c"),
            ReasonCode::PROTOCOL_ERROR,
        ),
        // Payload Format Indicator 2.
        (frame(0x30, b"\x00\x01a\x02\x01\x02"), ReasonCode::PROTOCOL_ERROR),
    ];
    for (bytes, code) in &forbidden {
        assert!(
            accepts(bytes),
            "the reference now refuses {bytes:02x?} ({:?}): update the module documentation",
            reference_decode(bytes).err()
        );
        rejects(bytes, V5, *code);
    }
}

/// Valid 5.0 frames with their body damaged (bytes overwritten, inserted, removed), and
/// sometimes the first byte too; the remaining length is rewritten to match, so both
/// decoders see one complete frame.
fn damaged_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        packet_v5(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        any::<Option<(prop::sample::Index, u8)>>(),
        any::<Option<prop::sample::Index>>(),
        any::<Option<u8>>(),
    )
        .prop_map(|(packet, writes, insert, remove, flags)| {
            let bytes = encode(&packet, V5);
            let header_len = match varint::decode(&bytes[1..]) {
                varint::VarInt::Complete { len, .. } => 1 + len,
                other => panic!("our own header: {other:?}"),
            };
            let mut body = bytes[header_len..].to_vec();
            for (at, byte) in writes {
                if !body.is_empty() {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
            }
            if let Some((at, byte)) = insert {
                body.insert(at.index(body.len() + 1), byte);
            }
            if let Some(at) = remove {
                if !body.is_empty() {
                    body.remove(at.index(body.len()));
                }
            }
            let first = match flags {
                Some(low) => (bytes[0] & 0xf0) | (low & 0x0f),
                None => bytes[0],
            };
            frame(first, &body)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn reference_reads_what_we_write(packet in packet_v5()) {
        assert_reference_agrees(&packet);
    }

    #[test]
    fn we_refuse_what_the_reference_refuses(bytes in damaged_frame()) {
        assert_no_disagreement(&bytes);
    }

    #[test]
    fn random_bodies_behind_every_packet_type(nibble in 1..=15u8, low in 0..16u8, body in vec(any::<u8>(), 0..48)) {
        assert_no_disagreement(&frame(nibble << 4 | low, &body));
    }
}
