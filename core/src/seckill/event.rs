//! The records of a shard's flash-sale log. Every change to the inventory is one of these:
//! commands decide, events change. Replaying the events in order rebuilds the state exactly,
//! because [`super::Inventory::apply`] is the only code that mutates it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::OrderId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// STOCK.SET: a new sale of `total` units. `limit` 0 means no per-user cap.
    StockSet {
        sku: Bytes,
        total: u64,
        limit: u64,
        hold_ms: u64,
    },
    /// STOCK.ADD: a restock (or withdrawal) of available units.
    StockAdded {
        sku: Bytes,
        delta: i64,
    },
    /// SECKILL.BUY accepted: units move from available to reserved until `expires_ms`.
    Reserved {
        id: OrderId,
        sku: Bytes,
        user: Bytes,
        qty: u32,
        reqid: Option<Bytes>,
        at_ms: u64,
        expires_ms: u64,
    },
    Paid {
        id: OrderId,
        at_ms: u64,
    },
    Cancelled {
        id: OrderId,
        at_ms: u64,
    },
    /// The reservation's hold ran out (the expiry timer, or a late PAY or CANCEL).
    Expired {
        id: OrderId,
        at_ms: u64,
    },
    /// A reservation reached its final state. It names the order's SKU, user and quantity so
    /// that the log alone tells the outbox everything about it; logs written before it hold
    /// `Paid`, `Cancelled` and `Expired`, which replay the same way. Last in the enum: the
    /// binary form numbers variants in order.
    Settled {
        id: OrderId,
        to: Settlement,
        sku: Bytes,
        user: Bytes,
        qty: u32,
        at_ms: u64,
        /// The payment event that settled it; `None` for ORDER.PAY, ORDER.CANCEL and expiry.
        payment: Option<PaymentRef>,
    },
    /// A successful payment for an order that can no longer take it (expired, cancelled, or
    /// already paid by another payment): the money must go back. Changes no stock.
    RefundRequired {
        id: OrderId,
        payment: PaymentRef,
        /// The order's state that made the payment refundable.
        state: Settlement,
        at_ms: u64,
    },
    /// A payment for an order id this shard never handed out, or for an order archived
    /// since (`archived`: it is left to reconciliation, never refunded automatically, since it
    /// may be the order's own payment delivered late). Changes no stock.
    PaymentUnmatched {
        id: OrderId,
        payment: PaymentRef,
        succeeded: bool,
        archived: bool,
        at_ms: u64,
    },
}

/// A payment event as the saga received it: the payment provider's id and the amount in
/// minor units (cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRef {
    pub id: Bytes,
    pub amount: u64,
}

/// The final states of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    Paid,
    Cancelled,
    Expired,
}

impl Event {
    /// Appends the compact binary form (postcard) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::journal::encode_record(self, out);
    }

    pub fn decode(bytes: &[u8]) -> Result<Event, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs written before `Settled` existed still read: the older variants keep their numbers.
    #[test]
    fn variant_numbers_are_kept() {
        let mut out = Vec::new();
        Event::Expired {
            id: OrderId { slot: 1, seq: 2 },
            at_ms: 3,
        }
        .encode(&mut out);
        assert_eq!(out[0], 5, "Expired is the sixth variant");
    }

    #[test]
    fn events_round_trip() {
        let events = [
            Event::StockSet {
                sku: Bytes::from_static(b"sku:1"),
                total: 1000,
                limit: 2,
                hold_ms: 900_000,
            },
            Event::StockAdded {
                sku: Bytes::from_static(b"sku:1"),
                delta: -3,
            },
            Event::Reserved {
                id: OrderId { slot: 7, seq: 1 },
                sku: Bytes::from_static(b"sku:1"),
                user: Bytes::from_static(b"u1"),
                qty: 2,
                reqid: Some(Bytes::from_static(b"r-1")),
                at_ms: 1_700_000_000_000,
                expires_ms: 1_700_000_900_000,
            },
            Event::Paid {
                id: OrderId { slot: 7, seq: 1 },
                at_ms: 1,
            },
            Event::Settled {
                id: OrderId { slot: 7, seq: 1 },
                to: Settlement::Cancelled,
                sku: Bytes::from_static(b"sku:1"),
                user: Bytes::from_static(b"u1"),
                qty: 2,
                at_ms: 2,
                payment: Some(PaymentRef {
                    id: Bytes::from_static(b"pay-1"),
                    amount: 1999,
                }),
            },
            Event::RefundRequired {
                id: OrderId { slot: 7, seq: 1 },
                payment: PaymentRef {
                    id: Bytes::from_static(b"pay-2"),
                    amount: 1999,
                },
                state: Settlement::Expired,
                at_ms: 3,
            },
        ];
        for event in events {
            let mut out = vec![0xAA];
            event.encode(&mut out);
            assert_eq!(out[0], 0xAA, "encode appends");
            assert_eq!(Event::decode(&out[1..]).unwrap(), event);
        }
    }
}
