//! The outbox relay: one thread that reads each shard's flash-sale log from its durable
//! position and publishes every acknowledged record to Kafka as one event, in log order per
//! shard. Its position moves only over records Kafka acknowledged, and is saved every
//! `position_sync_ms`; a failed publish starts that shard over from its position after a
//! backoff. So every record reaches Kafka at least once, none is skipped, and the event id
//! (shard, segment, offset) lets a consumer drop the repeats.
//!
//! The shards never wait on it: they publish their acknowledged mark and read its backlog
//! through [`OutboxMark`]s.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, Producer as _};
use shardhub_core::seckill::{outbox_key, outbox_value, Event, EventId};

use super::cursor;
use super::producer::{self, Delivery, Producer};
use crate::config::PipelineConfig;
use crate::storage::{LogPosition, LogTail, OutboxMark};

/// How long one loop waits for delivery reports while events are in flight, and while idle.
const POLL_BUSY: Duration = Duration::from_millis(1);
const POLL_IDLE: Duration = Duration::from_millis(5);
/// Records read from one shard's log per turn, so one busy shard does not starve the others.
const SEND_BATCH_MAX: usize = 4096;
/// How long a stopping relay waits for what is in flight.
const STOP_FLUSH: Duration = Duration::from_secs(5);

/// A record handed to the producer: where it ends, and whether Kafka took it.
struct Sent {
    end: LogPosition,
    acked: bool,
}

/// One shard's log, as the relay follows it.
struct Lane {
    shard: u16,
    dir: PathBuf,
    tail: LogTail,
    /// Bumped on every start-over, so reports for what was sent before are ignored.
    epoch: u16,
    /// Sent and not yet settled, oldest first; `next_seq` numbers the next one.
    pending: VecDeque<Sent>,
    next_seq: u64,
    /// Kafka acknowledged every record before this.
    published: LogPosition,
    /// The shard's record count (see [`OutboxMark::acknowledge`]) at `published`: negative
    /// while records from before this process are unpublished. Counted once the shard has
    /// opened its log; the lag in events is the shard's count less this.
    published_records: Option<i64>,
    /// `published` as last saved, and when.
    saved: LogPosition,
    saved_at: Instant,
    retry_at: Option<Instant>,
    caught_up_at: Instant,
}

impl Lane {
    fn open(shard: u16, dir: PathBuf, mark: &OutboxMark) -> Lane {
        let start = match cursor::load(&dir) {
            Ok(Some(at)) => at,
            Ok(None) => LogPosition::default(),
            Err(e) => {
                // Starting over re-sends events (consumers drop them by id); never skips one.
                tracing::error!(shard, error = %e, "relay position unreadable; publishing this shard's log from its start");
                LogPosition::default()
            }
        };
        mark.saved_at(start);
        Lane {
            shard,
            tail: LogTail::new(&dir, start),
            dir,
            epoch: 0,
            pending: VecDeque::new(),
            next_seq: 0,
            published: start,
            published_records: None,
            saved: start,
            saved_at: Instant::now(),
            retry_at: None,
            caught_up_at: Instant::now(),
        }
    }

    fn first_seq(&self) -> u64 {
        self.next_seq - self.pending.len() as u64
    }

    /// Forgets what is in flight and goes back to the last record Kafka acknowledged.
    fn start_over(&mut self, backoff: Duration) {
        self.epoch = self.epoch.wrapping_add(1);
        self.pending.clear();
        self.tail.seek(self.published);
        self.retry_at = Some(Instant::now() + backoff);
    }

    /// Moves `published` over the acknowledged prefix of what was sent.
    fn advance(&mut self) {
        while self.pending.front().is_some_and(|s| s.acked) {
            let sent = self.pending.pop_front().expect("checked above");
            debug_assert!(sent.end > self.published, "positions only move forward");
            self.published = sent.end;
            if let Some(n) = &mut self.published_records {
                *n += 1;
            }
        }
    }
}

pub struct Relay {
    config: PipelineConfig,
    producer: Producer,
    marks: Arc<[OutboxMark]>,
    lanes: Vec<Lane>,
    reports: Vec<Delivery>,
    value: Vec<u8>,
}

