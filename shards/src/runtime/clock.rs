//! The shard's clock. The pure crates take time as an argument; this is where it comes from.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the clock key expiry, orders and sessions run on.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
