//! What every shard keeps in front of the flash-sale owners: the replicated sold-out hints
//! (layer 1: refuse at once, no hop) and the count of BUYs waiting on each owner (layer 2: a
//! bounded admission queue). Layer 3 is the owner's reserve, in `seckill_owner`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::ShardId;

use crate::config::SeckillConfig;
use crate::shard::Shard;

/// The reloadable settings a BUY reads on the accepting shard, copied out of the shared
/// config when it changes so the hot path reads a Cell, not the config.
#[derive(Clone, Copy)]
pub struct FrontSettings {
    pub admission_queue: usize,
    pub max_qty: u32,
    pub max_id_bytes: usize,
    pub default_hold_secs: u64,
    pub metrics_skus_max: usize,
}

impl FrontSettings {
    pub fn from(c: &SeckillConfig) -> Self {
        Self {
            admission_queue: c.admission_queue,
            max_qty: c.max_qty,
            max_id_bytes: c.max_id_bytes,
            default_hold_secs: c.default_hold_secs,
            metrics_skus_max: c.metrics_skus_max,
        }
    }
}

pub struct SeckillFront {
    pub settings: Cell<FrontSettings>,
    /// SKUs their owners last said are sold out. A hint, not the truth: the owner decides.
    soldout: RefCell<HashSet<Bytes, ahash::RandomState>>,
    /// Bound on `soldout`: every shard's SKU table, at most.
    soldout_max: usize,
    /// BUYs this shard has sent to each owner and not yet seen answered.
    waiting: RefCell<Vec<usize>>,
}

impl SeckillFront {
    pub fn new(shards: usize, config: &SeckillConfig) -> Self {
        let skus_per_shard_max = config.max_skus_per_shard;
        Self {
            settings: Cell::new(FrontSettings::from(config)),
            soldout: RefCell::new(HashSet::default()),
            soldout_max: skus_per_shard_max.saturating_mul(shards),
            waiting: RefCell::new(vec![0; shards]),
        }
    }

    pub fn is_sold_out(&self, sku: &[u8]) -> bool {
        let hints = self.soldout.borrow();
        !hints.is_empty() && hints.contains(sku)
    }

    /// Applies an owner's hint. A set beyond the bound is dropped: the owner still refuses.
    pub fn set_hint(&self, sku: Bytes, sold_out: bool) {
        let mut hints = self.soldout.borrow_mut();
        if !sold_out {
            hints.remove(&sku);
        } else if hints.len() < self.soldout_max {
            // A compact copy, whatever buffer the name came from.
            hints.insert(Bytes::copy_from_slice(&sku));
        }
    }

    /// Takes a place in `owner`'s admission queue, or `None` when `queue_max` BUYs already
    /// wait on it.
    pub fn admit(shard: &Rc<Shard>, owner: ShardId) -> Option<Admission> {
        let queue_max = shard.seckill_front.settings.get().admission_queue;
        let mut waiting = shard.seckill_front.waiting.borrow_mut();
        let slot = &mut waiting[usize::from(owner)];
        if *slot >= queue_max {
            return None;
        }
        *slot += 1;
        Some(Admission {
            shard: shard.clone(),
            owner,
        })
    }
}

/// A BUY's place in an admission queue, given back when its reply arrives (or its
/// connection goes away and drops the request).
pub struct Admission {
    shard: Rc<Shard>,
    owner: ShardId,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.shard.seckill_front.waiting.borrow_mut()[usize::from(self.owner)] -= 1;
    }
}
