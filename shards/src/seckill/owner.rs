//! The owner side of flash sales on one shard: its [`Inventory`], its log, the replies that
//! wait for the log, and the expiry of due reservations.
//!
//! A command runs on the inventory at once (single-threaded: that is the reserve's whole
//! concurrency control), its event goes into the log buffer, and its reply waits until the
//! group holding that record is written (batch, none) or fsynced (sync). Any reply, even a
//! read or a refusal, waits while earlier records are not yet acknowledged: a client must not
//! see (and act on) state that a crash could still take back.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardhub_core::seckill::{chunk_of, Event, Inventory, InventoryLimits, OrderId, PaymentOutcome, Settlement};
use shardhub_core::EventSink;
use shardhub_core::Slot;
use shardhub_core::{SeckillError, ShardId};

use super::message::{SeckillOp, SeckillReply};
use super::metrics::{SeckillMetrics, SkuEvent};
use crate::config::{Config, Durability, SeckillConfig};
use crate::runtime::signal::Signal;
use crate::runtime::{unix_ms, Promise, ShardCtx};
use crate::storage::{Journal, JournalError, LogPosition, OutboxMark, Recovery, TornTail};

/// The inventory a snapshot holds.
fn restore(inventory: &RefCell<Inventory>, state: &[u8], limits: InventoryLimits) -> Result<(), ReplayError> {
    *inventory.borrow_mut() = Inventory::restore(state, limits)?;
    Ok(())
}

/// Applies one logged event.
fn replay(inventory: &RefCell<Inventory>, record: &[u8]) -> Result<(), ReplayError> {
    Ok(inventory.borrow_mut().apply(Event::decode(record)?)?)
}

/// Why a record or the snapshot of the flash-sale log did not replay.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("cannot decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("refused: {0}")]
    Refused(#[from] SeckillError),
}

struct Waiter {
    lsn: u64,
    promise: Promise<SeckillReply>,
    reply: SeckillReply,
    /// Set for BUYs: when the owner received it, for the reserve latency.
    buy_started: Option<Instant>,
}

pub struct SeckillOwner {
    ctx: Rc<ShardCtx>,
    pub inventory: RefCell<Inventory>,
    journal: Journal,
    durability: Durability,
    waiters: RefCell<VecDeque<Waiter>>,
    flusher: Signal,
    pub metrics: RefCell<SeckillMetrics>,
    /// Orders expired by the last command or tick, for the per-SKU counters.
    expired: RefCell<Vec<OrderId>>,
    /// The log failed and the inventory went back to what the log holds.
    rolled_back: Cell<bool>,
    /// Sold-out changes the roll-back made, for the other shards.
    rolled_back_hints: RefCell<Vec<(Bytes, bool)>>,
    /// Every shard's outbox marks (this shard's is `[ctx.id]`); `None` while the pipeline is
    /// off.
    outbox: Option<Arc<[OutboxMark]>>,
    /// Per chunk of orders (slot, chunk index): where its furthest settlement ends in the
    /// log. Chunks settled only before this start have none: `replay_end` stands for them.
    settled_at: RefCell<HashMap<(Slot, usize), LogPosition>>,
    replay_end: LogPosition,
}

/// Chunks of orders one tick may archive, so a tick stays short (each is 4096 orders).
const ARCHIVE_CHUNKS_PER_TICK: usize = 8;

pub fn inventory_limits(c: &SeckillConfig) -> InventoryLimits {
    InventoryLimits {
        skus_max: c.skus_per_shard_max,
        orders_max: c.orders_per_shard_max,
        qty_max: c.qty_max,
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
    settled_at: &'a RefCell<HashMap<(Slot, usize), LogPosition>>,
}

impl EventSink<Event> for LogSink<'_> {
    fn record(&mut self, event: &Event) {
        self.journal.append(|out| event.encode(out));
        if let Event::Settled { id, .. } = event {
            // The furthest settlement of the order's chunk: the chunk may leave memory once the
            // relay's saved position is past it.
            let key = chunk_of(*id);
            let at = self.journal.appended_position();
            let mut marks = self.settled_at.borrow_mut();
            let mark = marks.entry(key).or_insert(at);
            *mark = (*mark).max(at);
        }
        if let Event::Expired { id, .. }
        | Event::Settled {
            id,
            to: Settlement::Expired,
            ..
        } = event
        {
            self.expired.push(*id);
        }
    }
}

