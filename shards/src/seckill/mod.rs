//! Flash sales ("seckill"): SKU inventory on the shard owning each SKU's slot, reserved over
//! RESP with no oversell, durably logged, with per-user limits and reservations that expire.
//! docs/seckill.md is the user's view.
//!
//! Reading order:
//! - [`command`]: the commands as types, parsed on the accepting shard; [`reply`]: the
//!   owner's answers as RESP.
//! - [`front`]: what a command passes on the accepting shard (sold-out hints, the admission
//!   queue) on its way to the owner.
//! - [`owner`]: the owner's inventory, its log, the replies that wait for the log.
//! - [`message`]: what shards send each other; [`metrics`]: per-SKU outcomes and latencies.
//!
//! [`SeckillService`] puts them together: it runs messages on the owner and sends the
//! owner's sold-out hints to every other shard.

pub mod command;
pub mod front;
pub mod message;
pub mod metrics;
pub mod owner;
pub mod reply;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardhub_core::ShardId;

use crate::config::Config;
use crate::metrics::{Collect, Families};
use crate::runtime::{Peers, Replied, Reply, Service, ShardCtx};
use crate::storage::{JournalError, OutboxMark, Recovery};
use command::ArgLimits;
use front::SeckillFront;
use message::{SeckillMsg, SeckillOp, SeckillReply};
use metrics::SkuEvent;
use owner::SeckillOwner;

pub struct SeckillService {
    ctx: Rc<ShardCtx>,
    peers: Peers<SeckillMsg, SeckillReply>,
    /// The SKUs and orders this shard owns, and their log.
    pub owner: SeckillOwner,
    /// Sold-out hints and admission queues in front of every owner.
    pub front: SeckillFront,
    /// Sold-out changes not yet handed to the mesh, per destination, in order.
    hint_outbox: RefCell<VecDeque<(ShardId, Bytes, bool)>>,
}

impl SeckillService {
    /// Opens the shard's flash-sale log and replays it.
    pub fn open(
        ctx: Rc<ShardCtx>,
        peers: Peers<SeckillMsg, SeckillReply>,
        outbox: Option<Arc<[OutboxMark]>>,
    ) -> Result<(Self, Recovery), JournalError> {
        let (owner, recovery) = SeckillOwner::open(ctx.clone(), outbox)?;
        let front = SeckillFront::new(ctx.shard_count(), &ctx.config().seckill);
        let service = Self {
            ctx,
            peers,
            owner,
            front,
            hint_outbox: RefCell::new(VecDeque::new()),
        };
        Ok((service, recovery))
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    fn arg_limits(&self) -> ArgLimits {
        ArgLimits::of(&self.ctx.config().seckill)
    }

    /// Counts an outcome decided on the accepting shard (sold-out hint, busy).
    fn count(&self, sku: &Bytes, event: SkuEvent) {
        let skus_max = self.ctx.config().seckill.metrics_skus_max;
        self.owner.metrics.borrow_mut().count(sku, event, skus_max);
    }

    /// Runs a command this shard owns: the reply now, or kept until the log has it.
    fn run(&self, op: SeckillOp, reply: Reply<'_, SeckillReply>) -> Replied {
        let started = matches!(op, SeckillOp::Buy(_)).then(Instant::now);
        let (answer, wait) = self.owner.execute(op);
        self.announce(self.owner.after_change());
        if wait {
            let (promise, replied) = reply.promise();
            self.owner.defer(answer, promise, started);
            return replied;
        }
        if let Some(started) = started {
            self.owner.metrics.borrow_mut().record_reserve(started.elapsed());
        }
        reply.now(answer)
    }

    /// Applies sold-out changes here and queues them for every other shard.
    fn announce(&self, changes: Vec<(Bytes, bool)>) {
        if changes.is_empty() {
            return;
        }
        {
            let mut outbox = self.hint_outbox.borrow_mut();
            for (sku, sold_out) in changes {
                self.front.set_hint(sku.clone(), sold_out);
                for dst in self.peers.others() {
                    outbox.push_back((dst, sku.clone(), sold_out));
                }
            }
        }
        self.send_hints();
    }

    /// Hands queued hints to the mesh, in order; what finds a ring full waits for the next
    /// expiry tick.
    fn send_hints(&self) {
        let mut outbox = self.hint_outbox.borrow_mut();
        while let Some((dst, sku, sold_out)) = outbox.front().cloned() {
            if self
                .peers
                .notify(dst, SeckillMsg::SoldOutHint { sku, sold_out })
                .is_err()
            {
                break;
            }
            outbox.pop_front();
        }
    }
}

impl Service for SeckillService {
    type Msg = SeckillMsg;
    type Reply = SeckillReply;

    fn peers(&self) -> &Peers<SeckillMsg, SeckillReply> {
        &self.peers
    }

    fn handle(self: &Rc<Self>, msg: SeckillMsg, reply: Reply<'_, SeckillReply>) -> Replied {
        match msg {
            SeckillMsg::Op(op) => self.run(op, reply),
            SeckillMsg::SoldOutHint { sku, sold_out } => {
                self.front.set_hint(sku, sold_out);
                reply.now(SeckillReply::Ok)
            }
        }
    }

    fn start(self: &Rc<Self>) {
        // Every sold-out SKU, to the other shards (after a restart).
        let soldout: Vec<(Bytes, bool)> = self
            .owner
            .inventory
            .borrow()
            .soldout_skus()
            .map(|sku| (sku.clone(), true))
            .collect();
        self.announce(soldout);
        let flusher = self.clone();
        monoio::spawn(async move { flusher.owner.run_flusher().await });
        monoio::spawn(expiry_timer(self.clone()));
    }

    fn reconfigure(&self, config: &Config) {
        self.owner.reconfigure(config);
    }
}

/// Expires reservations every `expiry_tick_ms` and retries hints that found a ring full.
async fn expiry_timer(seckill: Rc<SeckillService>) {
    loop {
        let (tick_ms, per_tick) = {
            let c = seckill.ctx.config();
            (c.seckill.expiry_tick_ms, c.seckill.expire_per_tick)
        };
        monoio::time::sleep(Duration::from_millis(tick_ms)).await;
        let changes = seckill.owner.expire_tick(per_tick);
        seckill.owner.archive_tick();
        seckill.announce(changes);
        seckill.announce(seckill.owner.take_rolled_back_hints());
        seckill.send_hints();
    }
}

impl Collect for SeckillService {
    fn collect(&self, out: &mut Families) {
        self.owner.metrics.borrow().collect(out);
        let inventory = self.owner.inventory.borrow();
        out.gauge(
            "shardhub_seckill_orders_live",
            "Orders in shard memory.",
            inventory.orders_len() as u64,
        );
        out.gauge(
            "shardhub_seckill_orders_archived",
            "Orders that left shard memory for the order store.",
            inventory.archived_len() as u64,
        );
        drop(inventory);
        if let Some(mark) = self.owner.outbox_mark() {
            metrics::collect_relay(mark, out);
        }
    }
}