impl Relay {
    pub fn new(
        config: PipelineConfig,
        marks: Arc<[OutboxMark]>,
        dirs: Vec<PathBuf>,
    ) -> Result<Relay, rdkafka::error::KafkaError> {
        let producer = producer::create(&config)?;
        let lanes = dirs
            .into_iter()
            .enumerate()
            .map(|(shard, dir)| Lane::open(shard as u16, dir, &marks[shard]))
            .collect();
        Ok(Relay {
            config,
            producer,
            marks,
            lanes,
            reports: Vec::new(),
            value: Vec::with_capacity(512),
        })
    }

    pub fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            for lane in 0..self.lanes.len() {
                self.send_more(lane);
            }
            let busy = self.lanes.iter().any(|l| !l.pending.is_empty());
            // Serve what is ready, then sleep: rdkafka's poll with a timeout spins on the
            // clock for its last millisecond, which cost more than the publishing.
            self.producer.poll(Duration::ZERO);
            std::thread::sleep(if busy { POLL_BUSY } else { POLL_IDLE });
            self.producer.poll(Duration::ZERO);
            self.settle();
            if let Some(fatal) = self.producer.client().fatal_error() {
                self.replace_producer(fatal.1);
            }
            for lane in 0..self.lanes.len() {
                self.save_if_due(lane, false);
                self.report(lane);
            }
        }
        // Stopping: let what is in flight land, then save where each shard stands.
        let _ = self.producer.flush(STOP_FLUSH);
        self.settle();
        for lane in 0..self.lanes.len() {
            self.save_if_due(lane, true);
        }
    }

    /// Hands the producer the shard's records its log acknowledged since the last call, as
    /// many as the in-flight bound leaves room for.
    fn send_more(&mut self, lane: usize) {
        let in_flight: usize = self.lanes.iter().map(|l| l.pending.len()).sum();
        let room = self
            .config
            .in_flight_events_max
            .saturating_sub(in_flight)
            .min(SEND_BATCH_MAX);
        let Some(upto) = self.marks[lane].acknowledged() else {
            return;
        };
        let Relay {
            config,
            producer,
            lanes,
            value,
            marks,
            ..
        } = self;
        let l = &mut lanes[lane];
        if l.retry_at.is_some_and(|at| Instant::now() < at) || room == 0 {
            return;
        }
        l.retry_at = None;
        let (shard, epoch, topic) = (l.shard, l.epoch, config.orders_topic.as_str());
        let Lane {
            tail,
            pending,
            next_seq,
            ..
        } = l;
        let mut refused = None;
        let read = tail.read(upto, room, |record, at, end| {
            if refused.is_some() {
                return;
            }
            let event = match Event::decode(record) {
                Ok(e) => e,
                Err(e) => {
                    refused = Some(format!("record at {at:?} does not decode: {e}"));
                    return;
                }
            };
            let id = EventId {
                shard,
                segment: at.segment,
                offset: at.offset,
            };
            let key = outbox_key(&event);
            value.clear();
            outbox_value(&event, id, value);
            let opaque = opaque(shard, epoch, *next_seq);
            match producer.send(
                BaseRecord::with_opaque_to(topic, opaque)
                    .key(&key)
                    .payload(value.as_slice()),
            ) {
                Ok(()) => {
                    pending.push_back(Sent { end, acked: false });
                    *next_seq += 1;
                }
                Err((e, _)) => refused = Some(format!("producer refused an event: {e}")),
            }
        });
        match read {
            Ok(r) if r.skipped_segments > 0 => {
                marks[lane]
                    .stats
                    .skipped_segments_total
                    .fetch_add(r.skipped_segments, Ordering::Relaxed);
                tracing::error!(
                    shard,
                    segments = r.skipped_segments,
                    "relay found log segments gone before it published them"
                );
            }
            Ok(_) => {}
            Err(e) => refused = Some(e.to_string()),
        }
        if let Some(reason) = refused {
            marks[lane].stats.publish_errors_total.fetch_add(1, Ordering::Relaxed);
            tracing::error!(shard, %reason, "relay starts this shard over after a backoff");
            l.start_over(Duration::from_millis(config.retry_backoff_ms));
        }
    }

    /// Applies the delivery reports `poll` collected. A refused or timed-out event ends the
    /// producer: its idempotence state (producer id and sequence numbers) may no longer match
    /// the broker's, so every shard starts over on a new one, from what Kafka acknowledged.
    fn settle(&mut self) {
        self.producer.context().take(&mut self.reports);
        let mut failure = None;
        for (opaque, outcome) in self.reports.drain(..) {
            let (shard, epoch, low) = (opaque >> 48, (opaque >> 32) as u16, opaque as u32);
            let Some(l) = self.lanes.get_mut(shard) else { continue };
            if epoch != l.epoch {
                continue;
            }
            let index = low.wrapping_sub(l.first_seq() as u32) as usize;
            if index >= l.pending.len() {
                continue;
            }
            let stats = &self.marks[shard].stats;
            match outcome {
                Ok(()) => {
                    l.pending[index].acked = true;
                    stats.published_total.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.publish_errors_total.fetch_add(1, Ordering::Relaxed);
                    failure.get_or_insert_with(|| format!("shard {shard}: {e}"));
                }
            }
        }
        for l in &mut self.lanes {
            l.advance();
        }
        if let Some(reason) = failure {
            self.replace_producer(reason);
        }
    }

    /// Ends the producer after a failed event or a fatal error: every shard starts over on a
    /// new one, after a backoff.
    fn replace_producer(&mut self, reason: String) {
        tracing::warn!(%reason, "kafka did not take an event; the relay starts over on a new producer");
        match producer::create(&self.config) {
            Ok(p) => self.producer = p,
            Err(e) => tracing::error!(error = %e, "cannot create a kafka producer"),
        }
        let backoff = Duration::from_millis(self.config.retry_backoff_ms);
        for l in &mut self.lanes {
            l.start_over(backoff);
        }
    }

    /// Saves the shard's position if it moved and `position_sync_ms` passed (or `now`), then
    /// lets snapshots delete what comes before it.
    fn save_if_due(&mut self, lane: usize, now: bool) {
        let l = &mut self.lanes[lane];
        let due = l.saved_at.elapsed() >= Duration::from_millis(self.config.position_sync_ms);
        if l.published == l.saved || !(due || now) {
            return;
        }
        match cursor::save(&l.dir, l.published) {
            Ok(()) => {
                l.saved = l.published;
                l.saved_at = Instant::now();
                self.marks[lane].saved_at(l.saved);
            }
            Err(e) => {
                self.marks[lane]
                    .stats
                    .publish_errors_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(shard = l.shard, error = %e, "relay position not saved");
            }
        }
    }

    /// Backlog and lag, for BUY admission and `/metrics`.
    fn report(&mut self, lane: usize) {
        let l = &mut self.lanes[lane];
        let mark = &self.marks[lane];
        let Some((upto, records)) = mark.acknowledged_records() else {
            return;
        };
        let behind = unpublished_bytes(&l.dir, l.published, upto);
        mark.set_unpublished_bytes(behind);
        if behind == 0 {
            l.caught_up_at = Instant::now();
        }
        let stats = &mark.stats;
        let at = *l
            .published_records
            .get_or_insert_with(|| records as i64 - count_records(&l.dir, l.published, upto, l.shard));
        stats
            .lag_events
            .store((records as i64 - at).max(0) as u64, Ordering::Relaxed);
        stats.in_flight_events.store(l.pending.len() as u64, Ordering::Relaxed);
        stats
            .lag_ms
            .store(l.caught_up_at.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// The delivery opaque of a record: its shard, the lane's epoch and the low 32 bits of its
/// number (at most `in_flight_events_max` < 2^32 are pending, so they are unambiguous).
fn opaque(shard: u16, epoch: u16, seq: u64) -> usize {
    ((shard as usize) << 48) | ((epoch as usize) << 32) | (seq as u32 as usize)
}

/// Records from `from` to `upto`: read once per start, for the lag of the backlog a restart
/// found. A log that cannot be read counts none (the relay itself reports the error).
fn count_records(dir: &std::path::Path, from: LogPosition, upto: LogPosition, shard: u16) -> i64 {
    let mut n = 0i64;
    if let Err(e) = LogTail::new(dir, from).read(upto, usize::MAX, |_, _, _| n += 1) {
        tracing::warn!(shard, error = %e, "relay lag in events counts only records from now on");
        return 0;
    }
    n
}

/// Log bytes from `from` to `upto`, across segments.
fn unpublished_bytes(dir: &std::path::Path, from: LogPosition, upto: LogPosition) -> u64 {
    if from >= upto {
        return 0;
    }
    if from.segment == upto.segment {
        return upto.offset - from.offset;
    }
    let len = |n: u64| crate::storage::journal::segment_len(dir, n);
    let first = len(from.segment).saturating_sub(from.offset);
    let middle: u64 = (from.segment + 1..upto.segment).map(len).sum();
    first + middle + upto.offset
}
