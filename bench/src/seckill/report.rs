//! The result of a `seckill` run; also its JSON form (names carry their units last).

use serde::Serialize;

use crate::common::connection_runner::RunOutcome;
use crate::common::percentiles::{new_histogram, Percentiles};
use crate::seckill::args::SeckillArgs;
use crate::seckill::buy_outcome::BuyTally;
use crate::seckill::stock_audit::{AuditCheck, Verdict};
use crate::seckill::workload::{SeckillStats, LATENCY_US_MAX};

#[derive(Debug, Serialize)]
pub struct SeckillReport {
    label: Option<String>,
    target: &'static str,
    connections: u32,
    pipeline: u32,
    threads: u32,
    skus: u32,
    /// Units per SKU the bench set up; `null` with `--no-setup`.
    stock: Option<u64>,
    users: u64,
    hot_ratio: f64,
    pay_ratio: f64,
    qty: u32,
    limit: Option<u64>,
    reqid: bool,
    /// BUYs plus PAYs: what `rps` and the CPU figures are per.
    requests: u64,
    buys: u64,
    accepted: u64,
    soldout: u64,
    /// BUYs refused with `-LIMIT`.
    limited: u64,
    busy: u64,
    nosku: u64,
    other_errors: u64,
    first_other_error: Option<String>,
    pays: u64,
    pays_ok: u64,
    pay_errors: u64,
    first_pay_error: Option<String>,
    elapsed_s: f64,
    rps: f64,
    buys_per_s: f64,
    /// BUY latency.
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    pay_p50_us: Option<u64>,
    pay_p99_us: Option<u64>,
    server_cpu_us_per_req: Option<f64>,
    /// `schedstat` or `stat`: how server CPU was read (see process_cpu_clock.rs).
    server_cpu_method: Option<&'static str>,
    client_cpu_us_per_req: f64,
    audit: Vec<AuditCheck>,
    audit_pass: bool,
}

/// The per-connection figures of a run, added up.
pub struct MergedStats {
    pub tally: BuyTally,
    pub accepted_by_sku: Vec<u64>,
    pub paid_by_sku: Vec<u64>,
    pub pays: u64,
    pub pay_errors: u64,
    pub first_pay_error: Option<String>,
    pub buy_latency: Percentiles,
    pub pay_latency: Percentiles,
}

impl MergedStats {
    /// Adds up `stats` (whose ledgers the caller has taken out for the audit).
    pub fn of(stats: Vec<SeckillStats>, skus: usize) -> Self {
        let mut buy_latency_us = new_histogram(LATENCY_US_MAX);
        let mut pay_latency_us = new_histogram(LATENCY_US_MAX);
        let mut merged = Self {
            tally: BuyTally::default(),
            accepted_by_sku: vec![0; skus],
            paid_by_sku: vec![0; skus],
            pays: 0,
            pay_errors: 0,
            first_pay_error: None,
            buy_latency: Percentiles::default(),
            pay_latency: Percentiles::default(),
        };
        for s in stats {
            buy_latency_us
                .add(&s.buy_latency_us)
                .expect("histograms of equal bounds add");
            pay_latency_us
                .add(&s.pay_latency_us)
                .expect("histograms of equal bounds add");
            merged.tally.merge(s.tally);
            for (sum, n) in merged.accepted_by_sku.iter_mut().zip(s.accepted_by_sku) {
                *sum += n;
            }
            for (sum, n) in merged.paid_by_sku.iter_mut().zip(s.paid_by_sku) {
                *sum += n;
            }
            merged.pays += s.pays;
            merged.pay_errors += s.pay_errors;
            merged.first_pay_error = merged.first_pay_error.take().or(s.first_pay_error);
        }
        merged.buy_latency = Percentiles::of(&buy_latency_us);
        merged.pay_latency = Percentiles::of(&pay_latency_us);
        merged
    }
}

