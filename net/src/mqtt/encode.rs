//! Writing packets, in either version, plus their exact size beforehand.
//!
//! Encoding is two passes over a packet: [`Packet::encoded_len`] checks that it can be
//! written and computes its size (the broker compares that with the client's Maximum Packet
//! Size before writing, MQTT 5.0 [MQTT-3.1.2-24]), then the bytes are written in one go into
//! reserved space. Variable Byte Integers use the shortest form, and the optional trailing
//! fields of acknowledgements, DISCONNECT and AUTH are left out when they hold defaults.
//!
//! For 3.1.1, properties are left out, reason codes become the 3.1.1 return codes where
//! 3.1.1 has them (CONNACK, SUBACK) and are dropped where it has none (PUBACK and friends,
//! UNSUBACK, DISCONNECT).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::EncodeError;
use super::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketType, ProtocolVersion, Publish, QoS, SubAck, Subscribe,
    SubscriptionOptions, UnsubAck, Unsubscribe,
};
use super::properties::{self, Droppable, PropertySet};
use super::string::{MqttStr, STRING_BYTES_MAX};
use super::varint::{self, VARINT_MAX};

impl Packet {
    /// Bytes the packet takes on the wire in `version`, fixed header included, or why it
    /// cannot be written.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let remaining = self.checked_remaining_len(version)?;
        Ok(1 + varint::len(remaining) + remaining as usize)
    }

    /// Appends the packet to `buf`. A CONNECT is written in its own `protocol_version`.
    /// On error nothing is written.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let remaining = self.checked_remaining_len(version)?;
        let total = 1 + varint::len(remaining) + remaining as usize;
        buf.reserve(total);
        let start = buf.len();
        buf.put_u8(self.first_byte());
        varint::put(buf, remaining);
        self.write_body(version, buf);
        debug_assert_eq!(buf.len() - start, total, "{} length", self.packet_type());
        Ok(())
    }

    /// Makes the packet fit `packet_bytes_max` (the client's Maximum Packet Size) by dropping
    /// what MQTT 5.0 allows a server to drop: first the Reason String, then the User
    /// Properties of a CONNACK, acknowledgement, DISCONNECT or AUTH. Returns the size that
    /// fits, or [`EncodeError::ExceedsMaximumPacketSize`]: a PUBLISH that does not fit is not
    /// sent at all ([MQTT-3.1.2-25]), and nothing else may be trimmed.
    pub fn fit_within(&mut self, version: ProtocolVersion, packet_bytes_max: u32) -> Result<usize, EncodeError> {
        let max = packet_bytes_max as usize;
        let mut len = self.encoded_len(version)?;
        if len <= max {
            return Ok(len);
        }
        if self.droppable().is_some_and(|p| p.drop_reason_string()) {
            len = self.encoded_len(version)?;
            if len <= max {
                return Ok(len);
            }
        }
        if self.droppable().is_some_and(|p| p.drop_user_properties()) {
            len = self.encoded_len(version)?;
            if len <= max {
                return Ok(len);
            }
        }
        Err(EncodeError::ExceedsMaximumPacketSize {
            packet: self.packet_type(),
            size: len,
            max: packet_bytes_max,
        })
    }

    fn droppable(&mut self) -> Option<&mut dyn Droppable> {
        match self {
            Self::ConnAck(p) => Some(&mut p.properties),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => Some(&mut p.properties),
            Self::SubAck(p) => Some(&mut p.properties),
            Self::UnsubAck(p) => Some(&mut p.properties),
            Self::Disconnect(p) => Some(&mut p.properties),
            Self::Auth(p) => Some(&mut p.properties),
            _ => None,
        }
    }

    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        let flags = match (self, packet_type.required_flags()) {
            (Self::Publish(p), _) => u8::from(p.dup) << 3 | p.qos.bits() << 1 | u8::from(p.retain),
            (_, Some(flags)) => flags,
            (_, None) => 0,
        };
        (packet_type as u8) << 4 | flags
    }

    /// Checks the packet, then returns its remaining length, which then fits in a Variable
    /// Byte Integer.
    fn checked_remaining_len(&self, version: ProtocolVersion) -> Result<u32, EncodeError> {
        self.check(version)?;
        let len = self.remaining_len(version);
        match u32::try_from(len) {
            Ok(len) if len <= VARINT_MAX => Ok(len),
            _ => Err(EncodeError::RemainingLengthTooLarge {
                packet: self.packet_type(),
                len,
            }),
        }
    }

    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        match self {
            Self::Connect(p) => p.check(),
            Self::ConnAck(p) => p.check(version),
            Self::Publish(p) => p.check(version),
            Self::Subscribe(p) => p.check(version),
            Self::SubAck(p) => non_empty(PacketType::SubAck, &p.reason_codes),
            Self::Unsubscribe(p) => non_empty(PacketType::Unsubscribe, &p.filters),
            Self::UnsubAck(p) if version == ProtocolVersion::V5 => non_empty(PacketType::UnsubAck, &p.reason_codes),
            Self::Auth(p) => p.check(version),
            _ => Ok(()),
        }
    }

    /// Saturates instead of overflowing; `checked_remaining_len` refuses the result then.
    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Self::Connect(p) => p.remaining_len(),
            Self::ConnAck(p) => p.remaining_len(version),
            Self::Publish(p) => p.remaining_len(version),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => p.remaining_len(version),
            Self::Subscribe(p) => p.remaining_len(version),
            Self::SubAck(p) => p.remaining_len(version),
            Self::Unsubscribe(p) => p.remaining_len(version),
            Self::UnsubAck(p) => p.remaining_len(version),
            Self::PingReq | Self::PingResp => 0,
            Self::Disconnect(p) => p.remaining_len(version),
            Self::Auth(p) => p.remaining_len(),
        }
    }

    fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        match self {
            Self::Connect(p) => p.write(buf),
            Self::ConnAck(p) => p.write(version, buf),
            Self::Publish(p) => p.write(version, buf),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => p.write(version, buf),
            Self::Subscribe(p) => p.write(version, buf),
            Self::SubAck(p) => p.write(version, buf),
            Self::Unsubscribe(p) => p.write(version, buf),
            Self::UnsubAck(p) => p.write(version, buf),
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(p) => p.write(version, buf),
            Self::Auth(p) => p.write(buf),
        }
    }
}

