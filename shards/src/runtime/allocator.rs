//! The server's allocator and what it reports. `shardhub serve` runs on jemalloc (set in
//! main.rs): with glibc's malloc the order chunks a shard frees while archiving left the heap
//! fragmented, and RSS crept up by millions of orders where jemalloc's stayed level
//! (docs/operations.md, "Memory"). Its counters are process-wide.

use tikv_jemalloc_ctl::{epoch, stats};

/// Bytes as jemalloc counts them, refreshed on each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Bytes the program holds.
    pub allocated: u64,
    /// Bytes in pages that hold at least one allocation.
    pub active: u64,
    /// Bytes of physical memory the allocator maps (its share of RSS).
    pub resident: u64,
    /// Bytes unmapped-but-reserved address space kept for reuse (not in RSS).
    pub retained: u64,
}

/// The allocator's counters, or `None` where jemalloc does not report them (a build that does
/// not run on it, such as unit tests, still reads zeros, never an error).
pub fn stats() -> Option<AllocatorStats> {
    // jemalloc caches its statistics; advancing the epoch refreshes them.
    epoch::advance().ok()?;
    Some(AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}
