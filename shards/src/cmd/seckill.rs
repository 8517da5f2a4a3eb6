//! STOCK.SET, STOCK.ADD, STOCK.GET, SECKILL.BUY, ORDER.PAY, ORDER.CANCEL, ORDER.GET.
//!
//! Arguments are checked here, on the accepting shard, so bad input never costs a hop. A BUY
//! then meets the sold-out hint and the owner's admission queue before it travels; order ids
//! route by the slot they carry. docs/seckill.md is the user's view of all of this.

use std::borrow::Cow;
use std::rc::Rc;

use bytes::Bytes;
use shardhub_core::seckill::{Buy, OrderId};
use shardhub_core::{key_hash_slot, SeckillError};
use shardhub_net::resp::{errors, Reply};

use super::{parse_int, Outcome};
use crate::config::HOLD_SECS_MAX;
use crate::mesh::MeshBusy;
use crate::seckill_front::{Admission, SeckillFront};
use crate::seckill_metrics::SkuEvent;
use crate::shard::{Routed, Shard};
use crate::shard_op::{SeckillOp, SeckillReply, ShardOp, ShardReply};

/// `STOCK.SET sku total [LIMIT per_user] [HOLD seconds]`
pub fn stock_set(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
    let settings = shard.seckill_front.settings.get();
    let sku = &args[1];
    if let Some(e) = too_long(shard, "sku", sku) {
        return e.into();
    }
    let Some(total) = parse_int(&args[2]).and_then(|t| u64::try_from(t).ok()) else {
        return Reply::error(errors::NOT_INTEGER).into();
    };
    let mut limit = 0;
    let mut hold_secs = settings.default_hold_secs;
    let mut options = args[3..].chunks(2);
    for option in options.by_ref() {
        let [name, value] = option else {
            return Reply::error(errors::SYNTAX).into();
        };
        let is_limit = name.eq_ignore_ascii_case(b"LIMIT");
        if !is_limit && !name.eq_ignore_ascii_case(b"HOLD") {
            return Reply::error(errors::SYNTAX).into();
        }
        let Some(n) = parse_int(value) else {
            return Reply::error(errors::NOT_INTEGER).into();
        };
        if is_limit {
            if n < 1 {
                return Reply::error("ERR LIMIT must be a positive integer").into();
            }
            limit = n as u64;
        } else {
            if !(1..=HOLD_SECS_MAX as i64).contains(&n) {
                return Reply::error(format!("ERR HOLD must be between 1 and {HOLD_SECS_MAX} seconds")).into();
            }
            hold_secs = n as u64;
        }
    }
    let op = SeckillOp::StockSet {
        sku: sku.clone(),
        total,
        limit,
        hold_ms: hold_secs * 1000,
    };
    on_owner_of(shard, sku, op)
}

/// `STOCK.ADD sku delta`
pub fn stock_add(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
    let sku = &args[1];
    if let Some(e) = too_long(shard, "sku", sku) {
        return e.into();
    }
    let Some(delta) = parse_int(&args[2]) else {
        return Reply::error(errors::NOT_INTEGER).into();
    };
    on_owner_of(
        shard,
        sku,
        SeckillOp::StockAdd {
            sku: sku.clone(),
            delta,
        },
    )
}

/// `STOCK.GET sku`
pub fn stock_get(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
    let sku = &args[1];
    if let Some(e) = too_long(shard, "sku", sku) {
        return e.into();
    }
    on_owner_of(shard, sku, SeckillOp::StockGet(sku.clone()))
}

/// `SECKILL.BUY sku user [QTY n] [REQID id]`
pub fn buy(shard: &Rc<Shard>, args: &[Bytes]) -> Outcome {
    let settings = shard.seckill_front.settings.get();
    let (sku, user) = (&args[1], &args[2]);
    for (what, id) in [("sku", sku), ("user", user)] {
        if let Some(e) = too_long(shard, what, id) {
            return e.into();
        }
    }
    let mut qty = 1;
    let mut reqid = None;
    for option in args[3..].chunks(2) {
        let [name, value] = option else {
            return Reply::error(errors::SYNTAX).into();
        };
        if name.eq_ignore_ascii_case(b"QTY") {
            let max = settings.max_qty;
            match parse_int(value).and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (1..=max).contains(&n) => qty = n,
                _ => return Reply::error(format!("ERR QTY must be a positive integer no greater than {max}")).into(),
            }
        } else if name.eq_ignore_ascii_case(b"REQID") {
            if let Some(e) = too_long(shard, "REQID", value) {
                return e.into();
            }
            reqid = Some(value.clone());
        } else {
            return Reply::error(errors::SYNTAX).into();
        }
    }
    // Layer 1: the owner said this SKU is sold out; refuse here, no hop. Not for a REQID:
    // its retry must get its order id back even after the SKU sold out.
    if reqid.is_none() && shard.seckill_front.is_sold_out(sku) {
        count(shard, sku, SkuEvent::SoldOut);
        return Reply::error(errors::SOLDOUT).into();
    }
    let slot = key_hash_slot(sku);
    let owner = shard.shared.slots.owner(slot);
    // Layer 2: a bounded queue of BUYs waiting on that owner.
    let Some(admission) = SeckillFront::admit(shard, owner) else {
        count(shard, sku, SkuEvent::Busy);
        return Reply::error(errors::BUSY).into();
    };
    let op = SeckillOp::Buy(Buy {
        sku: sku.clone(),
        user: user.clone(),
        qty,
        reqid,
        slot,
    });
    // Layer 3: the owner's reserve.
    outcome(shard.call(owner, ShardOp::Seckill(op)), Some(admission))
}

