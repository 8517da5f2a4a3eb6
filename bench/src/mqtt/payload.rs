//! What a benchmark PUBLISH carries in its first bytes, so that a subscriber can time and
//! account for every message it receives without any state shared with the publisher.
//!
//! Layout (little-endian), then padding up to `--payload-bytes`:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | `sent_ns`: when the publisher encoded it, on [`now_ns`]'s clock |
//! | 8..12 | `publisher`: the publisher's index |
//! | 12..20 | `seq`: the publisher's message number, from 0 |
//!
//! Why a process-local clock: publishers and subscribers run in the same client process, so
//! one monotonic `Instant` base gives end-to-end latency with no clock skew; wall-clock
//! time could step during a run.

use std::sync::OnceLock;
use std::time::Instant;

/// Bytes the stamp takes; the smallest `--payload-bytes` allowed.
pub const STAMP_BYTES: usize = 20;

/// The per-message facts a subscriber reads back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadStamp {
    pub sent_ns: u64,
    pub publisher: u32,
    pub seq: u64,
}

impl PayloadStamp {
    /// Writes the stamp over the first [`STAMP_BYTES`] of `payload`.
    ///
    /// Panics if `payload` is shorter: payload sizes are checked when the run is planned.
    pub fn write(&self, payload: &mut [u8]) {
        payload[0..8].copy_from_slice(&self.sent_ns.to_le_bytes());
        payload[8..12].copy_from_slice(&self.publisher.to_le_bytes());
        payload[12..20].copy_from_slice(&self.seq.to_le_bytes());
    }

    /// The stamp at the start of `payload`, or `None` if it is too short to hold one (a
    /// message that is not ours).
    pub fn read(payload: &[u8]) -> Option<Self> {
        let stamp = payload.get(..STAMP_BYTES)?;
        let u64_at = |at: usize| u64::from_le_bytes(stamp[at..at + 8].try_into().expect("8 bytes"));
        Some(Self {
            sent_ns: u64_at(0),
            publisher: u32::from_le_bytes(stamp[8..12].try_into().expect("4 bytes")),
            seq: u64_at(12),
        })
    }

    /// Microseconds from `sent_ns` to `arrived_ns`; 0 if the clock reads went the other way
    /// (they cannot on one monotonic clock, but a foreign payload could say anything).
    pub fn latency_us(&self, arrived_ns: u64) -> u64 {
        arrived_ns.saturating_sub(self.sent_ns) / 1000
    }
}

/// Nanoseconds since the first call in this process, on the monotonic clock.
pub fn now_ns() -> u64 {
    ns_since_base(Instant::now())
}

/// `at` on [`now_ns`]'s scale.
pub fn ns_since_base(at: Instant) -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    at.saturating_duration_since(base).as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_at_the_front_of_the_payload() {
        let stamp = PayloadStamp {
            sent_ns: 0x0102_0304_0506_0708,
            publisher: 7,
            seq: u64::MAX - 1,
        };
        let mut payload = vec![b'x'; 64];
        stamp.write(&mut payload);
        assert_eq!(PayloadStamp::read(&payload), Some(stamp));
        assert_eq!(&payload[..8], &[8, 7, 6, 5, 4, 3, 2, 1], "little-endian");
        assert!(payload[STAMP_BYTES..].iter().all(|&b| b == b'x'), "padding untouched");
    }

    #[test]
    fn exact_size_payload_is_enough() {
        let stamp = PayloadStamp {
            sent_ns: 1,
            publisher: 2,
            seq: 3,
        };
        let mut payload = [0u8; STAMP_BYTES];
        stamp.write(&mut payload);
        assert_eq!(PayloadStamp::read(&payload), Some(stamp));
    }

    #[test]
    fn short_payload_has_no_stamp() {
        assert_eq!(PayloadStamp::read(&[0u8; STAMP_BYTES - 1]), None);
        assert_eq!(PayloadStamp::read(b""), None);
    }

    #[test]
    fn latency_is_in_microseconds_and_never_negative() {
        let stamp = PayloadStamp {
            sent_ns: 5_000,
            publisher: 0,
            seq: 0,
        };
        assert_eq!(stamp.latency_us(1_505_000), 1_500);
        assert_eq!(stamp.latency_us(5_999), 0);
        assert_eq!(stamp.latency_us(1_000), 0);
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
        assert!(ns_since_base(Instant::now()) >= b);
    }
}
