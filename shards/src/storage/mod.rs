//! Storage: a shard's append-only logs and the data directory they live in.
//!
//! - [`journal`]: framed records in segments, group commit, snapshots, replay.
//! - [`durable_log`]: a journal with acknowledgement waits and its flusher loop, for the
//!   logs whose writers await "durable" (the broker's, the wallet's).
//! - [`data_dir`]: one process per data directory, and the shard count it was written with.
//! - [`error`]: the storage errors ([`JournalError`]).

pub mod data_dir;
pub mod durable_log;
pub mod error;
pub mod journal;

pub use durable_log::DurableLog;
pub use error::JournalError;
pub use journal::{Journal, Recovery, TornTail};