impl SeckillReport {
    pub fn new(
        args: &SeckillArgs,
        outcome: &RunOutcome<SeckillStats>,
        merged: MergedStats,
        audit: Vec<AuditCheck>,
        server_cpu_method: Option<&'static str>,
    ) -> Self {
        let tally = merged.tally;
        let buys = tally.buys();
        let requests = buys + merged.pays;
        let elapsed_s = outcome.elapsed.as_secs_f64();
        let per_req = |us: f64| {
            if requests == 0 {
                0.0
            } else {
                us / requests as f64
            }
        };
        let pays_ok = merged.paid_by_sku.iter().sum();
        let paid = merged.pays > 0;
        Self {
            label: args.load.report.label.clone(),
            target: args.target.name(),
            connections: args.load.connections,
            pipeline: args.load.pipeline,
            threads: args.load.threads,
            skus: args.skus,
            stock: (!args.no_setup).then_some(args.stock),
            users: args.users,
            hot_ratio: args.hot_ratio,
            pay_ratio: args.pay_ratio,
            qty: args.qty,
            limit: args.limit,
            reqid: args.reqid,
            requests,
            buys,
            accepted: tally.accepted,
            soldout: tally.soldout,
            limited: tally.limit,
            busy: tally.busy,
            nosku: tally.nosku,
            other_errors: tally.other_errors,
            first_other_error: tally.first_other_error,
            pays: merged.pays,
            pays_ok,
            pay_errors: merged.pay_errors,
            first_pay_error: merged.first_pay_error,
            elapsed_s,
            rps: requests as f64 / elapsed_s,
            buys_per_s: buys as f64 / elapsed_s,
            p50_us: merged.buy_latency.p50,
            p90_us: merged.buy_latency.p90,
            p99_us: merged.buy_latency.p99,
            p999_us: merged.buy_latency.p999,
            max_us: merged.buy_latency.max,
            pay_p50_us: paid.then_some(merged.pay_latency.p50),
            pay_p99_us: paid.then_some(merged.pay_latency.p99),
            server_cpu_us_per_req: outcome.server_cpu_ns.map(|ns| per_req(ns as f64 / 1000.0)),
            server_cpu_method,
            client_cpu_us_per_req: per_req(outcome.client_cpu_us as f64),
            audit_pass: audit.iter().all(|c| c.verdict != Verdict::Fail),
            audit,
        }
    }

    pub fn audit(&self) -> &[AuditCheck] {
        &self.audit
    }

    pub fn failed_checks(&self) -> usize {
        self.audit.iter().filter(|c| c.verdict == Verdict::Fail).count()
    }

    pub fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let server_cpu = match (self.server_cpu_us_per_req, self.server_cpu_method) {
            (Some(us), Some(method)) => format!("{us:.2} (from {method})"),
            _ => "- (no --server-pid)".to_string(),
        };
        let stock = match self.stock {
            Some(stock) => format!("{stock} units each, set up by the bench"),
            None => "left as found (--no-setup)".to_string(),
        };
        let limit = self.limit.map_or("-".to_string(), |l| l.to_string());
        let mut out = format!(
            "label:              {}\n\
             target:             {}\n\
             connections:        {} on {} client thread(s)\n\
             pipeline:           {}\n\
             skus:               {} ({:.2} of BUYs on the hot one), {stock}\n\
             users:              {}, qty {}, limit {limit}, reqid {}\n\
             buys:               {} (accepted {}, soldout {}, limit {}, busy {}, nosku {}, other errors {})\n",
            self.label.as_deref().unwrap_or("-"),
            self.target,
            self.connections,
            self.threads,
            self.pipeline,
            self.skus,
            self.hot_ratio,
            self.users,
            self.qty,
            if self.reqid { "on" } else { "off" },
            self.buys,
            self.accepted,
            self.soldout,
            self.limited,
            self.busy,
            self.nosku,
            self.other_errors,
        );
        if let Some(first_error) = &self.first_other_error {
            out += &format!("first other error:  {first_error}\n");
        }
        out += &format!(
            "pays:               {} (ok {}, errors {})\n",
            self.pays, self.pays_ok, self.pay_errors
        );
        if let Some(first_error) = &self.first_pay_error {
            out += &format!("first pay error:    {first_error}\n");
        }
        out += &format!(
            "seconds:            {:.3}\n\
             requests/s:         {:.0} (BUYs {:.0}/s)\n\
             BUY latency ms:     p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            self.elapsed_s,
            self.rps,
            self.buys_per_s,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
        );
        if let (Some(p50), Some(p99)) = (self.pay_p50_us, self.pay_p99_us) {
            out += &format!("PAY latency ms:     p50 {:.3}  p99 {:.3}\n", ms(p50), ms(p99));
        }
        out += &format!(
            "server CPU us/req:  {server_cpu}\n\
             client CPU us/req:  {:.2}\n",
            self.client_cpu_us_per_req,
        );
        out
    }
}
