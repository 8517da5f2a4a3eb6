//! The flags of `shardhub-bench seckill`.

use crate::common::load_args::LoadArgs;
use crate::seckill::target::SeckillTarget;

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
