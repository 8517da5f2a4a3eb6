//! The order pipeline's side in the server: the relay that makes each shard's flash-sale log
//! an outbox to Kafka (docs/pipeline.md).
//!
//! - [`relay`]: the thread that follows every shard's log and publishes what it acknowledged.
//! - [`producer`]: the librdkafka producer it drives, and the delivery reports.
//! - [`cursor`]: the relay's durable position per shard.

pub mod cursor;
pub mod producer;
pub mod relay;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::PipelineConfig;
use crate::storage::OutboxMark;

/// The running relay thread.
pub struct RelayHandle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error("relay thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the relay over the shards' logs in `dirs` (one per shard, in shard order).
pub fn start(
    config: &PipelineConfig,
    marks: Arc<[OutboxMark]>,
    dirs: Vec<PathBuf>,
) -> Result<RelayHandle, PipelineError> {
    let relay = relay::Relay::new(config.clone(), marks, dirs)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("shardhub-relay".into())
        .spawn(move || relay.run(&stopping))
        .map_err(PipelineError::Thread)?;
    Ok(RelayHandle { stop, thread })
}

impl RelayHandle {
    /// Lets what is in flight land, saves the positions, and returns.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}
