//! The fixed header (MQTT 5.0 section 2.1): what a packet is and how long, read before its
//! body is buffered, so a connection can refuse an oversized or nonsensical packet from its
//! first five bytes; and a look at a CONNECT's protocol level before the connection's
//! version is known.

use super::error::DecodeError;
use super::packet::{PacketType, ProtocolVersion, QoS};
use super::varint::{self, VarInt};

/// A fixed header whose flags have been checked against its packet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// The first byte and the remaining-length bytes: 2 to 5.
    pub header_len: usize,
    pub remaining_len: u32,
}

impl FrameHeader {
    /// Bytes of the whole packet, fixed header included (what Maximum Packet Size counts).
    pub fn packet_len(&self) -> usize {
        // header_len <= 5 and remaining_len < 2^28: no overflow on any usize of 32 bits or more.
        self.header_len + self.remaining_len as usize
    }
}

/// Reads the fixed header at the front of `buf`. `Ok(None)`: the remaining length is not
/// complete yet. `version` decides whether type 15 (AUTH) exists; a CONNECT is read
/// whatever the version. Fails with [`DecodeError::PacketTooLarge`] when the whole packet
/// would exceed `packet_bytes_max` bytes.
pub fn peek_frame(
    buf: &[u8],
    version: ProtocolVersion,
    packet_bytes_max: u32,
) -> Result<Option<FrameHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (packet_type, flags) = check_first_byte(first, version)?;
    let (remaining_len, len_bytes) = match varint::decode(buf.get(1..).unwrap_or_default()) {
        VarInt::Complete { value, len } => (value, len),
        VarInt::Incomplete => return Ok(None),
        VarInt::TooLong => return Err(DecodeError::RemainingLengthTooLong),
    };
    let header = FrameHeader {
        packet_type,
        flags,
        header_len: 1 + len_bytes,
        remaining_len,
    };
    let size = header.header_len as u64 + u64::from(remaining_len);
    if size > u64::from(packet_bytes_max) {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: packet_bytes_max,
        });
    }
    Ok(Some(header))
}

