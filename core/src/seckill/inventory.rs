//! One shard's flash-sale state: its SKUs, their orders, per-user holdings, REQIDs and the
//! reservation deadlines, as a pure state machine.
//!
//! Every command checks first and changes nothing on a refusal. An accepted command builds an
//! [`Event`], hands it to the caller's [`EventSink`](crate::EventSink) (the log) and then
//! applies it with [`Inventory::apply`], the only mutator, which is also what replay calls. So
//! a replayed log rebuilds exactly the state the live commands built.

use std::collections::{HashMap, HashSet};

use ahash::RandomState;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::deadlines::Deadlines;
use super::event::{Event, PaymentRef, Settlement};
use super::order_book::{chunk_of, LegacyOrderBook, OrderBook};
use super::OrderId;
use crate::error::SeckillError;
use crate::event_sink::EventSink;
use crate::slot::Slot;

/// Bounds of one shard's inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryLimits {
    pub skus_max: usize,
    pub orders_max: usize,
    /// Most units one BUY may reserve.
    pub qty_max: u32,
}

impl Sku {
    /// The no-oversell equation: every unit is available, reserved or sold, and no more.
    fn is_balanced(&self) -> bool {
        self.available
            .checked_add(self.reserved)
            .and_then(|n| n.checked_add(self.sold))
            == Some(self.total)
    }
}

/// A SKU's current sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sku {
    /// The SKU's own copy of its name, which its orders share.
    name: Bytes,
    /// Bumped by every STOCK.SET, so orders of an earlier sale never move this sale's counts.
    generation: u64,
    /// The STOCK.SET total plus every restock since: always available + reserved + sold.
    total: u64,
    available: u64,
    reserved: u64,
    sold: u64,
    /// Units one user may hold (reserved + sold); 0 means no cap.
    limit: u64,
    hold_ms: u64,
    /// Units each user holds in this sale; a user holding nothing has no entry. Kept only
    /// under a `limit`: nothing else reads it, and an uncapped sale of a million buyers would
    /// otherwise pay a table of a million users and a lookup in it on every BUY.
    holdings: HashMap<Bytes, u64, RandomState>,
    /// (user, REQID) -> the order that REQID created in this sale.
    reqids: HashMap<(Bytes, Bytes), OrderId, RandomState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderState {
    Reserved,
    Paid,
    Cancelled,
    Expired,
}

impl From<Settlement> for OrderState {
    fn from(s: Settlement) -> OrderState {
        match s {
            Settlement::Paid => OrderState::Paid,
            Settlement::Cancelled => OrderState::Cancelled,
            Settlement::Expired => OrderState::Expired,
        }
    }
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Reserved => "reserved",
            OrderState::Paid => "paid",
            OrderState::Cancelled => "cancelled",
            OrderState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub sku: Bytes,
    pub user: Bytes,
    pub qty: u32,
    pub state: OrderState,
    /// The sale (SKU generation) the units belong to.
    generation: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub expires_ms: u64,
}

impl Order {
    pub(super) fn new(sku: Bytes, user: Bytes, qty: u32, generation: u64, at_ms: u64, expires_ms: u64) -> Order {
        Order {
            sku,
            user,
            qty,
            state: OrderState::Reserved,
            generation,
            created_ms: at_ms,
            updated_ms: at_ms,
            expires_ms,
        }
    }
}

/// What STOCK.GET shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockView {
    pub available: u64,
    pub reserved: u64,
    pub sold: u64,
    pub limit: u64,
    pub hold_ms: u64,
    pub total: u64,
}

/// A SECKILL.BUY as the owner receives it.
#[derive(Debug, Clone)]
pub struct Buy {
    pub sku: Bytes,
    pub user: Bytes,
    pub qty: u32,
    pub reqid: Option<Bytes>,
    /// The SKU's slot, which the order id carries.
    pub slot: Slot,
}

/// An accepted BUY: the order id, and whether this call created it (false: a REQID retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bought {
    pub id: OrderId,
    pub created: bool,
}

/// What a payment event did (`Inventory::payment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// A success paid the reserved order.
    Paid,
    /// A failure cancelled the reserved order and released its units.
    Cancelled,
    /// A success came for an order that can no longer take it: a refund is logged.
    RefundRequired,
    /// No such order: the payment is logged as unmatched.
    Unmatched,
    /// This payment was applied before: nothing changed.
    Duplicate,
    /// A failure for an order already settled: nothing to do.
    Ignored,
}

