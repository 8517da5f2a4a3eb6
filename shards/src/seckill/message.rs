//! What shards ask a flash-sale owner, and its answers.

use bytes::Bytes;
use shardhub_core::seckill::{Buy, Order, OrderId, PaymentOutcome, StockView};
use shardhub_core::SeckillError;

use super::command::{Payment, StockAdd, StockGet, StockSet};

pub enum SeckillMsg {
    /// A command for a SKU or order the destination owns.
    Op(SeckillOp),
    /// The owner of `sku` says whether it is sold out; the destination refuses BUYs for it
    /// locally while it is. Sent as a notice: no reply.
    SoldOutHint { sku: Bytes, sold_out: bool },
}

/// A flash-sale command, parsed and checked on the accepting shard, applied on the owner.
pub enum SeckillOp {
    StockSet(StockSet),
    StockAdd(StockAdd),
    StockGet(StockGet),
    Buy(Buy),
    Pay(OrderId),
    Cancel(OrderId),
    OrderGet(OrderId),
    Payment(Payment),
}

impl SeckillOp {
    /// Whether the op may write to the log (so it is refused when the log is down or full).
    pub fn writes(&self) -> bool {
        !matches!(self, SeckillOp::StockGet(_) | SeckillOp::OrderGet(_))
    }
}

pub enum SeckillReply {
    Ok,
    Available(u64),
    Stock(StockView),
    OrderId(OrderId),
    Order(Box<Order>),
    Payment(PaymentOutcome),
    Refused(SeckillError),
    /// Too many records wait for the disk: retry later.
    Busy,
    /// The log failed; the owner refuses writes until restarted.
    LogFailed,
    /// The owner could not answer (only while the process is going down).
    Unavailable,
}
