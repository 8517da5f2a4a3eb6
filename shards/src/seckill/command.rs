//! The flash-sale commands as types, in the style of mini-redis's `cmd/`: each parses its
//! RESP arguments against the limits in force ([`ArgLimits`]) on the accepting shard, so bad
//! input never costs a hop; the owner applies it (`owner.rs`); `reply.rs` writes its answer
//! back as RESP.
//!
//! `STOCK.SET sku total [LIMIT per_user] [HOLD seconds]`, `STOCK.ADD sku delta`,
//! `STOCK.GET sku`, `SECKILL.BUY sku user [QTY n] [REQID id]`, `ORDER.PAY|CANCEL|GET id`,
//! `ORDER.PAYMENT id payment_id succeeded|failed amount`.
//! docs/seckill.md is the user's view.

use std::fmt;

use bytes::Bytes;
use shardhub_core::key_hash_slot;
use shardhub_core::keyspace::parse_i64;
use shardhub_core::seckill::{Buy, OrderId, PaymentRef};
use shardhub_net::resp::{errors, Reply};

use crate::config::{SeckillConfig, HOLD_SECS_MAX};

/// The bounds arguments are checked against (hot-reloadable, from `[seckill]`).
#[derive(Clone, Copy, Debug)]
pub struct ArgLimits {
    pub qty_max: u32,
    pub id_bytes_max: usize,
    pub default_hold_secs: u64,
}

impl ArgLimits {
    pub fn of(c: &SeckillConfig) -> Self {
        Self {
            qty_max: c.qty_max,
            id_bytes_max: c.id_bytes_max,
            default_hold_secs: c.default_hold_secs,
        }
    }
}

/// Why a command's arguments were refused; `Display` is the RESP error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    Syntax,
    NotInteger,
    /// A SKU, user or REQID longer than `id_bytes_max`.
    TooLong {
        what: &'static str,
        max: usize,
    },
    QtyOutOfRange {
        max: u32,
    },
    LimitNotPositive,
    HoldOutOfRange,
    /// Not an order id this server could have handed out.
    NoSuchOrder,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Syntax => f.write_str(errors::SYNTAX),
            ArgError::NotInteger => f.write_str(errors::NOT_INTEGER),
            ArgError::TooLong { what, max } => write!(f, "ERR {what} is longer than {max} bytes"),
            ArgError::QtyOutOfRange { max } => write!(f, "ERR QTY must be a positive integer no greater than {max}"),
            ArgError::LimitNotPositive => f.write_str("ERR LIMIT must be a positive integer"),
            ArgError::HoldOutOfRange => write!(f, "ERR HOLD must be between 1 and {HOLD_SECS_MAX} seconds"),
            ArgError::NoSuchOrder => f.write_str(errors::NOORDER),
        }
    }
}

impl From<ArgError> for Reply {
    fn from(e: ArgError) -> Reply {
        match e {
            // The constant texts go out without a copy.
            ArgError::Syntax => Reply::error(errors::SYNTAX),
            ArgError::NotInteger => Reply::error(errors::NOT_INTEGER),
            ArgError::NoSuchOrder => Reply::error(errors::NOORDER),
            other => Reply::error(other.to_string()),
        }
    }
}

/// `STOCK.SET sku total [LIMIT per_user] [HOLD seconds]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockSet {
    pub sku: Bytes,
    pub total: u64,
    /// Units one user may hold; 0: no limit.
    pub limit: u64,
    pub hold_ms: u64,
}

