//! The owner's answers as RESP: values as integers, bulk strings and maps (RESP3) or flat
//! arrays (RESP2), refusals as Redis-style errors with their own prefixes (SOLDOUT, LIMIT...).

use std::borrow::Cow;

use shardhub_core::seckill::PaymentOutcome;
use shardhub_core::SeckillError;
use shardhub_net::resp::{errors, Reply};

use super::message::SeckillReply;

/// The owner's answer as RESP.
pub fn into_reply(reply: SeckillReply) -> Reply {
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
        SeckillReply::Payment(outcome) => Reply::status(payment_outcome(outcome)),
        SeckillReply::Refused(e) => refusal(e),
        SeckillReply::Busy => Reply::error(errors::BUSY),
        SeckillReply::LogFailed => Reply::error(errors::LOG_FAILED),
        SeckillReply::Unavailable => Reply::error(errors::SHUTTING_DOWN),
    }
}

/// What ORDER.PAYMENT did, as a status word.
fn payment_outcome(outcome: PaymentOutcome) -> &'static str {
    match outcome {
        PaymentOutcome::Paid => "PAID",
        PaymentOutcome::Cancelled => "CANCELLED",
        PaymentOutcome::RefundRequired => "REFUND_REQUIRED",
        PaymentOutcome::Unmatched => "UNMATCHED",
        PaymentOutcome::Duplicate => "DUPLICATE",
        PaymentOutcome::Ignored => "IGNORED",
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
        SeckillError::Archived => errors::ARCHIVED.into(),
        // The accepting shard checked QTY against the same bound; a reload in between can
        // still land here.
        SeckillError::BadQty => "ERR QTY out of range".into(),
        SeckillError::Inconsistent(why) => format!("ERR internal: {why}").into(),
    };
    Reply::Error(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_own_error_prefixes() {
        assert_eq!(
            into_reply(SeckillReply::Refused(SeckillError::SoldOut)),
            Reply::error(errors::SOLDOUT)
        );
        assert_eq!(into_reply(SeckillReply::Busy), Reply::error(errors::BUSY));
        assert_eq!(
            into_reply(SeckillReply::Unavailable),
            Reply::error(errors::SHUTTING_DOWN)
        );
    }
}
