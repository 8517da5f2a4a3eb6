//! The payment saga's consumer: one thread that reads the payments topic and applies each
//! event to its order's owner (ORDER.PAYMENT through [`OwnerLink`]): a success pays, a failure
//! cancels and releases the units, a success that comes too late logs a refund, an unknown
//! order logs an unmatched payment. The owners' logs hold the results, and the relay
//! publishes them like every other change.
//!
//! Offsets are committed only after every event of a batch has its result in an owner's log
//! (or its dead letter or unmatched event acknowledged by Kafka), so a crash replays events,
//! which change nothing the second time (the owner remembers payment ids). A record that is
//! not a payment event goes to the dead-letter topic with the reason and never stops the
//! consumer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::owner_link::{is_transient, OwnerLink, PaymentCommand};
use super::payment_event::{parse, PaymentEvent};
use super::producer::{self, Delivery, Producer};
use crate::config::PipelineConfig;
use crate::runtime::unix_ms;

/// Records applied together: one pipelined round trip to the owners, one offset commit.
const BATCH_MAX: usize = 512;
/// How long a batch waits for more records once it has one.
const BATCH_WAIT: Duration = Duration::from_millis(5);
/// The wait between tries when the owners or Kafka cannot take a batch.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a refused record's payload the dead letter quotes.
const QUOTED_BYTES_MAX: usize = 1024;

/// Process-wide counters, in `/metrics` with the flash-sale families.
#[derive(Default)]
pub struct PaymentStats {
    pub consumed_total: AtomicU64,
    pub dead_lettered_total: AtomicU64,
    pub unmatched_total: AtomicU64,
    pub retries_total: AtomicU64,
}

pub static STATS: PaymentStats = PaymentStats {
    consumed_total: AtomicU64::new(0),
    dead_lettered_total: AtomicU64::new(0),
    unmatched_total: AtomicU64::new(0),
    retries_total: AtomicU64::new(0),
};

