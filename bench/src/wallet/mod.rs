//! `shardhub-bench wallet`: the light wallet's operations over plain HTTP, over the secure
//! channel, or in-process as the per-core ceiling.
//!
//! - `load` (the run), `op` (the operations and their inputs), `report`.
//! - `channel`: one connection, plain (`http`) or secure (`secure`); `client_wait`: how it
//!   waits for answers; `raw`: the in-process loop.

pub mod channel;
pub mod client_wait;
pub mod http;
pub mod load;
pub mod op;
pub mod raw;
pub mod report;
pub mod secure;
