//! Order ids: the owner slot and a per-slot sequence, written `<slot>-<seq>`.
//!
//! Carrying the slot lets ORDER.* commands route to the owner shard with no lookup, and a
//! per-slot (not per-shard) sequence keeps ids unique if a slot ever moves to another shard.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::slot::{Slot, SLOT_COUNT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderId {
    pub slot: Slot,
    pub seq: u64,
}

impl OrderId {
    /// Parses the canonical text form only (no signs, no leading zeros), so one order has
    /// exactly one id.
    pub fn parse(text: &[u8]) -> Option<OrderId> {
        let dash = text.iter().position(|&b| b == b'-')?;
        let slot = canonical_u64(&text[..dash])?;
        let seq = canonical_u64(&text[dash + 1..])?;
        let slot = Slot::try_from(slot).ok().filter(|s| *s < SLOT_COUNT)?;
        Some(OrderId { slot, seq })
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.slot, self.seq)
    }
}

fn canonical_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let id = OrderId { slot: 12182, seq: 17 };
        assert_eq!(id.to_string(), "12182-17");
        assert_eq!(OrderId::parse(b"12182-17"), Some(id));
        assert_eq!(OrderId::parse(b"0-0"), Some(OrderId { slot: 0, seq: 0 }));
    }

    #[test]
    fn non_canonical_and_out_of_range_ids_are_refused() {
        for bad in [
            &b""[..],
            b"abc",
            b"1",
            b"1-",
            b"-1",
            b"16384-1",
            b"01-1",
            b"1-01",
            b"1-x",
            b"+1-1",
            b"1--1",
            b"1-18446744073709551616",
        ] {
            assert_eq!(OrderId::parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
