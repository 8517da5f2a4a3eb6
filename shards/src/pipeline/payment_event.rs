//! The payments topic's events, read strictly: `{"payment_id", "order_id", "status", "amount"}`
//! and nothing else. Pure: the consumer hands it a record's bytes and gets what to do, or why
//! the record goes to the dead-letter topic.

use serde::Deserialize;
use shardhub_core::seckill::OrderId;

/// Bound on one payment record; a bigger one is dead-lettered unread.
pub const PAYMENT_EVENT_BYTES_MAX: usize = 4096;
/// Bound on a payment id (a provider's id, a UUID or so).
pub const PAYMENT_ID_BYTES_MAX: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    payment_id: String,
    order_id: String,
    status: Status,
    amount: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Succeeded,
    Failed,
}

/// What to do with one record of the payments topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// Apply it to the order's owner (ORDER.PAYMENT).
    Apply {
        order: OrderId,
        payment_id: String,
        succeeded: bool,
        amount: u64,
    },
    /// Its order id is not one shardhub hands out: published as `payment_unmatched`.
    Unmatched {
        order_id: String,
        payment_id: String,
        succeeded: bool,
        amount: u64,
    },
}

/// Reads one record; `Err` is the reason it goes to the dead-letter topic.
pub fn parse(bytes: &[u8]) -> Result<PaymentEvent, String> {
    if bytes.len() > PAYMENT_EVENT_BYTES_MAX {
        return Err(format!(
            "record of {} bytes is over the bound of {PAYMENT_EVENT_BYTES_MAX}",
            bytes.len()
        ));
    }
    let wire: Wire = serde_json::from_slice(bytes).map_err(|e| format!("not a payment event: {e}"))?;
    if wire.payment_id.is_empty() || wire.payment_id.len() > PAYMENT_ID_BYTES_MAX {
        return Err(format!("payment_id must be 1 to {PAYMENT_ID_BYTES_MAX} bytes"));
    }
    let amount = u64::try_from(wire.amount).map_err(|_| format!("amount {} is negative", wire.amount))?;
    let succeeded = wire.status == Status::Succeeded;
    Ok(match OrderId::parse(wire.order_id.as_bytes()) {
        Some(order) => PaymentEvent::Apply {
            order,
            payment_id: wire.payment_id,
            succeeded,
            amount,
        },
        None => PaymentEvent::Unmatched {
            order_id: wire.order_id,
            payment_id: wire.payment_id,
            succeeded,
            amount,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_reads_and_its_order_routes() {
        let e = parse(br#"{"payment_id":"p1","order_id":"12-3","status":"succeeded","amount":1999}"#).unwrap();
        assert_eq!(
            e,
            PaymentEvent::Apply {
                order: OrderId { slot: 12, seq: 3 },
                payment_id: "p1".into(),
                succeeded: true,
                amount: 1999
            }
        );
        let e = parse(br#"{"payment_id":"p2","order_id":"nope","status":"failed","amount":0}"#).unwrap();
        assert!(matches!(e, PaymentEvent::Unmatched { succeeded: false, .. }));
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let reason = |b: &[u8]| parse(b).unwrap_err();
        assert!(reason(b"{not json").contains("not a payment event"));
        assert!(
            reason(br#"{"payment_id":"p","order_id":"1-1","status":"succeeded","amount":1,"x":1}"#)
                .contains("unknown field")
        );
        assert!(
            reason(br#"{"payment_id":"p","order_id":"1-1","status":"maybe","amount":1}"#).contains("unknown variant")
        );
        assert!(reason(br#"{"payment_id":"p","order_id":"1-1","status":"failed","amount":-5}"#).contains("negative"));
        assert!(reason(br#"{"payment_id":"","order_id":"1-1","status":"failed","amount":5}"#).contains("payment_id"));
        assert!(reason(&vec![b' '; PAYMENT_EVENT_BYTES_MAX + 1]).contains("over the bound"));
    }
}
