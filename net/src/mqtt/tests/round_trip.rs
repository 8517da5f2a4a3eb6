//! Encode-then-decode gives the same packet, in both versions; spec byte sequences decode
//! to what they say; sizes, trimming and encode errors.

use proptest::prelude::*;

use super::strategies::packet_v5;
use super::*;
use crate::mqtt::fuzzing::check_packet;

#[test]
fn every_packet_type_with_every_property_round_trips_in_v5() {
    let packets = full_packets();
    assert_eq!(packets.len(), 15);
    for packet in &packets {
        check_packet(packet, V5);
    }
}

#[test]
fn every_packet_type_round_trips_in_v311() {
    for packet in full_packets().into_iter().filter_map(fit_for_v311) {
        // Properties and 5.0-only codes are left out or mapped on the way...
        let decoded = decode_one(&encode(&packet, V311), V311).expect("decodes");
        assert_eq!(decoded, as_read_in_v311(&packet), "{packet:?}");
        // ...and what 3.1.1 can say survives unchanged.
        check_packet(&decoded, V311);
    }
}

#[test]
fn short_forms_of_acknowledgements_disconnect_and_auth() {
    assert_eq!(&encode(&Packet::PubAck(Ack::new(pid(7))), V5)[..], b"\x40\x02\x00\x07");
    assert_eq!(&encode(&Packet::PubRel(Ack::new(pid(7))), V5)[..], b"\x62\x02\x00\x07");
    let refused = Ack {
        reason_code: ReasonCode::QUOTA_EXCEEDED,
        ..Ack::new(pid(7))
    };
    assert_eq!(
        &encode(&Packet::PubRec(refused.clone()), V5)[..],
        b"\x50\x03\x00\x07\x97"
    );
    // 3.1.1 has no reason code to write.
    assert_eq!(&encode(&Packet::PubRec(refused), V311)[..], b"\x50\x02\x00\x07");
    assert_eq!(&encode(&Packet::Disconnect(Disconnect::default()), V5)[..], b"\xe0\x00");
    let with_will = Disconnect {
        reason_code: ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
        ..Default::default()
    };
    assert_eq!(&encode(&Packet::Disconnect(with_will.clone()), V5)[..], b"\xe0\x01\x04");
    assert_eq!(&encode(&Packet::Disconnect(with_will), V311)[..], b"\xe0\x00");
    assert_eq!(&encode(&Packet::Auth(Auth::default()), V5)[..], b"\xf0\x00");
    assert_eq!(&encode(&Packet::PingReq, V311)[..], b"\xc0\x00");
    assert_eq!(&encode(&Packet::PingResp, V5)[..], b"\xd0\x00");
    // The long forms decode to the same packets.
    assert_eq!(
        decode_one(b"\x40\x04\x00\x07\x00\x00", V5),
        Ok(Packet::PubAck(Ack::new(pid(7))))
    );
    assert_eq!(
        decode_one(b"\xe0\x02\x00\x00", V5),
        Ok(Packet::Disconnect(Disconnect::default()))
    );
    assert_eq!(decode_one(b"\xf0\x02\x00\x00", V5), Ok(Packet::Auth(Auth::default())));
}

#[test]
fn v311_connect_from_a_real_client() {
    // mosquitto_sub -V mqttv311 -i dev -k 60 (clean session).
    let bytes = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03dev";
    let Packet::Connect(connect) = decode_one(bytes, V5).expect("decodes") else {
        panic!("not a CONNECT")
    };
    assert_eq!(connect.protocol_version, V311);
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 60);
    assert_eq!(connect.client_id, "dev");
    assert_eq!(connect.will, None);
    assert_eq!(&encode(&Packet::Connect(connect), V5)[..], bytes);
}