/// The state a snapshot keeps; deadlines are rebuilt from the orders.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// `SNAPSHOT_MAGIC`: what tells this format from the one before it.
    magic: [u8; 4],
    skus: HashMap<Bytes, Sku, RandomState>,
    orders: OrderBook,
    payments: HashMap<Bytes, OrderId, RandomState>,
    archived: HashMap<Bytes, ArchivedUnits, RandomState>,
}

/// What a sale's archived orders still count for: its sold units, and each user's (under a
/// per-user limit), so the stock equations stay checkable after they left memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ArchivedUnits {
    generation: u64,
    sold: u64,
    held: HashMap<Bytes, u64, RandomState>,
}

/// The first bytes of a snapshot since orders are archived. Older snapshots start with their
/// SKU count instead, which these bytes cannot be read as in any real table (83 SKUs whose
/// first name starts with `K`).
const SNAPSHOT_MAGIC: [u8; 4] = *b"SKS2";

/// A snapshot written before payments were remembered and orders archived.
#[derive(Deserialize)]
struct SnapshotWithoutPayments {
    skus: HashMap<Bytes, Sku, RandomState>,
    orders: LegacyOrderBook,
}

#[derive(Debug)]
pub struct Inventory {
    limits: InventoryLimits,
    skus: HashMap<Bytes, Sku, RandomState>,
    orders: OrderBook,
    /// The deadline of every reserved order (and of some settled ones, skipped when due).
    deadlines: Deadlines,
    reserved_orders: usize,
    /// SKUs whose "sold out" status changed since the last `take_soldout_changes`.
    soldout_changes: Vec<(Bytes, bool)>,
    /// Payment ids already applied (paid, cancelled, refunded or unmatched), and their
    /// order: a payment event delivered again changes nothing. At most `orders_max`.
    payments: HashMap<Bytes, OrderId, RandomState>,
    /// The payment ids of each chunk of orders (slot, chunk index), which leave with it.
    payments_by_chunk: HashMap<(Slot, usize), Vec<Bytes>, RandomState>,
    /// Per SKU, what its current sale's archived orders count for.
    archived: HashMap<Bytes, ArchivedUnits, RandomState>,
}

/// Adds the paid orders of the SKUs' current sales to what their archived orders count for.
fn count_archived(
    skus: &HashMap<Bytes, Sku, RandomState>,
    archived: &mut HashMap<Bytes, ArchivedUnits, RandomState>,
    orders: &[Order],
) {
    for o in orders.iter().filter(|o| o.state == OrderState::Paid) {
        let Some(s) = skus.get(&o.sku).filter(|s| s.generation == o.generation) else {
            continue;
        };
        let units = archived.entry(s.name.clone()).or_default();
        if units.generation != s.generation {
            *units = ArchivedUnits {
                generation: s.generation,
                ..ArchivedUnits::default()
            };
        }
        units.sold += u64::from(o.qty);
        if s.limit > 0 {
            *units.held.entry(o.user.clone()).or_default() += u64::from(o.qty);
        }
    }
}

impl Inventory {
    pub fn new(limits: InventoryLimits) -> Self {
        Self {
            limits,
            skus: HashMap::default(),
            orders: OrderBook::default(),
            deadlines: Deadlines::default(),
            reserved_orders: 0,
            soldout_changes: Vec::new(),
            payments: HashMap::default(),
            payments_by_chunk: HashMap::default(),
            archived: HashMap::default(),
        }
    }

    pub fn set_limits(&mut self, limits: InventoryLimits) {
        self.limits = limits;
    }

    pub fn skus_len(&self) -> usize {
        self.skus.len()
    }

    pub fn orders_len(&self) -> usize {
        self.orders.len()
    }

    pub fn reserved_orders_len(&self) -> usize {
        self.reserved_orders
    }

    // ---- commands ----

    /// STOCK.SET: starts a new sale of `total` units.
    pub fn set_stock(
        &mut self,
        sku: Bytes,
        total: u64,
        limit: u64,
        hold_ms: u64,
        sink: &mut impl EventSink<Event>,
    ) -> Result<(), SeckillError> {
        if total > UNITS_MAX {
            return Err(SeckillError::Overflow);
        }
        if !self.skus.contains_key(&sku) && self.skus.len() >= self.limits.skus_max {
            return Err(SeckillError::SkusFull);
        }
        self.commit(
            Event::StockSet {
                sku,
                total,
                limit,
                hold_ms,
            },
            sink,
        );
        Ok(())
    }