fn non_empty<T>(packet: PacketType, items: &[T]) -> Result<(), EncodeError> {
    if items.is_empty() {
        Err(EncodeError::EmptyPayload(packet))
    } else {
        Ok(())
    }
}

fn check_binary(bytes: &Bytes, what: &'static str) -> Result<(), EncodeError> {
    if bytes.len() > STRING_BYTES_MAX {
        Err(EncodeError::BinaryTooLong { what, len: bytes.len() })
    } else {
        Ok(())
    }
}

/// Bytes of a UTF-8 Encoded String with its length prefix.
fn string_len(s: &MqttStr) -> usize {
    2 + s.len()
}

fn binary_len(b: &Bytes) -> usize {
    b.len().saturating_add(2)
}

/// Properties with their Property Length, in 5.0 only.
fn props_len<P: PropertySet>(set: &P, version: ProtocolVersion) -> usize {
    match version {
        ProtocolVersion::V5 => properties::encoded_len(set),
        ProtocolVersion::V311 => 0,
    }
}

fn put_props<P: PropertySet>(set: &P, version: ProtocolVersion, buf: &mut BytesMut) {
    if version == ProtocolVersion::V5 {
        properties::write(set, buf);
    }
}

fn sum(parts: &[usize]) -> usize {
    parts.iter().fold(0, |total, part| total.saturating_add(*part))
}

/// Writes a UTF-8 Encoded String; `MqttStr` guarantees the length fits the prefix.
pub(crate) fn put_string(buf: &mut BytesMut, s: &MqttStr) {
    buf.put_u16(u16::try_from(s.len()).unwrap_or(u16::MAX));
    buf.put_slice(s.as_bytes());
}

