//! Flash-sale metrics of one shard: outcome counters per SKU (bounded: later SKUs share the
//! `_other` label), the owner's reserve latency, and its log's fsync latency and group size.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::metrics::family::LATENCY_US_MAX;
use crate::metrics::{histogram, Families, Kind, Sample, Scope, Unit, Value};
use crate::storage::OutboxMark;

/// Records per log write saturate here.
const BATCH_RECORDS_MAX: u64 = 1_000_000;
/// The label of SKUs beyond `metrics_skus_max`.
const OTHER_SKU: &str = "_other";

/// What happened to BUYs and orders of one SKU, as counted on one shard.
#[derive(Clone, Copy, Default, Debug)]
pub struct SkuCounters {
    pub accepted: u64,
    pub soldout: u64,
    pub limit: u64,
    pub busy: u64,
    pub paid: u64,
    pub cancelled: u64,
    pub expired: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum SkuEvent {
    Accepted,
    SoldOut,
    Limit,
    Busy,
    Paid,
    Cancelled,
    Expired,
}

#[derive(Clone)]
pub struct SeckillMetrics {
    per_sku: HashMap<Bytes, SkuCounters, ahash::RandomState>,
    other: SkuCounters,
    pub reserve_latency_us: Histogram<u64>,
    pub fsync_latency_us: Histogram<u64>,
    pub batch_records: Histogram<u64>,
}

impl Default for SeckillMetrics {
    fn default() -> Self {
        Self {
            per_sku: HashMap::default(),
            other: SkuCounters::default(),
            reserve_latency_us: histogram(LATENCY_US_MAX),
            fsync_latency_us: histogram(LATENCY_US_MAX),
            batch_records: histogram(BATCH_RECORDS_MAX),
        }
    }
}

impl SeckillMetrics {
    /// Counts `event` for `sku`; a SKU beyond the first `skus_max` seen counts as `_other`.
    pub fn count(&mut self, sku: &Bytes, event: SkuEvent, skus_max: usize) {
        let counters = if let Some(c) = self.per_sku.get_mut(sku) {
            c
        } else if self.per_sku.len() < skus_max {
            // A compact copy: `sku` may be a slice of a connection's read buffer.
            self.per_sku.entry(Bytes::copy_from_slice(sku)).or_default()
        } else {
            &mut self.other
        };
        let field = match event {
            SkuEvent::Accepted => &mut counters.accepted,
            SkuEvent::SoldOut => &mut counters.soldout,
            SkuEvent::Limit => &mut counters.limit,
            SkuEvent::Busy => &mut counters.busy,
            SkuEvent::Paid => &mut counters.paid,
            SkuEvent::Cancelled => &mut counters.cancelled,
            SkuEvent::Expired => &mut counters.expired,
        };
        *field += 1;
    }

    pub fn record_reserve(&mut self, elapsed: Duration) {
        self.reserve_latency_us
            .saturating_record((elapsed.as_micros() as u64).max(1));
    }

    pub fn record_fsync(&mut self, elapsed: Duration) {
        self.fsync_latency_us
            .saturating_record((elapsed.as_micros() as u64).max(1));
    }

    pub fn record_batch(&mut self, records: u64) {
        self.batch_records.saturating_record(records.max(1));
    }
}

impl SeckillMetrics {
    /// Writes the flash-sale families of this shard.
    pub fn collect(&self, out: &mut Families) {
        let buys = out.push(
            "shardhub_seckill_buys_total",
            Kind::Counter,
            "SECKILL.BUY outcomes per shard and SKU.",
            Scope::PerShard,
        );
        for (sku, c) in self.labelled() {
            for (result, n) in [
                ("accepted", c.accepted),
                ("soldout", c.soldout),
                ("limit", c.limit),
                ("busy", c.busy),
            ] {
                if n > 0 {
                    buys.push(Sample::int(vec![("sku", sku.clone()), ("result", result.into())], n));
                }
            }
        }
        let orders = out.push(
            "shardhub_seckill_orders_total",
            Kind::Counter,
            "Orders paid, cancelled and expired per shard and SKU.",
            Scope::PerShard,
        );
        for (sku, c) in self.labelled() {
            for (event, n) in [("paid", c.paid), ("cancelled", c.cancelled), ("expired", c.expired)] {
                if n > 0 {
                    orders.push(Sample::int(vec![("sku", sku.clone()), ("event", event.into())], n));
                }
            }
        }
        for (name, help, h) in [
            (
                "shardhub_seckill_reserve_latency_us",
                "SECKILL.BUY from arrival at the owner shard to its durable reply.",
                &self.reserve_latency_us,
            ),
            (
                "shardhub_seckill_log_fsync_latency_us",
                "fdatasync of the flash-sale log.",
                &self.fsync_latency_us,
            ),
            (
                "shardhub_seckill_log_batch_records",
                "Records per group write of the flash-sale log.",
                &self.batch_records,
            ),
        ] {
            out.push(name, Kind::Summary, help, Scope::PerShard).push(Sample {
                labels: Vec::new(),
                value: Value::Histogram(h.clone(), Unit::Raw),
            });
        }
    }

