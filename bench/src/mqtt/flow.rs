//! What the publishers and subscribers of a `fanin`/`fanout` run share: how many messages
//! were published and delivered, the backlog gate that paces the publishers, and when the
//! subscribers may stop.
//!
//! Why a backlog gate: a broker holds a bounded queue per subscriber (`max_queued_messages`,
//! 1000 in shardhub's defaults and in the Mosquitto config of scripts/bench-mqtt.sh) and
//! drops messages when it is full (Mosquitto at QoS 1 too); shardhub also closes a
//! connection whose unsent bytes pass 4 MiB. Publishers that simply write as fast as TCP
//! takes their bytes outrun subscribers that share two cores with them, and the run then
//! measures overload
//! (drops, disconnects) rather than throughput. So publishers wait while more than
//! `--max-backlog` deliveries are owed: messages the broker accepted times the subscribers
//! each must reach (1 for a shared group), minus what the subscribers have read. The load is
//! "as fast as the broker delivers with a bounded backlog", a closed loop: by Little's law
//! the latency it reports is about the backlog divided by the delivery rate. Publisher and
//! subscribers live in one process, so the gate needs no protocol.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Longest a waiting publisher sleeps before it looks at the counts again, in case a wake-up
/// raced with its going to sleep.
const GATE_WAIT_SLICE: Duration = Duration::from_millis(20);
/// A gate that saw no delivery for this long treats its backlog as lost (a broker that
/// dropped messages) and lets publishers on; the losses show in the report.
const GATE_WRITE_OFF_AFTER: Duration = Duration::from_millis(500);

pub struct PubSubFlow {
    /// Deliveries each accepted message owes: every subscriber, or one member of a shared
    /// subscription.
    deliveries_per_message: u64,
    /// Subscribers share their messages: each is expected once by the group, not by each.
    shared: bool,
    publishers: usize,
    backlog_max: u64,
    published: AtomicU64,
    /// Refused by the broker (PUBACK >= 0x80): never to be delivered.
    refused: AtomicU64,
    /// Deliveries the gate has given up waiting for (see [`GATE_WRITE_OFF_AFTER`]).
    written_off: AtomicU64,
    /// Messages every subscriber (or the group) must receive, summed as publishers finish.
    expected: AtomicU64,
    publishers_done: AtomicUsize,
    delivered: Box<[AtomicU64]>,
    delivered_total: AtomicU64,
    /// On `payload::now_ns`'s clock.
    first_publish_ns: AtomicU64,
    last_publish_ns: AtomicU64,
    last_delivery_ns: AtomicU64,
    publisher_waiting: AtomicBool,
    room: Notify,
    /// A connection failed: the run is over, nobody waits for anything any more.
    aborted: AtomicBool,
}

impl PubSubFlow {
    pub fn new(publishers: usize, subscribers: usize, shared: bool, backlog_max: u64) -> Self {
        Self {
            deliveries_per_message: if shared { 1 } else { subscribers as u64 },
            shared,
            publishers,
            backlog_max,
            published: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            written_off: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            publishers_done: AtomicUsize::new(0),
            delivered: (0..subscribers).map(|_| AtomicU64::new(0)).collect(),
            delivered_total: AtomicU64::new(0),
            first_publish_ns: AtomicU64::new(u64::MAX),
            last_publish_ns: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            publisher_waiting: AtomicBool::new(false),
            room: Notify::new(),
            aborted: AtomicBool::new(false),
        }
    }

    /// Deliveries owed: published (and not refused) messages times the deliveries each
    /// owes, minus those made and those written off.
    pub fn backlog(&self) -> u64 {
        let accepted = (self.published.load(Ordering::Relaxed)).saturating_sub(self.refused.load(Ordering::Relaxed));
        let reached = self.delivered_total.load(Ordering::Relaxed) + self.written_off.load(Ordering::Relaxed);
        (accepted * self.deliveries_per_message).saturating_sub(reached)
    }

