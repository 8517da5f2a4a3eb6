//! What every shard keeps in front of the flash-sale owners, and how a command passes it:
//! the replicated sold-out hints (layer 1: refuse at once, no hop), the count of BUYs
//! waiting on each owner (layer 2: a bounded admission queue), then the owner's reserve
//! (layer 3, `owner.rs`).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::seckill::OrderId;
use shardhub_core::ShardId;
use shardhub_net::resp::{errors, Reply};

use super::command::{parse_buy, parse_order, ArgError, ArgLimits, Payment, StockAdd, StockGet, StockSet};
use super::message::{SeckillMsg, SeckillOp, SeckillReply};
use super::metrics::SkuEvent;
use super::reply::into_reply;
use super::SeckillService;
use crate::config::SeckillConfig;
use crate::runtime::{Answer, MeshBusy, Service};

pub struct SeckillFront {
    /// SKUs their owners last said are sold out. A hint, not the truth: the owner decides.
    soldout: RefCell<HashSet<Bytes, ahash::RandomState>>,
    /// Bound on `soldout`: every shard's SKU table, at most.
    soldout_max: usize,
    /// BUYs this shard has sent to each owner and not yet seen answered.
    waiting: RefCell<Vec<usize>>,
}

impl SeckillFront {
    pub fn new(shards: usize, config: &SeckillConfig) -> Self {
        Self {
            soldout: RefCell::new(HashSet::default()),
            soldout_max: config.skus_per_shard_max.saturating_mul(shards),
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
        debug_assert!(hints.len() <= self.soldout_max);
    }
}

/// A BUY's place in an admission queue, given back when its reply arrives (or its
/// connection goes away and drops the request).
pub struct Admission {
    seckill: Rc<SeckillService>,
    owner: ShardId,
}

impl Admission {
    /// Takes a place in `owner`'s queue, or `None` when `admission_queue` BUYs already wait
    /// on it.
    fn take(seckill: &Rc<SeckillService>, owner: ShardId, queue_max: usize) -> Option<Admission> {
        let mut waiting = seckill.front.waiting.borrow_mut();
        let slot = &mut waiting[usize::from(owner)];
        if *slot >= queue_max {
            return None;
        }
        *slot += 1;
        Some(Admission {
            seckill: seckill.clone(),
            owner,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.seckill.front.waiting.borrow_mut()[usize::from(self.owner)] -= 1;
    }
}

/// `STOCK.SET`
pub fn stock_set(seckill: &Rc<SeckillService>, args: &[Bytes]) -> Answer<Reply> {
    match StockSet::parse(args, &seckill.arg_limits()) {
        Ok(set) => to_owner(seckill, seckill.ctx.owner_of_key(&set.sku), SeckillOp::StockSet(set)),
        Err(e) => e.into_answer(),
    }
}

/// `STOCK.ADD`
pub fn stock_add(seckill: &Rc<SeckillService>, args: &[Bytes]) -> Answer<Reply> {
    match StockAdd::parse(args, &seckill.arg_limits()) {
        Ok(add) => to_owner(seckill, seckill.ctx.owner_of_key(&add.sku), SeckillOp::StockAdd(add)),
        Err(e) => e.into_answer(),
    }
}

/// `STOCK.GET`
pub fn stock_get(seckill: &Rc<SeckillService>, args: &[Bytes]) -> Answer<Reply> {
    match StockGet::parse(args, &seckill.arg_limits()) {
        Ok(get) => to_owner(seckill, seckill.ctx.owner_of_key(&get.sku), SeckillOp::StockGet(get)),
        Err(e) => e.into_answer(),
    }
}

/// `SECKILL.BUY`: the sold-out hint, then the admission queue, then the owner.
pub fn buy(seckill: &Rc<SeckillService>, args: &[Bytes]) -> Answer<Reply> {
    let config = seckill.ctx.config();
    let buy = match parse_buy(args, &ArgLimits::of(&config.seckill)) {
        Ok(buy) => buy,
        Err(e) => return e.into_answer(),
    };
    // Layer 1: the owner said this SKU is sold out; refuse here, no hop. Not for a REQID:
    // its retry must get its order id back even after the SKU sold out.
    if buy.reqid.is_none() && seckill.front.is_sold_out(&buy.sku) {
        seckill.count(&buy.sku, SkuEvent::SoldOut);
        return Reply::error(errors::SOLDOUT).into();
    }
    let owner = seckill.ctx.slots().owner(buy.slot);
    // Layer 2: a bounded queue of BUYs waiting on that owner.
    let Some(admission) = Admission::take(seckill, owner, config.seckill.admission_queue) else {
        seckill.count(&buy.sku, SkuEvent::Busy);
        return Reply::error(errors::BUSY).into();
    };
    // Layer 3: the owner's reserve. The place in the queue is held until it answers.
    match seckill.on_owner(owner, SeckillMsg::Op(SeckillOp::Buy(buy))) {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(Answer::Now(reply)) => Answer::Now(into_reply(reply)),
        Ok(later) => later.map(move |reply| {
            drop(admission);
            into_reply(reply)
        }),
    }
}

/// `ORDER.PAY`, `ORDER.CANCEL`, `ORDER.GET`, with the op `op` makes of the order id.
pub fn order(seckill: &Rc<SeckillService>, args: &[Bytes], op: fn(OrderId) -> SeckillOp) -> Answer<Reply> {
    match parse_order(args) {
        Ok(id) => to_owner(seckill, seckill.ctx.slots().owner(id.slot), op(id)),
        Err(e) => e.into_answer(),
    }
}

/// `ORDER.PAYMENT`: to the owner of the order's slot.
pub fn payment(seckill: &Rc<SeckillService>, args: &[Bytes]) -> Answer<Reply> {
    match Payment::parse(args, &seckill.arg_limits()) {
        Ok(p) => to_owner(seckill, seckill.ctx.slots().owner(p.order.slot), SeckillOp::Payment(p)),
        Err(e) => e.into_answer(),
    }
}

fn to_owner(seckill: &Rc<SeckillService>, owner: ShardId, op: SeckillOp) -> Answer<Reply> {
    answer(seckill.on_owner(owner, SeckillMsg::Op(op)))
}

fn answer(routed: Result<Answer<SeckillReply>, MeshBusy>) -> Answer<Reply> {
    match routed {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(answer) => answer.map(into_reply),
    }
}

impl ArgError {
    fn into_answer(self) -> Answer<Reply> {
        Answer::Now(self.into())
    }
}
