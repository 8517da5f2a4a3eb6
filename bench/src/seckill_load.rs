//! `shardhub-bench seckill`: a flash-sale load. Connections race to BUY units of a few SKUs
//! (one of them hot), optionally pay for what they got, and at the end the bench audits the
//! server's stock counts against each other and against every order id it was handed.
//!
//! The same load runs against shardhub's native commands or against Redis running the
//! reference Lua stock script, so the two can be compared side by side (see
//! scripts/bench-seckill.sh).

use std::sync::Arc;

use crate::bench_error::BenchError;
use crate::chance::Chance;
use crate::client_connection::ClientConnection;
use crate::control_session::ControlSession;
use crate::load_args::LoadArgs;
use crate::order_ledger::LedgerAudit;
use crate::seckill_report::{MergedStats, SeckillReport};
use crate::seckill_setup::{prepare, SalePlan};
use crate::seckill_target::SeckillTarget;
use crate::seckill_workload::SeckillWorkload;
use crate::stock_audit::{audit_redis_lua, audit_shardhub, OwnedOrders};

/// Most SKUs a run may spread over: every connection keeps counters per SKU, and the audit
/// asks for each SKU in turn.
const SKUS_MAX: u32 = 100_000;

#[derive(Debug, clap::Args)]
pub struct SeckillArgs {
    /// Server address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub addr: String,
    #[command(flatten)]
    pub load: LoadArgs,
    /// SKUs on sale: <sku-prefix>0 .. <sku-prefix>(K-1); SKU 0 is the hot one.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(SKUS_MAX)))]
    pub skus: u32,
    /// Units per SKU put on sale by the setup.
    #[arg(long, default_value_t = 1_000_000)]
    pub stock: u64,
    /// Buyers: each BUY is by a uniformly drawn user u0 .. u(U-1).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub users: u64,
    /// Share of BUYs aimed at SKU 0; the rest spread uniformly over all SKUs (0 included).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub hot_ratio: f64,
    /// Share of accepted orders that the buying connection then pays with ORDER.PAY.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub pay_ratio: f64,
    /// Units per BUY.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub qty: u32,
    /// Per-user cap on a SKU's units, passed to STOCK.SET as LIMIT.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Send a unique REQID (<connection>-<sequence>) with each BUY.
    #[arg(long)]
    pub reqid: bool,
    /// SKU names are this prefix followed by the SKU's number.
    #[arg(long, default_value = "sku:")]
    pub sku_prefix: String,
    /// The server: shardhub's SECKILL.BUY, or Redis running the reference Lua script.
    #[arg(long, value_enum, default_value_t = SeckillTarget::Shardhub)]
    pub target: SeckillTarget,
    /// Leave the stock as it is instead of setting it up; the order-count checks are then
    /// skipped, since the sale may hold orders the bench did not make.
    #[arg(long)]
    pub no_setup: bool,
}

fn probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("must be between 0 and 1, got {p}"))
    }
}

pub fn run(args: SeckillArgs) -> Result<(), BenchError> {
    check_target_options(&args)?;
    let addr = ClientConnection::resolve(&args.addr)?;
    let sku_names: Vec<String> = (0..args.skus).map(|i| format!("{}{i}", args.sku_prefix)).collect();

    let plan = SalePlan {
        stock: args.stock,
        limit: args.limit,
        skip_stock: args.no_setup,
    };
    // Setup's connection closes before the load's open: the run has only its own.
    let script_sha = prepare(&mut ControlSession::open(addr)?, args.target, &sku_names, &plan)?;

    let (runner, limit, server_cpu_method) = args.load.plan()?;
    let workload = Arc::new(SeckillWorkload {
        addr,
        target: args.target,
        sku_names: sku_names.iter().map(|s| s.as_bytes().to_vec()).collect(),
        pipeline: args.load.pipeline as usize,
        users: args.users,
        hot: Chance::new(args.hot_ratio),
        pay: Chance::new(args.pay_ratio),
        qty: args.qty,
        reqid: args.reqid,
        script_sha,
        seed: args.load.seed,
    });
    let mut outcome = runner.run(workload, Arc::new(limit))?;

    let mut stats = std::mem::take(&mut outcome.stats);
    let ledgers: Vec<_> = stats.iter_mut().map(|s| std::mem::take(&mut s.ledger)).collect();
    let ledger = LedgerAudit::of(&ledgers, sku_names.len());
    let merged = MergedStats::of(stats, sku_names.len());
    let mut session = ControlSession::open(addr)?;
    let audit = match args.target {
        SeckillTarget::Shardhub => {
            let owned = (!args.no_setup).then_some(OwnedOrders {
                ledger: &ledger,
                paid_by_sku: &merged.paid_by_sku,
            });
            audit_shardhub(&mut session, &sku_names, args.qty, &ledger, owned)?
        }
        SeckillTarget::RedisLua => {
            let stock = (!args.no_setup).then_some(args.stock);
            audit_redis_lua(&mut session, &sku_names, args.qty, &merged.accepted_by_sku, stock)?
        }
    };

    let report = SeckillReport::new(&args, &outcome, merged, audit, server_cpu_method);
    if args.load.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
        for check in report.audit() {
            eprintln!("{}", check.line());
        }
    } else {
        print!("{}", report.human());
        for check in report.audit() {
            println!("{}", check.line());
        }
    }
    match report.failed_checks() {
        0 => Ok(()),
        failed => Err(BenchError::AuditFailed {
            failed,
            checks: report.audit().len(),
        }),
    }
}

/// The reference Lua script knows only a counter per SKU: no users, limits, ids or payments.
fn check_target_options(args: &SeckillArgs) -> Result<(), BenchError> {
    if args.target != SeckillTarget::RedisLua {
        return Ok(());
    }
    let unsupported = [
        (args.limit.is_some(), "--limit"),
        (args.reqid, "--reqid"),
        (args.pay_ratio > 0.0, "--pay-ratio"),
    ];
    match unsupported.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(BenchError::Usage(format!(
            "{flag} needs --target shardhub: the reference Lua script has no users, limits, ids or payments"
        ))),
        None => Ok(()),
    }
}
