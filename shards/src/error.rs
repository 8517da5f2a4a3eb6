//! Errors of the daemon, one enum per concern.

use std::path::PathBuf;

/// A configuration that cannot be used. Display names the key, the value and what was
/// expected, because that is what an operator needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("config key `{key}`: value {value} is invalid; expected {expected}")]
    Value {
        key: String,
        value: String,
        expected: String,
    },
}

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen for {protocol} on {addr}: {source}")]
    Bind {
        protocol: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start shard {shard}: {source}")]
    ShardStart {
        shard: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the sidecar runtime: {0}")]
    Sidecar(#[source] std::io::Error),
    #[error(transparent)]
    Data(#[from] JournalError),
    #[error("wallet: {0}")]
    Wallet(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A shard's log could not be opened or replayed. Display names the file and the offset, so
/// an operator can look at (or move aside) exactly what is damaged.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log {path}: damaged record at offset {offset} (not at the end of the log, so not a torn write)")]
    Corrupt { path: PathBuf, offset: u64 },
    #[error("log {path}: record at offset {offset} does not replay: {reason}")]
    Replay { path: PathBuf, offset: u64, reason: String },
    #[error("{path} holds data of {found} shards but the server runs {configured}; start it with --shards {found} (moving SKUs between shards is not supported yet)")]
    ShardCount {
        path: PathBuf,
        found: usize,
        configured: usize,
    },
    #[error("{path} is locked by another shardhub process")]
    Locked { path: PathBuf },
}
