//! The outbox form of a logged flash-sale event: the Kafka key and the JSON value a relay
//! publishes for it (schema version 1, docs/pipeline.md). Pure: the relay feeds it records
//! read from a shard's log and where each sits.

use std::fmt;

use serde::Serialize;

use super::{Event, OrderId, PaymentRef, Settlement};

/// The schema version every event carries as `"v"`.
pub const OUTBOX_SCHEMA_VERSION: u32 = 1;

/// Where a record sits in its shard's log. The event id: unique, because a position holds one
/// record, and stable across re-sends, because only acknowledged records are published and an
/// acknowledged record never moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub shard: u16,
    pub segment: u64,
    pub offset: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.shard, self.segment, self.offset)
    }
}

/// One event as JSON. Byte strings (SKU, user, request id) are JSON strings when they are
/// UTF-8, as they nearly always are; otherwise the `_hex` field carries them.
#[derive(Serialize)]
struct Json<'a> {
    v: u32,
    event_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    shard: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qty: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reqid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reqid_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    /// Why a payment is unmatched when its order did exist: `archived`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl<'a> Json<'a> {
    fn new(id: EventId, kind: &'static str) -> Json<'a> {
        Json {
            v: OUTBOX_SCHEMA_VERSION,
            event_id: id.to_string(),
            kind,
            shard: id.shard,
            order_id: None,
            sku: None,
            sku_hex: None,
            user: None,
            user_hex: None,
            qty: None,
            state: None,
            at_ms: None,
            expires_ms: None,
            reqid: None,
            reqid_hex: None,
            total: None,
            limit: None,
            hold_ms: None,
            delta: None,
            payment_id: None,
            payment_id_hex: None,
            amount: None,
            status: None,
            reason: None,
        }
    }

    fn payment(mut self, payment: &'a PaymentRef) -> Json<'a> {
        (self.payment_id, self.payment_id_hex) = text(&payment.id);
        self.amount = Some(payment.amount);
        self
    }

    fn order(mut self, id: OrderId, state: &'static str, at_ms: u64) -> Json<'a> {
        self.order_id = Some(id.to_string());
        self.state = Some(state);
        self.at_ms = Some(at_ms);
        self
    }
}

/// A byte string as text, or as hex when it is not UTF-8.
fn text(bytes: &[u8]) -> (Option<&str>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (Some(s), None),
        Err(_) => (None, Some(bytes.iter().map(|b| format!("{b:02x}")).collect())),
    }
}

fn settlement_name(to: Settlement) -> &'static str {
    match to {
        Settlement::Paid => "paid",
        Settlement::Cancelled => "cancelled",
        Settlement::Expired => "expired",
    }
}

/// The Kafka key of `event`: the order id for an order's events, so that one order's events
/// stay in one partition in log order; the SKU for stock events.
pub fn outbox_key(event: &Event) -> Vec<u8> {
    match event {
        Event::StockSet { sku, .. } | Event::StockAdded { sku, .. } => sku.to_vec(),
        Event::Reserved { id, .. }
        | Event::Paid { id, .. }
        | Event::Cancelled { id, .. }
        | Event::Expired { id, .. }
        | Event::Settled { id, .. }
        | Event::RefundRequired { id, .. }
        | Event::PaymentUnmatched { id, .. } => id.to_string().into_bytes(),
    }
}

