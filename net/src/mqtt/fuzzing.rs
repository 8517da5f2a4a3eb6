//! The body of the cargo-fuzz target `mqtt_decode` (`net/fuzz/`), kept in the crate so that
//! the crate's own tests drive it with proptest on stable Rust, where cargo-fuzz cannot run.
//! Built only for tests and for the `fuzzing` feature that the fuzz crate turns on.

use bytes::BytesMut;

use super::{decode, Packet, ProtocolVersion};

/// A limit that never refuses, so every packet the bytes hold gets decoded.
const PACKET_BYTES_MAX: u32 = u32::MAX;

/// Decodes `data` as a stream of packets in each version; every packet that decodes must
/// encode to bytes that decode to the same packet, and every strict prefix of those bytes
/// must ask for more without consuming anything. Panics on any violation.
pub fn decode_round_trip(data: &[u8]) {
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        let mut buf = BytesMut::from(data);
        loop {
            let before = buf.len();
            match decode(&mut buf, version, PACKET_BYTES_MAX) {
                Ok(Some(packet)) => check_packet(&packet, version),
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed input");
                    break;
                }
                Err(error) => {
                    // Both must be total functions of the error.
                    let _ = error.reason_code();
                    let _ = error.to_string();
                    break;
                }
            }
        }
    }
}

/// Re-encodes one decoded packet and checks it survives the trip.
pub fn check_packet(packet: &Packet, version: ProtocolVersion) {
    let len = packet.encoded_len(version).expect("a decoded packet encodes");
    let mut bytes = BytesMut::new();
    packet.encode(version, &mut bytes).expect("a decoded packet encodes");
    assert_eq!(bytes.len(), len, "encoded_len disagrees with encode for {packet:?}");

    for cut in prefix_cuts(len) {
        let mut partial = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            decode(&mut partial, version, PACKET_BYTES_MAX),
            Ok(None),
            "{cut} of {len} bytes of {packet:?}"
        );
        assert_eq!(partial.len(), cut, "a partial packet was consumed");
    }

    let decoded = decode(&mut bytes, version, PACKET_BYTES_MAX);
    assert!(bytes.is_empty(), "the re-encoded packet was not consumed whole");
    assert_eq!(decoded, Ok(Some(packet.clone())), "round trip changed the packet");
}

/// Every cut of a short packet; the edges and the middle of a long one, to stay linear.
fn prefix_cuts(len: usize) -> Vec<usize> {
    if len <= 64 {
        (0..len).collect()
    } else {
        vec![0, 1, 2, 3, 4, 5, len / 2, len - 2, len - 1]
    }
}