    /// STOCK.ADD: returns the new available count.
    pub fn add_stock(&mut self, sku: Bytes, delta: i64, sink: &mut impl EventSink<Event>) -> Result<u64, SeckillError> {
        let s = self.skus.get(&sku).ok_or(SeckillError::NoSku)?;
        let available = add_signed(s.available, delta)?;
        add_signed(s.total, delta)?;
        self.commit(Event::StockAdded { sku, delta }, sink);
        Ok(available)
    }

    pub fn stock(&self, sku: &[u8]) -> Option<StockView> {
        self.skus.get(sku).map(|s| StockView {
            available: s.available,
            reserved: s.reserved,
            sold: s.sold,
            limit: s.limit,
            hold_ms: s.hold_ms,
            total: s.total,
        })
    }

    /// Whether the SKU exists and has nothing available: what the sold-out hint says.
    pub fn is_sold_out(&self, sku: &[u8]) -> bool {
        self.skus.get(sku).is_some_and(|s| s.available == 0)
    }

    /// SECKILL.BUY.
    pub fn buy(&mut self, buy: Buy, now_ms: u64, sink: &mut impl EventSink<Event>) -> Result<Bought, SeckillError> {
        let s = self.skus.get(&buy.sku).ok_or(SeckillError::NoSku)?;
        if buy.qty == 0 || buy.qty > self.limits.qty_max {
            return Err(SeckillError::BadQty);
        }
        if let Some(reqid) = &buy.reqid {
            if let Some(&id) = s.reqids.get(&(buy.user.clone(), reqid.clone())) {
                // An archived order's retry gets its id back: its QTY can no longer be checked,
                // and it must never reserve twice.
                if self.orders.is_archived(id) {
                    return Ok(Bought { id, created: false });
                }
                let order = self
                    .orders
                    .get(id)
                    .ok_or(SeckillError::Inconsistent("REQID of a lost order"))?;
                if order.qty != buy.qty {
                    return Err(SeckillError::ReqidMismatch);
                }
                return Ok(Bought { id, created: false });
            }
        }
        let qty = u64::from(buy.qty);
        if s.available < qty {
            return Err(SeckillError::SoldOut);
        }
        if s.limit > 0 && s.holdings.get(&buy.user).copied().unwrap_or(0) + qty > s.limit {
            return Err(SeckillError::Limit);
        }
        if self.orders.len() >= self.limits.orders_max {
            return Err(SeckillError::OrdersFull);
        }
        let id = self.orders.next_id(buy.slot);
        let expires_ms = now_ms.saturating_add(s.hold_ms);
        self.commit(
            Event::Reserved {
                id,
                sku: buy.sku,
                user: buy.user,
                qty: buy.qty,
                reqid: buy.reqid,
                at_ms: now_ms,
                expires_ms,
            },
            sink,
        );
        Ok(Bought { id, created: true })
    }

    /// ORDER.PAY: paying a paid order again is fine and sells nothing more.
    pub fn pay(&mut self, id: OrderId, now_ms: u64, sink: &mut impl EventSink<Event>) -> Result<(), SeckillError> {
        match self.live_state(id, now_ms, sink)? {
            OrderState::Paid => Ok(()),
            OrderState::Cancelled => Err(SeckillError::Cancelled),
            OrderState::Expired => Err(SeckillError::Expired),
            OrderState::Reserved => {
                self.commit(self.settled(id, Settlement::Paid, now_ms, None), sink);
                Ok(())
            }
        }
    }

    /// ORDER.CANCEL: cancelling a cancelled order again is fine; a paid one cannot be.
    pub fn cancel(&mut self, id: OrderId, now_ms: u64, sink: &mut impl EventSink<Event>) -> Result<(), SeckillError> {
        match self.live_state(id, now_ms, sink)? {
            OrderState::Cancelled => Ok(()),
            OrderState::Paid => Err(SeckillError::Paid),
            OrderState::Expired => Err(SeckillError::Expired),
            OrderState::Reserved => {
                self.commit(self.settled(id, Settlement::Cancelled, now_ms, None), sink);
                Ok(())
            }
        }
    }

