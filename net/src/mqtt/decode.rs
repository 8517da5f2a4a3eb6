//! Reading packets off a connection's read buffer.
//!
//! [`decode`] takes one whole packet off the front of a `BytesMut`, or nothing: the fixed
//! header is checked first (type, flags, size limit), then the body is split off and
//! frozen, and the packet's strings, topics and payloads are slices of it. Each reader
//! below follows its packet's section of the specification in field order and finishes by
//! checking that no byte is left over.

use bytes::{Bytes, BytesMut};

use super::error::DecodeError;
use super::frame::{peek_frame, FrameHeader};
use super::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketType, ProtocolVersion, Publish, QoS, RetainHandling, SubAck,
    Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use super::properties::{self, AckProperties, AuthProperties, DisconnectProperties};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::topic::{self, validate_topic_name};

/// Takes the next packet off the front of `buf`.
///
/// - `Ok(None)`: more bytes are needed; nothing was consumed.
/// - `Ok(Some(packet))`: the packet's bytes were split off `buf` (without copying).
/// - `Err(e)`: answer with `e.reason_code()` and close; how much of `buf` was consumed is
///   unspecified, because the stream cannot be resynchronised after a bad packet.
///
/// `version` is the connection's; a CONNECT is read in the version its own protocol level
/// names, so the first packet can be decoded before the version is known (see
/// [`super::peek_connect_version`] to learn it first). `packet_bytes_max` bounds the whole
/// packet, fixed header included, and is checked before the body is buffered.
///
/// The packet's slices keep the whole read allocation they came from alive: anything kept
/// for long (retained messages, queued sessions) should be copied into its own buffer.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    packet_bytes_max: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = peek_frame(buf, version, packet_bytes_max)? else {
        return Ok(None);
    };
    if buf.len() < header.packet_len() {
        return Ok(None);
    }
    let frame = buf.split_to(header.packet_len()).freeze();
    decode_frame(&frame, header, version).map(Some)
}

/// Reads one whole packet; `frame` holds exactly the packet `header` describes.
fn decode_frame(frame: &Bytes, header: FrameHeader, version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(frame, header.header_len, header.packet_type);
    let packet = match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(connect(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(Box::new(connack(&mut r, version)?)),
        PacketType::Publish => Packet::Publish(publish(&mut r, header.flags, version)?),
        PacketType::PubAck => Packet::PubAck(ack(&mut r, PacketType::PubAck, version)?),
        PacketType::PubRec => Packet::PubRec(ack(&mut r, PacketType::PubRec, version)?),
        PacketType::PubRel => Packet::PubRel(ack(&mut r, PacketType::PubRel, version)?),
        PacketType::PubComp => Packet::PubComp(ack(&mut r, PacketType::PubComp, version)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut r, version)?),
        PacketType::SubAck => Packet::SubAck(suback(&mut r, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut r, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(&mut r, version)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(disconnect(&mut r, version)?),
        PacketType::Auth => Packet::Auth(auth(&mut r)?),
    };
    r.finish()?;
    Ok(packet)
}

/// MQTT 5.0 section 3.1, 3.1.1 section 3.1.
fn connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name = r.binary("the protocol name")?;
    let level = r.u8("the protocol level")?;
    let protocol_version = match &name[..] {
        b"MQTT" => ProtocolVersion::from_level(level).ok_or(DecodeError::UnsupportedProtocolVersion(level))?,
        b"MQIsdp" => return Err(DecodeError::UnsupportedProtocolVersion(level)),
        _ => return Err(DecodeError::InvalidProtocolName),
    };
    let v5 = protocol_version == ProtocolVersion::V5;

    let flags = r.u8("the connect flags")?;
    if flags & 0b0000_0001 != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let clean_start = flags & 0b0000_0010 != 0;
    let will_flag = flags & 0b0000_0100 != 0;
    let will_qos = QoS::from_bits((flags >> 3) & 0b11).ok_or(DecodeError::InvalidQos { what: "the Will" })?;
    let will_retain = flags & 0b0010_0000 != 0;
    let password_flag = flags & 0b0100_0000 != 0;
    let username_flag = flags & 0b1000_0000 != 0;
    if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::WillFlagsWithoutWill);
    }
    if !v5 && password_flag && !username_flag {
        return Err(DecodeError::PasswordWithoutUsername);
    }

    let keep_alive = r.u16("the keep alive")?;
    let properties: properties::ConnectProperties = if v5 { properties::read(r)? } else { Default::default() };
    let client_id = r.string("the client identifier")?;
    if !v5 && client_id.is_empty() && !clean_start {
        return Err(DecodeError::ClientIdRejected);
    }
    let will = if will_flag {
        let properties: properties::WillProperties = if v5 { properties::read(r)? } else { Default::default() };
        if let Some(topic) = &properties.response_topic {
            validate_topic_name(topic).map_err(DecodeError::InvalidResponseTopic)?;
        }
        let topic = r.string("the Will topic")?;
        validate_topic_name(&topic).map_err(|error| DecodeError::InvalidTopicName {
            what: "Will topic",
            error,
        })?;
        let payload = r.binary("the Will payload")?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string("the user name")?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary("the password")?)
    } else {
        None
    };

    if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
        return Err(DecodeError::AuthDataWithoutMethod(PacketType::Connect));
    }
    Ok(Connect {
        protocol_version,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// MQTT 5.0 section 3.2, 3.1.1 section 3.2.
fn connack(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8("the acknowledge flags")?;
    if flags & 0b1111_1110 != 0 {
        return Err(DecodeError::ConnAckReservedFlags(flags));
    }
    let session_present = flags & 1 != 0;
    let code = r.u8("the reason code")?;
    let (reason_code, properties) = match version {
        ProtocolVersion::V5 => {
            let reason = ReasonCode(code);
            if !reason.allowed_in(PacketType::ConnAck) {
                return Err(DecodeError::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                });
            }
            (reason, properties::read(r)?)
        }
        ProtocolVersion::V311 => {
            let reason = ReasonCode::from_v311_connack_return_code(code).ok_or(DecodeError::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code,
            })?;
            (reason, Default::default())
        }
    };
    if session_present && reason_code.0 != 0 {
        return Err(DecodeError::SessionPresentWithError);
    }
    Ok(ConnAck {
        session_present,
        reason_code,
        properties,
    })
}

