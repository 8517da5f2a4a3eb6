//! The owner side of flash sales on one shard: its [`Inventory`], its log, the replies that
//! wait for the log, the expiry timer, and the sold-out hints it sends to the other shards.
//!
//! A command runs on the inventory at once (single-threaded: that is the reserve's whole
//! concurrency control), its event goes into the log buffer, and its reply waits until the
//! group holding that record is written (batch, none) or fsynced (sync). Any reply, even a
//! read or a refusal, waits while earlier records are not yet acknowledged: a client must not
//! see (and act on) state that a crash could still take back.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardhub_core::seckill::{Event, Inventory, InventoryLimits, OrderId};
use shardhub_core::EventSink;
use shardhub_core::{SeckillError, ShardId};

use crate::config::{Config, Durability, SeckillConfig};
use crate::error::JournalError;
use crate::journal::{Journal, Recovery};
use crate::mesh::{ReplyFuture, ReplyTo};
use crate::seckill_metrics::{SeckillMetrics, SkuEvent};
use crate::shard::Shard;
use crate::shard_op::{SeckillOp, SeckillReply, ShardOp, ShardReply};
use crate::shared::unix_ms;
use crate::signal::Signal;

/// Where a reply that waits for the log goes when it is released.
pub enum Completion {
    Remote(ReplyTo),
    Local(local_sync::oneshot::Sender<ShardReply>),
}

struct Waiter {
    lsn: u64,
    to: Completion,
    reply: SeckillReply,
    /// Set for BUYs: when the owner received it, for the reserve latency.
    buy_started: Option<Instant>,
}

pub struct SeckillOwner {
    pub inventory: RefCell<Inventory>,
    pub journal: Journal,
    durability: Durability,
    settings: Cell<Settings>,
    waiters: RefCell<VecDeque<Waiter>>,
    flusher: Signal,
    pub metrics: RefCell<SeckillMetrics>,
    /// Sold-out changes not yet handed to the mesh, per destination, in order.
    hint_outbox: RefCell<VecDeque<(ShardId, Bytes, bool)>>,
    /// Orders expired by the last command or tick, for the per-SKU counters.
    expired: RefCell<Vec<OrderId>>,
}

/// The reloadable settings the owner reads on its hot path.
#[derive(Clone, Copy)]
struct Settings {
    log_pending_max: usize,
    metrics_skus_max: usize,
    batch_fsync: Duration,
    snapshot_log_bytes: u64,
}

impl Settings {
    fn from(c: &SeckillConfig) -> Self {
        Settings {
            log_pending_max: c.log_pending_max,
            metrics_skus_max: c.metrics_skus_max,
            batch_fsync: Duration::from_millis(c.batch_fsync_ms),
            snapshot_log_bytes: c.snapshot_log_bytes,
        }
    }
}

pub fn inventory_limits(c: &SeckillConfig) -> InventoryLimits {
    InventoryLimits {
        skus_max: c.max_skus_per_shard,
        orders_max: c.max_orders_per_shard,
        qty_max: c.max_qty,
    }
}

/// The log directory of one shard.
pub fn log_dir(data_dir: &Path, shard: ShardId) -> std::path::PathBuf {
    data_dir.join("seckill").join(format!("shard-{shard}"))
}

/// Encodes events into the log buffer, noting expiries for the metrics.
struct LogSink<'a> {
    journal: &'a Journal,
    expired: &'a mut Vec<OrderId>,
}

impl EventSink<Event> for LogSink<'_> {
    fn record(&mut self, event: &Event) {
        self.journal.append(|out| event.encode(out));
        if let Event::Expired { id, .. } = event {
            self.expired.push(*id);
        }
    }
}

