//! What a BUY's reply means, and the tally of those meanings over a run.
//!
//! Clients match shardhub's refusals on the first word of the error line, as with Redis's own
//! error codes (docs/seckill.md); the Lua script answers integers instead.

use crate::common::error::BenchError;
use crate::common::resp_reply::{bulk_payload, parse_integer_reply};
use crate::seckill::target::SeckillTarget;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuyOutcome<'a> {
    /// Units were reserved. shardhub answers the new order's id; the Lua script has none.
    Accepted(Option<&'a [u8]>),
    SoldOut,
    /// The user's per-SKU limit is reached.
    Limit,
    /// The owner shard's admission queue was full: nothing was reserved.
    Busy,
    NoSku,
    /// Any other error reply (`-ERR ...`, an unknown command, `-NOSCRIPT` ...).
    OtherError,
}

impl<'a> BuyOutcome<'a> {
    /// `None` for a reply the target never sends to a BUY: the run then stops, because every
    /// later figure would rest on a misread.
    pub fn classify(target: SeckillTarget, reply: &'a [u8]) -> Option<Self> {
        match reply.first()? {
            b'-' => Some(Self::of_error_code(error_code(reply))),
            // A RESP3 blob error; the harness speaks RESP2, so this is never a known refusal.
            b'!' => Some(Self::OtherError),
            _ => match target {
                SeckillTarget::Shardhub => bulk_payload(reply).map(|id| Self::Accepted(Some(id))),
                SeckillTarget::RedisLua => match parse_integer_reply(reply)? {
                    1 => Some(Self::Accepted(None)),
                    0 => Some(Self::SoldOut),
                    -1 => Some(Self::NoSku),
                    _ => None,
                },
            },
        }
    }

    fn of_error_code(code: &[u8]) -> Self {
        match code {
            b"SOLDOUT" => Self::SoldOut,
            b"LIMIT" => Self::Limit,
            b"BUSY" => Self::Busy,
            b"NOSKU" => Self::NoSku,
            _ => Self::OtherError,
        }
    }
}

/// The first word of a `-CODE message\r\n` error line.
fn error_code(reply: &[u8]) -> &[u8] {
    let line = &reply[1..];
    let end = line.iter().position(|&b| b == b' ' || b == b'\r').unwrap_or(line.len());
    &line[..end]
}

/// Counts of BUY outcomes, per connection and then over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuyTally {
    pub accepted: u64,
    pub soldout: u64,
    pub limit: u64,
    pub busy: u64,
    pub nosku: u64,
    pub other_errors: u64,
    /// The first other error, so that a run full of `-ERR` explains itself.
    pub first_other_error: Option<String>,
}

impl BuyTally {
    pub fn record(&mut self, outcome: BuyOutcome<'_>, reply: &[u8]) {
        match outcome {
            BuyOutcome::Accepted(_) => self.accepted += 1,
            BuyOutcome::SoldOut => self.soldout += 1,
            BuyOutcome::Limit => self.limit += 1,
            BuyOutcome::Busy => self.busy += 1,
            BuyOutcome::NoSku => self.nosku += 1,
            BuyOutcome::OtherError => {
                self.other_errors += 1;
                if self.first_other_error.is_none() {
                    self.first_other_error = Some(BenchError::reply_text(reply));
                }
            }
        }
    }

    pub fn merge(&mut self, other: BuyTally) {
        self.accepted += other.accepted;
        self.soldout += other.soldout;
        self.limit += other.limit;
        self.busy += other.busy;
        self.nosku += other.nosku;
        self.other_errors += other.other_errors;
        self.first_other_error = self.first_other_error.take().or(other.first_other_error);
    }

    pub fn buys(&self) -> u64 {
        self.accepted + self.soldout + self.limit + self.busy + self.nosku + self.other_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARDHUB: SeckillTarget = SeckillTarget::Shardhub;
    const LUA: SeckillTarget = SeckillTarget::RedisLua;

    #[test]
    fn shardhub_replies() {
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"$8\r\n12182-17\r\n"),
            Some(BuyOutcome::Accepted(Some(&b"12182-17"[..])))
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-SOLDOUT sold out\r\n"),
            Some(BuyOutcome::SoldOut)
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-LIMIT per-user limit reached\r\n"),
            Some(BuyOutcome::Limit)
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-BUSY shard queue full, retry later\r\n"),
            Some(BuyOutcome::Busy)
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-NOSKU no such sku\r\n"),
            Some(BuyOutcome::NoSku)
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-ERR syntax error\r\n"),
            Some(BuyOutcome::OtherError)
        );
        // A code is a whole word: a longer one is not a prefix match.
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-BUSYNESS x\r\n"),
            Some(BuyOutcome::OtherError)
        );
        assert_eq!(
            BuyOutcome::classify(SHARDHUB, b"-SOLDOUT\r\n"),
            Some(BuyOutcome::SoldOut)
        );
        assert_eq!(BuyOutcome::classify(SHARDHUB, b"$-1\r\n"), None);
        assert_eq!(BuyOutcome::classify(SHARDHUB, b":1\r\n"), None);
    }

    #[test]
    fn lua_replies() {
        assert_eq!(BuyOutcome::classify(LUA, b":1\r\n"), Some(BuyOutcome::Accepted(None)));
        assert_eq!(BuyOutcome::classify(LUA, b":0\r\n"), Some(BuyOutcome::SoldOut));
        assert_eq!(BuyOutcome::classify(LUA, b":-1\r\n"), Some(BuyOutcome::NoSku));
        assert_eq!(BuyOutcome::classify(LUA, b":2\r\n"), None);
        assert_eq!(
            BuyOutcome::classify(LUA, b"-NOSCRIPT No matching script.\r\n"),
            Some(BuyOutcome::OtherError)
        );
    }

    #[test]
    fn tally_counts_and_keeps_first_error() {
        let mut a = BuyTally::default();
        a.record(BuyOutcome::Accepted(None), b":1\r\n");
        a.record(BuyOutcome::OtherError, b"-ERR one\r\n");
        let mut b = BuyTally::default();
        b.record(BuyOutcome::SoldOut, b"-SOLDOUT\r\n");
        b.record(BuyOutcome::OtherError, b"-ERR two\r\n");
        a.merge(b);
        assert_eq!((a.accepted, a.soldout, a.other_errors, a.buys()), (1, 1, 2, 4));
        assert_eq!(a.first_other_error.as_deref(), Some("-ERR one"));
    }
}