/// The packet type and flags of a first byte, refusing reserved types and flags.
fn check_first_byte(first: u8, version: ProtocolVersion) -> Result<(PacketType, u8), DecodeError> {
    let nibble = first >> 4;
    let flags = first & 0x0f;
    let packet_type = match PacketType::from_nibble(nibble) {
        Some(PacketType::Auth) if version == ProtocolVersion::V311 => {
            return Err(DecodeError::ReservedPacketType(nibble))
        }
        Some(t) => t,
        None => return Err(DecodeError::ReservedPacketType(nibble)),
    };
    match packet_type.required_flags() {
        Some(required) if flags != required => {
            return Err(DecodeError::ReservedFlags {
                packet: packet_type,
                flags,
            })
        }
        Some(_) => {}
        None => {
            let qos = QoS::from_bits((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQos { what: "PUBLISH" })?;
            if qos == QoS::AtMostOnce && flags & 0b1000 != 0 {
                return Err(DecodeError::DupAtQos0);
            }
        }
    }
    Ok((packet_type, flags))
}

/// The protocol version a connection's first packet asks for, read from as few bytes as
/// possible: call it before decoding the CONNECT, so that even a CONNECT that fails to
/// decode is answered in its client's version. `Ok(None)`: more bytes are needed.
///
/// Fails with [`DecodeError::NotConnect`] when the packet is something else (close without
/// answering), [`DecodeError::UnsupportedProtocolVersion`] for a level other than 4 or 5
/// (answer CONNACK 0x84 in 5.0 terms or return code 0x01 in 3.1.1 terms, then close), and
/// [`DecodeError::InvalidProtocolName`] when the name is not "MQTT".
pub fn peek_connect_version(buf: &[u8]) -> Result<Option<ProtocolVersion>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (packet_type, _) = check_first_byte(first, ProtocolVersion::V5)?;
    if packet_type != PacketType::Connect {
        return Err(DecodeError::NotConnect(packet_type));
    }
    let (remaining_len, len_bytes) = match varint::decode(buf.get(1..).unwrap_or_default()) {
        VarInt::Complete { value, len } => (value as usize, len),
        VarInt::Incomplete => return Ok(None),
        VarInt::TooLong => return Err(DecodeError::RemainingLengthTooLong),
    };
    // Only the declared body counts: a name running past it is a truncated CONNECT.
    let body_start = 1 + len_bytes;
    let body = buf.get(body_start..).unwrap_or_default();
    let body = body.get(..remaining_len).unwrap_or(body);
    let truncated = |what| DecodeError::Truncated {
        packet: PacketType::Connect,
        what,
    };
    let need = |n: usize, what| -> Result<bool, DecodeError> {
        if n > remaining_len {
            Err(truncated(what))
        } else {
            Ok(n <= body.len())
        }
    };
    if !need(2, "the protocol name")? {
        return Ok(None);
    }
    let name_len = match body {
        [high, low, ..] => usize::from(u16::from_be_bytes([*high, *low])),
        _ => return Ok(None),
    };
    let level_at = 2 + name_len;
    if !need(level_at + 1, "the protocol level")? {
        return Ok(None);
    }
    let name = body.get(2..level_at).unwrap_or_default();
    let level = body.get(level_at).copied().unwrap_or_default();
    match name {
        b"MQTT" => ProtocolVersion::from_level(level)
            .map(Some)
            .ok_or(DecodeError::UnsupportedProtocolVersion(level)),
        // MQTT 3.1 named itself "MQIsdp": a real client speaking a version we do not serve.
        b"MQIsdp" => Err(DecodeError::UnsupportedProtocolVersion(level)),
        _ => Err(DecodeError::InvalidProtocolName),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn reads_type_flags_and_length() {
        let header = peek_frame(&[0x82, 0x80, 0x01], V5, 1000)
            .expect("valid")
            .expect("complete");
        assert_eq!(header.packet_type, PacketType::Subscribe);
        assert_eq!(header.header_len, 3);
        assert_eq!(header.remaining_len, 128);
        assert_eq!(header.packet_len(), 131);
        assert_eq!(peek_frame(&[0x82, 0x80], V5, 1000), Ok(None));
        assert_eq!(peek_frame(&[], V5, 1000), Ok(None));
    }

    #[test]
    fn refuses_an_oversized_packet_from_its_header() {
        // 1 + 4 + 268435455 bytes announced; only the header has arrived.
        assert_eq!(
            peek_frame(&[0x30, 0xff, 0xff, 0xff, 0x7f], V5, 1 << 20),
            Err(DecodeError::PacketTooLarge {
                size: 268_435_460,
                max: 1 << 20
            })
        );
        // Exactly the limit is fine.
        assert!(peek_frame(&[0xc0, 0x00], V5, 2).expect("fits").is_some());
        assert!(peek_frame(&[0xc0, 0x01], V5, 2).is_err());
    }

    #[test]
    fn connect_version_from_the_first_bytes() {
        let v5 = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03dev";
        assert_eq!(peek_connect_version(v5), Ok(Some(ProtocolVersion::V5)));
        for cut in 0..9 {
            assert_eq!(peek_connect_version(&v5[..cut]), Ok(None), "{cut}");
        }
        let v311 = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03dev";
        assert_eq!(peek_connect_version(v311), Ok(Some(ProtocolVersion::V311)));
        assert_eq!(
            peek_connect_version(b"\x10\x0f\x00\x04MQTT\x06"),
            Err(DecodeError::UnsupportedProtocolVersion(6))
        );
        assert_eq!(
            peek_connect_version(b"\x10\x11\x00\x06MQIsdp\x03"),
            Err(DecodeError::UnsupportedProtocolVersion(3))
        );
        assert_eq!(
            peek_connect_version(b"\x10\x0f\x00\x04MQTX\x05"),
            Err(DecodeError::InvalidProtocolName)
        );
        assert_eq!(
            peek_connect_version(b"\xc0\x00"),
            Err(DecodeError::NotConnect(PacketType::PingReq))
        );
        // The name claims more bytes than the packet has.
        assert_eq!(
            peek_connect_version(b"\x10\x03\x00\x04M"),
            Err(DecodeError::Truncated {
                packet: PacketType::Connect,
                what: "the protocol level"
            })
        );
    }
}