    /// A payment event of the saga. A success pays a reserved order; a failure cancels it.
    /// A success for an order that can no longer take it (expired, cancelled, or paid by
    /// another payment) logs a refund: the money is kept and returned, never the reverse.
    /// A payment for an order never handed out is logged as unmatched. A payment applied
    /// before changes nothing.
    pub fn payment(
        &mut self,
        id: OrderId,
        payment: PaymentRef,
        succeeded: bool,
        now_ms: u64,
        sink: &mut impl EventSink<Event>,
    ) -> PaymentOutcome {
        if self.payments.contains_key(&payment.id) {
            return PaymentOutcome::Duplicate;
        }
        let state = match self.live_state(id, now_ms, sink) {
            Ok(state) => state,
            Err(e) => {
                let event = Event::PaymentUnmatched {
                    id,
                    payment,
                    succeeded,
                    archived: e == SeckillError::Archived,
                    at_ms: now_ms,
                };
                self.commit(event, sink);
                return PaymentOutcome::Unmatched;
            }
        };
        let settled_as = match state {
            OrderState::Reserved => None,
            OrderState::Paid => Some(Settlement::Paid),
            OrderState::Cancelled => Some(Settlement::Cancelled),
            OrderState::Expired => Some(Settlement::Expired),
        };
        match (settled_as, succeeded) {
            (None, true) => {
                self.commit(self.settled(id, Settlement::Paid, now_ms, Some(payment)), sink);
                PaymentOutcome::Paid
            }
            (None, false) => {
                self.commit(self.settled(id, Settlement::Cancelled, now_ms, Some(payment)), sink);
                PaymentOutcome::Cancelled
            }
            (Some(state), true) => {
                let event = Event::RefundRequired {
                    id,
                    payment,
                    state,
                    at_ms: now_ms,
                };
                self.commit(event, sink);
                PaymentOutcome::RefundRequired
            }
            (Some(_), false) => PaymentOutcome::Ignored,
        }
    }

    /// Remembers an applied payment id, while there is room (past it a redelivered event
    /// may be applied twice: a refund or an unmatched payment published twice, never a
    /// second state change, which the order's state refuses).
    fn remember_payment(&mut self, payment: &PaymentRef, id: OrderId) {
        if self.payments.len() < self.limits.orders_max {
            self.payments.insert(payment.id.clone(), id);
            if self.orders.get(id).is_some() {
                self.payments_by_chunk
                    .entry(chunk_of(id))
                    .or_default()
                    .push(payment.id.clone());
            }
        }
    }

    /// Lets whole chunks of orders leave memory: every order in them final and settled
    /// before `settled_before_ms`, and `published(slot, chunk)` (the owner knows what the
    /// relay has published). At most `chunks_max` chunks per call; returns the orders that
    /// left, as (slot, chunk index). Their payment ids leave with them.
    pub fn archive(
        &mut self,
        settled_before_ms: u64,
        chunks_max: usize,
        mut published: impl FnMut(Slot, usize) -> bool,
    ) -> Vec<(Slot, usize)> {
        let (skus, archived) = (&self.skus, &mut self.archived);
        let gone = self.orders.archive_front(chunks_max, |slot, chunk, orders| {
            let may_go = orders
                .iter()
                .all(|o| o.state != OrderState::Reserved && o.updated_ms < settled_before_ms)
                && published(slot, chunk);
            if may_go {
                count_archived(skus, archived, orders);
            }
            may_go
        });
        for key in &gone {
            for payment in self.payments_by_chunk.remove(key).unwrap_or_default() {
                self.payments.remove(&payment);
            }
        }
        gone
    }

    /// Whether `id` was handed out and has left memory since.
    pub fn is_archived(&self, id: OrderId) -> bool {
        self.orders.is_archived(id)
    }

    pub fn archived_len(&self) -> usize {
        self.orders.archived_len()
    }

    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// Expires up to `max` reservations whose deadline is at or before `now_ms`; returns how
    /// many it expired.
    pub fn expire_due(&mut self, now_ms: u64, max: usize, sink: &mut impl EventSink<Event>) -> usize {
        let mut expired = 0;
        while expired < max {
            match self.deadlines.first() {
                Some((deadline, _)) if deadline <= now_ms => {}
                _ => break,
            }
            let Some((_, id)) = self.deadlines.pop_first() else {
                break;
            };
            // Paid and cancelled orders leave their entry behind; only reserved ones expire.
            if self.orders.get(id).is_some_and(|o| o.state == OrderState::Reserved) {
                self.commit(self.settled(id, Settlement::Expired, now_ms, None), sink);
                expired += 1;
            }
        }
        expired
    }

