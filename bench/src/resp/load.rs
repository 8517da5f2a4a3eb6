//! `shardhub-bench resp`: redis-benchmark-style load of one command template, pipelined.
//!
//! Each connection keeps exactly `--pipeline` requests in flight as a batch: it writes the
//! batch, reads as many replies, and repeats, as redis-benchmark `-P` does. A request's
//! latency is the time from writing its batch to reading the read that completed its reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::common::client_connection::ClientConnection;
use crate::common::connection_runner::{ConnectionWorkload, RunOutcome};
use crate::common::error::BenchError;
use crate::common::fast_rng::FastRng;
use crate::common::load_args::LoadArgs;
use crate::common::percentiles::{new_histogram, Percentiles};
use crate::common::run_limit::RunLimit;
use crate::resp::command_template::CommandTemplate;

/// Highest latency the histogram tells apart: one minute. Anything slower is a failure.
const LATENCY_US_MAX: u64 = 60_000_000;

#[derive(Debug, clap::Args)]
pub struct RespArgs {
    /// Server address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub addr: String,
    #[command(flatten)]
    pub load: LoadArgs,
    /// The command, split on whitespace; each `__rand_int__` becomes a fresh 12-digit random
    /// number in 0..keyspace per request.
    #[arg(long, default_value = "PING")]
    pub command: String,
    /// Range of the numbers that replace `__rand_int__`.
    #[arg(long, default_value_t = 100_000)]
    pub keyspace: u64,
}

pub fn run(args: RespArgs) -> Result<(), BenchError> {
    let addr = ClientConnection::resolve(&args.addr)?;
    let template = CommandTemplate::parse(&args.command, args.keyspace)?;
    let (runner, limit, server_cpu_method) = args.load.plan()?;
    let workload = Arc::new(RespWorkload {
        addr,
        template,
        pipeline: args.load.pipeline as usize,
        seed: args.load.seed,
    });
    let outcome = runner.run(workload, Arc::new(limit))?;
    let report = RespReport::new(&args, outcome, server_cpu_method);
    if args.load.report.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

struct RespWorkload {
    addr: SocketAddr,
    template: CommandTemplate,
    pipeline: usize,
    seed: u64,
}

/// What one connection measured.
struct RespStats {
    latency_us: Histogram<u64>,
    requests: u64,
    errors: u64,
    /// The first error reply, shown so that a run full of `-ERR` explains itself.
    first_error: Option<String>,
}

impl ConnectionWorkload for RespWorkload {
    type Conn = (usize, ClientConnection);
    type Stats = RespStats;

    async fn connect(&self, index: usize) -> Result<Self::Conn, BenchError> {
        Ok((index, ClientConnection::connect(self.addr).await?))
    }

    async fn drive(&self, (index, mut conn): Self::Conn, limit: &RunLimit) -> Result<RespStats, BenchError> {
        // Distinct, reproducible streams per connection (odd multiplier: a bijection on u64).
        let mut rng = FastRng::new(self.seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut scratch = self.template.new_scratch();
        let mut stats = RespStats {
            latency_us: new_histogram(LATENCY_US_MAX),
            requests: 0,
            errors: 0,
            first_error: None,
        };
        loop {
            let batch = limit.claim(self.pipeline);
            if batch == 0 {
                return Ok(stats);
            }
            for _ in 0..batch {
                self.template.encode(&mut rng, &mut scratch, conn.write_buf());
            }
            let sent_at = Instant::now();
            conn.round_trip(batch, |reply, arrived_at| {
                // RESP2 errors start with '-', RESP3 blob errors with '!'.
                if matches!(reply.first(), Some(b'-' | b'!')) {
                    stats.errors += 1;
                    if stats.first_error.is_none() {
                        stats.first_error = Some(BenchError::reply_text(reply));
                    }
                }
                let latency_us = arrived_at.duration_since(sent_at).as_micros() as u64;
                stats.latency_us.saturating_record(latency_us);
            })
            .await?;
            stats.requests += batch as u64;
        }
    }
}

/// The result of a `resp` run; also its JSON form (names carry their units last).
#[derive(Debug, Serialize)]
struct RespReport {
    label: Option<String>,
    command: String,
    connections: u32,
    pipeline: u32,
    threads: u32,
    keyspace: u64,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed_s: f64,
    rps: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    server_cpu_us_per_req: Option<f64>,
    /// `schedstat` or `stat`: how server CPU was read (see process_cpu_clock.rs).
    server_cpu_method: Option<&'static str>,
    client_cpu_us_per_req: f64,
}

impl RespReport {
    fn new(args: &RespArgs, outcome: RunOutcome<RespStats>, server_cpu_method: Option<&'static str>) -> Self {
        let mut latency_us = new_histogram(LATENCY_US_MAX);
        let (mut requests, mut errors, mut first_error) = (0, 0, None);
        for stats in outcome.stats {
            latency_us
                .add(&stats.latency_us)
                .expect("histograms of equal bounds add");
            requests += stats.requests;
            errors += stats.errors;
            first_error = first_error.or(stats.first_error);
        }
        let p = Percentiles::of(&latency_us);
        let elapsed_s = outcome.elapsed.as_secs_f64();
        let per_req = |us: f64| {
            if requests == 0 {
                0.0
            } else {
                us / requests as f64
            }
        };
        Self {
            label: args.load.report.label.clone(),
            command: args.command.clone(),
            connections: args.load.connections,
            pipeline: args.load.pipeline,
            threads: args.load.threads,
            keyspace: args.keyspace,
            requests,
            errors,
            first_error,
            elapsed_s,
            rps: requests as f64 / elapsed_s,
            p50_us: p.p50,
            p90_us: p.p90,
            p99_us: p.p99,
            p999_us: p.p999,
            max_us: p.max,
            server_cpu_us_per_req: outcome.server_cpu_ns.map(|ns| per_req(ns as f64 / 1000.0)),
            server_cpu_method,
            client_cpu_us_per_req: per_req(outcome.client_cpu_us as f64),
        }
    }

    fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let server_cpu = match (self.server_cpu_us_per_req, self.server_cpu_method) {
            (Some(us), Some(method)) => format!("{us:.2} (from {method})"),
            _ => "- (no --server-pid)".to_string(),
        };
        let mut out = format!(
            "label:              {}\n\
             command:            {}\n\
             connections:        {} on {} client thread(s)\n\
             pipeline:           {}\n\
             requests:           {}\n\
             errors:             {}\n",
            self.label.as_deref().unwrap_or("-"),
            self.command,
            self.connections,
            self.threads,
            self.pipeline,
            self.requests,
            self.errors,
        );
        if let Some(first_error) = &self.first_error {
            out += &format!("first error:        {first_error}\n");
        }
        out += &format!(
            "seconds:            {:.3}\n\
             requests/s:         {:.0}\n\
             latency ms:         p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n\
             server CPU us/req:  {server_cpu}\n\
             client CPU us/req:  {:.2}\n",
            self.elapsed_s,
            self.rps,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
            self.client_cpu_us_per_req,
        );
        out
    }
}
