//! Errors of the daemon's start-up, one enum per concern: what stopped the process from
//! serving, and what stopped one shard from starting. Each names the file, key or address
//! an operator has to look at.

use std::path::PathBuf;

use shardhub_core::ShardId;

use crate::config::ConfigError;
use crate::mqtt::MqttStartError;
use crate::runtime::listener::BindError;
use crate::storage::JournalError;
use crate::wallet::WalletStartError;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot start shard {shard}: {source}")]
    ShardStart {
        shard: ShardId,
        #[source]
        source: ShardStartError,
    },
    #[error("shards did not start within {secs} s")]
    ShardsTimedOut { secs: u64 },
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot start the sidecar runtime: {0}")]
    Sidecar(#[source] std::io::Error),
    #[error(transparent)]
    Data(#[from] JournalError),
    #[error("wallet: {0}")]
    Wallet(#[from] WalletStartError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("order pipeline: {0}")]
    Pipeline(#[source] crate::pipeline::PipelineError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why one shard could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShardStartError {
    #[error("cannot build its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot take over its listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("flash-sale log: {0}")]
    Seckill(#[source] JournalError),
    #[error("broker: {0}")]
    Mqtt(#[from] MqttStartError),
    #[error("wallet log: {0}")]
    Wallet(#[source] JournalError),
}
