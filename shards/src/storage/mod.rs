//! Storage: a shard's append-only logs and the data directory they live in.
//!
//! - [`journal`]: framed records in segments, group commit, snapshots, replay.
//! - [`durable_log`]: a journal with acknowledgement waits and its flusher loop, for the
//!   logs whose writers await "durable" (the broker's, the wallet's).
//! - [`outbox_mark`]: what a flash-sale log shares with the relay that publishes it.
//! - [`log_tail`]: reads a log forward from a position, on the relay's thread.
//! - [`data_dir`]: one process per data directory, and the shard count it was written with.
//! - [`error`]: the storage errors ([`JournalError`]).

pub mod data_dir;
pub mod durable_log;
pub mod error;
pub mod journal;
pub mod log_tail;
pub mod outbox_mark;

pub use durable_log::DurableLog;
pub use error::JournalError;
pub use journal::{Journal, Recovery, TornTail};
pub use log_tail::{LogTail, LogTailError};
pub use outbox_mark::{LogPosition, OutboxMark};
