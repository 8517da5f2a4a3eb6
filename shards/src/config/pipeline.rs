//! The `[pipeline]` section: the relay that publishes each shard's flash-sale log to Kafka
//! (docs/pipeline.md). Off while `brokers` is empty.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Kafka bootstrap servers, `host:port[,host:port...]`; empty: no relay.
    pub brokers: String,
    /// The topic every committed flash-sale change goes to, keyed by order id (SKU for stock
    /// events).
    pub orders_topic: String,
    /// Acknowledged log bytes Kafka has not yet acknowledged, per shard, past which new BUYs
    /// answer `-BUSY`: the backlog is the log itself, and this keeps it from filling the disk.
    pub unpublished_bytes_max: u64,
    /// How long the producer waits to fill a batch.
    pub linger_ms: u64,
    /// Events handed to the producer and not yet acknowledged, per relay: the bound on its
    /// memory.
    pub in_flight_events_max: usize,
    /// How often the relay's position is made durable (a crash re-sends at most this much).
    pub position_sync_ms: u64,
    /// How long the producer retries one event before the relay starts over from its
    /// position (it then retries forever, after `retry_backoff_ms`).
    pub message_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    /// The payment saga's input: `{payment_id, order_id, status, amount}` per record.
    pub payments_topic: String,
    /// The consumer group whose committed offsets say where the payments consumer stands.
    pub payments_group: String,
    /// Where payment records that cannot be applied go, with the reason.
    pub dead_letter_topic: String,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            orders_topic: "seckill.orders".into(),
            unpublished_bytes_max: 1 << 30,
            linger_ms: 5,
            in_flight_events_max: 100_000,
            position_sync_ms: 100,
            message_timeout_ms: 30_000,
            retry_backoff_ms: 1_000,
            payments_topic: "seckill.payments".into(),
            payments_group: "shardhub-payments".into(),
            dead_letter_topic: "seckill.payments.dead".into(),
        }
    }
}

impl PipelineConfig {
    pub fn enabled(&self) -> bool {
        !self.brokers.is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, expected: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                value,
                expected: expected.into(),
            })
        };
        // Kafka's own rule for topic names.
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        for (key, topic) in [
            ("pipeline.orders_topic", &self.orders_topic),
            ("pipeline.payments_topic", &self.payments_topic),
            ("pipeline.dead_letter_topic", &self.dead_letter_topic),
        ] {
            if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) || topic == "." || topic == ".." {
                return bad(
                    key,
                    format!("{topic:?}"),
                    "a Kafka topic name: 1 to 249 of [a-zA-Z0-9._-]",
                );
            }
        }
        if self.payments_group.is_empty() {
            return bad("pipeline.payments_group", "\"\"".into(), "a consumer group id");
        }
        if self.in_flight_events_max == 0 || self.in_flight_events_max > 10_000_000 {
            return bad(
                "pipeline.in_flight_events_max",
                self.in_flight_events_max.to_string(),
                "1 to 10000000",
            );
        }
        if self.linger_ms > 60_000 {
            return bad("pipeline.linger_ms", self.linger_ms.to_string(), "0 to 60000");
        }
        if self.position_sync_ms == 0 || self.message_timeout_ms == 0 {
            return bad(
                "pipeline.position_sync_ms / message_timeout_ms",
                "0".into(),
                "at least 1",
            );
        }
        Ok(())
    }
}
