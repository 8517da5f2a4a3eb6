//! The decoder never panics: arbitrary bytes, valid packets with bytes changed, and cut
//! short, go through the fuzz target's body (`fuzzing::decode_round_trip`), which also
//! checks that whatever decodes re-encodes to itself and that incomplete input is left alone.

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::packet_v5;
use super::*;
use crate::mqtt::fuzzing::decode_round_trip;

/// A valid packet's bytes, in either version, with up to four bytes overwritten, some bytes
/// inserted or removed, and sometimes cut short.
fn mutated_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        packet_v5(),
        any::<bool>(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<Option<(prop::sample::Index, u8)>>(),
        any::<Option<prop::sample::Index>>(),
        any::<Option<prop::sample::Index>>(),
    )
        .prop_map(|(packet, v311, writes, insert, remove, cut)| {
            let (packet, version) = match (v311, fit_for_v311(packet.clone())) {
                (true, Some(p)) => (p, V311),
                _ => (packet, V5),
            };
            let mut bytes = encode(&packet, version).to_vec();
            for (at, byte) in writes {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if let Some((at, byte)) = insert {
                let at = at.index(bytes.len() + 1);
                bytes.insert(at, byte);
            }
            if let Some(at) = remove {
                let at = at.index(bytes.len());
                bytes.remove(at);
            }
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len() + 1));
            }
            bytes
        })
}

/// Several packets back to back, one of them possibly damaged.
fn packet_stream() -> impl Strategy<Value = Vec<u8>> {
    (vec(packet_v5(), 1..4), mutated_packet()).prop_map(|(packets, tail)| {
        let mut bytes = Vec::new();
        for packet in &packets {
            bytes.extend_from_slice(&encode(packet, V5));
        }
        bytes.extend_from_slice(&tail);
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        decode_round_trip(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_plausible_headers_never_panic(
        first in any::<u8>(),
        body in vec(any::<u8>(), 0..128),
    ) {
        // A matching remaining length gets random bodies past the fixed-header checks.
        decode_round_trip(&frame(first, &body));
    }

    #[test]
    fn mutated_packets_never_panic(bytes in mutated_packet()) {
        decode_round_trip(&bytes);
    }

    #[test]
    fn streams_of_packets_never_panic(bytes in packet_stream()) {
        decode_round_trip(&bytes);
    }

    #[test]
    fn partial_packets_ask_for_more_and_consume_nothing(packet in packet_v5(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&packet, V5);
        let cut = cut.index(bytes.len());
        let mut partial = BytesMut::from(&bytes[..cut]);
        prop_assert_eq!(decode(&mut partial, V5, MAX), Ok(None));
        prop_assert_eq!(partial.len(), cut);
    }

    #[test]
    fn peek_connect_version_never_panics(bytes in vec(any::<u8>(), 0..64)) {
        let _ = peek_connect_version(&bytes);
    }

    #[test]
    fn topic_checks_never_panic(text in "[a-z$/+#\u{0}ü]{0,16}") {
        let _ = validate_topic_name(&text);
        if let Ok(parsed) = parse_topic_filter(&text) {
            prop_assert!(validate_topic_filter(parsed.filter).is_ok());
        }
    }
}
