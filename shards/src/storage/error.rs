//! Errors of the storage layer.

use std::path::PathBuf;

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
