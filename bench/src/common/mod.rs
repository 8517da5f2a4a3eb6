//! What every load shares: the error type, a load connection and the runner that drives
//! many of them, when a run ends, the run flags, CPU clocks, percentiles, a fast PRNG, and
//! the reading of RESP replies.

pub mod client_connection;
pub mod connection_runner;
pub mod error;
pub mod fast_rng;
pub mod load_args;
pub mod percentiles;
pub mod process_cpu_clock;
pub mod report_args;
pub mod resp_reply;
pub mod run_limit;