    /// The earliest queued deadline, which may be a settled order's (the expiry timer finds
    /// nothing to do then).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|(deadline, _)| deadline)
    }

    /// SKUs whose sold-out status flipped since the last call, with the new status.
    pub fn take_soldout_changes(&mut self) -> std::vec::Drain<'_, (Bytes, bool)> {
        self.soldout_changes.drain(..)
    }

    /// Every SKU now sold out (to announce after a restart).
    pub fn soldout_skus(&self) -> impl Iterator<Item = &Bytes> {
        self.skus.iter().filter(|(_, s)| s.available == 0).map(|(sku, _)| sku)
    }

    /// An order's state, expiring it first if it is reserved past its deadline: the deadline
    /// decides, not whether the expiry timer has run yet.
    fn live_state(
        &mut self,
        id: OrderId,
        now_ms: u64,
        sink: &mut impl EventSink<Event>,
    ) -> Result<OrderState, SeckillError> {
        let Some(order) = self.orders.get(id) else {
            return Err(if self.orders.is_archived(id) {
                SeckillError::Archived
            } else {
                SeckillError::NoOrder
            });
        };
        if order.state == OrderState::Reserved && now_ms >= order.expires_ms {
            self.commit(self.settled(id, Settlement::Expired, now_ms, None), sink);
            return Ok(OrderState::Expired);
        }
        Ok(order.state)
    }

    /// The event that moves a reserved order to `to`, naming what the order holds.
    fn settled(&self, id: OrderId, to: Settlement, at_ms: u64, payment: Option<PaymentRef>) -> Event {
        let order = self.orders.get(id).expect("settling an order the command found");
        Event::Settled {
            id,
            to,
            sku: order.sku.clone(),
            user: order.user.clone(),
            qty: order.qty,
            at_ms,
            payment,
        }
    }

    /// Logs then applies an event the command has already checked.
    fn commit(&mut self, event: Event, sink: &mut impl EventSink<Event>) {
        sink.record(&event);
        if let Err(e) = self.apply(event) {
            unreachable!("a checked command built an event that does not apply: {e}");
        }
    }

    // ---- the only mutator ----

    /// Applies one event: from a command just now, or from the log at start.
    pub fn apply(&mut self, event: Event) -> Result<(), SeckillError> {
        use SeckillError::Inconsistent;
        match event {
            Event::StockSet {
                sku,
                total,
                limit,
                hold_ms,
            } => {
                let was_soldout = self.skus.get(&sku).map(|s| s.available == 0);
                let generation = self.skus.get(&sku).map_or(1, |s| s.generation + 1);
                // A compact copy: the command's bytes may be a slice of a read buffer.
                let sku = match self.skus.get(&sku) {
                    Some(stored) => stored.name.clone(),
                    None => Bytes::copy_from_slice(&sku),
                };
                self.skus.insert(
                    sku.clone(),
                    Sku {
                        name: sku.clone(),
                        generation,
                        total,
                        available: total,
                        reserved: 0,
                        sold: 0,
                        limit,
                        hold_ms,
                        holdings: HashMap::default(),
                        reqids: HashMap::default(),
                    },
                );
                if was_soldout != Some(total == 0) {
                    self.soldout_changes.push((sku, total == 0));
                }
            }
            Event::StockAdded { sku, delta } => {
                let s = self
                    .skus
                    .get_mut(&sku)
                    .ok_or(Inconsistent("restock of an unknown sku"))?;
                let before = s.available;
                s.available = add_signed(s.available, delta).map_err(|_| Inconsistent("restock below zero"))?;
                s.total = add_signed(s.total, delta).map_err(|_| Inconsistent("restock below zero"))?;
                debug_assert!(s.is_balanced(), "{s:?}");
                let after = s.available;
                let stored = s.name.clone();
                self.note_availability(&stored, before, after);
            }
            Event::Reserved {
                id,
                sku,
                user,
                qty,
                reqid,
                at_ms,
                expires_ms,
            } => {
                if id != self.orders.next_id(id.slot) {
                    return Err(Inconsistent("order id out of sequence"));
                }
                // Share the SKU's stored name and the user's holding key, and copy what is new,
                // so no order pins the connection read buffer its command arrived in.
                let s = self
                    .skus
                    .get_mut(&sku)
                    .ok_or(Inconsistent("reservation of an unknown sku"))?;
                let sku = s.name.clone();
                let user = match s.holdings.get_key_value(&user) {
                    Some((stored, _)) => stored.clone(),
                    None => Bytes::copy_from_slice(&user),
                };
                let reqid = reqid.map(|r| Bytes::copy_from_slice(&r));
                let units = u64::from(qty);
                let before = s.available;
                s.available = before
                    .checked_sub(units)
                    .ok_or(Inconsistent("reservation beyond stock"))?;
                s.reserved += units;
                if s.limit > 0 {
                    *s.holdings.entry(user.clone()).or_insert(0) += units;
                }
                if let Some(reqid) = reqid {
                    s.reqids.insert((user.clone(), reqid), id);
                }
                debug_assert!(s.is_balanced(), "{s:?}");
                let generation = s.generation;
                let after = s.available;
                let order = Order::new(sku.clone(), user, qty, generation, at_ms, expires_ms);
                if !self.orders.push(id, order) {
                    return Err(Inconsistent("order id out of sequence"));
                }
                self.deadlines.push(expires_ms.saturating_sub(at_ms), expires_ms, id);
                self.reserved_orders += 1;
                self.note_availability(&sku, before, after);
            }
            Event::Paid { id, at_ms } => self.settle(id, at_ms, OrderState::Paid)?,
            Event::Cancelled { id, at_ms } => self.settle(id, at_ms, OrderState::Cancelled)?,
            Event::Expired { id, at_ms } => self.settle(id, at_ms, OrderState::Expired)?,
            Event::Settled {
                id,
                to,
                sku,
                user,
                qty,
                at_ms,
                payment,
            } => {
                let order = self.orders.get(id).ok_or(Inconsistent("settling an unknown order"))?;
                if order.sku != sku || order.user != user || order.qty != qty {
                    return Err(Inconsistent("settlement of a different order"));
                }
                self.settle(id, at_ms, to.into())?;
                if let Some(payment) = payment {
                    self.remember_payment(&payment, id);
                }
            }
            Event::RefundRequired { id, payment, .. } => {
                let refundable = match self.orders.get(id) {
                    Some(o) => o.state != OrderState::Reserved,
                    None => self.orders.is_archived(id),
                };
                if !refundable {
                    return Err(Inconsistent("refund for an order that could take the payment"));
                }
                self.remember_payment(&payment, id);
            }
            // One for an archived order may find it back in memory: a restart from the whole
            // log has every order again.
            Event::PaymentUnmatched {
                id, payment, archived, ..
            } => {
                if !archived && self.orders.get(id).is_some() {
                    return Err(Inconsistent("unmatched payment for a known order"));
                }
                self.remember_payment(&payment, id);
            }
        }
        Ok(())
    }

    /// Moves a reserved order to its final state; its units go to sold, or back to available.
    fn settle(&mut self, id: OrderId, at_ms: u64, to: OrderState) -> Result<(), SeckillError> {
        use SeckillError::Inconsistent;
        let order = self
            .orders
            .get_mut(id)
            .ok_or(Inconsistent("settling an unknown order"))?;
        if order.state != OrderState::Reserved {
            return Err(Inconsistent("settling an order that is not reserved"));
        }
        order.state = to;
        order.updated_ms = at_ms;
        // Its deadline entry stays queued and is skipped when it comes due.
        self.reserved_orders -= 1;
        let Some(s) = self.skus.get_mut(&order.sku) else {
            return Err(Inconsistent("order of an unknown sku"));
        };
        if s.generation != order.generation {
            // The sale this order belonged to was replaced by STOCK.SET; its units went with it.
            return Ok(());
        }
        let units = u64::from(order.qty);
        s.reserved -= units;
        if to == OrderState::Paid {
            s.sold += units;
            debug_assert!(s.is_balanced(), "{s:?}");
            return Ok(());
        }
        let before = s.available;
        s.available += units;
        debug_assert!(s.is_balanced(), "{s:?}");
        let after = s.available;
        if let Some(held) = s.holdings.get_mut(&order.user) {
            *held -= units;
            if *held == 0 {
                s.holdings.remove(&order.user);
            }
        }
        let sku = order.sku.clone();
        self.note_availability(&sku, before, after);
        Ok(())
    }

    fn note_availability(&mut self, sku: &Bytes, before: u64, after: u64) {
        if (before == 0) != (after == 0) {
            self.soldout_changes.push((sku.clone(), after == 0));
        }
    }

    // ---- snapshots ----

    /// The whole state in postcard form.
    pub fn snapshot(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct SnapshotRef<'a> {
            magic: [u8; 4],
            skus: &'a HashMap<Bytes, Sku, RandomState>,
            orders: &'a OrderBook,
            payments: &'a HashMap<Bytes, OrderId, RandomState>,
            archived: &'a HashMap<Bytes, ArchivedUnits, RandomState>,
        }
        postcard::to_allocvec(&SnapshotRef {
            magic: SNAPSHOT_MAGIC,
            skus: &self.skus,
            orders: &self.orders,
            payments: &self.payments,
            archived: &self.archived,
        })
        .expect("encoding into a Vec")
    }

    /// Rebuilds an inventory from [`Inventory::snapshot`] bytes.
    pub fn restore(bytes: &[u8], limits: InventoryLimits) -> Result<Inventory, postcard::Error> {
        let mut snapshot: Snapshot = if bytes.starts_with(&SNAPSHOT_MAGIC) {
            postcard::from_bytes(bytes)?
        } else {
            let old: SnapshotWithoutPayments = postcard::from_bytes(bytes)?;
            Snapshot {
                magic: SNAPSHOT_MAGIC,
                skus: old.skus,
                orders: old.orders.0,
                payments: HashMap::default(),
                archived: HashMap::default(),
            }
        };
        let mut payments_by_chunk: HashMap<(Slot, usize), Vec<Bytes>, RandomState> = HashMap::default();
        for (payment, &id) in &snapshot.payments {
            if snapshot.orders.get(id).is_some() {
                payments_by_chunk.entry(chunk_of(id)).or_default().push(payment.clone());
            }
        }
        // Snapshots from before uncapped sales stopped keeping holdings may still carry them.
        for s in snapshot.skus.values_mut().filter(|s| s.limit == 0) {
            s.holdings = HashMap::default();
        }
        let mut reserved: Vec<(u64, OrderId, u64)> = snapshot
            .orders
            .iter()
            .filter(|(_, o)| o.state == OrderState::Reserved)
            .map(|(id, o)| (o.expires_ms, id, o.expires_ms.saturating_sub(o.created_ms)))
            .collect();
        reserved.sort_unstable();
        let mut deadlines = Deadlines::default();
        for &(expires_ms, id, hold_ms) in &reserved {
            deadlines.push(hold_ms, expires_ms, id);
        }
        Ok(Inventory {
            limits,
            skus: snapshot.skus,
            orders: snapshot.orders,
            deadlines,
            reserved_orders: reserved.len(),
            soldout_changes: Vec::new(),
            payments: snapshot.payments,
            payments_by_chunk,
            archived: snapshot.archived,
        })
    }

    /// Checks the no-oversell equations for every SKU against its orders; returns what is
    /// wrong. O(orders): for tests and for the check after a replay.
    pub fn check_invariants(&self) -> Result<(), crate::error::BrokenInvariant> {
        self.invariants().map_err(crate::error::BrokenInvariant)
    }

    pub(crate) fn invariants(&self) -> Result<(), String> {
        let mut reserved: HashMap<&Bytes, u64> = HashMap::new();
        let mut sold: HashMap<&Bytes, u64> = HashMap::new();
        let mut held: HashMap<(&Bytes, &Bytes), u64> = HashMap::new();
        if !self.deadlines.is_consistent() {
            return Err("deadline queues out of order".into());
        }
        let queued: HashSet<(u64, OrderId)> = self.deadlines.iter().collect();
        let mut reserved_orders = 0;
        for (id, o) in self.orders.iter() {
            let Some(s) = self.skus.get(&o.sku) else {
                return Err(format!("order {id} of unknown sku"));
            };
            if o.state == OrderState::Reserved {
                reserved_orders += 1;
                if !queued.contains(&(o.expires_ms, id)) {
                    return Err(format!("reserved order {id} has no deadline"));
                }
            }
            if o.generation != s.generation {
                continue;
            }
            let units = u64::from(o.qty);
            match o.state {
                OrderState::Reserved => *reserved.entry(&o.sku).or_default() += units,
                OrderState::Paid => *sold.entry(&o.sku).or_default() += units,
                _ => continue,
            }
            if s.limit > 0 {
                *held.entry((&o.sku, &o.user)).or_default() += units;
            }
        }
        if reserved_orders != self.reserved_orders {
            return Err(format!(
                "{} reserved orders counted, {reserved_orders} found",
                self.reserved_orders
            ));
        }
        for (name, s) in &self.skus {
            let sku = String::from_utf8_lossy(name);
            if *name != s.name {
                return Err(format!("{sku}: stored under another name"));
            }
            if s.total > UNITS_MAX {
                return Err(format!("{sku}: total {} beyond {UNITS_MAX}", s.total));
            }
            if !s.is_balanced() {
                return Err(format!(
                    "{sku}: available {} + reserved {} + sold {} != total {}",
                    s.available, s.reserved, s.sold, s.total
                ));
            }
            let gone = self.archived.get(name).filter(|a| a.generation == s.generation);
            let want_reserved = reserved.get(name).copied().unwrap_or(0);
            let want_sold = sold.get(name).copied().unwrap_or(0) + gone.map_or(0, |a| a.sold);
            if s.reserved != want_reserved || s.sold != want_sold {
                return Err(format!(
                    "{sku}: counts reserved {} sold {}, orders say {want_reserved} and {want_sold}",
                    s.reserved, s.sold
                ));
            }
            for (user, units) in &s.holdings {
                let want = held.get(&(name, user)).copied().unwrap_or(0)
                    + gone.and_then(|a| a.held.get(user)).copied().unwrap_or(0);
                if *units != want || *units == 0 {
                    return Err(format!("{sku}: holding {units} for a user whose orders say {want}"));
                }
            }
            let live_holders = held.keys().filter(|(k, _)| *k == name).map(|(_, u)| *u);
            let archived_holders = gone.iter().flat_map(|a| a.held.keys());
            let holders = live_holders.chain(archived_holders).collect::<HashSet<_>>().len();
            if holders != s.holdings.len() {
                return Err(format!("{sku}: {} holdings for {holders} holders", s.holdings.len()));
            }
        }
        Ok(())
    }

    /// The same state, ignoring bounds and pending hint changes (for replay tests). Deadlines
    /// follow from the orders, which `check_invariants` checks.
    /// Like [`Inventory::same_state`] for `other`'s live orders (those it archived may still
    /// be here, as after a restart from the whole log).
    pub fn same_live_state(&self, other: &Inventory) -> bool {
        self.skus == other.skus
            && self.reserved_orders == other.reserved_orders
            && other.orders.iter().all(|(id, o)| self.orders.get(id) == Some(o))
    }

    pub fn same_state(&self, other: &Inventory) -> bool {
        self.skus == other.skus
            && self.orders == other.orders
            && self.reserved_orders == other.reserved_orders
            && self.payments == other.payments
            && self.archived == other.archived
    }
}

