//! Variable Byte Integers (MQTT 5.0 section 1.5.5, 3.1.1 section 2.2.3): seven bits a byte,
//! least significant group first, the top bit saying another byte follows.
//!
//! Four bytes at most, so the largest value is 268,435,455. Encoders here always write the
//! shortest form; the decoder also takes longer forms of small values, because refusing
//! them gains nothing and MQTT 3.1.1 never forbade them.

use bytes::BufMut;

/// The largest value four bytes can carry: 2^28 - 1.
pub const VARINT_MAX: u32 = 268_435_455;

/// Most bytes one Variable Byte Integer may take.
pub const VARINT_BYTES_MAX: usize = 4;

/// What [`decode`] found at the front of a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarInt {
    /// The value and how many bytes it took.
    Complete { value: u32, len: usize },
    /// The slice ends before the last byte of the integer.
    Incomplete,
    /// A fifth byte would be needed: a malformed packet.
    TooLong,
}

/// Reads one Variable Byte Integer from the front of `bytes`.
pub fn decode(bytes: &[u8]) -> VarInt {
    let mut value: u32 = 0;
    for (at, &byte) in bytes.iter().take(VARINT_BYTES_MAX).enumerate() {
        // at < 4, so the shift is at most 21 and the group fits in 28 bits: no overflow.
        value |= u32::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return VarInt::Complete { value, len: at + 1 };
        }
    }
    if bytes.len() >= VARINT_BYTES_MAX {
        VarInt::TooLong
    } else {
        VarInt::Incomplete
    }
}

/// Bytes the shortest encoding of `value` takes; values past [`VARINT_MAX`] count as 4 (the
/// encoder refuses them before this matters).
pub const fn len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the shortest encoding of `value`, which must be at most [`VARINT_MAX`] (callers
/// check; larger values would lose their top bits).
pub fn put(buf: &mut impl BufMut, value: u32) {
    debug_assert!(value <= VARINT_MAX, "varint {value} out of range");
    let mut rest = value;
    loop {
        // Truncation is the point: the low seven bits of what is left.
        let group = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            buf.put_u8(group);
            return;
        }
        buf.put_u8(group | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_boundaries_round_trip() {
        // The table in MQTT 5.0 section 1.5.5.
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (VARINT_MAX, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            put(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(len(value), bytes.len(), "{value}");
            assert_eq!(
                decode(bytes),
                VarInt::Complete {
                    value,
                    len: bytes.len()
                }
            );
        }
    }

    #[test]
    fn longer_forms_are_read_five_bytes_are_not() {
        assert_eq!(decode(&[0x81, 0x00]), VarInt::Complete { value: 1, len: 2 });
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x00]), VarInt::Complete { value: 0, len: 4 });
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), VarInt::TooLong);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x01]), VarInt::TooLong);
        assert_eq!(decode(&[]), VarInt::Incomplete);
        assert_eq!(decode(&[0x80, 0x80, 0x80]), VarInt::Incomplete);
    }
}