impl SeckillOwner {
    /// Opens the shard's log and replays it.
    pub fn open(
        ctx: Rc<ShardCtx>,
        outbox: Option<Arc<[OutboxMark]>>,
    ) -> Result<(SeckillOwner, Recovery), JournalError> {
        let config = ctx.config();
        let dir = log_dir(&config.server.data_dir, ctx.id);
        let limits = inventory_limits(&config.seckill);
        let inventory = RefCell::new(Inventory::new(limits));
        let (journal, recovery) = Journal::open(
            &dir,
            |state| restore(&inventory, state, limits),
            |record| replay(&inventory, record),
        )?;
        let mut inventory = inventory.into_inner();
        inventory.check_invariants().map_err(|broken| JournalError::Replay {
            path: dir.clone(),
            offset: 0,
            reason: format!("replayed state breaks the stock equations: {broken}"),
        })?;
        // Hints are announced afresh from the replayed state, not from the history.
        inventory.take_soldout_changes().for_each(drop);
        let journal_end = journal.appended_position();
        let owner = SeckillOwner {
            durability: config.seckill.durability,
            ctx,
            inventory: RefCell::new(inventory),
            journal,
            waiters: RefCell::new(VecDeque::new()),
            flusher: Signal::default(),
            metrics: RefCell::new(SeckillMetrics::default()),
            expired: RefCell::new(Vec::new()),
            rolled_back: Cell::new(false),
            rolled_back_hints: RefCell::new(Vec::new()),
            outbox,
            settled_at: RefCell::new(HashMap::new()),
            replay_end: journal_end,
        };
        // Everything replayed is on disk: the relay may publish it.
        owner.mark_committed();
        Ok((owner, recovery))
    }

    pub fn reconfigure(&self, config: &Config) {
        self.inventory
            .borrow_mut()
            .set_limits(inventory_limits(&config.seckill));
    }

    /// This shard's outbox mark, while the pipeline is on.
    pub fn outbox_mark(&self) -> Option<&OutboxMark> {
        self.outbox.as_deref().map(|marks| &marks[self.ctx.id as usize])
    }

    /// Tells the relay how far the log may be published.
    fn mark_committed(&self) {
        if let Some(mark) = self.outbox_mark() {
            let (upto, records) = self.journal.committed(self.durability);
            mark.acknowledge(upto, records);
        }
    }

    /// Whether the relay's backlog is past its bound: new BUYs are refused until it drains.
    fn outbox_full(&self, config: &Config) -> bool {
        self.outbox_mark()
            .is_some_and(|m| m.unpublished_bytes() > config.pipeline.unpublished_bytes_max)
    }

    /// Records up to which replies may go out.
    fn acknowledged(&self) -> u64 {
        self.journal.acknowledged(self.durability)
    }

    /// Runs one command. Returns the reply and whether it must wait for the log.
    pub fn execute(&self, op: SeckillOp) -> (SeckillReply, bool) {
        let config = self.ctx.config();
        if op.writes() {
            if self.journal.failed() {
                return (SeckillReply::LogFailed, false);
            }
            let pending = self.journal.appended() - self.acknowledged();
            if pending >= config.seckill.log_pending_max as u64 {
                return (SeckillReply::Busy, false);
            }
            if matches!(op, SeckillOp::Buy(_)) && self.outbox_full(&config) {
                return (SeckillReply::Busy, false);
            }
        }
        let skus_max = config.seckill.metrics_skus_max;
        let reply = self.apply(op, skus_max);
        // After a log failure nothing more becomes durable: reads answer at once.
        let wait = !self.journal.failed() && self.journal.appended() > self.acknowledged();
        (reply, wait)
    }