/// Writes Binary Data whose length the caller has checked.
pub(crate) fn put_binary(buf: &mut BytesMut, b: &Bytes) {
    debug_assert!(b.len() <= STRING_BYTES_MAX);
    buf.put_u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
    buf.put_slice(b);
}

impl Connect {
    fn check(&self) -> Result<(), EncodeError> {
        let v5 = self.protocol_version == ProtocolVersion::V5;
        if v5 {
            self.properties.check()?;
        }
        if let Some(will) = &self.will {
            if v5 {
                will.properties.check()?;
            }
            check_binary(&will.payload, "the Will payload")?;
        }
        match &self.password {
            Some(password) => check_binary(password, "the password"),
            None => Ok(()),
        }
    }

    fn remaining_len(&self) -> usize {
        let version = self.protocol_version;
        let will = self.will.as_ref().map_or(0, |will| {
            sum(&[
                props_len(&will.properties, version),
                string_len(&will.topic),
                binary_len(&will.payload),
            ])
        });
        sum(&[
            // Protocol name, level, flags, keep alive.
            6 + 1 + 1 + 2,
            props_len(&self.properties, version),
            string_len(&self.client_id),
            will,
            self.username.as_ref().map_or(0, string_len),
            self.password.as_ref().map_or(0, binary_len),
        ])
    }

    fn write(&self, buf: &mut BytesMut) {
        let version = self.protocol_version;
        buf.put_slice(b"\x00\x04MQTT");
        buf.put_u8(version.level());
        let mut flags = u8::from(self.clean_start) << 1;
        if let Some(will) = &self.will {
            flags |= 0b100 | will.qos.bits() << 3 | u8::from(will.retain) << 5;
        }
        flags |= u8::from(self.password.is_some()) << 6 | u8::from(self.username.is_some()) << 7;
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        put_props(&self.properties, version, buf);
        put_string(buf, &self.client_id);
        if let Some(will) = &self.will {
            put_props(&will.properties, version, buf);
            put_string(buf, &will.topic);
            put_binary(buf, &will.payload);
        }
        if let Some(username) = &self.username {
            put_string(buf, username);
        }
        if let Some(password) = &self.password {
            put_binary(buf, password);
        }
    }
}

impl ConnAck {
    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        match version {
            ProtocolVersion::V5 => self.properties.check(),
            ProtocolVersion::V311 => match self.reason_code.v311_connack_return_code() {
                Some(_) => Ok(()),
                None => Err(EncodeError::NoV311ReturnCode(self.reason_code)),
            },
        }
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        2usize.saturating_add(props_len(&self.properties, version))
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present));
        match version {
            ProtocolVersion::V5 => buf.put_u8(self.reason_code.0),
            // `check` made sure there is one.
            ProtocolVersion::V311 => buf.put_u8(self.reason_code.v311_connack_return_code().unwrap_or(0x03)),
        }
        put_props(&self.properties, version, buf);
    }
}

impl Publish {
    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return Err(EncodeError::PacketIdMismatch {
                qos: self.qos,
                packet_id: self.packet_id.map(|id| id.get()),
            });
        }
        match version {
            ProtocolVersion::V5 => self.properties.check(),
            ProtocolVersion::V311 => Ok(()),
        }
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        sum(&[
            string_len(&self.topic),
            if self.packet_id.is_some() { 2 } else { 0 },
            props_len(&self.properties, version),
            self.payload.len(),
        ])
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        put_string(buf, &self.topic);
        if let Some(id) = self.packet_id {
            buf.put_u16(id.get());
        }
        put_props(&self.properties, version, buf);
        buf.put_slice(&self.payload);
    }
}

/// How much of an acknowledgement's optional tail 5.0 writes.
enum AckTail {
    None,
    Reason,
    ReasonAndProperties,
}

