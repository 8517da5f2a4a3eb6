//! The admin service: what an operator asks of the whole server — `/metrics` gathered from
//! every shard, `/healthz`, `/readyz` — and the mesh's own round trip (`MESH PING`).
//!
//! It knows no workload: each service reports its metrics through the shard's registry
//! ([`crate::metrics::Registry`]), and a scrape asks every shard's admin service for them.

use std::rc::Rc;

use crate::metrics::exposition::render;
use crate::metrics::{Families, Kind, Sample, Scope};
use crate::runtime::{Peers, Replied, Reply, Service, ShardCtx};

pub enum AdminMsg {
    /// Every family of the destination's registry.
    Metrics,
    /// An empty round trip, for `MESH PING`.
    Ping,
}

pub enum AdminReply {
    Metrics(Families),
    Pong,
    /// The shard could not answer (only while the process goes down).
    Unavailable,
}

pub struct AdminService {
    ctx: Rc<ShardCtx>,
    peers: Peers<AdminMsg, AdminReply>,
}

impl AdminService {
    pub fn new(ctx: Rc<ShardCtx>, peers: Peers<AdminMsg, AdminReply>) -> Self {
        Self { ctx, peers }
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    /// Whether the server takes traffic: 503 while starting and draining, so load balancers
    /// move away before the process exits, and once a log failed (writes are refused until
    /// a restart).
    pub fn readiness(&self) -> Result<(), &'static str> {
        let lifecycle = &self.ctx.shared.lifecycle;
        if self.ctx.shared.log_failed.load(std::sync::atomic::Ordering::Acquire) {
            Err("a log failed; writes are refused until restart")
        } else if lifecycle.is_ready() {
            Ok(())
        } else if lifecycle.is_draining() {
            Err("draining")
        } else {
            Err("starting")
        }
    }

    /// Every shard's metrics in the Prometheus text format. A shard whose ring is full is
    /// missing from this scrape only.
    pub async fn scrape(self: &Rc<Self>) -> String {
        let mut answers = Vec::with_capacity(self.ctx.shard_count());
        for owner in 0..self.ctx.shard_count() as u16 {
            if let Ok(answer) = self.on_owner(owner, AdminMsg::Metrics) {
                answers.push((owner, answer));
            }
        }
        let mut shards = Vec::with_capacity(answers.len());
        for (owner, answer) in answers {
            if let AdminReply::Metrics(families) = answer.get().await {
                shards.push((owner, families));
            }
        }
        let mut process = Families::default();
        process
            .push(
                "shardhub_ready",
                Kind::Gauge,
                "Whether the server accepts traffic (1) or is starting or draining (0).",
                Scope::Process,
            )
            .push(Sample::int(Vec::new(), u64::from(self.readiness().is_ok())));
        if let Some(a) = crate::runtime::allocator::stats() {
            for (name, help, value) in [
                (
                    "shardhub_allocator_allocated_bytes",
                    "Bytes the server holds from its allocator (jemalloc).",
                    a.allocated,
                ),
                (
                    "shardhub_allocator_active_bytes",
                    "Bytes in allocator pages holding at least one allocation.",
                    a.active,
                ),
                (
                    "shardhub_allocator_resident_bytes",
                    "Physical memory the allocator maps: its share of RSS.",
                    a.resident,
                ),
                (
                    "shardhub_allocator_retained_bytes",
                    "Address space the allocator returned to the system but keeps reserved (not in RSS).",
                    a.retained,
                ),
            ] {
                process
                    .push(name, Kind::Gauge, help, Scope::Process)
                    .push(Sample::int(Vec::new(), value));
            }
        }
        render(&shards, &process)
    }
}

impl Service for AdminService {
    type Msg = AdminMsg;
    type Reply = AdminReply;

    fn peers(&self) -> &Peers<AdminMsg, AdminReply> {
        &self.peers
    }

    fn handle(self: &Rc<Self>, msg: AdminMsg, reply: Reply<'_, AdminReply>) -> Replied {
        match msg {
            AdminMsg::Metrics => reply.now(AdminReply::Metrics(self.ctx.metrics.collect())),
            AdminMsg::Ping => reply.now(AdminReply::Pong),
        }
    }
}
