//! The order pipeline's side in the server: the relay that makes each shard's flash-sale log
//! an outbox to Kafka (docs/pipeline.md).
//!
//! - [`relay`]: the thread that follows every shard's log and publishes what it acknowledged.
//! - [`producer`]: the librdkafka producer it drives, and the delivery reports.
//! - [`cursor`]: the relay's durable position per shard.
//! - [`payments`]: the payment saga's consumer of the payments topic, which applies each
//!   event to its order's owner through [`owner_link`] (a RESP connection to this server);
//!   [`payment_event`] reads the topic's records.

pub mod cursor;
pub mod owner_link;
pub mod payment_event;
pub mod payments;
pub mod producer;
pub mod relay;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::PipelineConfig;
use crate::storage::OutboxMark;

/// The running relay and payments threads.
pub struct RelayHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error("relay thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the relay over the shards' logs in `dirs` (one per shard, in shard order), and the
/// payments consumer, which reaches the owners through the RESP listener at `resp`.
pub fn start(
    config: &PipelineConfig,
    marks: Arc<[OutboxMark]>,
    dirs: Vec<PathBuf>,
    resp: SocketAddr,
) -> Result<RelayHandle, PipelineError> {
    let relay = relay::Relay::new(config.clone(), marks, dirs)?;
    let payments = payments::PaymentsConsumer::new(config.clone(), resp)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let relay = std::thread::Builder::new()
        .name("shardhub-relay".into())
        .spawn(move || relay.run(&stopping))
        .map_err(PipelineError::Thread)?;
    let stopping = stop.clone();
    let payments = std::thread::Builder::new()
        .name("shardhub-payments".into())
        .spawn(move || payments.run(&stopping))
        .map_err(PipelineError::Thread)?;
    Ok(RelayHandle {
        stop,
        threads: vec![relay, payments],
    })
}

impl RelayHandle {
    /// Lets what is in flight land, saves the positions, and returns.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