impl Ack {
    fn tail(&self, version: ProtocolVersion) -> AckTail {
        let no_properties = self.properties.reason_string.is_none() && self.properties.user_properties.is_empty();
        match version {
            ProtocolVersion::V311 => AckTail::None,
            ProtocolVersion::V5 if no_properties && self.reason_code.0 == 0 => AckTail::None,
            ProtocolVersion::V5 if no_properties => AckTail::Reason,
            ProtocolVersion::V5 => AckTail::ReasonAndProperties,
        }
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        match self.tail(version) {
            AckTail::None => 2,
            AckTail::Reason => 3,
            AckTail::ReasonAndProperties => 3usize.saturating_add(properties::encoded_len(&self.properties)),
        }
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        match self.tail(version) {
            AckTail::None => {}
            AckTail::Reason => buf.put_u8(self.reason_code.0),
            AckTail::ReasonAndProperties => {
                buf.put_u8(self.reason_code.0);
                properties::write(&self.properties, buf);
            }
        }
    }
}

impl Subscribe {
    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        non_empty(PacketType::Subscribe, &self.filters)?;
        match version {
            ProtocolVersion::V5 => self.properties.check(),
            ProtocolVersion::V311 => Ok(()),
        }
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        let filters = self
            .filters
            .iter()
            .fold(0usize, |total, s| total.saturating_add(string_len(&s.filter) + 1));
        sum(&[2, props_len(&self.properties, version), filters])
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        put_props(&self.properties, version, buf);
        for subscription in &self.filters {
            put_string(buf, &subscription.filter);
            buf.put_u8(options_byte(subscription.options, version));
        }
    }
}

fn options_byte(options: SubscriptionOptions, version: ProtocolVersion) -> u8 {
    let qos = options.qos.bits();
    match version {
        ProtocolVersion::V311 => qos,
        ProtocolVersion::V5 => {
            qos | u8::from(options.no_local) << 2
                | u8::from(options.retain_as_published) << 3
                | (options.retain_handling as u8) << 4
        }
    }
}

impl SubAck {
    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        sum(&[2, props_len(&self.properties, version), self.reason_codes.len()])
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        put_props(&self.properties, version, buf);
        for code in &self.reason_codes {
            buf.put_u8(match version {
                ProtocolVersion::V5 => code.0,
                ProtocolVersion::V311 => code.v311_suback_return_code(),
            });
        }
    }
}

impl Unsubscribe {
    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        let filters = self
            .filters
            .iter()
            .fold(0usize, |total, f| total.saturating_add(string_len(f)));
        sum(&[2, props_len(&self.properties, version), filters])
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        put_props(&self.properties, version, buf);
        for filter in &self.filters {
            put_string(buf, filter);
        }
    }
}

impl UnsubAck {
    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        match version {
            ProtocolVersion::V311 => 2,
            ProtocolVersion::V5 => sum(&[2, properties::encoded_len(&self.properties), self.reason_codes.len()]),
        }
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if version == ProtocolVersion::V5 {
            properties::write(&self.properties, buf);
            for code in &self.reason_codes {
                buf.put_u8(code.0);
            }
        }
    }
}

impl Disconnect {
    fn is_plain(&self) -> bool {
        self.properties == Default::default()
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        match version {
            ProtocolVersion::V311 => 0,
            ProtocolVersion::V5 if self.is_plain() && self.reason_code.0 == 0 => 0,
            ProtocolVersion::V5 if self.is_plain() => 1,
            ProtocolVersion::V5 => 1usize.saturating_add(properties::encoded_len(&self.properties)),
        }
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        match self.remaining_len(version) {
            0 => {}
            1 => buf.put_u8(self.reason_code.0),
            _ => {
                buf.put_u8(self.reason_code.0);
                properties::write(&self.properties, buf);
            }
        }
    }
}

impl Auth {
    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        match version {
            ProtocolVersion::V5 => self.properties.check(),
            ProtocolVersion::V311 => Err(EncodeError::NotInV311(PacketType::Auth)),
        }
    }

    fn is_empty(&self) -> bool {
        self.reason_code.0 == 0 && self.properties == Default::default()
    }

    fn remaining_len(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            1usize.saturating_add(properties::encoded_len(&self.properties))
        }
    }

    fn write(&self, buf: &mut BytesMut) {
        if !self.is_empty() {
            buf.put_u8(self.reason_code.0);
            properties::write(&self.properties, buf);
        }
    }
}
