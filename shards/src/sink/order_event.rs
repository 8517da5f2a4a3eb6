//! The orders topic's events as the sink reads them (schema version 1, docs/pipeline.md):
//! only what the order store needs. Pure.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderEvent {
    pub v: u32,
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub order_id: Option<String>,
    pub sku: Option<String>,
    pub user: Option<String>,
    pub qty: Option<i32>,
    pub state: Option<String>,
    pub at_ms: Option<i64>,
    pub expires_ms: Option<i64>,
    pub payment_id: Option<String>,
    pub amount: Option<i64>,
    pub status: Option<String>,
}

/// What the store does with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    Reserved(OrderEvent),
    /// `paid`, `cancelled` or `expired`.
    Settled(OrderEvent),
    Refund(OrderEvent),
    Unmatched(OrderEvent),
    /// Stock events and types a later schema adds: nothing to store.
    Skip,
}

/// Reads one record; `Err` for a record that is not an event of a schema this sink knows
/// (counted and logged, then passed: a consumer must not stop on one bad record).
pub fn parse(bytes: &[u8]) -> Result<SinkEvent, String> {
    let e: OrderEvent = serde_json::from_slice(bytes).map_err(|e| format!("not an order event: {e}"))?;
    if e.v != 1 {
        return Err(format!("schema version {} is not 1", e.v));
    }
    let needs_order = |e: OrderEvent| match e.order_id {
        Some(_) => Ok(e),
        None => Err(format!("{} event {} has no order_id", e.kind, e.event_id)),
    };
    Ok(match e.kind.as_str() {
        "reserved" => SinkEvent::Reserved(needs_order(e)?),
        "paid" | "cancelled" | "expired" => SinkEvent::Settled(needs_order(e)?),
        "refund_required" if e.payment_id.is_some() && e.state.is_some() => SinkEvent::Refund(needs_order(e)?),
        "payment_unmatched" if e.payment_id.is_some() && e.status.is_some() => SinkEvent::Unmatched(needs_order(e)?),
        "refund_required" | "payment_unmatched" => {
            return Err(format!("{} event {} lacks its payment fields", e.kind, e.event_id))
        }
        _ => SinkEvent::Skip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_sorted_by_what_the_store_does() {
        let reserved = br#"{"v":1,"event_id":"0-1-0","type":"reserved","shard":0,"order_id":"1-1","sku":"s","user":"u","qty":1,"state":"reserved","at_ms":5,"expires_ms":9}"#;
        assert!(matches!(parse(reserved).unwrap(), SinkEvent::Reserved(e) if e.sku.as_deref() == Some("s")));
        let paid = br#"{"v":1,"event_id":"0-1-9","type":"paid","shard":0,"order_id":"1-1","state":"paid","at_ms":6}"#;
        assert!(matches!(parse(paid).unwrap(), SinkEvent::Settled(_)));
        let stock =
            br#"{"v":1,"event_id":"0-1-20","type":"stock_set","shard":0,"sku":"s","total":5,"limit":0,"hold_ms":1}"#;
        assert_eq!(parse(stock).unwrap(), SinkEvent::Skip);
        assert!(parse(br#"{"v":2,"event_id":"x","type":"paid"}"#).is_err());
        assert!(parse(b"nope").is_err());
        assert!(parse(br#"{"v":1,"event_id":"x","type":"paid"}"#).is_err());
    }
}
