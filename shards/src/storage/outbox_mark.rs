//! What a shard's flash-sale log shares with the relay thread that publishes it to Kafka: how
//! far the log is acknowledged (the shard writes it after each group), and how far the relay's
//! durable position has reached (the relay writes it, the shard's snapshots read it). Plain
//! atomics and one short lock: the shard never waits on the relay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A place in a shard's log: a segment number and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogPosition {
    pub segment: u64,
    pub offset: u64,
}

/// Counters the relay keeps per shard, read by the shard's `/metrics`.
#[derive(Default)]
pub struct RelayStats {
    pub published_total: AtomicU64,
    pub publish_errors_total: AtomicU64,
    /// Records acknowledged in the log and not yet acknowledged by Kafka.
    pub lag_events: AtomicU64,
    /// Records handed to the producer and not yet acknowledged by Kafka.
    pub in_flight_events: AtomicU64,
    /// Milliseconds since the relay last had nothing left to publish.
    pub lag_ms: AtomicU64,
    /// Segments that were gone before the relay read them (a relay turned on after the log
    /// had already been cut by snapshots).
    pub skipped_segments_total: AtomicU64,
}

pub struct OutboxMark {
    /// The end of the last acknowledged record, and how many records this process's shard
    /// acknowledged up to it; `None` until the shard opened its log.
    acknowledged: Mutex<Option<(LogPosition, u64)>>,
    /// The segment of the relay's durable position: snapshots keep it and every later one.
    keep_from_segment: AtomicU64,
    /// The relay's durable position: everything before it is in Kafka.
    saved: Mutex<LogPosition>,
    /// Acknowledged log bytes the relay has not yet seen acknowledged by Kafka.
    unpublished_bytes: AtomicU64,
    pub stats: RelayStats,
}

impl Default for OutboxMark {
    fn default() -> Self {
        OutboxMark {
            acknowledged: Mutex::new(None),
            // Until the relay has said where it stands, snapshots keep every segment.
            keep_from_segment: AtomicU64::new(0),
            saved: Mutex::new(LogPosition::default()),
            unpublished_bytes: AtomicU64::new(0),
            stats: RelayStats::default(),
        }
    }
}

impl OutboxMark {
    /// Called by the shard when more of its log is acknowledged: `records` counts the records
    /// it acknowledged since it opened the log, up to `upto`.
    pub fn acknowledge(&self, upto: LogPosition, records: u64) {
        let mut at = self.acknowledged.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert!(
            at.is_none_or(|(a, n)| a <= upto && n <= records),
            "acknowledgements only move forward"
        );
        *at = Some((upto, records));
    }

    pub fn acknowledged(&self) -> Option<LogPosition> {
        self.acknowledged_records().map(|(at, _)| at)
    }

    /// The acknowledged end with the shard's record count at it.
    pub fn acknowledged_records(&self) -> Option<(LogPosition, u64)> {
        *self.acknowledged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the relay once its position is durable.
    pub fn saved_at(&self, at: LogPosition) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = at;
        self.keep_from_segment.store(at.segment, Ordering::Release);
    }

    /// Everything before this is in Kafka.
    pub fn saved(&self) -> LogPosition {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest segment a snapshot must not delete.
    pub fn keep_from_segment(&self) -> u64 {
        self.keep_from_segment.load(Ordering::Acquire)
    }

    pub fn set_unpublished_bytes(&self, bytes: u64) {
        self.unpublished_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn unpublished_bytes(&self) -> u64 {
        self.unpublished_bytes.load(Ordering::Relaxed)
    }
}