#[test]
fn v5_connect_variable_header_from_the_spec() {
    // MQTT 5.0 figure 3-8: user name, password, Will QoS 1, Will Flag, Clean Start; keep
    // alive 10; Session Expiry Interval 10.
    let mut body = b"\x00\x04MQTT\x05\xce\x00\x0a\x05\x11\x00\x00\x00\x0a".to_vec();
    body.extend_from_slice(b"\x00\x02id"); // client identifier
    body.extend_from_slice(b"\x00\x00\x03w/t\x00\x01!"); // Will properties, topic, payload
    body.extend_from_slice(b"\x00\x01u\x00\x01p");
    let Packet::Connect(connect) = decode_one(&frame(0x10, &body), V5).expect("decodes") else {
        panic!("not a CONNECT")
    };
    assert_eq!(connect.protocol_version, V5);
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 10);
    assert_eq!(connect.properties.session_expiry_interval, Some(10));
    let will = connect.will.as_ref().expect("will");
    assert_eq!(
        (will.qos, will.retain, &will.topic[..], &will.payload[..]),
        (QoS::AtLeastOnce, false, "w/t", &b"!"[..])
    );
    assert_eq!(connect.username, Some(s("u")));
    assert_eq!(connect.password.as_deref(), Some(&b"p"[..]));
    assert!(format!("{connect:?}").contains("<redacted>"));
    assert_eq!(&encode(&Packet::Connect(connect), V311)[..], &frame(0x10, &body)[..]);
}

#[test]
fn v5_publish_from_the_spec() {
    // MQTT 5.0 figure 3-10: topic "a/b", packet identifier 10, no properties.
    let bytes = frame(0x32, b"\x00\x03a/b\x00\x0a\x00hello");
    let Packet::Publish(publish) = decode_one(&bytes, V5).expect("decodes") else {
        panic!("not a PUBLISH")
    };
    assert_eq!(publish.topic, "a/b");
    assert_eq!(publish.packet_id, Some(pid(10)));
    assert_eq!(publish.qos, QoS::AtLeastOnce);
    assert_eq!(&publish.payload[..], b"hello");
    // The same PUBLISH in 3.1.1 has no property length.
    let v311 = frame(0x32, b"\x00\x03a/b\x00\x0ahello");
    assert_eq!(decode_one(&v311, V311), Ok(Packet::Publish(publish.clone())));
    assert_eq!(&encode(&Packet::Publish(publish), V311)[..], &v311[..]);
}

#[test]
fn payload_and_topic_share_the_read_buffer() {
    let mut buf = BytesMut::from(&frame(0x30, b"\x00\x03a/b\x00payload")[..]);
    buf.extend_from_slice(b"\xc0"); // the start of the next packet stays behind
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(publish)) = decode(&mut buf, V5, MAX).expect("decodes") else {
        panic!("PUBLISH")
    };
    assert_eq!(publish.topic.as_bytes().as_ptr() as usize, base + 4);
    assert_eq!(publish.payload.as_ptr() as usize, base + 8);
    assert_eq!(&buf[..], b"\xc0");
    assert_eq!(decode(&mut buf, V5, MAX), Ok(None));
    assert_eq!(&buf[..], b"\xc0");
}

#[test]
fn v311_connack_and_suback_return_codes() {
    for (code, reason) in [
        (0u8, ReasonCode::SUCCESS),
        (1, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
        (5, ReasonCode::NOT_AUTHORIZED),
    ] {
        let bytes = [0x20, 0x02, 0x00, code];
        let expected = ConnAck {
            reason_code: reason,
            ..Default::default()
        };
        assert_eq!(
            decode_one(&bytes, V311),
            Ok(Packet::ConnAck(Box::new(expected.clone())))
        );
        assert_eq!(&encode(&Packet::ConnAck(Box::new(expected)), V311)[..], &bytes);
    }
    let busy = ConnAck {
        reason_code: ReasonCode::SERVER_BUSY,
        ..Default::default()
    };
    assert_eq!(&encode(&Packet::ConnAck(Box::new(busy)), V311)[..], b"\x20\x02\x00\x03");
    let suback = SubAck {
        packet_id: pid(1),
        properties: AckProperties::default(),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::GRANTED_QOS_2,
        ],
    };
    assert_eq!(
        &encode(&Packet::SubAck(suback), V311)[..],
        b"\x90\x05\x00\x01\x01\x80\x02"
    );
}

