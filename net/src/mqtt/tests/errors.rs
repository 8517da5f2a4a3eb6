//! One test per thing the specification forbids, each from hand-built bytes, each checking
//! the reason code the connection would answer with.

use super::*;

const MALFORMED: ReasonCode = ReasonCode::MALFORMED_PACKET;
const PROTOCOL: ReasonCode = ReasonCode::PROTOCOL_ERROR;

/// A 5.0 CONNECT body: name, level, `flags`, keep alive, `props`, then `payload`.
fn connect_body(level: u8, flags: u8, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x04MQTT".to_vec();
    body.extend_from_slice(&[level, flags, 0x00, 0x3c]);
    if level == 5 {
        body.push(u8::try_from(props.len()).expect("short"));
        body.extend_from_slice(props);
    }
    body.extend_from_slice(payload);
    body
}

/// A 5.0 PUBLISH at QoS 0 with `topic` and `props`.
fn publish_v5(topic: &[u8], props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, u8::try_from(topic.len()).expect("short")];
    body.extend_from_slice(topic);
    body.push(u8::try_from(props.len()).expect("short"));
    body.extend_from_slice(props);
    body.extend_from_slice(b"payload");
    frame(0x30, &body)
}

#[test]
fn wildcards_in_a_publish_topic() {
    for topic in [&b"a/+"[..], b"#", b"a/b#"] {
        let error = rejects(&publish_v5(topic, b""), V5, ReasonCode::TOPIC_NAME_INVALID);
        assert!(matches!(
            error,
            DecodeError::InvalidTopicName {
                error: TopicError::Wildcard,
                ..
            }
        ));
        rejects(
            &frame(0x30, &[&[0, topic.len() as u8][..], topic, b"x"].concat()),
            V311,
            ReasonCode::TOPIC_NAME_INVALID,
        );
    }
}

#[test]
fn wildcards_in_a_will_topic() {
    let body = connect_body(5, 0x06, b"", b"\x00\x01c\x00\x00\x03a/#\x00\x00");
    rejects(&frame(0x10, &body), V5, ReasonCode::TOPIC_NAME_INVALID);
}

#[test]
fn wildcards_in_a_response_topic() {
    rejects(&publish_v5(b"a", b"\x08\x00\x03r/+"), V5, PROTOCOL);
}

#[test]
fn empty_topic_needs_a_topic_alias() {
    assert_eq!(rejects(&publish_v5(b"", b""), V5, PROTOCOL), DecodeError::MissingTopic);
    rejects(&frame(0x30, b"\x00\x00x"), V311, PROTOCOL);
    // With an alias, 5.0 allows it.
    let Ok(Packet::Publish(p)) = decode_one(&publish_v5(b"", b"\x23\x00\x01"), V5) else {
        panic!("accepted")
    };
    assert_eq!(p.properties.topic_alias, Some(nz16(1)));
}

#[test]
fn topic_alias_zero() {
    assert_eq!(
        rejects(&publish_v5(b"a", b"\x23\x00\x00"), V5, ReasonCode::TOPIC_ALIAS_INVALID),
        DecodeError::TopicAliasZero
    );
}

#[test]
fn subscription_identifier_zero() {
    // SUBSCRIBE, packet id 1, Subscription Identifier 0, filter "a" at QoS 0.
    rejects(&frame(0x82, b"\x00\x01\x02\x0b\x00\x00\x01a\x00"), V5, PROTOCOL);
    rejects(&publish_v5(b"a", b"\x0b\x00"), V5, PROTOCOL);
}