impl StockSet {
    pub fn parse(args: &[Bytes], limits: &ArgLimits) -> Result<Self, ArgError> {
        let sku = id("sku", &args[1], limits)?;
        let total = parse_i64(&args[2])
            .and_then(|t| u64::try_from(t).ok())
            .ok_or(ArgError::NotInteger)?;
        let mut limit = 0;
        let mut hold_secs = limits.default_hold_secs;
        for option in args[3..].chunks(2) {
            let [name, value] = option else {
                return Err(ArgError::Syntax);
            };
            let is_limit = name.eq_ignore_ascii_case(b"LIMIT");
            if !is_limit && !name.eq_ignore_ascii_case(b"HOLD") {
                return Err(ArgError::Syntax);
            }
            let n = parse_i64(value).ok_or(ArgError::NotInteger)?;
            if is_limit {
                limit = u64::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(ArgError::LimitNotPositive)?;
            } else {
                hold_secs = u64::try_from(n)
                    .ok()
                    .filter(|n| (1..=HOLD_SECS_MAX).contains(n))
                    .ok_or(ArgError::HoldOutOfRange)?;
            }
        }
        Ok(StockSet {
            sku,
            total,
            limit,
            hold_ms: hold_secs * 1000,
        })
    }
}

/// `STOCK.ADD sku delta`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockAdd {
    pub sku: Bytes,
    pub delta: i64,
}

impl StockAdd {
    pub fn parse(args: &[Bytes], limits: &ArgLimits) -> Result<Self, ArgError> {
        Ok(StockAdd {
            sku: id("sku", &args[1], limits)?,
            delta: parse_i64(&args[2]).ok_or(ArgError::NotInteger)?,
        })
    }
}

/// `STOCK.GET sku`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockGet {
    pub sku: Bytes,
}

impl StockGet {
    pub fn parse(args: &[Bytes], limits: &ArgLimits) -> Result<Self, ArgError> {
        Ok(StockGet {
            sku: id("sku", &args[1], limits)?,
        })
    }
}

/// `SECKILL.BUY sku user [QTY n] [REQID id]`: a [`Buy`] for the owner of the SKU's slot.
pub fn parse_buy(args: &[Bytes], limits: &ArgLimits) -> Result<Buy, ArgError> {
    let sku = id("sku", &args[1], limits)?;
    let user = id("user", &args[2], limits)?;
    let mut qty = 1;
    let mut reqid = None;
    for option in args[3..].chunks(2) {
        let [name, value] = option else {
            return Err(ArgError::Syntax);
        };
        if name.eq_ignore_ascii_case(b"QTY") {
            let max = limits.qty_max;
            qty = parse_i64(value)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=max).contains(n))
                .ok_or(ArgError::QtyOutOfRange { max })?;
        } else if name.eq_ignore_ascii_case(b"REQID") {
            reqid = Some(id("REQID", value, limits)?);
        } else {
            return Err(ArgError::Syntax);
        }
    }
    let slot = key_hash_slot(&sku);
    Ok(Buy {
        sku,
        user,
        qty,
        reqid,
        slot,
    })
}

/// `ORDER.PAY id`, `ORDER.CANCEL id`, `ORDER.GET id`: the order id, which names its slot.
pub fn parse_order(args: &[Bytes]) -> Result<OrderId, ArgError> {
    OrderId::parse(&args[1]).ok_or(ArgError::NoSuchOrder)
}

/// `ORDER.PAYMENT order_id payment_id succeeded|failed amount`: a payment event of the saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub order: OrderId,
    pub payment: PaymentRef,
    pub succeeded: bool,
}

impl Payment {
    pub fn parse(args: &[Bytes], limits: &ArgLimits) -> Result<Payment, ArgError> {
        let order = OrderId::parse(&args[1]).ok_or(ArgError::NoSuchOrder)?;
        let id = id("payment id", &args[2], limits)?;
        let succeeded = match &args[3] {
            s if s.eq_ignore_ascii_case(b"succeeded") => true,
            s if s.eq_ignore_ascii_case(b"failed") => false,
            _ => return Err(ArgError::Syntax),
        };
        let amount = std::str::from_utf8(&args[4])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&a| a <= i64::MAX as u64)
            .ok_or(ArgError::NotInteger)?;
        Ok(Payment {
            order,
            payment: PaymentRef { id, amount },
            succeeded,
        })
    }
}

