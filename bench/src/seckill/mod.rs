//! `shardhub-bench seckill`: the flash-sale load against shardhub or Redis with the reference
//! Lua script, and the audit of the stock counts after it.
//!
//! - `args`, `load` (the run), `setup` (the sale), `target` (which server), `workload` (one
//!   connection's BUYs and payments), `report`.
//! - `buy_request`, `buy_outcome`, `order_ledger`: what was asked and answered;
//!   `stock_audit`, `stock_levels`: the check at the end over a `control_session`.
//! - `chance`, `decimal`: the draws and numbers the requests carry.

pub mod args;
pub mod buy_outcome;
pub mod buy_request;
pub mod chance;
pub mod control_session;
pub mod decimal;
pub mod load;
pub mod order_ledger;
pub mod report;
pub mod setup;
pub mod stock_audit;
pub mod stock_levels;
pub mod target;
pub mod workload;
