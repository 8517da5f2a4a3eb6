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

/// The listeners a shard accepts on, each with a connection cap of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Resp = 0,
    Mqtt = 1,
    Http = 2,
}

impl Listener {
    pub const ALL: [Listener; 3] = [Listener::Resp, Listener::Mqtt, Listener::Http];

    pub fn name(self) -> &'static str {
        match self {
            Listener::Resp => "resp",
            Listener::Mqtt => "mqtt",
            Listener::Http => "http",
        }
    }
}

/// MQTT connections a shard keeps beyond `mqtt.connections_per_shard_max` to answer their
/// CONNECT with 0x97 (quota exceeded), so a client learns why instead of seeing a bare close;
/// past them a connection is closed at once. Each lasts at most `mqtt.connect_timeout_ms`.
const MQTT_REFUSAL_CONNECTIONS_MAX: usize = 64;

/// What an accepted connection may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Serve,
    /// Over the listener's cap, within the room it keeps beyond it: only what that room is
    /// for (HTTP: one `/healthz` or `/readyz`; MQTT: a CONNACK that says the server is full).
    Limited,
    /// Over the caps: refuse in the protocol's terms and close.
    Refuse,
}

/// Client connections of one shard.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionCounts {
    /// Open now, all listeners together.
    pub current: u64,
    pub total: u64,
    pub rejected: u64,
    /// Open now, per [`Listener`], [`Admission::Limited`] ones included.
    pub per_listener: [u64; 3],
    /// Open now in each listener's room beyond its cap ([`Admission::Limited`]).
    pub limited: [u64; 3],
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

    /// Whether one more connection of `listener` fits: under its listener's cap and the
    /// shard's, or else within the room the listener keeps beyond them (HTTP: health checks;
    /// MQTT: answering CONNECT with 0x97). Counts a refusal. A connection it lets in is
    /// counted open until [`ShardCtx::connection_closed`] with the same admission.
    pub fn admit(&self, listener: Listener) -> Admission {
        let config = self.config();
        let (listener_max, room) = match listener {
            Listener::Resp => (config.resp.connections_per_shard_max, 0),
            Listener::Mqtt => (config.mqtt.connections_per_shard_max, MQTT_REFUSAL_CONNECTIONS_MAX),
            Listener::Http => (
                config.http.connections_per_shard_max,
                config.http.health_connections_per_shard_max,
            ),
        };
        let mut c = self.connections.get();
        let i = listener as usize;
        let served = (c.per_listener[i] - c.limited[i]) as usize;
        let admission = if served < listener_max && (c.current as usize) < config.limits.connections_per_shard_max {
            Admission::Serve
        } else if (c.limited[i] as usize) < room {
            Admission::Limited
        } else {
            Admission::Refuse
        };
        match admission {
            Admission::Refuse => c.rejected += 1,
            Admission::Serve | Admission::Limited => {
                c.current += 1;
                c.total += 1;
                c.per_listener[i] += 1;
                c.limited[i] += u64::from(admission == Admission::Limited);
                self.shared.open_connections[usize::from(self.id)].fetch_add(1, Ordering::AcqRel);
            }
        }
        debug_assert!(c.limited[i] as usize <= room && c.limited[i] <= c.per_listener[i]);
        self.connections.set(c);
        admission
    }

    /// A connection [`ShardCtx::admit`] let in (as `admission`) has closed.
    pub fn connection_closed(&self, listener: Listener, admission: Admission) {
        let mut c = self.connections.get();
        let i = listener as usize;
        let limited = u64::from(admission == Admission::Limited);
        debug_assert!(
            admission != Admission::Refuse && c.current > 0 && c.per_listener[i] > 0 && c.limited[i] >= limited,
            "a close matches an open"
        );
        c.current -= 1;
        c.per_listener[i] -= 1;
        c.limited[i] -= limited;
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
            "Connections refused at the per-shard or per-listener limit.",
            c.rejected,
        );
        let by_listener = out.push(
            "shardhub_listener_connections",
            crate::metrics::Kind::Gauge,
            "Open client connections per listener.",
            crate::metrics::Scope::PerShard,
        );
        for listener in Listener::ALL {
            by_listener.push(crate::metrics::Sample::int(
                vec![("listener", listener.name().into())],
                c.per_listener[listener as usize],
            ));
        }
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
