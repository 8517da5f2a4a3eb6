//! The orders of one shard, stored densely by slot and sequence.
//!
//! Order ids are handed out as `<slot>-<last + 1>`, so a slot's orders form a gap-free run
//! from sequence 1 and an order is found by indexing, not hashing. The run is kept in fixed
//! chunks: a growing book never rehashes or reallocates what it holds, so a hot sale with
//! millions of orders never stalls its owner shard on a large copy.
//!
//! Whole chunks leave from the front of a slot's run once its owner says they may (archived:
//! settled, old and published); the slot keeps counting, so ids keep their sequence, and an
//! archived id is told apart from one never handed out.

use std::collections::{HashMap, VecDeque};

use ahash::RandomState;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::inventory::Order;
use super::OrderId;
use crate::slot::Slot;

/// Orders per chunk: large enough that the chunk table stays small, small enough that a new
/// chunk is a cheap allocation (about 400 KiB). Small in tests, so that the property tests
/// fill and archive chunks.
pub const CHUNK_ORDERS: usize = if cfg!(test) { 4 } else { 4096 };

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OrderBook {
    slots: HashMap<Slot, SlotOrders, RandomState>,
    len: usize,
}

/// One slot's orders: the order with sequence `n` is at index `n - 1` of the run, whose first
/// `archived` chunks are gone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SlotOrders {
    chunks: VecDeque<Vec<Order>>,
    /// Orders ever pushed, archived ones included.
    len: usize,
    archived: usize,
}

impl SlotOrders {
    fn live(&self) -> usize {
        self.len - self.archived * CHUNK_ORDERS
    }
}

impl OrderBook {
    pub fn len(&self) -> usize {
        self.len
    }

    /// The id the next order of `slot` gets.
    pub fn next_id(&self, slot: Slot) -> OrderId {
        let last = self.slots.get(&slot).map_or(0, |s| s.len);
        OrderId {
            slot,
            seq: last as u64 + 1,
        }
    }

    /// Appends an order; `id` must be the slot's [`OrderBook::next_id`], which is what keeps
    /// the run gap-free. Returns false (and stores nothing) for any other id.
    pub fn push(&mut self, id: OrderId, order: Order) -> bool {
        let slot = self.slots.entry(id.slot).or_default();
        if id.seq != slot.len as u64 + 1 {
            return false;
        }
        match slot.chunks.back_mut() {
            Some(chunk) if chunk.len() < CHUNK_ORDERS => chunk.push(order),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_ORDERS);
                chunk.push(order);
                slot.chunks.push_back(chunk);
            }
        }
        slot.len += 1;
        self.len += 1;
        debug_assert_eq!(
            (slot.archived + slot.chunks.len().saturating_sub(1)) * CHUNK_ORDERS
                + slot.chunks.back().map_or(0, Vec::len),
            slot.len,
            "archived chunks, full chunks and the last one hold the slot's orders"
        );
        true
    }

    pub fn get(&self, id: OrderId) -> Option<&Order> {
        let (chunk, at) = position(id)?;
        let slot = self.slots.get(&id.slot)?;
        slot.chunks.get(chunk.checked_sub(slot.archived)?)?.get(at)
    }

    pub fn get_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        let (chunk, at) = position(id)?;
        let slot = self.slots.get_mut(&id.slot)?;
        slot.chunks.get_mut(chunk.checked_sub(slot.archived)?)?.get_mut(at)
    }

    /// Whether `id` was handed out and its chunk has since been archived.
    pub fn is_archived(&self, id: OrderId) -> bool {
        let (Some((chunk, _)), Some(slot)) = (position(id), self.slots.get(&id.slot)) else {
            return false;
        };
        chunk < slot.archived
    }

    /// Orders archived so far.
    pub fn archived_len(&self) -> usize {
        self.slots.values().map(|s| s.archived * CHUNK_ORDERS).sum()
    }

    /// Archives up to `chunks_max` whole chunks from the front of the slots' runs, never a
    /// slot's last chunk, each only if `may_go(slot, chunk index, its orders)` says so; a slot
    /// stops at its first chunk that may not go. Returns the chunks archived.
    pub fn archive_front(
        &mut self,
        chunks_max: usize,
        mut may_go: impl FnMut(Slot, usize, &[Order]) -> bool,
    ) -> Vec<(Slot, usize)> {
        let mut gone = Vec::new();
        for (&slot, orders) in self.slots.iter_mut() {
            while gone.len() < chunks_max && orders.chunks.len() > 1 {
                let front = orders.chunks.front().expect("more than one chunk");
                if !may_go(slot, orders.archived, front) {
                    break;
                }
                orders.chunks.pop_front();
                gone.push((slot, orders.archived));
                orders.archived += 1;
                self.len -= CHUNK_ORDERS;
            }
        }
        debug_assert_eq!(self.len, self.slots.values().map(SlotOrders::live).sum::<usize>());
        gone
    }

    /// Every live order with its id, slot by slot in no particular slot order.
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, &Order)> {
        self.slots.iter().flat_map(|(&slot, orders)| {
            let first = orders.archived * CHUNK_ORDERS;
            orders.chunks.iter().flatten().enumerate().map(move |(i, order)| {
                let id = OrderId {
                    slot,
                    seq: (first + i) as u64 + 1,
                };
                (id, order)
            })
        })
    }
}

