//! What each connection of a `seckill` run does: pipelined BUYs of random SKUs by random
//! users, and, for a share of the orders it is handed, an ORDER.PAY right after.
//!
//! Like `resp`, a connection writes a batch of `--pipeline` BUYs, reads as many replies, and
//! repeats. Orders to pay are paid as one more batch before the next BUYs: pays are not
//! claimed from the run's request budget (`--requests` counts BUYs), they follow from it.

use std::net::SocketAddr;
use std::time::Instant;

use hdrhistogram::Histogram;
use shardhub_net::resp::encode_request;

use crate::common::client_connection::ClientConnection;
use crate::common::connection_runner::ConnectionWorkload;
use crate::common::error::BenchError;
use crate::common::fast_rng::FastRng;
use crate::common::percentiles::new_histogram;
use crate::common::run_limit::RunLimit;
use crate::seckill::buy_outcome::{BuyOutcome, BuyTally};
use crate::seckill::buy_request::BuyRequest;
use crate::seckill::chance::Chance;
use crate::seckill::order_ledger::OrderLedger;
use crate::seckill::target::SeckillTarget;

/// Highest latency the histograms tell apart: one minute. Anything slower is a failure.
pub const LATENCY_US_MAX: u64 = 60_000_000;

pub struct SeckillWorkload {
    pub addr: SocketAddr,
    pub target: SeckillTarget,
    pub sku_names: Vec<Vec<u8>>,
    pub pipeline: usize,
    /// Users are `u0 .. u<users - 1>`.
    pub users: u64,
    /// Whether a BUY goes to SKU 0, the hot item, rather than to a uniformly drawn SKU.
    pub hot: Chance,
    /// Whether an accepted order is paid.
    pub pay: Chance,
    pub qty: u32,
    pub reqid: bool,
    /// The reference script's sha (redis-lua only).
    pub script_sha: Option<String>,
    pub seed: u64,
}

/// What one connection measured and was handed.
pub struct SeckillStats {
    pub buy_latency_us: Histogram<u64>,
    pub pay_latency_us: Histogram<u64>,
    pub tally: BuyTally,
    pub accepted_by_sku: Vec<u64>,
    /// ORDER.PAYs answered `+OK`, by SKU.
    pub paid_by_sku: Vec<u64>,
    pub pays: u64,
    pub pay_errors: u64,
    pub first_pay_error: Option<String>,
    pub ledger: OrderLedger,
}

impl SeckillStats {
    fn new(skus: usize) -> Self {
        Self {
            buy_latency_us: new_histogram(LATENCY_US_MAX),
            pay_latency_us: new_histogram(LATENCY_US_MAX),
            tally: BuyTally::default(),
            accepted_by_sku: vec![0; skus],
            paid_by_sku: vec![0; skus],
            pays: 0,
            pay_errors: 0,
            first_pay_error: None,
            ledger: OrderLedger::default(),
        }
    }
}

impl SeckillWorkload {
    fn new_request(&self, index: usize) -> BuyRequest {
        match (self.target, &self.script_sha) {
            (SeckillTarget::RedisLua, Some(sha)) => BuyRequest::redis_lua(sha, self.qty),
            (SeckillTarget::RedisLua, None) => unreachable!("setup loads the script before the run"),
            (SeckillTarget::Shardhub, _) => BuyRequest::shardhub(self.qty, self.reqid.then_some(index)),
        }
    }

    /// Pays the ledger's orders `due`, as one pipelined batch.
    async fn pay_orders(
        &self,
        conn: &mut ClientConnection,
        due: &[usize],
        stats: &mut SeckillStats,
    ) -> Result<(), BenchError> {
        for &order in due {
            encode_request(&[&b"ORDER.PAY"[..], stats.ledger.id(order)], conn.write_buf());
        }
        let sent_at = Instant::now();
        let mut next = 0;
        let mut unexpected = None;
        conn.round_trip(due.len(), |reply, arrived_at| {
            let sku = stats.ledger.sku(due[next]) as usize;
            next += 1;
            stats.pays += 1;
            if reply == b"+OK\r\n" {
                stats.paid_by_sku[sku] += 1;
            } else if matches!(reply.first(), Some(b'-' | b'!')) {
                stats.pay_errors += 1;
                stats
                    .first_pay_error
                    .get_or_insert_with(|| BenchError::reply_text(reply));
            } else {
                unexpected.get_or_insert_with(|| BenchError::reply_text(reply));
            }
            let latency_us = arrived_at.duration_since(sent_at).as_micros() as u64;
            stats.pay_latency_us.saturating_record(latency_us);
        })
        .await?;
        match unexpected {
            Some(reply) => Err(BenchError::UnexpectedReply {
                addr: conn.addr(),
                reply: format!("ORDER.PAY must answer +OK or an error: {reply}"),
            }),
            None => Ok(()),
        }
    }
}

impl ConnectionWorkload for SeckillWorkload {
    type Conn = (usize, ClientConnection);
    type Stats = SeckillStats;

    async fn connect(&self, index: usize) -> Result<Self::Conn, BenchError> {
        Ok((index, ClientConnection::connect(self.addr).await?))
    }

    async fn drive(&self, (index, mut conn): Self::Conn, limit: &RunLimit) -> Result<SeckillStats, BenchError> {
        // Distinct, reproducible streams per connection (odd multiplier: a bijection on u64).
        let mut rng = FastRng::new(self.seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut request = self.new_request(index);
        let skus = self.sku_names.len();
        let mut stats = SeckillStats::new(skus);
        let mut batch_skus: Vec<u32> = Vec::with_capacity(self.pipeline);
        let mut pays_due: Vec<usize> = Vec::with_capacity(self.pipeline);
        let mut seq = 0u64;
        loop {
            let batch = limit.claim(self.pipeline);
            if batch == 0 {
                return Ok(stats);
            }
            batch_skus.clear();
            for _ in 0..batch {
                let sku = if self.hot.hit(&mut rng) {
                    0
                } else {
                    rng.below(skus as u64) as u32
                };
                let user = rng.below(self.users);
                request.encode(&self.sku_names[sku as usize], user, seq, conn.write_buf());
                seq += 1;
                batch_skus.push(sku);
            }
            let sent_at = Instant::now();
            let mut next = 0;
            let mut unexpected = None;
            conn.round_trip(batch, |reply, arrived_at| {
                let sku = batch_skus[next];
                next += 1;
                match BuyOutcome::classify(self.target, reply) {
                    Some(outcome) => {
                        stats.tally.record(outcome, reply);
                        if let BuyOutcome::Accepted(id) = outcome {
                            stats.accepted_by_sku[sku as usize] += 1;
                            if let Some(id) = id {
                                let order = stats.ledger.push(sku, id);
                                if self.pay.hit(&mut rng) {
                                    pays_due.push(order);
                                }
                            }
                        }
                    }
                    None => {
                        unexpected.get_or_insert_with(|| BenchError::reply_text(reply));
                    }
                }
                let latency_us = arrived_at.duration_since(sent_at).as_micros() as u64;
                stats.buy_latency_us.saturating_record(latency_us);
            })
            .await?;
            if let Some(reply) = unexpected {
                return Err(BenchError::UnexpectedReply {
                    addr: conn.addr(),
                    reply: format!("not a {} BUY reply: {reply}", self.target.name()),
                });
            }
            if !pays_due.is_empty() {
                self.pay_orders(&mut conn, &pays_due, &mut stats).await?;
                pays_due.clear();
            }
        }
    }
}
