//! The Kafka producer the relay drives: librdkafka (through rdkafka) on the relay's own thread,
//! idempotent (acks=all, per-partition order kept through retries), keyed records partitioned
//! by murmur2 as the Java client's default partitioner does, Nagle off, batches that wait at
//! most `linger_ms`, and a bounded queue.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

use crate::config::PipelineConfig;

/// One delivery report: the opaque the record was sent with, and whether Kafka took it.
pub type Delivery = (usize, Result<(), KafkaError>);

/// Collects delivery reports; `poll` calls it on the relay's thread.
#[derive(Default)]
pub struct Deliveries {
    reports: Mutex<Vec<Delivery>>,
}

impl Deliveries {
    pub fn take(&self, into: &mut Vec<Delivery>) {
        into.append(&mut self.reports.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, "kafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility = fac, "kafka: {message}"),
            _ => tracing::debug!(facility = fac, "kafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, "kafka: {reason}");
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        };
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((opaque, outcome));
    }
}

pub type Producer = BaseProducer<Deliveries>;

pub fn create(config: &PipelineConfig) -> Result<Producer, KafkaError> {
    let in_flight = config.in_flight_events_max.to_string();
    let timeout = Duration::from_millis(config.message_timeout_ms).as_millis().to_string();
    ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "shardhub-relay")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Java's default partitioner for keyed records, so every client agrees on where an
        // order's events are (librdkafka's own default is CRC32).
        .set("partitioner", "murmur2_random")
        .set("socket.nagle.disable", "true")
        .set("linger.ms", config.linger_ms.to_string())
        .set("queue.buffering.max.messages", &in_flight)
        .set("message.timeout.ms", &timeout)
        .create_with_context(Deliveries::default())
}