    /// Waits until `messages` more fit under the backlog limit (one message is owed to
    /// every subscriber; a batch is let through alone even if it is larger than the limit).
    pub async fn wait_for_room(&self, messages: u64) {
        let batch = messages * self.deliveries_per_message;
        let fits = |backlog: u64| backlog + batch <= self.backlog_max || backlog == 0 || self.is_aborted();
        if fits(self.backlog()) {
            return;
        }
        let mut stuck_since: Option<(Instant, u64)> = None;
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.publisher_waiting.store(true, Ordering::SeqCst);
            let backlog = self.backlog();
            if fits(backlog) {
                return;
            }
            let delivered = self.delivered_total.load(Ordering::Relaxed);
            match stuck_since {
                Some((since, seen)) if seen == delivered => {
                    if since.elapsed() >= GATE_WRITE_OFF_AFTER {
                        self.written_off.fetch_add(backlog, Ordering::Relaxed);
                        stuck_since = None;
                        continue;
                    }
                }
                _ => stuck_since = Some((Instant::now(), delivered)),
            }
            let _ = tokio::time::timeout(GATE_WAIT_SLICE, notified).await;
        }
    }

    /// Counts messages about to be written, sent at `sent_ns`.
    pub fn add_published(&self, messages: u64, sent_ns: u64) {
        self.published.fetch_add(messages, Ordering::Relaxed);
        self.first_publish_ns.fetch_min(sent_ns, Ordering::Relaxed);
    }

    pub fn add_refused(&self, messages: u64) {
        self.refused.fetch_add(messages, Ordering::Relaxed);
    }

    /// Subscriber `index` received `messages` at `arrived_ns`.
    pub fn add_delivered(&self, index: usize, messages: u64, arrived_ns: u64) {
        self.delivered[index].fetch_add(messages, Ordering::Relaxed);
        self.delivered_total.fetch_add(messages, Ordering::Relaxed);
        self.last_delivery_ns.fetch_max(arrived_ns, Ordering::Relaxed);
        if self.publisher_waiting.load(Ordering::Relaxed) && self.publisher_waiting.swap(false, Ordering::SeqCst) {
            self.room.notify_waiters();
        }
    }

    /// A publisher has stopped: the broker accepted `accepted` of its messages, the last
    /// written at `last_sent_ns`.
    pub fn publisher_finished(&self, accepted: u64, last_sent_ns: u64) {
        self.expected.fetch_add(accepted, Ordering::SeqCst);
        self.last_publish_ns.fetch_max(last_sent_ns, Ordering::Relaxed);
        self.publishers_done.fetch_add(1, Ordering::SeqCst);
    }

    /// Messages each subscriber (or the group) must receive, once every publisher is done.
    pub fn expected(&self) -> Option<u64> {
        (self.publishers_done.load(Ordering::SeqCst) == self.publishers).then(|| self.expected.load(Ordering::SeqCst))
    }

    /// Whether subscriber `index` has everything it will be sent.
    pub fn subscriber_satisfied(&self, index: usize) -> bool {
        let Some(expected) = self.expected() else {
            return false;
        };
        let delivered = if self.shared {
            &self.delivered_total
        } else {
            &self.delivered[index]
        };
        delivered.load(Ordering::Relaxed) >= expected
    }

    /// Ends the run for every connection: one failed, so its counts will never add up.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.room.notify_waiters();
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// `(first publish, last publish, last delivery)` on `now_ns`'s clock.
    pub fn span_ns(&self) -> (u64, u64, u64) {
        (
            self.first_publish_ns.load(Ordering::Relaxed),
            self.last_publish_ns.load(Ordering::Relaxed),
            self.last_delivery_ns.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_counts_deliveries_owed_to_every_subscriber() {
        let flow = PubSubFlow::new(1, 3, false, 100);
        flow.add_published(50, 10);
        flow.add_delivered(0, 50, 20);
        flow.add_delivered(1, 20, 20);
        flow.add_delivered(2, 40, 20);
        assert_eq!(flow.backlog(), 150 - 110);
        flow.add_refused(10);
        assert_eq!(flow.backlog(), 120 - 110, "refused messages are never delivered");
    }

    #[test]
    fn shared_backlog_counts_the_group() {
        let flow = PubSubFlow::new(1, 2, true, 100);
        flow.add_published(50, 10);
        flow.add_delivered(0, 20, 20);
        flow.add_delivered(1, 20, 20);
        assert_eq!(flow.backlog(), 10);
    }

    #[test]
    fn subscribers_stop_once_all_publishers_are_done_and_everything_arrived() {
        let flow = PubSubFlow::new(2, 2, false, 100);
        flow.add_published(10, 5);
        flow.add_delivered(0, 10, 30);
        assert!(!flow.subscriber_satisfied(0), "a publisher is still running");
        flow.publisher_finished(4, 7);
        assert_eq!(flow.expected(), None);
        flow.publisher_finished(6, 9);
        assert_eq!(flow.expected(), Some(10));
        assert!(flow.subscriber_satisfied(0));
        assert!(!flow.subscriber_satisfied(1));
        assert_eq!(flow.span_ns(), (5, 9, 30));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn gate_opens_on_delivery() {
        let flow = std::sync::Arc::new(PubSubFlow::new(1, 2, false, 20));
        flow.add_published(10, 0);
        let waiter = {
            let flow = flow.clone();
            tokio::spawn(async move { flow.wait_for_room(5).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "20 owed, 10 more would make 30");
        flow.add_delivered(0, 10, 1);
        waiter.await.unwrap();
        assert_eq!(flow.backlog(), 10);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn gate_writes_off_a_backlog_that_never_arrives() {
        let flow = PubSubFlow::new(1, 1, false, 10);
        flow.add_published(10, 0);
        let started = tokio::time::Instant::now();
        flow.wait_for_room(5).await;
        assert!(started.elapsed() >= GATE_WRITE_OFF_AFTER);
        assert_eq!(flow.backlog(), 0);
    }
}