#[test]
fn duplicated_properties() {
    let error = rejects(
        &publish_v5(b"a", b"\x02\x00\x00\x00\x01\x02\x00\x00\x00\x02"),
        V5,
        PROTOCOL,
    );
    assert_eq!(
        error,
        DecodeError::DuplicateProperty {
            id: PropertyId::MessageExpiryInterval,
            context: "PUBLISH"
        }
    );
    let connect = connect_body(5, 0x02, b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x01", b"\x00\x01c");
    rejects(&frame(0x10, &connect), V5, PROTOCOL);
    // A second Subscription Identifier is a duplicate in SUBSCRIBE, not in PUBLISH.
    rejects(&frame(0x82, b"\x00\x01\x04\x0b\x01\x0b\x02\x00\x01a\x00"), V5, PROTOCOL);
    assert!(decode_one(&publish_v5(b"a", b"\x0b\x01\x0b\x02"), V5).is_ok());
    // User Properties repeat anywhere.
    assert!(decode_one(
        &frame(0x40, b"\x00\x01\x00\x0e\x26\x00\x01k\x00\x01v\x26\x00\x01k\x00\x01v"),
        V5
    )
    .is_ok());
}

#[test]
fn properties_not_allowed_in_the_packet() {
    // Session Expiry Interval in PUBLISH.
    let error = rejects(&publish_v5(b"a", b"\x11\x00\x00\x00\x01"), V5, MALFORMED);
    assert_eq!(
        error,
        DecodeError::PropertyNotAllowed {
            id: PropertyId::SessionExpiryInterval,
            context: "PUBLISH"
        }
    );
    // Topic Alias in CONNECT.
    rejects(
        &frame(0x10, &connect_body(5, 0x02, b"\x23\x00\x01", b"\x00\x01c")),
        V5,
        MALFORMED,
    );
    // Will Delay Interval belongs to the Will properties, not to CONNECT's.
    rejects(
        &frame(0x10, &connect_body(5, 0x02, b"\x18\x00\x00\x00\x01", b"\x00\x01c")),
        V5,
        MALFORMED,
    );
    // Reason String in UNSUBSCRIBE.
    rejects(&frame(0xa2, b"\x00\x01\x04\x1f\x00\x01r\x00\x01a"), V5, MALFORMED);
    // Server Reference in AUTH.
    rejects(&frame(0xf0, b"\x00\x04\x1c\x00\x01s"), V5, MALFORMED);
}

#[test]
fn unknown_property_identifiers() {
    assert_eq!(
        rejects(&publish_v5(b"a", b"\x04\x00"), V5, MALFORMED),
        DecodeError::UnknownProperty(0x04)
    );
    // An identifier written as a two-byte Variable Byte Integer is unknown too.
    rejects(&publish_v5(b"a", b"\x81\x01\x00"), V5, MALFORMED);
}

#[test]
fn invalid_utf8_in_strings() {
    let error = rejects(&publish_v5(b"a\xff", b""), V5, MALFORMED);
    assert!(matches!(
        error,
        DecodeError::InvalidString {
            error: StrError::InvalidUtf8,
            ..
        }
    ));
    // A UTF-16 surrogate encoded as if it were a character.
    rejects(
        &frame(0x10, &connect_body(5, 0x02, b"", b"\x00\x03\xed\xa0\x80")),
        V5,
        MALFORMED,
    );
    // In a User Property value.
    rejects(&publish_v5(b"a", b"\x26\x00\x01k\x00\x01\xc3"), V5, MALFORMED);
}

#[test]
fn null_character_in_strings() {
    let error = rejects(
        &frame(0x10, &connect_body(4, 0x02, b"", b"\x00\x03c\x00d")),
        V311,
        MALFORMED,
    );
    assert!(matches!(
        error,
        DecodeError::InvalidString {
            error: StrError::NullCharacter,
            ..
        }
    ));
    rejects(&frame(0x82, b"\x00\x01\x00\x00\x02a\x00\x00"), V5, MALFORMED);
}

#[test]
fn reserved_fixed_header_flags() {
    // SUBSCRIBE, UNSUBSCRIBE and PUBREL must carry 0b0010; everything else but PUBLISH 0.
    for first in [
        0x80, 0x83, 0xa0, 0xa6, 0x60, 0x61, 0x11, 0x21, 0x41, 0x58, 0x72, 0x92, 0xb2, 0xc1, 0xd4, 0xe8, 0xf1,
    ] {
        let error = rejects(&[first, 0x00], V5, MALFORMED);
        assert!(
            matches!(error, DecodeError::ReservedFlags { .. }),
            "{first:#04x}: {error}"
        );
    }
}

#[test]
fn reserved_packet_types() {
    assert_eq!(rejects(b"\x00\x00", V5, MALFORMED), DecodeError::ReservedPacketType(0));
    assert_eq!(
        rejects(b"\xf0\x00", V311, MALFORMED),
        DecodeError::ReservedPacketType(15)
    );
}

#[test]
fn qos_3() {
    assert_eq!(
        rejects(&frame(0x36, b"\x00\x01a\x00\x01"), V5, MALFORMED),
        DecodeError::InvalidQos { what: "PUBLISH" }
    );
    // Refused from the first byte, before the rest arrives.
    rejects(b"\x36", V5, MALFORMED);
    // Will QoS 3.
    rejects(
        &frame(0x10, &connect_body(4, 0x1e, b"", b"\x00\x01c\x00\x01t\x00\x00")),
        V311,
        MALFORMED,
    );
}

#[test]
fn dup_at_qos_0() {
    assert_eq!(
        rejects(&frame(0x38, b"\x00\x01a\x00"), V5, MALFORMED),
        DecodeError::DupAtQos0
    );
}

#[test]
fn connect_reserved_flag() {
    let error = rejects(&frame(0x10, &connect_body(5, 0x03, b"", b"\x00\x01c")), V5, MALFORMED);
    assert_eq!(error, DecodeError::ConnectReservedFlag);
}

#[test]
fn will_qos_or_retain_without_will_flag() {
    for flags in [0x0a, 0x12, 0x22] {
        let error = rejects(&frame(0x10, &connect_body(5, flags, b"", b"\x00\x01c")), V5, MALFORMED);
        assert_eq!(error, DecodeError::WillFlagsWithoutWill, "{flags:#04x}");
    }
}

#[test]
fn password_without_username_in_v311() {
    let v311 = connect_body(4, 0x42, b"", b"\x00\x01c\x00\x02pw");
    assert_eq!(
        rejects(&frame(0x10, &v311), V311, MALFORMED),
        DecodeError::PasswordWithoutUsername
    );
    // 5.0 allows a password alone (section 3.1.2.9).
    let v5 = connect_body(5, 0x42, b"", b"\x00\x01c\x00\x02pw");
    let Ok(Packet::Connect(c)) = decode_one(&frame(0x10, &v5), V5) else {
        panic!("accepted")
    };
    assert_eq!((c.username, c.password.as_deref()), (None, Some(&b"pw"[..])));
}

#[test]
fn empty_client_id_without_clean_session_in_v311() {
    let error = rejects(
        &frame(0x10, &connect_body(4, 0x00, b"", b"\x00\x00")),
        V311,
        ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
    );
    assert_eq!(error.reason_code().v311_connack_return_code(), Some(0x02));
    // With a clean session, or in 5.0, the server assigns one.
    assert!(decode_one(&frame(0x10, &connect_body(4, 0x02, b"", b"\x00\x00")), V311).is_ok());
    assert!(decode_one(&frame(0x10, &connect_body(5, 0x00, b"", b"\x00\x00")), V5).is_ok());
}

#[test]
fn unsupported_protocol_versions() {
    for level in [3, 6, 0, 255] {
        let error = rejects(
            &frame(0x10, &connect_body(level, 0x02, b"", b"\x00\x01c")),
            V5,
            ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        );
        assert_eq!(error, DecodeError::UnsupportedProtocolVersion(level));
        assert_eq!(error.reason_code().v311_connack_return_code(), Some(0x01));
    }
    // MQTT 3.1.
    let mqisdp = frame(0x10, b"\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01c");
    assert_eq!(
        rejects(&mqisdp, V311, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
        DecodeError::UnsupportedProtocolVersion(3)
    );
    assert_eq!(
        peek_connect_version(&mqisdp),
        Err(DecodeError::UnsupportedProtocolVersion(3))
    );
}

#[test]
fn wrong_protocol_name() {
    let error = rejects(&frame(0x10, b"\x00\x04MQTs\x05\x02\x00\x3c\x00\x00\x01c"), V5, PROTOCOL);
    assert_eq!(error, DecodeError::InvalidProtocolName);
    assert_eq!(
        error.reason_code().v311_connack_return_code(),
        None,
        "3.1.1 closes without a CONNACK"
    );
}

#[test]
fn empty_subscribe_and_unsubscribe() {
    assert_eq!(
        rejects(b"\x82\x03\x00\x01\x00", V5, PROTOCOL),
        DecodeError::EmptyPayload(PacketType::Subscribe)
    );
    assert_eq!(
        rejects(b"\x82\x02\x00\x01", V311, PROTOCOL),
        DecodeError::EmptyPayload(PacketType::Subscribe)
    );
    assert_eq!(
        rejects(b"\xa2\x03\x00\x01\x00", V5, PROTOCOL),
        DecodeError::EmptyPayload(PacketType::Unsubscribe)
    );
    assert_eq!(
        rejects(b"\xa2\x02\x00\x01", V311, PROTOCOL),
        DecodeError::EmptyPayload(PacketType::Unsubscribe)
    );
    rejects(b"\x90\x03\x00\x01\x00", V5, PROTOCOL);
    rejects(b"\xb0\x03\x00\x01\x00", V5, PROTOCOL);
}

#[test]
fn subscription_options_reserved_bits() {
    for options in [0x40, 0x80, 0xc0] {
        let error = rejects(&frame(0x82, &[0, 1, 0, 0, 1, b'a', options]), V5, MALFORMED);
        assert_eq!(error, DecodeError::SubscriptionOptionsReserved(options));
    }
    // 3.1.1 reserves everything above the QoS: No Local and friends do not exist there.
    for options in [0x04, 0x08, 0x10, 0x80] {
        rejects(&frame(0x82, &[0, 1, 0, 1, b'a', options]), V311, MALFORMED);
    }
}

#[test]
fn subscription_qos_3_and_retain_handling_3() {
    assert_eq!(
        rejects(&frame(0x82, b"\x00\x01\x00\x00\x01a\x03"), V5, PROTOCOL),
        DecodeError::SubscriptionQos3
    );
    rejects(&frame(0x82, b"\x00\x01\x00\x01a\x03"), V311, PROTOCOL);
    assert_eq!(
        rejects(&frame(0x82, b"\x00\x01\x00\x00\x01a\x30"), V5, PROTOCOL),
        DecodeError::RetainHandling3
    );
}

#[test]
fn no_local_on_a_shared_subscription() {
    let body = [&b"\x00\x01\x00\x00\x0a$share/g/a"[..], b"\x04"].concat();
    assert_eq!(
        rejects(&frame(0x82, &body), V5, PROTOCOL),
        DecodeError::NoLocalOnSharedSubscription
    );
}

#[test]
fn remaining_length_longer_than_four_bytes() {
    assert_eq!(
        rejects(b"\x30\xff\xff\xff\xff\x01", V5, MALFORMED),
        DecodeError::RemainingLengthTooLong
    );
    // Known from the fourth byte alone.
    rejects(b"\x30\x80\x80\x80\x80", V5, MALFORMED);
    // And inside properties.
    rejects(&publish_v5(b"a", b"\x0b\xff\xff\xff\xff\x01"), V5, MALFORMED);
}

#[test]
fn packet_id_zero() {
    for bytes in [
        frame(0x32, b"\x00\x01a\x00\x00\x00"),
        frame(0x82, b"\x00\x00\x00\x00\x01a\x00"),
        frame(0xa2, b"\x00\x00\x00\x00\x01a"),
        frame(0x40, b"\x00\x00"),
        frame(0x62, b"\x00\x00"),
        frame(0x90, b"\x00\x00\x00\x00"),
    ] {
        let error = rejects(&bytes, V5, PROTOCOL);
        assert!(matches!(error, DecodeError::PacketIdZero(_)), "{error}");
    }
    rejects(&frame(0x50, b"\x00\x00"), V311, PROTOCOL);
}

#[test]
fn packet_too_large_is_refused_from_the_fixed_header() {
    // Only the fixed header of a 1 MiB PUBLISH has arrived; a 64 KiB limit refuses it.
    let mut buf = BytesMut::from(&b"\x30\x80\x80\x40"[..]);
    let error = decode(&mut buf, V5, 65_536).expect_err("too large");
    assert_eq!(
        error,
        DecodeError::PacketTooLarge {
            size: 1_048_580,
            max: 65_536
        }
    );
    assert_eq!(error.reason_code(), ReasonCode::PACKET_TOO_LARGE);
    // One byte over the limit, whole packet present.
    let mut buf = BytesMut::from(&b"\xc0\x00"[..]);
    assert!(matches!(
        decode(&mut buf, V5, 1),
        Err(DecodeError::PacketTooLarge { size: 2, max: 1 })
    ));
}

#[test]
fn truncated_fields_and_trailing_bytes() {
    // The string length runs past the packet.
    let error = rejects(&frame(0x30, b"\x00\x09a"), V5, MALFORMED);
    assert!(
        matches!(
            error,
            DecodeError::Truncated {
                packet: PacketType::Publish,
                ..
            }
        ),
        "{error}"
    );
    // The property length runs past the packet.
    rejects(&frame(0x30, b"\x00\x01a\x09"), V5, MALFORMED);
    // PINGREQ with a body; a 3.1.1 PUBACK with a reason code; a 3.1.1 DISCONNECT with one.
    assert_eq!(
        rejects(b"\xc0\x01\x00", V5, MALFORMED),
        DecodeError::TrailingBytes {
            packet: PacketType::PingReq,
            extra: 1
        }
    );
    rejects(b"\x40\x03\x00\x01\x00", V311, MALFORMED);
    rejects(b"\xe0\x01\x00", V311, MALFORMED);
    // A CONNECT with a byte after the last field its flags announce.
    rejects(&frame(0x10, &connect_body(5, 0x02, b"", b"\x00\x01cX")), V5, MALFORMED);
    // A v5 CONNACK must carry a property length.
    rejects(b"\x20\x02\x00\x00", V5, MALFORMED);
}

#[test]
fn reason_codes_not_allowed_in_the_packet() {
    let error = rejects(b"\x40\x03\x00\x01\x92", V5, MALFORMED);
    assert_eq!(
        error,
        DecodeError::InvalidReasonCode {
            packet: PacketType::PubAck,
            code: 0x92
        }
    );
    rejects(b"\x70\x03\x00\x01\x10", V5, MALFORMED);
    rejects(b"\x20\x03\x00\x8b\x00", V5, MALFORMED); // "Server shutting down" is not a CONNACK code
    rejects(b"\x20\x02\x00\x06", V311, MALFORMED);
    rejects(b"\x90\x03\x00\x01\x03", V311, MALFORMED);
    rejects(b"\x90\x04\x00\x01\x00\x11", V5, MALFORMED);
    rejects(b"\xe0\x01\x05", V5, MALFORMED);
    rejects(b"\xf0\x02\x87\x00", V5, MALFORMED);
}

#[test]
fn connack_reserved_flags_and_session_present_with_an_error() {
    assert_eq!(
        rejects(b"\x20\x03\x02\x00\x00", V5, MALFORMED),
        DecodeError::ConnAckReservedFlags(0x02)
    );
    assert_eq!(
        rejects(b"\x20\x03\x01\x87\x00", V5, PROTOCOL),
        DecodeError::SessionPresentWithError
    );
    rejects(b"\x20\x02\x01\x05", V311, PROTOCOL);
}

#[test]
fn out_of_range_property_values() {
    // Payload Format Indicator 2.
    rejects(&publish_v5(b"a", b"\x01\x02"), V5, PROTOCOL);
    // Receive Maximum 0, Maximum Packet Size 0, Request Problem Information 2.
    for props in [&b"\x21\x00\x00"[..], b"\x27\x00\x00\x00\x00", b"\x17\x02", b"\x19\x07"] {
        let error = rejects(&frame(0x10, &connect_body(5, 0x02, props, b"\x00\x01c")), V5, PROTOCOL);
        assert!(matches!(error, DecodeError::InvalidPropertyValue { .. }), "{error}");
    }
    // Maximum QoS 2, Retain Available 2 in CONNACK.
    rejects(b"\x20\x05\x00\x00\x02\x24\x02", V5, PROTOCOL);
    rejects(b"\x20\x05\x00\x00\x02\x25\x02", V5, PROTOCOL);
}

#[test]
fn authentication_data_without_method() {
    let body = connect_body(5, 0x02, b"\x16\x00\x01d", b"\x00\x01c");
    assert_eq!(
        rejects(&frame(0x10, &body), V5, PROTOCOL),
        DecodeError::AuthDataWithoutMethod(PacketType::Connect)
    );
    // AUTH continuing without naming the method.
    assert_eq!(
        rejects(b"\xf0\x02\x18\x00", V5, PROTOCOL),
        DecodeError::AuthWithoutMethod(ReasonCode::CONTINUE_AUTHENTICATION)
    );
}

#[test]
fn first_packet_not_connect() {
    assert_eq!(
        peek_connect_version(b"\x30\x00"),
        Err(DecodeError::NotConnect(PacketType::Publish))
    );
    assert_eq!(DecodeError::NotConnect(PacketType::Publish).reason_code(), PROTOCOL);
}

#[test]
fn every_error_has_a_message() {
    let error = DecodeError::PacketTooLarge { size: 10, max: 5 };
    assert_eq!(
        error.to_string(),
        "packet of 10 bytes exceeds the maximum packet size of 5"
    );
    let error = DecodeError::InvalidReasonCode {
        packet: PacketType::PubAck,
        code: 0x92,
    };
    assert_eq!(
        error.to_string(),
        "PUBACK with reason code 0x92, which it may not carry"
    );
}