    fn apply(&self, op: SeckillOp, skus_max: usize) -> SeckillReply {
        let now_ms = unix_ms();
        let mut inventory = self.inventory.borrow_mut();
        let mut expired = self.expired.borrow_mut();
        let mut sink = LogSink {
            journal: &self.journal,
            expired: &mut expired,
            settled_at: &self.settled_at,
        };
        let mut metrics = self.metrics.borrow_mut();
        match op {
            SeckillOp::StockSet(set) => refused_or(
                inventory.set_stock(set.sku, set.total, set.limit, set.hold_ms, &mut sink),
                |()| SeckillReply::Ok,
            ),
            SeckillOp::StockAdd(add) => refused_or(
                inventory.add_stock(add.sku, add.delta, &mut sink),
                SeckillReply::Available,
            ),
            SeckillOp::StockGet(get) => match inventory.stock(&get.sku) {
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
            SeckillOp::Payment(p) => {
                let outcome = inventory.payment(p.order, p.payment, p.succeeded, now_ms, &mut sink);
                let event = match outcome {
                    PaymentOutcome::Paid => Some(SkuEvent::Paid),
                    PaymentOutcome::Cancelled => Some(SkuEvent::Cancelled),
                    _ => None,
                };
                if let Some(event) = event {
                    count_order(&inventory, &mut metrics, p.order, event, skus_max);
                }
                SeckillReply::Payment(outcome)
            }
            SeckillOp::OrderGet(id) => match inventory.order(id) {
                Some(order) => SeckillReply::Order(Box::new(order.clone())),
                None if inventory.is_archived(id) => SeckillReply::Refused(SeckillError::Archived),
                None => SeckillReply::Refused(SeckillError::NoOrder),
            },
        }
    }

    /// Bookkeeping after anything that may have logged events: metrics of expiries and
    /// waking the flusher. Returns the sold-out changes to announce.
    pub fn after_change(&self) -> Vec<(Bytes, bool)> {
        let skus_max = self.ctx.config().seckill.metrics_skus_max;
        let mut expired = self.expired.borrow_mut();
        if !expired.is_empty() {
            let inventory = self.inventory.borrow();
            let mut metrics = self.metrics.borrow_mut();
            for id in expired.drain(..) {
                count_order(&inventory, &mut metrics, id, SkuEvent::Expired, skus_max);
            }
        }
        if self.journal.has_unwritten() {
            self.flusher.raise();
        }
        self.inventory.borrow_mut().take_soldout_changes().collect()
    }

    /// Parks a reply until the log has acknowledged everything appended so far.
    pub fn defer(&self, reply: SeckillReply, promise: Promise<SeckillReply>, buy_started: Option<Instant>) {
        self.waiters.borrow_mut().push_back(Waiter {
            lsn: self.journal.appended(),
            promise,
            reply,
            buy_started,
        });
    }

    /// Sends every waiting reply the log now covers; after a log failure, sends errors.
    fn release(&self) {
        self.mark_committed();
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
            w.promise.keep(reply);
        }
    }

    /// Lets chunks of orders leave memory: settled more than `finished_orders_keep_secs` ago
    /// and published (the chunk's furthest settlement before the relay's saved position).
    /// Only with the pipeline on: without a relay nothing is published.
    pub fn archive_tick(&self) {
        let keep_secs = self.ctx.config().seckill.finished_orders_keep_secs;
        let Some(mark) = self.outbox_mark() else { return };
        if keep_secs == 0 || self.journal.failed() {
            return;
        }
        let saved = mark.saved();
        let before_ms = unix_ms().saturating_sub(keep_secs.saturating_mul(1000));
        let gone = {
            let settled_at = self.settled_at.borrow();
            self.inventory
                .borrow_mut()
                .archive(before_ms, ARCHIVE_CHUNKS_PER_TICK, |slot, chunk| {
                    settled_at.get(&(slot, chunk)).copied().unwrap_or(self.replay_end) <= saved
                })
        };
        let mut settled_at = self.settled_at.borrow_mut();
        for key in &gone {
            settled_at.remove(key);
        }
    }

    /// Expires due reservations (the saga's compensation step); returns the sold-out changes
    /// to announce.
    pub fn expire_tick(&self, per_tick: usize) -> Vec<(Bytes, bool)> {
        if self.journal.failed() {
            return Vec::new();
        }
        let expired = {
            let mut inventory = self.inventory.borrow_mut();
            let mut expired = self.expired.borrow_mut();
            let mut sink = LogSink {
                journal: &self.journal,
                expired: &mut expired,
                settled_at: &self.settled_at,
            };
            inventory.expire_due(unix_ms(), per_tick, &mut sink)
        };
        if expired == 0 {
            return Vec::new();
        }
        self.after_change()
    }

    /// The group-commit loop: write what was appended, fsync as the mode says, release
    /// replies, and snapshot when the segment has grown enough. One task per shard owns all
    /// log IO.
    pub async fn run_flusher(&self) {
        loop {
            let batch_fsync = Duration::from_millis(self.ctx.config().seckill.batch_fsync_ms);
            self.journal
                .wait_for_work(self.durability, batch_fsync, &self.flusher)
                .await;
            if !self.journal.failed() {
                self.write_and_sync(batch_fsync).await;
                self.snapshot_if_due().await;
            }
            if self.journal.failed() {
                self.roll_back();
                self.release();
            }
        }
    }