/// One record read from the payments topic.
struct Consumed {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// A record Kafka is to take before the batch's offsets are committed.
struct Outgoing {
    topic: String,
    key: Vec<u8>,
    value: Vec<u8>,
}

pub struct PaymentsConsumer {
    config: PipelineConfig,
    consumer: BaseConsumer,
    producer: Producer,
    link: OwnerLink,
    reports: Vec<Delivery>,
}

impl PaymentsConsumer {
    pub fn new(config: PipelineConfig, resp: SocketAddr) -> Result<PaymentsConsumer, KafkaError> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.payments_group)
            .set("client.id", "shardhub-payments")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("socket.nagle.disable", "true")
            .create()?;
        Ok(PaymentsConsumer {
            producer: producer::create(&config)?,
            consumer,
            link: OwnerLink::new(resp),
            reports: Vec::new(),
            config,
        })
    }

    pub fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) && !self.assign() {
            std::thread::sleep(RETRY_PAUSE * 5);
        }
        let mut batch = Vec::new();
        while !stop.load(Ordering::Acquire) {
            self.fill(&mut batch);
            if batch.is_empty() {
                continue;
            }
            // Retried until it goes through: a later record must not be committed past it.
            while let Err(reason) = self.apply(&batch) {
                STATS.retries_total.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%reason, "payments batch not applied; retrying");
                if stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(RETRY_PAUSE);
            }
            while let Err(e) = self.commit(&batch) {
                tracing::warn!(error = %e, "payments offsets not committed; retrying");
                if stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(RETRY_PAUSE);
            }
            STATS.consumed_total.fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
    }

    /// Takes every partition of the payments topic, from the group's committed offsets (the
    /// start where none). False while the topic cannot be read.
    fn assign(&mut self) -> bool {
        let topic = self.config.payments_topic.as_str();
        let partitions = match self.consumer.fetch_metadata(Some(topic), KAFKA_TIMEOUT) {
            Ok(m) => m.topics().first().map_or(0, |t| t.partitions().len()),
            Err(e) => {
                tracing::warn!(topic, error = %e, "payments topic metadata unavailable");
                return false;
            }
        };
        if partitions == 0 {
            tracing::warn!(topic, "payments topic has no partitions yet");
            return false;
        }
        let mut wanted = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            wanted.add_partition(topic, p);
        }
        let committed = match self.consumer.committed_offsets(wanted, KAFKA_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(topic, error = %e, "payments offsets unavailable");
                return false;
            }
        };
        let mut assignment = TopicPartitionList::new();
        for e in committed.elements() {
            let from = match e.offset() {
                Offset::Offset(n) => Offset::Offset(n),
                _ => Offset::Beginning,
            };
            let _ = assignment.add_partition_offset(topic, e.partition(), from);
        }
        match self.consumer.assign(&assignment) {
            Ok(()) => {
                tracing::info!(topic, partitions, "payments consumer assigned");
                true
            }
            Err(e) => {
                tracing::warn!(topic, error = %e, "payments assignment refused");
                false
            }
        }
    }

    /// Reads up to a batch: waits for a first record, then takes what follows within
    /// `BATCH_WAIT`.
    fn fill(&mut self, batch: &mut Vec<Consumed>) {
        let mut started = Instant::now();
        while batch.len() < BATCH_MAX {
            let wait = if batch.is_empty() {
                Duration::from_millis(100)
            } else {
                BATCH_WAIT.saturating_sub(started.elapsed())
            };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    if batch.is_empty() {
                        started = Instant::now();
                    }
                    batch.push(Consumed {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().unwrap_or_default().to_vec(),
                    })
                }
                Some(Err(e)) => tracing::warn!(error = %e, "payments consumer"),
                None => return,
            }
            if !batch.is_empty() && started.elapsed() >= BATCH_WAIT {
                return;
            }
        }
    }

    /// Applies a batch: the payments to their owners, pipelined; the rest (and any refused by
    /// an owner) to Kafka. Err: nothing may be committed yet.
    fn apply(&mut self, batch: &[Consumed]) -> Result<(), String> {
        let events: Vec<Result<PaymentEvent, String>> = batch.iter().map(|c| parse(&c.payload)).collect();
        let commands: Vec<PaymentCommand> = events
            .iter()
            .filter_map(|e| match e {
                Ok(PaymentEvent::Apply {
                    order,
                    payment_id,
                    succeeded,
                    amount,
                }) => Some(PaymentCommand {
                    order: order.to_string(),
                    payment_id,
                    succeeded: *succeeded,
                    amount: *amount,
                }),
                _ => None,
            })
            .collect();
        let replies = if commands.is_empty() {
            Vec::new()
        } else {
            self.link
                .send(&commands)
                .map_err(|e| format!("owners unreachable: {e}"))?
        };
        if let Some(busy) = replies.iter().find(|r| is_transient(r)) {
            return Err(format!("owner answered {busy}"));
        }
        let mut replies = replies.into_iter();
        let mut outgoing = Vec::new();
        for (record, event) in batch.iter().zip(&events) {
            match event {
                Ok(PaymentEvent::Apply { .. }) => {
                    let reply = replies.next().expect("one reply per command");
                    if let Some(error) = reply.strip_prefix('-') {
                        outgoing.push(self.dead_letter(record, &format!("refused by the owner: {error}")));
                    }
                }
                Ok(PaymentEvent::Unmatched {
                    order_id,
                    payment_id,
                    succeeded,
                    amount,
                }) => outgoing.push(self.unmatched(record, order_id, payment_id, *succeeded, *amount)),
                Err(reason) => outgoing.push(self.dead_letter(record, reason)),
            }
        }
        self.publish(&outgoing)?;
        for o in &outgoing {
            let counter = if o.topic == self.config.dead_letter_topic {
                &STATS.dead_lettered_total
            } else {
                &STATS.unmatched_total
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The dead letter of a refused record: why, where it was, and what it held (quoted up to
    /// a bound, as text where it is UTF-8).
    fn dead_letter(&self, record: &Consumed, reason: &str) -> Outgoing {
        let quoted = &record.payload[..record.payload.len().min(QUOTED_BYTES_MAX)];
        let value = serde_json::json!({
            "reason": reason,
            "topic": self.config.payments_topic,
            "partition": record.partition,
            "offset": record.offset,
            "payload_bytes": record.payload.len(),
            "payload": String::from_utf8_lossy(quoted),
        });
        Outgoing {
            topic: self.config.dead_letter_topic.clone(),
            key: record.key.clone().unwrap_or_default(),
            value: value.to_string().into_bytes(),
        }
    }

    /// A payment whose order id no shard could have handed out, published as the relay
    /// publishes an owner's `payment_unmatched`, its event id taken from where the payment
    /// sits in its topic.
    fn unmatched(&self, record: &Consumed, order_id: &str, payment_id: &str, succeeded: bool, amount: u64) -> Outgoing {
        let value = serde_json::json!({
            "v": shardhub_core::seckill::OUTBOX_SCHEMA_VERSION,
            "event_id": format!("payments-{}-{}", record.partition, record.offset),
            "type": "payment_unmatched",
            "order_id": order_id,
            "payment_id": payment_id,
            "amount": amount,
            "status": if succeeded { "succeeded" } else { "failed" },
            "at_ms": unix_ms(),
        });
        Outgoing {
            topic: self.config.orders_topic.clone(),
            key: order_id.as_bytes().to_vec(),
            value: value.to_string().into_bytes(),
        }
    }

    /// Sends and waits until Kafka acknowledged every record.
    fn publish(&mut self, outgoing: &[Outgoing]) -> Result<(), String> {
        if outgoing.is_empty() {
            return Ok(());
        }
        for (i, o) in outgoing.iter().enumerate() {
            let record = BaseRecord::with_opaque_to(&o.topic, i).key(&o.key).payload(&o.value);
            self.producer
                .send(record)
                .map_err(|(e, _)| format!("producer refused: {e}"))?;
        }
        // Delivery reports arrive through poll.
        let deadline = Instant::now() + KAFKA_TIMEOUT;
        while self.reports.len() < outgoing.len() && Instant::now() < deadline {
            self.producer.poll(Duration::from_millis(5));
            self.producer.context().take(&mut self.reports);
        }
        let failed = self
            .reports
            .iter()
            .find_map(|(_, r)| r.as_ref().err().map(|e| e.to_string()));
        let delivered = self.reports.len();
        self.reports.clear();
        match failed {
            Some(e) => Err(format!("kafka refused a record: {e}")),
            None if delivered < outgoing.len() => Err("kafka did not report every record".into()),
            None => Ok(()),
        }
    }

    /// Commits, per partition, the offset after the batch's last record there.
    fn commit(&self, batch: &[Consumed]) -> Result<(), KafkaError> {
        let mut next: std::collections::BTreeMap<i32, i64> = Default::default();
        for c in batch {
            let e = next.entry(c.partition).or_insert(0);
            *e = (*e).max(c.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            offsets.add_partition_offset(&self.config.payments_topic, partition, Offset::Offset(offset))?;
        }
        self.consumer.commit(&offsets, CommitMode::Sync)
    }
}