impl SeckillOwner {
    /// Opens the shard's log and replays it.
    pub fn open(shard: ShardId, config: &Config) -> Result<(SeckillOwner, Recovery), JournalError> {
        let dir = log_dir(&config.server.data_dir, shard);
        let limits = inventory_limits(&config.seckill);
        let inventory = RefCell::new(Inventory::new(limits));
        let (journal, recovery) = Journal::open(
            &dir,
            |state| {
                let restored = Inventory::restore(state, limits).map_err(|e| e.to_string())?;
                *inventory.borrow_mut() = restored;
                Ok(())
            },
            |record| {
                let event = Event::decode(record).map_err(|e| e.to_string())?;
                inventory.borrow_mut().apply(event).map_err(|e| e.to_string())
            },
        )?;
        let mut inventory = inventory.into_inner();
        inventory.check_invariants().map_err(|reason| JournalError::Replay {
            path: dir.clone(),
            offset: 0,
            reason: format!("replayed state breaks the stock equations: {reason}"),
        })?;
        // Hints are announced afresh from the replayed state, not from the history.
        inventory.take_soldout_changes().for_each(drop);
        let owner = SeckillOwner {
            inventory: RefCell::new(inventory),
            journal,
            durability: config.seckill.durability,
            settings: Cell::new(Settings::from(&config.seckill)),
            waiters: RefCell::new(VecDeque::new()),
            flusher: Signal::default(),
            metrics: RefCell::new(SeckillMetrics::default()),
            hint_outbox: RefCell::new(VecDeque::new()),
            expired: RefCell::new(Vec::new()),
        };
        Ok((owner, recovery))
    }

    pub fn apply_config(&self, c: &SeckillConfig) {
        self.settings.set(Settings::from(c));
        self.inventory.borrow_mut().set_limits(inventory_limits(c));
    }

    /// Records up to which replies may go out.
    fn acknowledged(&self) -> u64 {
        self.journal.acknowledged(self.durability)
    }

    /// Runs one command. Returns the reply and whether it must wait for the log.
    pub fn execute(&self, shard: &Shard, op: SeckillOp) -> (SeckillReply, bool) {
        if op.writes() {
            if self.journal.failed() {
                return (SeckillReply::LogFailed, false);
            }
            let pending = self.journal.appended() - self.acknowledged();
            if pending >= self.settings.get().log_pending_max as u64 {
                return (SeckillReply::Busy, false);
            }
        }
        let now_ms = unix_ms();
        let skus_max = self.settings.get().metrics_skus_max;
        let reply = {
            let mut inventory = self.inventory.borrow_mut();
            let mut expired = self.expired.borrow_mut();
            let mut sink = LogSink {
                journal: &self.journal,
                expired: &mut expired,
            };
            let mut metrics = self.metrics.borrow_mut();
            match op {
                SeckillOp::StockSet {
                    sku,
                    total,
                    limit,
                    hold_ms,
                } => refused_or(inventory.set_stock(sku, total, limit, hold_ms, &mut sink), |()| {
                    SeckillReply::Ok
                }),
                SeckillOp::StockAdd { sku, delta } => {
                    refused_or(inventory.add_stock(sku, delta, &mut sink), SeckillReply::Available)
                }
                SeckillOp::StockGet(sku) => match inventory.stock(&sku) {
                    Some(view) => SeckillReply::Stock(view),
                    None => SeckillReply::Refused(SeckillError::NoSku),
                },
                SeckillOp::Buy(buy) => {
                    let sku = buy.sku.clone();
                    let result = inventory.buy(buy, now_ms, &mut sink);
                    match &result {
                        Ok(_) => metrics.count(&sku, SkuEvent::Accepted, skus_max),
                        Err(SeckillError::SoldOut) => metrics.count(&sku, SkuEvent::SoldOut, skus_max),
                        Err(SeckillError::Limit) => metrics.count(&sku, SkuEvent::Limit, skus_max),
                        Err(_) => {}
                    }
                    refused_or(result, |bought| SeckillReply::OrderId(bought.id))
                }
                SeckillOp::Pay(id) => {
                    let result = inventory.pay(id, now_ms, &mut sink);
                    if result.is_ok() {
                        count_order(&inventory, &mut metrics, id, SkuEvent::Paid, skus_max);
                    }
                    refused_or(result, |()| SeckillReply::Ok)
                }
                SeckillOp::Cancel(id) => {
                    let result = inventory.cancel(id, now_ms, &mut sink);
                    if result.is_ok() {
                        count_order(&inventory, &mut metrics, id, SkuEvent::Cancelled, skus_max);
                    }
                    refused_or(result, |()| SeckillReply::Ok)
                }
                SeckillOp::OrderGet(id) => match inventory.order(id) {
                    Some(order) => SeckillReply::Order(Box::new(order.clone())),
                    None => SeckillReply::Refused(SeckillError::NoOrder),
                },
            }
        };
        self.after_change(shard);
        // After a log failure nothing more becomes durable: reads answer at once.
        let wait = !self.journal.failed() && self.journal.appended() > self.acknowledged();
        (reply, wait)
    }

