//! Flash-sale metrics of one shard: outcome counters per SKU (bounded: later SKUs share the
//! `_other` label), the owner's reserve latency, and its log's fsync latency and group size.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;

/// Microsecond histograms saturate here (a minute).
const LATENCY_US_MAX: u64 = 60_000_000;
/// Records per log write saturate here.
const BATCH_RECORDS_MAX: u64 = 1_000_000;
const SIGFIG: u8 = 2;
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
        let histogram = |max| Histogram::new_with_bounds(1, max, SIGFIG).expect("valid histogram bounds");
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

/// Appends the flash-sale series of every shard, in Prometheus text format.
pub fn render(shards: &[(u16, &SeckillMetrics)], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP shardhub_seckill_buys_total SECKILL.BUY outcomes per shard and SKU.\n# TYPE shardhub_seckill_buys_total counter"
    );
    for (shard, m) in shards {
        for (sku, c) in labelled(m) {
            for (result, n) in [
                ("accepted", c.accepted),
                ("soldout", c.soldout),
                ("limit", c.limit),
                ("busy", c.busy),
            ] {
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "shardhub_seckill_buys_total{{shard=\"{shard}\",sku=\"{sku}\",result=\"{result}\"}} {n}"
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP shardhub_seckill_orders_total Orders paid, cancelled and expired per shard and SKU.\n# TYPE shardhub_seckill_orders_total counter"
    );
    for (shard, m) in shards {
        for (sku, c) in labelled(m) {
            for (event, n) in [("paid", c.paid), ("cancelled", c.cancelled), ("expired", c.expired)] {
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "shardhub_seckill_orders_total{{shard=\"{shard}\",sku=\"{sku}\",event=\"{event}\"}} {n}"
                    );
                }
            }
        }
    }
    for (name, help, get) in [
        (
            "shardhub_seckill_reserve_latency_us",
            "SECKILL.BUY from arrival at the owner shard to its durable reply.",
            (|m: &SeckillMetrics| &m.reserve_latency_us) as fn(&SeckillMetrics) -> &Histogram<u64>,
        ),
        (
            "shardhub_seckill_log_fsync_latency_us",
            "fdatasync of the flash-sale log.",
            |m| &m.fsync_latency_us,
        ),
        (
            "shardhub_seckill_log_batch_records",
            "Records per group write of the flash-sale log.",
            |m| &m.batch_records,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
        for (shard, m) in shards {
            let h = get(m);
            if h.is_empty() {
                continue;
            }
            for q in [0.5, 0.9, 0.99, 0.999] {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{shard}\",quantile=\"{q}\"}} {}",
                    h.value_at_quantile(q)
                );
            }
            let _ = writeln!(out, "{name}_count{{shard=\"{shard}\"}} {}", h.len());
        }
    }
}

/// Counters with their label value: the SKU name escaped for Prometheus, then `_other`.
fn labelled(m: &SeckillMetrics) -> impl Iterator<Item = (String, SkuCounters)> + '_ {
    m.per_sku
        .iter()
        .map(|(sku, c)| (escape_label(sku), *c))
        .chain(std::iter::once((OTHER_SKU.to_string(), m.other)))
}

/// A label value as the exposition format wants it: UTF-8 with `\`, `"` and newlines escaped.
fn escape_label(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_beyond_the_bound_share_the_other_label() {
        let mut m = SeckillMetrics::default();
        m.count(&Bytes::from_static(b"a"), SkuEvent::Accepted, 1);
        m.count(&Bytes::from_static(b"b\"x"), SkuEvent::Accepted, 1);
        m.count(&Bytes::from_static(b"a"), SkuEvent::Paid, 1);
        let mut out = String::new();
        render(&[(0, &m)], &mut out);
        assert!(out.contains("shardhub_seckill_buys_total{shard=\"0\",sku=\"a\",result=\"accepted\"} 1"));
        assert!(out.contains("shardhub_seckill_buys_total{shard=\"0\",sku=\"_other\",result=\"accepted\"} 1"));
        assert!(out.contains("shardhub_seckill_orders_total{shard=\"0\",sku=\"a\",event=\"paid\"} 1"));
        assert!(
            !out.contains("b\\\"x"),
            "a SKU beyond the bound gets no label of its own"
        );
    }
}
