//! The small context every service of a shard gets: which shard this is, the process-wide
//! state (slot table, lifecycle), this shard's copy of the running config, its clock, its
//! metrics registry, the mesh's counters and the sidecar. What a service needs of the
//! runtime, and nothing of another service.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shardhub_core::{ShardId, SlotTable};

use super::mesh::MeshStats;
use super::shared::Shared;
use super::sidecar::SidecarHandle;
use crate::config::Config;
use crate::metrics::{Collect, Families, Registry};

/// The mesh's counters, whatever it carries.
pub trait MeshCounters {
    fn stats(&self) -> MeshStats;
}

impl<W: super::mesh::Wire> MeshCounters for super::mesh::Mesh<W> {
    fn stats(&self) -> MeshStats {
        super::mesh::Mesh::stats(self)
    }
}

/// Client connections of one shard, all protocols together.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionCounts {
    pub current: u64,
    pub total: u64,
    pub rejected: u64,
}

pub struct ShardCtx {
    pub id: ShardId,
    pub shared: Arc<Shared>,
    /// The I/O driver the shard's runtime got, for the log and INFO.
    pub driver: &'static str,
    pub sidecar: SidecarHandle,
    /// Every service's metrics, collected on scrape.
    pub metrics: Registry,
    mesh: Rc<dyn MeshCounters>,
    /// This shard's copy of the running config: read without touching what other threads
    /// share, replaced when a reload bumps the generation.
    config: RefCell<Rc<Config>>,
    generation: Cell<u64>,
    connections: Cell<ConnectionCounts>,
}

impl ShardCtx {
    pub fn new(
        id: ShardId,
        shared: Arc<Shared>,
        driver: &'static str,
        sidecar: SidecarHandle,
        mesh: Rc<dyn MeshCounters>,
    ) -> Self {
        let generation = shared.config_generation.load(Ordering::Acquire);
        let config = Rc::new((*shared.config.load_full()).clone());
        Self {
            id,
            shared,
            driver,
            sidecar,
            metrics: Registry::default(),
            mesh,
            config: RefCell::new(config),
            generation: Cell::new(generation),
            connections: Cell::new(ConnectionCounts::default()),
        }
    }

    /// The running config as this shard last took it (a reload replaces it; what was taken
    /// stays valid).
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    /// A reloaded config, if the generation moved since the last call.
    pub fn take_reload(&self) -> Option<Rc<Config>> {
        let generation = self.shared.config_generation.load(Ordering::Acquire);
        if generation == self.generation.get() {
            return None;
        }
        self.generation.set(generation);
        let config = Rc::new((*self.shared.config.load_full()).clone());
        *self.config.borrow_mut() = config.clone();
        Some(config)
    }

    pub fn slots(&self) -> &SlotTable {
        &self.shared.slots
    }

    /// The shard owning `key`'s slot.
    pub fn owner_of_key(&self, key: &[u8]) -> ShardId {
        self.shared.slots.owner_of_key(key)
    }

    pub fn shard_count(&self) -> usize {
        self.shared.shard_count
    }

    pub fn mesh_stats(&self) -> MeshStats {
        self.mesh.stats()
    }

    pub fn connections(&self) -> ConnectionCounts {
        self.connections.get()
    }

    /// Whether one more connection fits under the per-shard limit; counts a refusal.
    pub fn admits_connection(&self) -> bool {
        let mut c = self.connections.get();
        let fits = (c.current as usize) < self.config().limits.connections_per_shard_max;
        if !fits {
            c.rejected += 1;
            self.connections.set(c);
        }
        fits
    }

    pub fn connection_opened(&self) {
        let mut c = self.connections.get();
        c.current += 1;
        c.total += 1;
        self.connections.set(c);
        self.shared.open_connections[usize::from(self.id)].fetch_add(1, Ordering::AcqRel);
    }

    pub fn connection_closed(&self) {
        let mut c = self.connections.get();
        debug_assert!(c.current > 0, "a close matches an open");
        c.current -= 1;
        self.connections.set(c);
        self.shared.open_connections[usize::from(self.id)].fetch_sub(1, Ordering::AcqRel);
    }

    /// A log of this shard failed: the server stops saying it is ready.
    pub fn report_log_failure(&self) {
        self.shared.log_failed.store(true, Ordering::Release);
    }

    /// Marks a request served during a drain, so the main thread knows the shard is busy.
    pub fn note_drain_activity(&self) {
        if self.shared.lifecycle.is_draining() {
            self.shared.drain_activity_ms[usize::from(self.id)].store(self.shared.uptime_ms(), Ordering::Release);
        }
    }
}

impl Collect for ShardCtx {
    fn collect(&self, out: &mut Families) {
        let c = self.connections.get();
        out.gauge("shardhub_connections", "Open client connections.", c.current);
        out.counter(
            "shardhub_connections_accepted_total",
            "Client connections accepted.",
            c.total,
        );
        out.counter(
            "shardhub_connections_rejected_total",
            "Connections refused at the per-shard limit.",
            c.rejected,
        );
        let mesh = self.mesh.stats();
        out.counter(
            "shardhub_mesh_requests_sent_total",
            "Requests sent to other shards.",
            mesh.requests_sent,
        );
        out.counter(
            "shardhub_mesh_notices_sent_total",
            "One-way messages (hints, forwarded publishes) sent to other shards.",
            mesh.notices_sent,
        );
        out.counter(
            "shardhub_mesh_requests_received_total",
            "Requests and one-way messages received from other shards.",
            mesh.requests_received,
        );
        out.counter(
            "shardhub_mesh_busy_total",
            "Mesh sends refused because a ring or the pending table was full.",
            mesh.busy,
        );
    }
}