    /// Bookkeeping after anything that may have logged events: metrics of expiries, hints,
    /// and waking the flusher.
    fn after_change(&self, shard: &Shard) {
        let skus_max = self.settings.get().metrics_skus_max;
        let mut expired = self.expired.borrow_mut();
        if !expired.is_empty() {
            let inventory = self.inventory.borrow();
            let mut metrics = self.metrics.borrow_mut();
            for id in expired.drain(..) {
                count_order(&inventory, &mut metrics, id, SkuEvent::Expired, skus_max);
            }
        }
        let changes: Vec<(Bytes, bool)> = self.inventory.borrow_mut().take_soldout_changes().collect();
        if !changes.is_empty() {
            for (sku, sold_out) in changes {
                self.queue_hint(shard, sku, sold_out);
            }
            self.send_hints(shard);
        }
        if self.journal.has_unwritten() {
            self.flusher.raise();
        }
    }

    /// Hands queued hints to the mesh, in order; what finds a ring full waits for the next
    /// housekeeping tick.
    pub fn send_hints(&self, shard: &Shard) {
        let mut outbox = self.hint_outbox.borrow_mut();
        while let Some((dst, sku, sold_out)) = outbox.front().cloned() {
            match shard.mesh.notify(dst, ShardOp::SoldOutHint { sku, sold_out }) {
                Ok(_) => {
                    outbox.pop_front();
                }
                Err(_) => break,
            }
        }
    }

    /// Announces every sold-out SKU to the other shards (after a restart).
    pub fn announce_soldout(&self, shard: &Shard) {
        let skus: Vec<Bytes> = self.inventory.borrow().soldout_skus().cloned().collect();
        for sku in skus {
            self.queue_hint(shard, sku, true);
        }
        self.send_hints(shard);
    }

    /// Applies a hint on this shard and queues it for every other one.
    fn queue_hint(&self, shard: &Shard, sku: Bytes, sold_out: bool) {
        shard.seckill_front.set_hint(sku.clone(), sold_out);
        let mut outbox = self.hint_outbox.borrow_mut();
        for dst in (0..shard.shared.shard_count as ShardId).filter(|&dst| dst != shard.id) {
            outbox.push_back((dst, sku.clone(), sold_out));
        }
    }

    /// Parks a reply until the log has acknowledged everything appended so far.
    pub fn defer(&self, reply: SeckillReply, to: Completion, buy_started: Option<Instant>) {
        self.waiters.borrow_mut().push_back(Waiter {
            lsn: self.journal.appended(),
            to,
            reply,
            buy_started,
        });
    }

    /// A local request's deferred reply.
    pub fn defer_local(&self, reply: SeckillReply, buy_started: Option<Instant>) -> ReplyFuture {
        let (tx, future) = ReplyFuture::local();
        self.defer(reply, Completion::Local(tx), buy_started);
        future
    }

    /// Sends every waiting reply the log now covers; after a log failure, sends errors.
    fn release(&self, shard: &Shard) {
        let acknowledged = self.acknowledged();
        let failed = self.journal.failed();
        let mut waiters = self.waiters.borrow_mut();
        let mut metrics = self.metrics.borrow_mut();
        // One clock read for the whole group: its replies are released together.
        let now = Instant::now();
        while waiters.front().is_some_and(|w| w.lsn <= acknowledged || failed) {
            let w = waiters.pop_front().expect("checked above");
            let reply = if w.lsn <= acknowledged {
                if let Some(started) = w.buy_started {
                    metrics.record_reserve(now.saturating_duration_since(started));
                }
                w.reply
            } else {
                SeckillReply::LogFailed
            };
            match w.to {
                Completion::Remote(to) => shard.mesh.reply(to, ShardReply::Seckill(reply)),
                Completion::Local(tx) => {
                    let _ = tx.send(ShardReply::Seckill(reply));
                }
            }
        }
    }