/// The chunk an order id falls in, as (slot, chunk index): what leaves memory together.
pub fn chunk_of(id: OrderId) -> (Slot, usize) {
    (id.slot, (id.seq.saturating_sub(1) / CHUNK_ORDERS as u64) as usize)
}

/// Chunk and index of an id's order; sequence 0 is never handed out.
fn position(id: OrderId) -> Option<(usize, usize)> {
    let index = usize::try_from(id.seq.checked_sub(1)?).ok()?;
    Some((index / CHUNK_ORDERS, index % CHUNK_ORDERS))
}

/// A snapshot holds a map from slot to its archived chunk count and its live orders in
/// sequence order.
impl Serialize for OrderBook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Run<'a>(&'a SlotOrders);
        impl Serialize for Run<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // The length up front: postcard cannot write a sequence of unknown length.
                let mut seq = serializer.serialize_seq(Some(self.0.live()))?;
                for order in self.0.chunks.iter().flatten() {
                    seq.serialize_element(order)?;
                }
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(self.slots.len()))?;
        for (slot, orders) in &self.slots {
            map.serialize_entry(slot, &(orders.archived as u64, Run(orders)))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OrderBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BookVisitor { archived: true })
    }
}

/// The order book as snapshots wrote it before archiving: each slot's whole run.
pub struct LegacyOrderBook(pub OrderBook);

impl<'de> Deserialize<'de> for LegacyOrderBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(BookVisitor { archived: false })
            .map(LegacyOrderBook)
    }
}

struct BookVisitor {
    /// Whether each slot's entry starts with its archived chunk count.
    archived: bool,
}

impl<'de> Visitor<'de> for BookVisitor {
    type Value = OrderBook;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map from slot to its orders")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<OrderBook, A::Error> {
        let mut book = OrderBook::default();
        while let Some(slot) = access.next_key::<Slot>()? {
            if book.slots.contains_key(&slot) {
                return Err(serde::de::Error::custom("a slot appears twice"));
            }
            let (archived, orders) = if self.archived {
                access.next_value::<(u64, Vec<Order>)>()?
            } else {
                (0, access.next_value::<Vec<Order>>()?)
            };
            let archived = usize::try_from(archived).map_err(serde::de::Error::custom)?;
            let run = book.slots.entry(slot).or_default();
            run.archived = archived;
            run.len = archived
                .checked_mul(CHUNK_ORDERS)
                .ok_or_else(|| serde::de::Error::custom("archived count out of range"))?;
            for order in orders {
                let id = book.next_id(slot);
                book.push(id, order);
            }
        }
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::seckill::inventory::OrderState;

    fn order(qty: u32) -> Order {
        Order::new(Bytes::from_static(b"sku"), Bytes::from_static(b"u"), qty, 1, 10, 20)
    }

