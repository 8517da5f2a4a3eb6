//! The run flags the `resp` and `seckill` loads share, and the runner plan they make.

use std::time::Duration;

use crate::common::connection_runner::{ConnectionRunner, RunOptions};
use crate::common::error::BenchError;
use crate::common::report_args::ReportArgs;
use crate::common::run_limit::RunLimit;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Concurrent connections, all opened before the clock starts.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Requests (BUYs for `seckill`) each connection keeps in flight as one batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub pipeline: u32,
    /// Total requests over all connections [default: 100000 unless --duration is given].
    #[arg(long, conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Run for this many seconds instead of a fixed number of requests.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Client threads, each a tokio current-thread runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    /// Base of the per-connection PRNG seeds, for reproducible sequences.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl LoadArgs {
    /// The runner, its limit and the server CPU source for these flags.
    pub fn plan(&self) -> Result<(ConnectionRunner, RunLimit, Option<&'static str>), BenchError> {
        ConnectionRunner::plan(RunOptions {
            threads: self.threads as usize,
            connections: self.connections as usize,
            duration: self.duration.map(seconds_to_duration).transpose()?,
            requests: self.requests,
            server_pid: self.report.server_pid,
        })
    }
}

pub fn seconds_to_duration(seconds: f64) -> Result<Duration, BenchError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| BenchError::Usage(format!("--duration must be > 0 s, got {seconds}")))
}