    /// Expires due reservations (the saga's compensation step).
    pub fn expire_tick(&self, shard: &Shard, per_tick: usize) {
        if self.journal.failed() {
            return;
        }
        let expired = {
            let mut inventory = self.inventory.borrow_mut();
            let mut expired = self.expired.borrow_mut();
            let mut sink = LogSink {
                journal: &self.journal,
                expired: &mut expired,
            };
            inventory.expire_due(unix_ms(), per_tick, &mut sink)
        };
        if expired > 0 {
            self.after_change(shard);
        }
    }
}

fn refused_or<T>(result: Result<T, SeckillError>, ok: impl FnOnce(T) -> SeckillReply) -> SeckillReply {
    match result {
        Ok(v) => ok(v),
        Err(e) => SeckillReply::Refused(e),
    }
}

fn count_order(inventory: &Inventory, metrics: &mut SeckillMetrics, id: OrderId, event: SkuEvent, skus_max: usize) {
    if let Some(order) = inventory.order(id) {
        metrics.count(&order.sku, event, skus_max);
    }
}

/// The group-commit loop: write what was appended, fsync as the mode says, release replies,
/// and snapshot when the segment has grown enough. One task per shard owns all log IO.
pub async fn flusher(shard: Rc<Shard>) {
    let owner = &shard.seckill;
    loop {
        let batch_fsync = owner.settings.get().batch_fsync;
        owner
            .journal
            .wait_for_work(owner.durability, batch_fsync, &owner.flusher)
            .await;
        if owner.journal.failed() {
            owner.release(&shard);
            continue;
        }
        match owner.journal.write_group().await {
            Ok(0) => {}
            Ok(records) => owner.metrics.borrow_mut().record_batch(records),
            Err(e) => tracing::error!(shard = shard.id, error = %e, "seckill log write failed; refusing writes"),
        }
        let sync_now = owner
            .journal
            .sync_due(owner.durability, owner.settings.get().batch_fsync);
        // In batch and none modes replies go out on the write, before any fsync.
        owner.release(&shard);
        if sync_now && !owner.journal.failed() {
            let started = Instant::now();
            match owner.journal.sync().await {
                Ok(()) => owner.metrics.borrow_mut().record_fsync(started.elapsed()),
                Err(e) => tracing::error!(shard = shard.id, error = %e, "seckill log fsync failed; refusing writes"),
            }
            owner.release(&shard);
        }
        let snapshot_log_bytes = owner.settings.get().snapshot_log_bytes;
        if owner.journal.wants_snapshot(snapshot_log_bytes) && !owner.journal.has_unwritten() && !owner.journal.failed()
        {
            // Taken with nothing unwritten, so the state matches the end of the segment.
            let state = owner.inventory.borrow().snapshot();
            let started = Instant::now();
            match owner.journal.snapshot(state).await {
                Ok(()) => tracing::info!(
                    shard = shard.id,
                    ms = started.elapsed().as_millis() as u64,
                    "seckill snapshot written"
                ),
                Err(e) => {
                    tracing::error!(shard = shard.id, error = %e, "seckill snapshot failed; refusing writes");
                    owner.journal.mark_failed();
                }
            }
            owner.release(&shard);
        }
    }
}

/// Expires reservations every `expiry_tick_ms` and retries hints that found a ring full.
pub async fn expiry_timer(shard: Rc<Shard>) {
    loop {
        let (tick_ms, per_tick) = {
            let c = shard.shared.config.load();
            (c.seckill.expiry_tick_ms, c.seckill.expire_per_tick)
        };
        monoio::time::sleep(Duration::from_millis(tick_ms)).await;
        shard.seckill.expire_tick(&shard, per_tick);
        shard.seckill.send_hints(&shard);
    }
}