/// `ORDER.PAY id`, `ORDER.CANCEL id`, `ORDER.GET id`
pub fn order(shard: &Rc<Shard>, args: &[Bytes], op: fn(OrderId) -> SeckillOp) -> Outcome {
    let Some(id) = OrderId::parse(&args[1]) else {
        // Not an id we could have handed out, so no such order.
        return Reply::error(errors::NOORDER).into();
    };
    let owner = shard.shared.slots.owner(id.slot);
    outcome(shard.call(owner, ShardOp::Seckill(op(id))), None)
}

fn on_owner_of(shard: &Rc<Shard>, sku: &Bytes, op: SeckillOp) -> Outcome {
    outcome(shard.call_owner_of(sku, ShardOp::Seckill(op)), None)
}

fn count(shard: &Shard, sku: &Bytes, event: SkuEvent) {
    let skus_max = shard.seckill_front.settings.get().metrics_skus_max;
    shard.seckill.metrics.borrow_mut().count(sku, event, skus_max);
}

fn too_long(shard: &Shard, what: &str, id: &[u8]) -> Option<Reply> {
    let max = shard.seckill_front.settings.get().max_id_bytes;
    (id.len() > max).then(|| Reply::error(format!("ERR {what} is longer than {max} bytes")))
}

/// The reply now, or a future of it; `admission` is held until the owner answers.
fn outcome(routed: Result<Routed, MeshBusy>, admission: Option<Admission>) -> Outcome {
    match routed {
        Err(MeshBusy) => Reply::error(errors::BUSY).into(),
        Ok(Routed::Local(reply)) => Outcome::Now(to_reply(reply)),
        Ok(Routed::Remote(future)) => Outcome::Later(Box::pin(async move {
            let reply = future.await;
            drop(admission);
            to_reply(reply)
        })),
    }
}

fn to_reply(reply: ShardReply) -> Reply {
    let ShardReply::Seckill(reply) = reply else {
        return Reply::error(errors::SHUTTING_DOWN);
    };
    match reply {
        SeckillReply::Ok => Reply::OK,
        SeckillReply::Available(n) => Reply::Int(n as i64),
        SeckillReply::OrderId(id) => Reply::bulk(id.to_string()),
        SeckillReply::Stock(s) => Reply::Map(vec![
            field("available", s.available),
            field("reserved", s.reserved),
            field("sold", s.sold),
            field("limit", s.limit),
            field("hold", s.hold_ms / 1000),
            field("total", s.total),
        ]),
        SeckillReply::Order(o) => Reply::Map(vec![
            (Reply::bulk_str("sku"), Reply::Bulk(o.sku)),
            (Reply::bulk_str("user"), Reply::Bulk(o.user)),
            field("qty", u64::from(o.qty)),
            (Reply::bulk_str("state"), Reply::bulk_str(o.state.as_str())),
            field("created_ms", o.created_ms),
            field("updated_ms", o.updated_ms),
            field("expires_ms", o.expires_ms),
        ]),
        SeckillReply::Refused(e) => refusal(e),
        SeckillReply::Busy => Reply::error(errors::BUSY),
        SeckillReply::LogFailed => Reply::error(errors::LOG_FAILED),
    }
}

fn field(name: &'static str, value: u64) -> (Reply, Reply) {
    (Reply::bulk_str(name), Reply::Int(value.min(i64::MAX as u64) as i64))
}

fn refusal(e: SeckillError) -> Reply {
    let text: Cow<'static, str> = match e {
        SeckillError::NoSku => errors::NOSKU.into(),
        SeckillError::SoldOut => errors::SOLDOUT.into(),
        SeckillError::Limit => errors::LIMIT.into(),
        SeckillError::NoOrder => errors::NOORDER.into(),
        SeckillError::Expired => errors::EXPIRED.into(),
        SeckillError::Cancelled => errors::CANCELLED.into(),
        SeckillError::Paid => errors::PAID.into(),
        SeckillError::ReqidMismatch => errors::REQID_MISMATCH.into(),
        SeckillError::BelowZero => errors::BELOW_ZERO.into(),
        SeckillError::Overflow => errors::OVERFLOW.into(),
        SeckillError::SkusFull => errors::SKUS_FULL.into(),
        SeckillError::OrdersFull => errors::ORDERS_FULL.into(),
        // The accepting shard checked QTY against the same bound; a reload in between can
        // still land here.
        SeckillError::BadQty => "ERR QTY out of range".into(),
        SeckillError::Inconsistent(why) => format!("ERR internal: {why}").into(),
    };
    Reply::Error(text)
}