    /// Counters with their label value: the SKU name (lossy UTF-8), then `_other`.
    fn labelled(&self) -> impl Iterator<Item = (String, SkuCounters)> + '_ {
        self.per_sku
            .iter()
            .map(|(sku, c)| (String::from_utf8_lossy(sku).into_owned(), *c))
            .chain(std::iter::once((OTHER_SKU.to_string(), self.other)))
    }
}

/// Writes this shard's outbox relay families (the relay thread keeps them in the mark).
pub fn collect_relay(mark: &OutboxMark, out: &mut Families) {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &mark.stats;
    for (name, kind, help, value) in [
        (
            "shardhub_relay_published_total",
            Kind::Counter,
            "Flash-sale events Kafka acknowledged.",
            s.published_total.load(Relaxed),
        ),
        (
            "shardhub_relay_publish_errors_total",
            Kind::Counter,
            "Events Kafka refused or timed out, and relay positions not saved; each starts the shard over.",
            s.publish_errors_total.load(Relaxed),
        ),
        (
            "shardhub_relay_skipped_segments_total",
            Kind::Counter,
            "Log segments gone before the relay published them.",
            s.skipped_segments_total.load(Relaxed),
        ),
        (
            "shardhub_relay_unpublished_bytes",
            Kind::Gauge,
            "Committed log bytes Kafka has not acknowledged.",
            mark.unpublished_bytes(),
        ),
        (
            "shardhub_relay_in_flight_events",
            Kind::Gauge,
            "Events handed to the producer and not yet acknowledged.",
            s.in_flight_events.load(Relaxed),
        ),
        (
            "shardhub_relay_lag_events",
            Kind::Gauge,
            "Committed log records Kafka has not acknowledged, counting the backlog a restart found.",
            s.lag_events.load(Relaxed),
        ),
    ] {
        out.int(name, kind, help, value);
    }
    let p = &crate::pipeline::payments::STATS;
    for (name, help, value) in [
        (
            "shardhub_payments_consumed_total",
            "Records of the payments topic applied and committed.",
            p.consumed_total.load(Relaxed),
        ),
        (
            "shardhub_payments_dead_lettered_total",
            "Payment records sent to the dead-letter topic.",
            p.dead_lettered_total.load(Relaxed),
        ),
        (
            "shardhub_payments_unmatched_total",
            "Payments whose order id no shard hands out, published as payment_unmatched.",
            p.unmatched_total.load(Relaxed),
        ),
        (
            "shardhub_payments_retries_total",
            "Payment batches tried again (owners busy or unreachable, Kafka down).",
            p.retries_total.load(Relaxed),
        ),
    ] {
        out.push(name, Kind::Counter, help, Scope::Process)
            .push(Sample::int(Vec::new(), value));
    }
    out.gauge(
        "shardhub_relay_lag_ms",
        "Milliseconds since the relay last had everything committed published.",
        s.lag_ms.load(Relaxed),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::render;

    #[test]
    fn skus_beyond_the_bound_share_the_other_label() {
        let mut m = SeckillMetrics::default();
        m.count(&Bytes::from_static(b"a"), SkuEvent::Accepted, 1);
        m.count(&Bytes::from_static(b"b\"x"), SkuEvent::Accepted, 1);
        m.count(&Bytes::from_static(b"a"), SkuEvent::Paid, 1);
        let mut families = Families::default();
        m.collect(&mut families);
        let out = render(&[(0, families)], &Families::default());
        assert!(out.contains("shardhub_seckill_buys_total{shard=\"0\",sku=\"a\",result=\"accepted\"} 1"));
        assert!(out.contains("shardhub_seckill_buys_total{shard=\"0\",sku=\"_other\",result=\"accepted\"} 1"));
        assert!(out.contains("shardhub_seckill_orders_total{shard=\"0\",sku=\"a\",event=\"paid\"} 1"));
        assert!(
            !out.contains("b\\\"x"),
            "a SKU beyond the bound gets no label of its own"
        );
    }
}
