//! One publisher's PUBLISH, encoded once by the codec and then copied and patched per
//! message: the packet identifier and the payload stamp are the only bytes that change.
//!
//! Why not build a `Packet::Publish` per message: it needs a fresh `Bytes` payload each
//! time, an allocation and a full encode per message on a client that shares the server's
//! cores. The patch offsets follow from the PUBLISH layout (MQTT 5.0 section 3.3, 3.1.1
//! section 3.3): fixed header, topic name, packet identifier (QoS > 0), properties (5.0),
//! payload last; the tests check every patched packet against the codec's own encoding.

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use shardhub_net::mqtt::{MqttStr, Packet, PacketId, ProtocolVersion, Publish, QoS};

use crate::common::error::BenchError;
use crate::mqtt::payload::{PayloadStamp, STAMP_BYTES};

/// Padding byte after the stamp: printable, so a stray message is readable in a trace.
const PADDING: u8 = b'x';

pub struct PublishTemplate {
    packet: BytesMut,
    /// Where the two-byte packet identifier sits; `None` at QoS 0, which has none.
    packet_id_at: Option<usize>,
    payload_at: usize,
}

impl PublishTemplate {
    pub fn new(version: ProtocolVersion, topic: &str, qos: QoS, payload_bytes: usize) -> Result<Self, BenchError> {
        if payload_bytes < STAMP_BYTES {
            return Err(BenchError::Usage(format!(
                "--payload-bytes must be at least {STAMP_BYTES} (the timestamp and sequence number), got {payload_bytes}"
            )));
        }
        let topic_name = MqttStr::try_from(topic)
            .map_err(|e| BenchError::Usage(format!("topic {topic:?} is not an MQTT string: {e}")))?;
        let publish = Publish {
            qos,
            topic: topic_name,
            packet_id: (qos != QoS::AtMostOnce).then_some(NonZeroU16::MIN),
            payload: Bytes::from(vec![PADDING; payload_bytes]),
            ..Publish::default()
        };
        let mut packet = BytesMut::new();
        Packet::Publish(publish)
            .encode(version, &mut packet)
            .map_err(|e| BenchError::Usage(format!("cannot encode a PUBLISH to {topic:?}: {e}")))?;
        let header_len = fixed_header_len(&packet);
        Ok(Self {
            packet_id_at: (qos != QoS::AtMostOnce).then_some(header_len + 2 + topic.len()),
            payload_at: packet.len() - payload_bytes,
            packet,
        })
    }

    /// Appends the packet to `out` with `packet_id` (required exactly when QoS > 0) and
    /// `stamp` at the start of the payload.
    pub fn append(&self, out: &mut BytesMut, packet_id: Option<PacketId>, stamp: &PayloadStamp) {
        let start = out.len();
        out.extend_from_slice(&self.packet);
        let packet = &mut out[start..];
        match (self.packet_id_at, packet_id) {
            (Some(at), Some(id)) => packet[at..at + 2].copy_from_slice(&id.get().to_be_bytes()),
            (None, None) => {}
            _ => panic!("a packet id goes with QoS 1 and 2 only"),
        }
        stamp.write(&mut packet[self.payload_at..]);
    }
}

/// Bytes of the fixed header: the type byte and the Remaining Length, whose bytes all but
/// the last have the continuation bit (0x80) set.
fn fixed_header_len(packet: &[u8]) -> usize {
    1 + packet[1..].iter().take_while(|&&b| b & 0x80 != 0).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec_encoding(version: ProtocolVersion, qos: QoS, id: Option<u16>, payload: Vec<u8>) -> BytesMut {
        let mut out = BytesMut::new();
        Packet::Publish(Publish {
            qos,
            topic: MqttStr::try_from("bench/12/data").unwrap(),
            packet_id: id.map(|id| NonZeroU16::new(id).unwrap()),
            payload: Bytes::from(payload),
            ..Publish::default()
        })
        .encode(version, &mut out)
        .unwrap();
        out
    }

    #[test]
    fn patched_packets_equal_the_codecs() {
        let stamp = PayloadStamp {
            sent_ns: 123_456_789,
            publisher: 12,
            seq: 99,
        };
        // 200 bytes makes the Remaining Length two bytes long.
        for payload_bytes in [STAMP_BYTES, 64, 200] {
            for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
                for (qos, id) in [(QoS::AtMostOnce, None), (QoS::AtLeastOnce, Some(0xBEEF))] {
                    let template = PublishTemplate::new(version, "bench/12/data", qos, payload_bytes).unwrap();
                    let mut out = BytesMut::from(&b"prefix"[..]);
                    template.append(&mut out, id.map(|id| NonZeroU16::new(id).unwrap()), &stamp);
                    let mut payload = vec![PADDING; payload_bytes];
                    stamp.write(&mut payload);
                    let expected = codec_encoding(version, qos, id, payload);
                    assert_eq!(&out[6..], &expected[..], "{version:?} {qos:?} {payload_bytes}");
                }
            }
        }
    }

    #[test]
    fn decodes_back_to_the_stamp() {
        let template = PublishTemplate::new(ProtocolVersion::V5, "bench/3/data", QoS::AtLeastOnce, 64).unwrap();
        let stamp = PayloadStamp {
            sent_ns: 42,
            publisher: 3,
            seq: 7,
        };
        let mut out = BytesMut::new();
        template.append(&mut out, Some(NonZeroU16::new(300).unwrap()), &stamp);
        let packet = shardhub_net::mqtt::decode(&mut out, ProtocolVersion::V5, 1 << 20)
            .unwrap()
            .unwrap();
        let Packet::Publish(publish) = packet else {
            panic!("not a PUBLISH: {packet:?}")
        };
        assert_eq!(publish.packet_id.map(|id| id.get()), Some(300));
        assert_eq!(&*publish.topic, "bench/3/data");
        assert_eq!(PayloadStamp::read(&publish.payload), Some(stamp));
    }

    #[test]
    fn refuses_payloads_too_small_for_the_stamp() {
        let error = PublishTemplate::new(ProtocolVersion::V5, "t", QoS::AtMostOnce, STAMP_BYTES - 1)
            .err()
            .unwrap();
        assert!(error.to_string().contains("--payload-bytes"), "{error}");
    }

    #[test]
    fn fixed_header_lengths() {
        assert_eq!(fixed_header_len(&[0x30, 0x05]), 2);
        assert_eq!(fixed_header_len(&[0x30, 0xC8, 0x01]), 3);
        assert_eq!(fixed_header_len(&[0x30, 0xFF, 0xFF, 0x7F]), 4);
    }
}