    /// Once, after the log failed: the log is cut back to its last acknowledged record and
    /// the inventory goes back to what it holds, as a restart would see it, so no write that
    /// was refused keeps its effect (a BUY answered "log write failed" holds no units).
    /// Reads go on answering from that state; writes are refused until a restart.
    fn roll_back(&self) {
        if self.rolled_back.replace(true) {
            return;
        }
        let shard = self.ctx.id;
        self.ctx.report_log_failure();
        match self.journal.roll_back(self.durability) {
            Ok(cut) => tracing::warn!(
                shard,
                cut_bytes = cut,
                "seckill log cut back to its last acknowledged record"
            ),
            Err(e) => {
                tracing::error!(shard, error = %e, "seckill log could not be cut back; a restart may replay refused writes")
            }
        }
        let limits = inventory_limits(&self.ctx.config().seckill);
        let inventory = RefCell::new(Inventory::new(limits));
        let reread = self.journal.reread(
            TornTail::Cut,
            |state| restore(&inventory, state, limits),
            |record| replay(&inventory, record),
        );
        if let Err(e) = reread {
            tracing::error!(shard, error = %e, "seckill log could not be read back; state kept as it is");
            return;
        }
        let mut inventory = inventory.into_inner();
        inventory.take_soldout_changes().for_each(drop);
        let changes = sold_out_changes(&self.inventory.borrow(), &inventory);
        self.rolled_back_hints.borrow_mut().extend(changes);
        *self.inventory.borrow_mut() = inventory;
        debug_assert!(self.inventory.borrow().check_invariants().is_ok());
        tracing::warn!(
            shard,
            "seckill state rolled back to the log; writes refused until restart"
        );
    }

    /// Sold-out changes a roll-back made, not yet announced.
    pub fn take_rolled_back_hints(&self) -> Vec<(Bytes, bool)> {
        std::mem::take(&mut *self.rolled_back_hints.borrow_mut())
    }

    async fn write_and_sync(&self, batch_fsync: Duration) {
        let shard = self.ctx.id;
        match self.journal.write_group().await {
            Ok(0) => {}
            Ok(records) => self.metrics.borrow_mut().record_batch(records),
            Err(e) => tracing::error!(shard, error = %e, "seckill log write failed; refusing writes"),
        }
        let sync_now = self.journal.sync_due(self.durability, batch_fsync);
        // In batch and none modes replies go out on the write, before any fsync.
        self.release();
        if sync_now && !self.journal.failed() {
            let started = Instant::now();
            match self.journal.sync().await {
                Ok(()) => self.metrics.borrow_mut().record_fsync(started.elapsed()),
                Err(e) => tracing::error!(shard, error = %e, "seckill log fsync failed; refusing writes"),
            }
            self.release();
        }
    }

    async fn snapshot_if_due(&self) {
        let snapshot_log_bytes = self.ctx.config().seckill.snapshot_log_bytes;
        if !self.journal.wants_snapshot(snapshot_log_bytes) || self.journal.has_unwritten() || self.journal.failed() {
            return;
        }
        // Taken with nothing unwritten, so the state matches the end of the segment.
        let state = self.inventory.borrow().snapshot();
        let started = Instant::now();
        let keep_from = self.outbox_mark().map_or(u64::MAX, OutboxMark::keep_from_segment);
        match self.journal.snapshot(state, keep_from).await {
            Ok(()) => tracing::info!(
                shard = self.ctx.id,
                ms = started.elapsed().as_millis() as u64,
                "seckill snapshot written"
            ),
            Err(e) => {
                tracing::error!(shard = self.ctx.id, error = %e, "seckill snapshot failed; refusing writes");
                self.journal.mark_failed();
            }
        }
        self.release();
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

/// The SKUs whose sold-out state differs between two inventories, with their state in `after`
/// (what the other shards' hints must be told).
fn sold_out_changes(before: &Inventory, after: &Inventory) -> Vec<(Bytes, bool)> {
    let before: HashSet<&Bytes> = before.soldout_skus().collect();
    let after: HashSet<&Bytes> = after.soldout_skus().collect();
    let cleared = before.difference(&after).map(|&s| (s.clone(), false));
    let set = after.difference(&before).map(|&s| (s.clone(), true));
    cleared.chain(set).collect()
}
