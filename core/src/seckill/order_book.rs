//! The orders of one shard, stored densely by slot and sequence.
//!
//! Order ids are handed out as `<slot>-<last + 1>`, so a slot's orders form a gap-free run
//! from sequence 1 and an order is found by indexing, not hashing. The run is kept in fixed
//! chunks: a growing book never rehashes or reallocates what it holds, so a hot sale with
//! millions of orders never stalls its owner shard on a large copy.

use std::collections::HashMap;

use ahash::RandomState;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::inventory::Order;
use super::OrderId;
use crate::slot::Slot;

/// Orders per chunk: large enough that the chunk table stays small, small enough that a new
/// chunk is a cheap allocation (about 400 KiB).
const CHUNK_ORDERS: usize = 4096;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OrderBook {
    slots: HashMap<Slot, SlotOrders, RandomState>,
    len: usize,
}

/// One slot's orders: the order with sequence `n` is at index `n - 1`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SlotOrders {
    chunks: Vec<Vec<Order>>,
    len: usize,
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
        match slot.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_ORDERS => chunk.push(order),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_ORDERS);
                chunk.push(order);
                slot.chunks.push(chunk);
            }
        }
        slot.len += 1;
        self.len += 1;
        debug_assert_eq!(
            slot.chunks.len().saturating_sub(1) * CHUNK_ORDERS + slot.chunks.last().map_or(0, Vec::len),
            slot.len,
            "full chunks and the last one hold the slot's orders"
        );
        true
    }

    pub fn get(&self, id: OrderId) -> Option<&Order> {
        let (chunk, at) = position(id)?;
        self.slots.get(&id.slot)?.chunks.get(chunk)?.get(at)
    }

    pub fn get_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        let (chunk, at) = position(id)?;
        self.slots.get_mut(&id.slot)?.chunks.get_mut(chunk)?.get_mut(at)
    }

    /// Every order with its id, slot by slot in no particular slot order.
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, &Order)> {
        self.slots.iter().flat_map(|(&slot, orders)| {
            orders.chunks.iter().flatten().enumerate().map(move |(i, order)| {
                let id = OrderId {
                    slot,
                    seq: i as u64 + 1,
                };
                (id, order)
            })
        })
    }
}

/// Chunk and index of an id's order; sequence 0 is never handed out.
fn position(id: OrderId) -> Option<(usize, usize)> {
    let index = usize::try_from(id.seq.checked_sub(1)?).ok()?;
    Some((index / CHUNK_ORDERS, index % CHUNK_ORDERS))
}

/// A snapshot holds a map from slot to that slot's orders in sequence order.
impl Serialize for OrderBook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Run<'a>(&'a SlotOrders);
        impl Serialize for Run<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // The length up front: postcard cannot write a sequence of unknown length.
                let mut seq = serializer.serialize_seq(Some(self.0.len))?;
                for order in self.0.chunks.iter().flatten() {
                    seq.serialize_element(order)?;
                }
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(self.slots.len()))?;
        for (slot, orders) in &self.slots {
            map.serialize_entry(slot, &Run(orders))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OrderBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BookVisitor;
        impl<'de> Visitor<'de> for BookVisitor {
            type Value = OrderBook;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from slot to its orders")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<OrderBook, A::Error> {
                let mut book = OrderBook::default();
                while let Some((slot, orders)) = access.next_entry::<Slot, Vec<Order>>()? {
                    if book.slots.contains_key(&slot) {
                        return Err(serde::de::Error::custom("a slot appears twice"));
                    }
                    for order in orders {
                        let id = book.next_id(slot);
                        book.push(id, order);
                    }
                }
                Ok(book)
            }
        }
        deserializer.deserialize_map(BookVisitor)
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
}
