//! The end-of-run audit of a `seckill` run: the server's stock counts against each other and
//! against the orders the bench was handed. A throughput figure from a server that oversold
//! is worthless, so a failed check fails the run.

use serde::Serialize;

use crate::common::error::BenchError;
use crate::common::resp_reply::{bulk_payload, parse_integer_reply};
use crate::seckill::control_session::ControlSession;
use crate::seckill::order_ledger::LedgerAudit;
use crate::seckill::stock_levels::StockLevels;

/// Failing SKUs named in one check's detail; the rest are counted. Keeps a report over
/// thousands of SKUs readable.
const FAILURES_SHOWN_MAX: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not checkable in this run (named in the detail), neither passed nor failed.
    Skip,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditCheck {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl AuditCheck {
    pub fn line(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        format!("{verdict} {}: {}", self.check, self.detail)
    }

    fn skip(check: &'static str, why: &str) -> Self {
        Self {
            check,
            verdict: Verdict::Skip,
            detail: why.to_string(),
        }
    }
}

/// What the bench knows about the orders of the sale it audits.
pub struct OwnedOrders<'a> {
    pub ledger: &'a LedgerAudit,
    /// Per SKU: ORDER.PAYs answered `+OK`.
    pub paid_by_sku: &'a [u64],
}

/// Why the order-count checks need the bench's own setup.
const NOT_OWNED: &str = "--no-setup: the sale may hold orders the bench did not make";

/// shardhub: every SKU's `STOCK.GET` must satisfy `available + reserved + sold = total`, all
/// non-negative; no order id may have come twice; and, when the bench set the sale up (so
/// that every order of the sale is one it was handed, and none expired within the hour's
/// HOLD), `reserved + sold` must be the units of the orders received and `sold` the units of
/// the orders paid.
pub fn audit_shardhub(
    session: &mut ControlSession,
    skus: &[String],
    qty: u32,
    ledger: &LedgerAudit,
    owned: Option<OwnedOrders<'_>>,
) -> Result<Vec<AuditCheck>, BenchError> {
    let mut levels = Vec::with_capacity(skus.len());
    for sku in skus {
        let args = ["STOCK.GET", sku.as_str()];
        let reply = session.call(&args)?;
        let parsed = StockLevels::parse(&reply).map_err(|why| session.unexpected(&args, why.as_bytes()))?;
        levels.push(parsed);
    }
    let qty = i64::from(qty);

    let mut equation = SkuCheck::new("stock equation", "available + reserved + sold == total, each >= 0");
    for (sku, l) in skus.iter().zip(&levels) {
        let holds =
            l.available + l.reserved + l.sold == l.total && [l.available, l.reserved, l.sold].iter().all(|&n| n >= 0);
        equation.note(
            sku,
            holds,
            format!(
                "available {} + reserved {} + sold {} vs total {}",
                l.available, l.reserved, l.sold, l.total
            ),
        );
    }
    let mut checks = vec![equation.finish()];

    match owned {
        Some(owned) => {
            let mut orders = SkuCheck::new("orders match stock", "distinct order ids * qty == reserved + sold");
            let mut paid = SkuCheck::new("payments match sales", "orders paid * qty == sold");
            for (i, (sku, l)) in skus.iter().zip(&levels).enumerate() {
                let received = owned.ledger.distinct_by_sku[i] as i64 * qty;
                orders.note(
                    sku,
                    received == l.reserved + l.sold,
                    format!(
                        "{received} units in orders received vs reserved {} + sold {}",
                        l.reserved, l.sold
                    ),
                );
                let paid_units = owned.paid_by_sku[i] as i64 * qty;
                paid.note(
                    sku,
                    paid_units == l.sold,
                    format!("{paid_units} units paid vs sold {}", l.sold),
                );
            }
            checks.push(orders.finish());
            checks.push(paid.finish());
        }
        None => {
            checks.push(AuditCheck::skip("orders match stock", NOT_OWNED));
            checks.push(AuditCheck::skip("payments match sales", NOT_OWNED));
        }
    }

    checks.push(match &ledger.first_duplicate {
        None => AuditCheck {
            check: "unique order ids",
            verdict: Verdict::Pass,
            detail: format!(
                "{} order ids, none received twice",
                ledger.distinct_by_sku.iter().sum::<u64>()
            ),
        },
        Some(first) => AuditCheck {
            check: "unique order ids",
            verdict: Verdict::Fail,
            detail: format!("{} ids received more than once, first {first}", ledger.duplicates),
        },
    });
    Ok(checks)
}

