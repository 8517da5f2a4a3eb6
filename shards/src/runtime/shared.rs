//! State every thread can see: the running config, the lifecycle, the slot table, and the
//! few counters the main thread needs to decide when a drain is over. Written rarely.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use shardhub_core::SlotTable;

use super::lifecycle::Lifecycle;
use super::mesh::Doorbell;
use crate::config::Config;

pub struct Shared {
    pub config: ArcSwap<Config>,
    /// Bumped on each reload; shards pick up hot keys when they see it change.
    pub config_generation: AtomicU64,
    pub lifecycle: Lifecycle,
    pub slots: SlotTable,
    pub shard_count: usize,
    pub doorbells: Arc<[Doorbell]>,
    pub started: Instant,
    pub run_id: String,
    pub next_client_id: AtomicU64,
    pub ports: Ports,
    /// Per shard: open connections, for the drain.
    pub open_connections: Vec<AtomicU64>,
    /// Per shard: when it last served a request during a drain (ms since start).
    pub drain_activity_ms: Vec<AtomicU64>,
    /// A shard's log failed (a full or broken disk): writes are refused until a restart, and
    /// `/readyz` says so.
    pub log_failed: AtomicBool,
}

/// The ports really bound (they differ from the config when it asked for port 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ports {
    pub resp: u16,
    pub http: u16,
}

impl Shared {
    pub fn new(config: Config, shard_count: usize, doorbells: Arc<[Doorbell]>, ports: Ports) -> Self {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Self {
            config: ArcSwap::from_pointee(config),
            config_generation: AtomicU64::new(0),
            lifecycle: Lifecycle::default(),
            slots: SlotTable::even(shard_count as u16),
            shard_count,
            doorbells,
            started: Instant::now(),
            run_id: format!("{:040x}", seed ^ (u128::from(std::process::id()) << 64)),
            next_client_id: AtomicU64::new(1),
            ports,
            open_connections: (0..shard_count).map(|_| AtomicU64::new(0)).collect(),
            drain_activity_ms: (0..shard_count).map(|_| AtomicU64::new(0)).collect(),
            log_failed: AtomicBool::new(false),
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn replace_config(&self, config: Config) {
        self.config.store(Arc::new(config));
        self.config_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Wakes every shard so it notices a lifecycle or config change at once.
    pub fn ring_all(&self) {
        self.doorbells.iter().for_each(Doorbell::ring);
    }
}