/// An id argument within `id_bytes_max`.
fn id(what: &'static str, arg: &Bytes, limits: &ArgLimits) -> Result<Bytes, ArgError> {
    let max = limits.id_bytes_max;
    if arg.len() > max {
        return Err(ArgError::TooLong { what, max });
    }
    Ok(arg.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ArgLimits = ArgLimits {
        qty_max: 5,
        id_bytes_max: 8,
        default_hold_secs: 900,
    };

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn stock_set_takes_options_in_any_order_and_checks_each() {
        let set = StockSet::parse(&args(&["STOCK.SET", "p1", "10", "HOLD", "60", "limit", "2"]), &LIMITS).unwrap();
        assert_eq!(
            set,
            StockSet {
                sku: Bytes::from_static(b"p1"),
                total: 10,
                limit: 2,
                hold_ms: 60_000
            }
        );
        let plain = StockSet::parse(&args(&["STOCK.SET", "p1", "0"]), &LIMITS).unwrap();
        assert_eq!((plain.limit, plain.hold_ms), (0, 900_000));
        let refused = |words: &[&str]| StockSet::parse(&args(words), &LIMITS).unwrap_err();
        assert_eq!(refused(&["STOCK.SET", "p1", "-1"]), ArgError::NotInteger);
        assert_eq!(refused(&["STOCK.SET", "p1", "x"]), ArgError::NotInteger);
        assert_eq!(refused(&["STOCK.SET", "p1", "1", "LIMIT"]), ArgError::Syntax);
        assert_eq!(refused(&["STOCK.SET", "p1", "1", "COLOR", "red"]), ArgError::Syntax);
        assert_eq!(
            refused(&["STOCK.SET", "p1", "1", "LIMIT", "0"]),
            ArgError::LimitNotPositive
        );
        assert_eq!(
            refused(&["STOCK.SET", "p1", "1", "HOLD", "0"]),
            ArgError::HoldOutOfRange
        );
        assert_eq!(
            refused(&["STOCK.SET", "p1", "1", "HOLD", "31536001"]),
            ArgError::HoldOutOfRange
        );
        assert_eq!(
            refused(&["STOCK.SET", "sku-too-long", "1"]),
            ArgError::TooLong { what: "sku", max: 8 }
        );
    }

    #[test]
    fn buy_bounds_qty_and_ids_and_names_the_slot_of_its_sku() {
        let buy = parse_buy(&args(&["SECKILL.BUY", "p{1}", "u", "QTY", "5", "REQID", "r"]), &LIMITS).unwrap();
        assert_eq!((buy.qty, buy.reqid.as_deref()), (5, Some(&b"r"[..])));
        assert_eq!(buy.slot, key_hash_slot(b"p{1}"));
        let refused = |words: &[&str]| parse_buy(&args(words), &LIMITS).unwrap_err();
        for qty in ["0", "6", "-1", "x", "4294967297"] {
            assert_eq!(
                refused(&["SECKILL.BUY", "p", "u", "QTY", qty]),
                ArgError::QtyOutOfRange { max: 5 },
                "{qty}"
            );
        }
        assert_eq!(
            refused(&["SECKILL.BUY", "p", "user-too-long"]),
            ArgError::TooLong { what: "user", max: 8 }
        );
        assert_eq!(
            refused(&["SECKILL.BUY", "p", "u", "REQID", "reqid-too-long"]),
            ArgError::TooLong { what: "REQID", max: 8 }
        );
        assert_eq!(refused(&["SECKILL.BUY", "p", "u", "QTY"]), ArgError::Syntax);
        assert_eq!(refused(&["SECKILL.BUY", "p", "u", "NOW", "1"]), ArgError::Syntax);
    }

    #[test]
    fn refusals_read_as_redis_errors() {
        assert_eq!(Reply::from(ArgError::Syntax), Reply::error(errors::SYNTAX));
        assert_eq!(
            Reply::from(ArgError::QtyOutOfRange { max: 5 }),
            Reply::error("ERR QTY must be a positive integer no greater than 5")
        );
        assert_eq!(
            Reply::from(ArgError::TooLong { what: "sku", max: 8 }),
            Reply::error("ERR sku is longer than 8 bytes")
        );
        assert_eq!(parse_order(&args(&["ORDER.GET", "nope"])), Err(ArgError::NoSuchOrder));
    }
}