/// redis-lua: every SKU's counter must be non-negative and, when the bench set it to `stock`,
/// equal `stock` less the units of the accepted BUYs.
pub fn audit_redis_lua(
    session: &mut ControlSession,
    skus: &[String],
    qty: u32,
    accepted_by_sku: &[u64],
    stock: Option<u64>,
) -> Result<Vec<AuditCheck>, BenchError> {
    let mut remaining = Vec::with_capacity(skus.len());
    for sku in skus {
        let args = ["GET", sku.as_str()];
        let reply = session.call(&args)?;
        if reply == b"$-1\r\n" {
            remaining.push(None); // Deleted under the bench, or never set (--no-setup).
            continue;
        }
        let value = bulk_payload(&reply)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .or_else(|| parse_integer_reply(&reply))
            .ok_or_else(|| session.unexpected(&args, &reply))?;
        remaining.push(Some(value));
    }
    let mut never_negative = SkuCheck::new("stock never negative", "remaining >= 0");
    for (sku, left) in skus.iter().zip(&remaining) {
        match left {
            Some(left) => never_negative.note(sku, *left >= 0, format!("remaining {left}")),
            None => never_negative.note(sku, false, "no such key".to_string()),
        }
    }
    let mut checks = vec![never_negative.finish()];
    checks.push(match stock {
        Some(stock) => {
            let mut conserved = SkuCheck::new("stock conserved", "remaining + accepted * qty == stock");
            for ((sku, left), &accepted) in skus.iter().zip(&remaining).zip(accepted_by_sku) {
                let taken = i128::from(accepted) * i128::from(qty);
                let left = left.unwrap_or(0);
                conserved.note(
                    sku,
                    i128::from(left) + taken == i128::from(stock),
                    format!("remaining {left} + {taken} units accepted vs stock {stock}"),
                );
            }
            conserved.finish()
        }
        None => AuditCheck::skip("stock conserved", "--no-setup: the starting stock is unknown"),
    });
    Ok(checks)
}

/// One check applied to every SKU: passes if it holds for all of them.
struct SkuCheck {
    check: &'static str,
    rule: &'static str,
    checked: usize,
    failures: Vec<String>,
    /// The first SKU's figures, shown on a pass as a sample of what was compared.
    sample: Option<String>,
}

impl SkuCheck {
    fn new(check: &'static str, rule: &'static str) -> Self {
        Self {
            check,
            rule,
            checked: 0,
            failures: Vec::new(),
            sample: None,
        }
    }

    fn note(&mut self, sku: &str, holds: bool, figures: String) {
        self.checked += 1;
        if !holds {
            self.failures.push(format!("{sku}: {figures}"));
        } else if self.sample.is_none() {
            self.sample = Some(format!("{sku}: {figures}"));
        }
    }

    fn finish(self) -> AuditCheck {
        let (verdict, detail) = if self.failures.is_empty() {
            let sample = self.sample.map(|s| format!("; {s}")).unwrap_or_default();
            (Verdict::Pass, format!("{} on {} SKUs{sample}", self.rule, self.checked))
        } else {
            let failed = self.failures.len();
            let mut shown: Vec<_> = self.failures.into_iter().take(FAILURES_SHOWN_MAX).collect();
            if failed > FAILURES_SHOWN_MAX {
                shown.push(format!("and {} more", failed - FAILURES_SHOWN_MAX));
            }
            (
                Verdict::Fail,
                format!(
                    "{} fails on {failed} of {} SKUs: {}",
                    self.rule,
                    self.checked,
                    shown.join("; ")
                ),
            )
        };
        AuditCheck {
            check: self.check,
            verdict,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_check_passes_with_a_sample_and_names_failures() {
        let mut check = SkuCheck::new("c", "rule");
        check.note("a", true, "1".into());
        check.note("b", true, "2".into());
        let done = check.finish();
        assert_eq!(done.verdict, Verdict::Pass);
        assert_eq!(done.line(), "PASS c: rule on 2 SKUs; a: 1");

        let mut check = SkuCheck::new("c", "rule");
        for i in 0..FAILURES_SHOWN_MAX + 2 {
            check.note(&format!("s{i}"), false, "x".into());
        }
        let done = check.finish();
        assert_eq!(done.verdict, Verdict::Fail);
        assert!(
            done.detail.starts_with("rule fails on 7 of 7 SKUs: s0: x; "),
            "{}",
            done.detail
        );
        assert!(done.detail.ends_with("s4: x; and 2 more"), "{}", done.detail);
    }
}