/// Appends the JSON value of `event`, found at `id` in its shard's log, to `out`.
pub fn outbox_value(event: &Event, id: EventId, out: &mut Vec<u8>) {
    let json = match event {
        Event::StockSet {
            sku,
            total,
            limit,
            hold_ms,
        } => {
            let mut j = Json::new(id, "stock_set");
            (j.sku, j.sku_hex) = text(sku);
            j.total = Some(*total);
            j.limit = Some(*limit);
            j.hold_ms = Some(*hold_ms);
            j
        }
        Event::StockAdded { sku, delta } => {
            let mut j = Json::new(id, "stock_added");
            (j.sku, j.sku_hex) = text(sku);
            j.delta = Some(*delta);
            j
        }
        Event::Reserved {
            id: order,
            sku,
            user,
            qty,
            reqid,
            at_ms,
            expires_ms,
        } => {
            let mut j = Json::new(id, "reserved").order(*order, "reserved", *at_ms);
            (j.sku, j.sku_hex) = text(sku);
            (j.user, j.user_hex) = text(user);
            j.qty = Some(*qty);
            j.expires_ms = Some(*expires_ms);
            if let Some(r) = reqid {
                (j.reqid, j.reqid_hex) = text(r);
            }
            j
        }
        // Written before `Settled` existed: the order's SKU, user and quantity are in its
        // `reserved` event.
        Event::Paid { id: order, at_ms } => Json::new(id, "paid").order(*order, "paid", *at_ms),
        Event::Cancelled { id: order, at_ms } => Json::new(id, "cancelled").order(*order, "cancelled", *at_ms),
        Event::Expired { id: order, at_ms } => Json::new(id, "expired").order(*order, "expired", *at_ms),
        Event::Settled {
            id: order,
            to,
            sku,
            user,
            qty,
            at_ms,
            payment,
        } => {
            let name = settlement_name(*to);
            let mut j = Json::new(id, name).order(*order, name, *at_ms);
            (j.sku, j.sku_hex) = text(sku);
            (j.user, j.user_hex) = text(user);
            j.qty = Some(*qty);
            match payment {
                Some(p) => j.payment(p),
                None => j,
            }
        }
        // The order keeps its state; the payment is to be returned.
        Event::RefundRequired {
            id: order,
            payment,
            state,
            at_ms,
        } => Json::new(id, "refund_required")
            .order(*order, settlement_name(*state), *at_ms)
            .payment(payment),
        Event::PaymentUnmatched {
            id: order,
            payment,
            succeeded,
            archived,
            at_ms,
        } => {
            let mut j = Json::new(id, "payment_unmatched").payment(payment);
            j.reason = archived.then_some("archived");
            j.order_id = Some(order.to_string());
            j.at_ms = Some(*at_ms);
            j.status = Some(if *succeeded { "succeeded" } else { "failed" });
            j
        }
    };
    serde_json::to_writer(out, &json).expect("writing JSON to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::{json, Value};

    use super::*;

    const AT: EventId = EventId {
        shard: 1,
        segment: 3,
        offset: 4096,
    };

    fn value(event: &Event) -> Value {
        let mut out = Vec::new();
        outbox_value(event, AT, &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_reservation_carries_the_whole_order() {
        let event = Event::Reserved {
            id: OrderId { slot: 7, seq: 12 },
            sku: Bytes::from_static(b"sku:1"),
            user: Bytes::from_static(b"alice"),
            qty: 2,
            reqid: Some(Bytes::from_static(b"r-1")),
            at_ms: 1000,
            expires_ms: 2000,
        };
        assert_eq!(outbox_key(&event), b"7-12");
        assert_eq!(
            value(&event),
            json!({"v": 1, "event_id": "1-3-4096", "type": "reserved", "shard": 1,
                   "order_id": "7-12", "sku": "sku:1", "user": "alice", "qty": 2,
                   "state": "reserved", "at_ms": 1000, "expires_ms": 2000, "reqid": "r-1"})
        );
    }

    #[test]
    fn a_settlement_names_its_order_and_bytes_that_are_not_text_go_as_hex() {
        let event = Event::Settled {
            id: OrderId { slot: 7, seq: 12 },
            to: Settlement::Expired,
            sku: Bytes::from_static(b"sku:1"),
            user: Bytes::from_static(b"\xff\x00"),
            qty: 2,
            at_ms: 3000,
            payment: None,
        };
        assert_eq!(outbox_key(&event), b"7-12");
        assert_eq!(
            value(&event),
            json!({"v": 1, "event_id": "1-3-4096", "type": "expired", "shard": 1,
                   "order_id": "7-12", "sku": "sku:1", "user_hex": "ff00", "qty": 2,
                   "state": "expired", "at_ms": 3000})
        );
    }

    #[test]
    fn a_refund_names_the_payment_and_the_state_that_refused_it() {
        let event = Event::RefundRequired {
            id: OrderId { slot: 7, seq: 12 },
            payment: PaymentRef {
                id: Bytes::from_static(b"pay-9"),
                amount: 1999,
            },
            state: Settlement::Expired,
            at_ms: 4000,
        };
        assert_eq!(outbox_key(&event), b"7-12");
        assert_eq!(
            value(&event),
            json!({"v": 1, "event_id": "1-3-4096", "type": "refund_required", "shard": 1,
                   "order_id": "7-12", "state": "expired", "at_ms": 4000,
                   "payment_id": "pay-9", "amount": 1999})
        );
    }

    #[test]
    fn stock_events_are_keyed_by_sku() {
        let event = Event::StockAdded {
            sku: Bytes::from_static(b"sku:1"),
            delta: -3,
        };
        assert_eq!(outbox_key(&event), b"sku:1");
        assert_eq!(
            value(&event),
            json!({"v": 1, "event_id": "1-3-4096", "type": "stock_added", "shard": 1,
                   "sku": "sku:1", "delta": -3})
        );
    }
}
