//! A [`Journal`] with acknowledgement waits and its group-commit loop: what the broker's
//! retained/shadow log and the wallet keystore log share. A change is applied at once and its
//! record appended; whoever must not answer before the record is safe awaits
//! [`DurableLog::durable`], and [`DurableLog::run_flusher`] writes and fsyncs as the
//! durability mode says, snapshotting when the log has grown.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use shardhub_core::ShardId;

use super::journal::Journal;
use crate::config::Durability;
use crate::runtime::signal::Signal;
use crate::runtime::ShardCtx;

pub struct DurableLog {
    journal: Journal,
    durability: Durability,
    batch_fsync: Cell<Duration>,
    /// Log bytes since the last snapshot that trigger a new one; `u64::MAX` never snapshots.
    snapshot_log_bytes: Cell<u64>,
    /// (record number, wake-up) of every task waiting for its record to be safe.
    waiters: RefCell<VecDeque<(u64, Rc<Signal>)>>,
    flusher: Signal,
}

impl DurableLog {
    pub fn new(journal: Journal, durability: Durability, batch_fsync: Duration, snapshot_log_bytes: u64) -> Self {
        Self {
            journal,
            durability,
            batch_fsync: Cell::new(batch_fsync),
            snapshot_log_bytes: Cell::new(snapshot_log_bytes),
            waiters: RefCell::default(),
            flusher: Signal::default(),
        }
    }

    pub fn set_batch_fsync(&self, every: Duration) {
        self.batch_fsync.set(every);
    }

    pub fn set_snapshot_log_bytes(&self, bytes: u64) {
        self.snapshot_log_bytes.set(bytes);
    }

    /// Appends one record; returns its number, to wait for with [`DurableLog::durable`].
    pub fn append(&self, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let lsn = self.journal.append(write);
        self.flusher.raise();
        lsn
    }

    /// The log itself, for callers that append through a sink of their own; they call
    /// [`DurableLog::wake`] afterwards.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Wakes the flusher if records wait to be written.
    pub fn wake(&self) {
        if self.journal.has_unwritten() {
            self.flusher.raise();
        }
    }

    pub fn appended(&self) -> u64 {
        self.journal.appended()
    }

    /// Whether the log failed: changes are refused until a restart.
    pub fn failed(&self) -> bool {
        self.journal.failed()
    }

    /// Resolves once record `lsn` is as safe as the durability mode asks; false when the log
    /// failed before it was. A record made safe before a later failure (a snapshot's, say)
    /// stays true: the cut-back keeps it, and so does the state rolled back to the log.
    pub async fn durable(&self, lsn: u64) -> bool {
        if lsn > self.acknowledged() && !self.journal.failed() {
            let signal = Rc::new(Signal::default());
            self.waiters.borrow_mut().push_back((lsn, signal.clone()));
            self.flusher.raise();
            signal.wait().await;
        }
        lsn <= self.acknowledged()
    }

    fn acknowledged(&self) -> u64 {
        self.journal.acknowledged(self.durability)
    }

    fn release(&self) {
        let acknowledged = self.acknowledged();
        let failed = self.journal.failed();
        let mut waiters = self.waiters.borrow_mut();
        while waiters.front().is_some_and(|(lsn, _)| *lsn <= acknowledged || failed) {
            let (_, signal) = waiters.pop_front().expect("checked above");
            signal.raise();
        }
    }

    /// The group-commit loop; `what` names the log in error messages, `snapshot_state` is the
    /// state to snapshot when the log has grown past its bound, and `roll_back` takes the
    /// owner's state back to what the log holds once it failed and was cut back (before any
    /// refused writer is answered).
    pub async fn run_flusher(
        &self,
        ctx: &ShardCtx,
        what: &'static str,
        snapshot_state: impl Fn() -> Vec<u8>,
        roll_back: impl Fn(),
    ) {
        let mut reported = false;
        loop {
            self.journal
                .wait_for_work(self.durability, self.batch_fsync.get(), &self.flusher)
                .await;
            if !self.journal.failed() {
                self.flush(ctx.id, what, &snapshot_state).await;
            }
            if self.journal.failed() && !std::mem::replace(&mut reported, true) {
                self.fail_closed(ctx, what, &roll_back);
            }
            self.release();
        }
    }

    /// Writes what was appended, fsyncs when due, answers whoever that made safe, and
    /// snapshots when the log has grown. A failure marks the log failed (and is logged).
    async fn flush(&self, shard: ShardId, what: &'static str, snapshot_state: &impl Fn() -> Vec<u8>) {
        if let Err(e) = self.journal.write_group().await {
            tracing::error!(shard, log = what, error = %e, "log write failed; changes refused until restart");
        }
        let sync_now = self.journal.sync_due(self.durability, self.batch_fsync.get());
        self.release();
        if sync_now && !self.journal.failed() {
            if let Err(e) = self.journal.sync().await {
                tracing::error!(shard, log = what, error = %e, "log fsync failed; changes refused until restart");
            }
            // Answered now, not after the snapshot below, which may fail.
            self.release();
        }
        if self.journal.wants_snapshot(self.snapshot_log_bytes.get())
            && !self.journal.has_unwritten()
            && !self.journal.failed()
        {
            if let Err(e) = self.journal.snapshot(snapshot_state(), u64::MAX).await {
                tracing::error!(shard, log = what, error = %e, "snapshot failed; changes refused until restart");
                self.journal.mark_failed();
            }
        }
    }

    /// Once, after the log failed: the server stops saying it is ready, the log is cut back to
    /// what writers were told, and the owner's state goes back to it. The waiters woken by the
    /// failure have not run yet (nothing was awaited since), so none answers before that.
    fn fail_closed(&self, ctx: &ShardCtx, what: &'static str, roll_back: &impl Fn()) {
        let shard = ctx.id;
        ctx.report_log_failure();
        match self.journal.roll_back(self.durability) {
            Ok(cut) => tracing::warn!(
                shard,
                log = what,
                cut_bytes = cut,
                "log cut back to its last acknowledged record"
            ),
            Err(e) => tracing::error!(shard, log = what, error = %e, "log could not be cut back"),
        }
        roll_back();
    }
}
