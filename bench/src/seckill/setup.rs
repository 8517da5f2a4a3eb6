//! Before a `seckill` run: put every SKU on sale, and give Redis the reference script.

use crate::common::error::BenchError;
use crate::common::resp_reply::bulk_payload;
use crate::seckill::control_session::ControlSession;
use crate::seckill::target::{SeckillTarget, REDIS_LUA_SCRIPT};

/// The HOLD of the sales the bench sets up, in seconds: far longer than any run, so that no
/// reservation expires while the bench measures, which the audit relies on (an expiry moves
/// units from reserved back to available behind the bench's back).
pub const SETUP_HOLD_S: u64 = 3600;

/// How each SKU is put on sale.
pub struct SalePlan {
    /// Units per SKU.
    pub stock: u64,
    /// Per-user cap (shardhub's `LIMIT`).
    pub limit: Option<u64>,
    /// Leave the stock as it is (the sale was set up by someone else).
    pub skip_stock: bool,
}

/// Sets every SKU's stock (unless `plan.skip_stock`) and, for Redis, loads the script, whose
/// sha it returns. The script is loaded even with `skip_stock`: loading changes no data and
/// the run cannot call the script without its sha.
pub fn prepare(
    session: &mut ControlSession,
    target: SeckillTarget,
    skus: &[String],
    plan: &SalePlan,
) -> Result<Option<String>, BenchError> {
    let stock = plan.stock.to_string();
    if !plan.skip_stock {
        for sku in skus {
            let mut args = vec![sku.as_str(), stock.as_str()];
            let limit = plan.limit.map(|l| l.to_string());
            let hold = SETUP_HOLD_S.to_string();
            match target {
                SeckillTarget::Shardhub => {
                    args.insert(0, "STOCK.SET");
                    if let Some(limit) = &limit {
                        args.extend(["LIMIT", limit.as_str()]);
                    }
                    args.extend(["HOLD", hold.as_str()]);
                }
                SeckillTarget::RedisLua => args.insert(0, "SET"),
            }
            session.call_ok(&args)?;
        }
    }
    match target {
        SeckillTarget::Shardhub => Ok(None),
        SeckillTarget::RedisLua => {
            let args = ["SCRIPT", "LOAD", REDIS_LUA_SCRIPT];
            let reply = session.call(&args)?;
            let sha = bulk_payload(&reply)
                .and_then(|sha| std::str::from_utf8(sha).ok())
                .filter(|sha| !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| session.unexpected(&["SCRIPT", "LOAD", "<seckill.lua>"], &reply))?;
            Ok(Some(sha.to_string()))
        }
    }
}