/// MQTT 5.0 section 3.3, 3.1.1 section 3.3. The fixed header flags were checked already.
fn publish(r: &mut Reader<'_>, flags: u8, version: ProtocolVersion) -> Result<Publish, DecodeError> {
    let dup = flags & 0b1000 != 0;
    let qos = QoS::from_bits((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQos { what: "PUBLISH" })?;
    let retain = flags & 0b0001 != 0;
    let topic = r.string("the topic name")?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties: properties::PublishProperties = v5_properties(r, version)?;
    if topic.is_empty() {
        // 5.0 sends an empty topic when a Topic Alias stands for it.
        if properties.topic_alias.is_none() {
            return Err(DecodeError::MissingTopic);
        }
    } else {
        validate_topic_name(&topic).map_err(|error| DecodeError::InvalidTopicName {
            what: "PUBLISH topic",
            error,
        })?;
    }
    if let Some(response_topic) = &properties.response_topic {
        validate_topic_name(response_topic).map_err(DecodeError::InvalidResponseTopic)?;
    }
    let payload = r.rest();
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        packet_id,
        properties,
        payload,
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: MQTT 5.0 sections 3.4 to 3.7.
fn ack(r: &mut Reader<'_>, packet: PacketType, version: ProtocolVersion) -> Result<Ack, DecodeError> {
    let packet_id = r.packet_id()?;
    // 5.0 omits the reason code when it is 0x00 and there are no properties, and the
    // property length when there are none.
    let (reason_code, properties) = if version == ProtocolVersion::V311 || r.is_empty() {
        (ReasonCode::SUCCESS, AckProperties::default())
    } else {
        let reason_code = reason(r, packet)?;
        let properties = if r.is_empty() {
            AckProperties::default()
        } else {
            properties::read(r)?
        };
        (reason_code, properties)
    };
    Ok(Ack {
        packet_id,
        reason_code,
        properties,
    })
}

/// A reason code the packet type may carry.
fn reason(r: &mut Reader<'_>, packet: PacketType) -> Result<ReasonCode, DecodeError> {
    let code = r.u8("the reason code")?;
    if ReasonCode(code).allowed_in(packet) {
        Ok(ReasonCode(code))
    } else {
        Err(DecodeError::InvalidReasonCode { packet, code })
    }
}

/// MQTT 5.0 section 3.8, 3.1.1 section 3.8.
fn subscribe(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = v5_properties(r, version)?;
    if r.is_empty() {
        return Err(DecodeError::EmptyPayload(PacketType::Subscribe));
    }
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string("a topic filter")?;
        let options = subscription_options(r.u8("the subscription options")?, version)?;
        if options.no_local && topic::is_shared(&filter) {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        filters.push(Subscription { filter, options });
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}

/// MQTT 5.0 section 3.8.3.1; 3.1.1 has only the QoS bits.
fn subscription_options(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = match version {
        ProtocolVersion::V5 => 0b1100_0000,
        ProtocolVersion::V311 => 0b1111_1100,
    };
    if byte & reserved != 0 {
        return Err(DecodeError::SubscriptionOptionsReserved(byte));
    }
    let qos = QoS::from_bits(byte & 0b11).ok_or(DecodeError::SubscriptionQos3)?;
    let retain_handling = RetainHandling::from_bits((byte >> 4) & 0b11).ok_or(DecodeError::RetainHandling3)?;
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0b0100 != 0,
        retain_as_published: byte & 0b1000 != 0,
        retain_handling,
    })
}

/// MQTT 5.0 section 3.9, 3.1.1 section 3.9.
fn suback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = v5_properties(r, version)?;
    let reason_codes = reason_codes(r, PacketType::SubAck, version)?;
    Ok(SubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

/// MQTT 5.0 section 3.10, 3.1.1 section 3.10.
fn unsubscribe(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = v5_properties(r, version)?;
    if r.is_empty() {
        return Err(DecodeError::EmptyPayload(PacketType::Unsubscribe));
    }
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(r.string("a topic filter")?);
    }
    Ok(Unsubscribe {
        packet_id,
        properties,
        filters,
    })
}

/// MQTT 5.0 section 3.11; a 3.1.1 UNSUBACK is only the packet identifier.
fn unsuback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    if version == ProtocolVersion::V311 {
        return Ok(UnsubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: Vec::new(),
        });
    }
    let properties = properties::read(r)?;
    let reason_codes = reason_codes(r, PacketType::UnsubAck, version)?;
    Ok(UnsubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

/// The rest of a SUBACK or UNSUBACK: at least one code, each allowed for the packet.
fn reason_codes(
    r: &mut Reader<'_>,
    packet: PacketType,
    version: ProtocolVersion,
) -> Result<Vec<ReasonCode>, DecodeError> {
    if r.is_empty() {
        return Err(DecodeError::EmptyPayload(packet));
    }
    let mut codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = r.u8("a reason code")?;
        let allowed = match version {
            ProtocolVersion::V5 => ReasonCode(code).allowed_in(packet),
            ProtocolVersion::V311 => ReasonCode::is_v311_suback_return_code(code),
        };
        if !allowed {
            return Err(DecodeError::InvalidReasonCode { packet, code });
        }
        codes.push(ReasonCode(code));
    }
    Ok(codes)
}

