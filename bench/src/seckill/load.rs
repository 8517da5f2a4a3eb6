//! `shardhub-bench seckill`: a flash-sale load. Connections race to BUY units of a few SKUs
//! (one of them hot), optionally pay for what they got, and at the end the bench audits the
//! server's stock counts against each other and against every order id it was handed.
//!
//! The same load runs against shardhub's native commands or against Redis running the
//! reference Lua stock script, so the two can be compared side by side (see
//! scripts/bench-seckill.sh).

use std::sync::Arc;

use crate::common::client_connection::ClientConnection;
use crate::common::error::BenchError;
use crate::seckill::args::SeckillArgs;
use crate::seckill::chance::Chance;
use crate::seckill::control_session::ControlSession;
use crate::seckill::order_ledger::LedgerAudit;
use crate::seckill::report::{MergedStats, SeckillReport};
use crate::seckill::setup::{prepare, SalePlan};
use crate::seckill::stock_audit::{audit_redis_lua, audit_shardhub, OwnedOrders};
use crate::seckill::target::SeckillTarget;
use crate::seckill::workload::SeckillWorkload;

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
    if args.load.report.json {
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