/// The most units a count may hold: counts travel as signed 64-bit integers (RESP's), so
/// one beyond would read as negative.
pub const UNITS_MAX: u64 = i64::MAX as u64;

fn add_signed(value: u64, delta: i64) -> Result<u64, SeckillError> {
    if delta >= 0 {
        value
            .checked_add(delta as u64)
            .filter(|&n| n <= UNITS_MAX)
            .ok_or(SeckillError::Overflow)
    } else {
        value.checked_sub(delta.unsigned_abs()).ok_or(SeckillError::BelowZero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Snapshots written before payments were remembered still restore, with none.
    #[test]
    fn a_snapshot_from_before_payments_restores() {
        let limits = InventoryLimits {
            skus_max: 4,
            orders_max: 16,
            qty_max: 2,
        };
        let mut inv = Inventory::new(limits);
        let mut log = Vec::new();
        inv.set_stock(Bytes::from_static(b"s"), 5, 0, 1000, &mut log).unwrap();
        let buy = Buy {
            sku: Bytes::from_static(b"s"),
            user: Bytes::from_static(b"u"),
            qty: 1,
            reqid: None,
            slot: 1,
        };
        inv.buy(buy, 0, &mut log).unwrap();
        // Then a book was each slot's whole run of orders.
        #[derive(Serialize)]
        struct Old<'a> {
            skus: &'a HashMap<Bytes, Sku, RandomState>,
            orders: HashMap<Slot, Vec<Order>>,
        }
        let mut runs: HashMap<Slot, Vec<Order>> = HashMap::new();
        for (id, order) in inv.orders.iter() {
            runs.entry(id.slot).or_default().push(order.clone());
        }
        let old = postcard::to_allocvec(&Old {
            skus: &inv.skus,
            orders: runs,
        })
        .unwrap();
        assert!(Inventory::restore(&old, limits).unwrap().same_state(&inv));
        assert!(Inventory::restore(&inv.snapshot(), limits).unwrap().same_state(&inv));
    }
}