/// MQTT 5.0 section 3.14; the 3.1.1 DISCONNECT has no variable header.
fn disconnect(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    if version == ProtocolVersion::V311 || r.is_empty() {
        return Ok(Disconnect::default());
    }
    let reason_code = reason(r, PacketType::Disconnect)?;
    let properties = if r.is_empty() {
        DisconnectProperties::default()
    } else {
        properties::read(r)?
    };
    Ok(Disconnect {
        reason_code,
        properties,
    })
}

/// MQTT 5.0 section 3.15 (the fixed header check refused AUTH on 3.1.1 connections).
fn auth(r: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    if r.is_empty() {
        return Ok(Auth::default());
    }
    let reason_code = reason(r, PacketType::Auth)?;
    let properties: AuthProperties = if r.is_empty() {
        AuthProperties::default()
    } else {
        properties::read(r)?
    };
    if properties.authentication_method.is_none() {
        if reason_code != ReasonCode::SUCCESS {
            return Err(DecodeError::AuthWithoutMethod(reason_code));
        }
        if properties.authentication_data.is_some() {
            return Err(DecodeError::AuthDataWithoutMethod(PacketType::Auth));
        }
    }
    Ok(Auth {
        reason_code,
        properties,
    })
}

/// The properties that follow a packet's variable header in 5.0; 3.1.1 has none.
fn v5_properties<P: properties::PropertySet + Default>(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<P, DecodeError> {
    if version == ProtocolVersion::V5 {
        properties::read(r)
    } else {
        Ok(P::default())
    }
}