#[test]
fn longer_than_needed_remaining_lengths_are_read() {
    assert_eq!(decode_one(b"\xc0\x80\x00", V5), Ok(Packet::PingReq));
    assert_eq!(decode_one(b"\xd0\x80\x80\x80\x00", V311), Ok(Packet::PingResp));
}

#[test]
fn repeatable_properties_repeat_in_order() {
    // Two User Properties with one name, two Subscription Identifiers.
    let props = b"\x26\x00\x01k\x00\x01a\x0b\x05\x26\x00\x01k\x00\x01b\x0b\x7f";
    let mut body = b"\x00\x01t".to_vec();
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    let Packet::Publish(publish) = decode_one(&frame(0x30, &body), V5).expect("decodes") else {
        panic!("PUBLISH")
    };
    assert_eq!(publish.properties.user_properties, vec![user("k", "a"), user("k", "b")]);
    assert_eq!(publish.properties.subscription_identifiers, vec![nz32(5), nz32(127)]);
}

#[test]
fn decode_takes_one_packet_at_a_time_and_waits_for_the_rest() {
    let mut stream = BytesMut::new();
    for packet in full_packets() {
        packet.encode(V5, &mut stream).expect("encodes");
    }
    let whole = stream.clone();
    let mut decoded = Vec::new();
    // Feed the stream a few bytes at a time, as a socket would.
    let mut buf = BytesMut::new();
    for chunk in whole.chunks(7) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decode(&mut buf, V5, MAX).expect("valid stream") {
            decoded.push(packet);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(decoded, full_packets());
}

#[test]
fn peek_then_decode_the_first_packet() {
    for version in [V5, V311] {
        let connect = Connect {
            protocol_version: version,
            clean_start: true,
            client_id: s("c"),
            ..Default::default()
        };
        let bytes = encode(&Packet::Connect(Box::new(connect.clone())), version);
        assert_eq!(peek_connect_version(&bytes), Ok(Some(version)));
        // The session version passed to decode does not matter for a CONNECT.
        for session in [V5, V311] {
            assert_eq!(
                decode_one(&bytes, session),
                Ok(Packet::Connect(Box::new(connect.clone())))
            );
        }
    }
}

#[test]
fn encoded_len_is_exact() {
    for packet in full_packets() {
        assert_eq!(packet.encoded_len(V5), Ok(encode(&packet, V5).len()), "{packet:?}");
        if let Some(packet) = fit_for_v311(packet) {
            assert_eq!(packet.encoded_len(V311), Ok(encode(&packet, V311).len()), "{packet:?}");
        }
    }
}

#[test]
fn fit_within_drops_reason_string_then_user_properties() {
    let ack = Ack {
        packet_id: pid(1),
        reason_code: ReasonCode::NOT_AUTHORIZED,
        properties: AckProperties {
            reason_string: Some(s("a long explanation")),
            user_properties: vec![user("k", "v")],
        },
    };
    let full = Packet::PubAck(ack.clone()).encoded_len(V5).expect("sized");
    let mut packet = Packet::PubAck(ack.clone());
    assert_eq!(packet.fit_within(V5, full as u32), Ok(full));
    assert_eq!(packet, Packet::PubAck(ack.clone()));

    let without_reason = full - (3 + "a long explanation".len());
    assert_eq!(packet.fit_within(V5, full as u32 - 1), Ok(without_reason));
    let Packet::PubAck(trimmed) = &packet else {
        panic!("PUBACK")
    };
    assert_eq!(trimmed.properties.reason_string, None);
    assert_eq!(trimmed.properties.user_properties.len(), 1);

    let mut packet = Packet::PubAck(ack);
    assert_eq!(packet.fit_within(V5, 5), Ok(5)); // packet id and reason code only
    assert_eq!(encode(&packet, V5).len(), 5);
    assert_eq!(
        packet.fit_within(V5, 4),
        Err(EncodeError::ExceedsMaximumPacketSize {
            packet: PacketType::PubAck,
            size: 5,
            max: 4
        })
    );

    // A PUBLISH is never trimmed: it is not sent.
    let mut publish = full_packets().swap_remove(2);
    let before = publish.clone();
    assert!(matches!(
        publish.fit_within(V5, 20),
        Err(EncodeError::ExceedsMaximumPacketSize { .. })
    ));
    assert_eq!(publish, before);
}

#[test]
fn encode_refuses_what_it_cannot_write() {
    let mut out = BytesMut::new();
    assert_eq!(
        Packet::Auth(Auth::default()).encode(V311, &mut out),
        Err(EncodeError::NotInV311(PacketType::Auth))
    );
    let malformed = ConnAck {
        reason_code: ReasonCode::MALFORMED_PACKET,
        ..Default::default()
    };
    assert_eq!(
        Packet::ConnAck(Box::new(malformed)).encode(V311, &mut out),
        Err(EncodeError::NoV311ReturnCode(ReasonCode::MALFORMED_PACKET))
    );
    let no_id = Publish {
        qos: QoS::AtLeastOnce,
        topic: s("t"),
        ..Default::default()
    };
    assert!(matches!(
        Packet::Publish(no_id).encode(V5, &mut out),
        Err(EncodeError::PacketIdMismatch { .. })
    ));
    let id_at_qos0 = Publish {
        topic: s("t"),
        packet_id: Some(pid(1)),
        ..Default::default()
    };
    assert!(matches!(
        Packet::Publish(id_at_qos0).encode(V5, &mut out),
        Err(EncodeError::PacketIdMismatch { .. })
    ));
    let long_password = Connect {
        password: Some(Bytes::from(vec![0; 65_536])),
        ..Default::default()
    };
    assert_eq!(
        Packet::Connect(Box::new(long_password)).encode(V5, &mut out),
        Err(EncodeError::BinaryTooLong {
            what: "the password",
            len: 65_536
        })
    );
    let empty = Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        filters: Vec::new(),
    };
    assert_eq!(
        Packet::Subscribe(empty).encode(V5, &mut out),
        Err(EncodeError::EmptyPayload(PacketType::Subscribe))
    );
    let mut huge_id = Publish {
        topic: s("t"),
        ..Default::default()
    };
    huge_id
        .properties
        .subscription_identifiers
        .push(nz32(varint::VARINT_MAX + 1));
    assert_eq!(
        Packet::Publish(huge_id).encode(V5, &mut out),
        Err(EncodeError::SubscriptionIdentifierTooLarge(varint::VARINT_MAX + 1))
    );
    // Over 256 MiB of User Properties, cheaply: every one shares one 64 KiB string.
    let big = MqttStr::try_from("x".repeat(65_535)).expect("fits");
    let mut huge = Publish {
        topic: s("t"),
        ..Default::default()
    };
    huge.properties.user_properties = vec![
        UserProperty {
            name: big.clone(),
            value: big
        };
        2_050
    ];
    assert!(matches!(
        Packet::Publish(huge).encode(V5, &mut out),
        Err(EncodeError::RemainingLengthTooLarge {
            packet: PacketType::Publish,
            ..
        })
    ));
    assert!(out.is_empty(), "a failed encode wrote bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_packets_round_trip_in_v5(packet in packet_v5()) {
        check_packet(&packet, V5);
    }

    #[test]
    fn generated_packets_round_trip_in_v311(packet in packet_v5()) {
        if let Some(packet) = fit_for_v311(packet) {
            let decoded = decode_one(&encode(&packet, V311), V311).expect("decodes");
            prop_assert_eq!(&decoded, &as_read_in_v311(&packet));
            check_packet(&decoded, V311);
        }
    }
}