    #[test]
    fn ids_run_gap_free_per_slot_across_chunks() {
        let mut book = OrderBook::default();
        for n in 0..(CHUNK_ORDERS as u32 * 2 + 3) {
            for slot in [7, 9] {
                let id = book.next_id(slot);
                assert_eq!(id.seq, u64::from(n) + 1);
                assert!(book.push(id, order(n + 1)));
            }
        }
        assert_eq!(book.len(), (CHUNK_ORDERS * 2 + 3) * 2);
        let id = OrderId {
            slot: 9,
            seq: CHUNK_ORDERS as u64 + 1,
        };
        assert_eq!(book.get(id).map(|o| o.qty), Some(CHUNK_ORDERS as u32 + 1));
        assert!(book.get(OrderId { slot: 9, seq: 0 }).is_none());
        assert!(book.get(OrderId { slot: 8, seq: 1 }).is_none());
        assert!(book.get(OrderId { slot: 9, seq: u64::MAX }).is_none());
        book.get_mut(id).unwrap().state = OrderState::Paid;
        assert_eq!(book.get(id).unwrap().state, OrderState::Paid);
        assert_eq!(book.iter().count(), book.len());
        assert!(book.iter().all(|(id, o)| u64::from(o.qty) == id.seq));
    }

    #[test]
    fn an_id_out_of_sequence_is_refused() {
        let mut book = OrderBook::default();
        assert!(!book.push(OrderId { slot: 1, seq: 2 }, order(1)));
        assert!(!book.push(OrderId { slot: 1, seq: 0 }, order(1)));
        assert!(book.push(OrderId { slot: 1, seq: 1 }, order(1)));
        assert!(!book.push(OrderId { slot: 1, seq: 1 }, order(1)));
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn snapshot_form_round_trips() {
        let mut book = OrderBook::default();
        for n in 1..=5000 {
            let slot = (n % 3) as Slot;
            book.push(book.next_id(slot), order(n));
        }
        let bytes = postcard::to_allocvec(&book).unwrap();
        let back: OrderBook = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, book);
    }

    #[test]
    fn archived_chunks_leave_from_the_front_and_ids_keep_their_sequence() {
        let mut book = OrderBook::default();
        for n in 1..=(CHUNK_ORDERS as u32 * 3 + 1) {
            book.push(book.next_id(5), order(n));
        }
        // The second chunk may not go: archiving stops there.
        let gone = book.archive_front(10, |_, chunk, _| chunk != 1);
        assert_eq!(gone, vec![(5, 0)]);
        let first = OrderId { slot: 5, seq: 1 };
        assert!(book.get(first).is_none() && book.is_archived(first));
        let kept = OrderId {
            slot: 5,
            seq: CHUNK_ORDERS as u64 + 1,
        };
        assert!(book.get(kept).is_some() && !book.is_archived(kept));
        assert!(!book.is_archived(OrderId { slot: 6, seq: 1 }));
        assert_eq!(book.len(), CHUNK_ORDERS * 2 + 1);
        assert_eq!(book.archived_len(), CHUNK_ORDERS);
        assert!(
            book.iter().all(|(id, o)| u64::from(o.qty) == id.seq),
            "ids keep their sequence"
        );
        // Never the last chunk; the next id continues the run.
        book.archive_front(10, |_, _, _| true);
        assert_eq!(book.len(), 1);
        assert_eq!(book.next_id(5).seq, CHUNK_ORDERS as u64 * 3 + 2);
        let bytes = postcard::to_allocvec(&book).unwrap();
        let back: OrderBook = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, book);
        assert!(back.is_archived(first));
    }

    #[test]
    fn a_snapshot_from_before_archiving_reads() {
        #[derive(Serialize)]
        struct Legacy(HashMap<Slot, Vec<Order>>);
        let mut book = OrderBook::default();
        let mut runs: HashMap<Slot, Vec<Order>> = HashMap::new();
        for n in 1..=10 {
            book.push(book.next_id(2), order(n));
            runs.entry(2).or_default().push(order(n));
        }
        let bytes = postcard::to_allocvec(&Legacy(runs)).unwrap();
        let back: LegacyOrderBook = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.0, book);
    }
}
