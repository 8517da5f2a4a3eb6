//! `shardhub-bench mesh`: load on the server's cross-shard mesh, timed by the server.
//!
//! The server answers `MESH PING <shard>` with the round trip, in nanoseconds, of one
//! request/reply through the mesh from the shard serving the connection to `<shard>`,
//! measured on the server, so client and loopback latency stay out of the figure. The probe
//! sends those on many connections, each cycling over the target shards, and reports the
//! distribution of the server's figures plus completed round trips per second.
//!
//! A connection's own shard answers without the mesh, with exactly 0. Those answers are
//! included unless `--exclude-local` is given, which asks every shard once per connection
//! first and never targets the one that answered 0.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use hdrhistogram::Histogram;
use serde::Serialize;
use shardhub_net::resp::encode_request;

use crate::common::client_connection::ClientConnection;
use crate::common::connection_runner::{ConnectionRunner, ConnectionWorkload, RunOptions, RunOutcome};
use crate::common::error::BenchError;
use crate::common::load_args::seconds_to_duration;
use crate::common::percentiles::{new_histogram, Percentiles};
use crate::common::resp_reply::{bulk_payload, parse_integer_reply};
use crate::common::run_limit::RunLimit;

/// Highest round trip the histogram tells apart: ten seconds, in nanoseconds.
const RTT_NS_MAX: u64 = 10_000_000_000;

/// Most shards the probe accepts from `INFO`: far above any core count, it only guards the
/// per-shard request table against a garbage answer.
const SHARDS_MAX: u32 = 4096;

#[derive(Debug, clap::Args)]
pub struct MeshArgs {
    /// Server address, HOST:PORT (the RESP port).
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub addr: String,
    /// Concurrent connections; the server spreads them over its shards.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Total `MESH PING` requests over all connections [default: 100000 unless --duration].
    #[arg(long, conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Run for this many seconds instead of a fixed number of requests.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Requests each connection keeps in flight as one batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub pipeline: u32,
    /// Target only this shard instead of cycling over all of them.
    #[arg(long)]
    pub target_shard: Option<u32>,
    /// Never target a connection's own shard (found by asking each shard once).
    #[arg(long)]
    pub exclude_local: bool,
    /// Client threads, each a tokio current-thread runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    /// Free text that names the run in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object on one line instead of the human-readable block.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: MeshArgs) -> Result<(), BenchError> {
    let addr = ClientConnection::resolve(&args.addr)?;
    let duration = args.duration.map(seconds_to_duration).transpose()?;
    let shards = fetch_shard_count(addr)?;
    if let Some(target) = args.target_shard {
        if target >= shards {
            return Err(BenchError::Usage(format!(
                "--target-shard {target} but the server has {shards} shards (0..{shards})"
            )));
        }
    }
    let (runner, limit, _) = ConnectionRunner::plan(RunOptions {
        threads: args.threads as usize,
        connections: args.connections as usize,
        duration,
        requests: args.requests,
        server_pid: None,
    })?;
    let workload = Arc::new(MeshWorkload::new(
        addr,
        shards,
        args.target_shard,
        args.exclude_local,
        args.pipeline as usize,
    ));
    let outcome = runner.run(workload, Arc::new(limit))?;
    let report = MeshReport::new(&args, shards, outcome);
    if report.round_trips == 0 {
        return Err(match &report.first_error {
            Some(error) => BenchError::UnexpectedReply {
                addr,
                reply: error.clone(),
            },
            None => BenchError::Usage("no connection had a shard to target (one shard and --exclude-local?)".into()),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

/// Asks `INFO server` for the `shards:<n>` line, on a connection of its own.
fn fetch_shard_count(addr: SocketAddr) -> Result<u32, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    runtime.block_on(async {
        let mut conn = ClientConnection::connect(addr).await?;
        encode_request(&["INFO", "server"], conn.write_buf());
        let mut shards = None;
        let mut reply_shown = String::new();
        conn.round_trip(1, |reply, _| {
            shards = bulk_payload(reply)
                .and_then(|info| std::str::from_utf8(info).ok())
                .and_then(parse_info_shards);
            reply_shown = BenchError::reply_text(reply);
        })
        .await?;
        match shards {
            Some(n) if (1..=SHARDS_MAX).contains(&n) => Ok(n),
            _ => Err(BenchError::UnexpectedReply {
                addr,
                reply: format!("INFO server has no valid shards:<n> line: {reply_shown}"),
            }),
        }
    })
}

/// The number on the `shards:<n>` line of an INFO text.
pub fn parse_info_shards(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix("shards:"))
        .and_then(|n| n.trim().parse().ok())
}

struct MeshWorkload {
    addr: SocketAddr,
    shards: u32,
    target_shard: Option<u32>,
    exclude_local: bool,
    pipeline: usize,
    /// `MESH PING <s>` encoded once per shard: the hot loop only copies bytes.
    ping_by_shard: Vec<BytesMut>,
}

struct MeshConn {
    conn: ClientConnection,
    /// Shards this connection sends to, in turn.
    targets: Vec<u32>,
}

#[derive(Debug)]
struct MeshStats {
    rtt_ns: Histogram<u64>,
    round_trips: u64,
    errors: u64,
    first_error: Option<String>,
    /// The connection had nothing to target (its own shard was the only candidate).
    idle: bool,
}

impl MeshWorkload {
    fn new(addr: SocketAddr, shards: u32, target_shard: Option<u32>, exclude_local: bool, pipeline: usize) -> Self {
        let ping_by_shard = (0..shards)
            .map(|shard| {
                let mut request = BytesMut::new();
                encode_request(&["MESH", "PING", &shard.to_string()], &mut request);
                request
            })
            .collect();
        Self {
            addr,
            shards,
            target_shard,
            exclude_local,
            pipeline,
            ping_by_shard,
        }
    }

    /// The shards that answer `MESH PING` with exactly 0 on this connection: its own.
    async fn local_shards(&self, conn: &mut ClientConnection) -> Result<Vec<u32>, BenchError> {
        let mut local = Vec::new();
        for shard in 0..self.shards {
            conn.write_buf().extend_from_slice(&self.ping_by_shard[shard as usize]);
            let mut answer = Err(String::new());
            conn.round_trip(1, |reply, _| {
                answer = parse_integer_reply(reply).ok_or_else(|| BenchError::reply_text(reply));
            })
            .await?;
            match answer {
                Ok(0) => local.push(shard),
                Ok(_) => {}
                Err(reply) => {
                    return Err(BenchError::UnexpectedReply {
                        addr: conn.addr(),
                        reply: format!("MESH PING {shard}: {reply}"),
                    })
                }
            }
        }
        Ok(local)
    }
}

impl ConnectionWorkload for MeshWorkload {
    type Conn = MeshConn;
    type Stats = MeshStats;

    async fn connect(&self, index: usize) -> Result<MeshConn, BenchError> {
        let mut conn = ClientConnection::connect(self.addr).await?;
        let local = if self.exclude_local {
            self.local_shards(&mut conn).await?
        } else {
            Vec::new()
        };
        let mut targets: Vec<u32> = match self.target_shard {
            Some(shard) => vec![shard],
            None => (0..self.shards).collect(),
        };
        targets.retain(|s| !local.contains(s));
        if !targets.is_empty() {
            // Start each connection at a different shard so they do not move in lockstep.
            let len = targets.len();
            targets.rotate_left(index % len);
        }
        Ok(MeshConn { conn, targets })
    }

    async fn drive(&self, mesh: MeshConn, limit: &RunLimit) -> Result<MeshStats, BenchError> {
        let MeshConn { mut conn, targets } = mesh;
        let mut stats = MeshStats {
            rtt_ns: new_histogram(RTT_NS_MAX),
            round_trips: 0,
            errors: 0,
            first_error: None,
            idle: targets.is_empty(),
        };
        if stats.idle {
            return Ok(stats);
        }
        let mut next = 0;
        loop {
            let batch = limit.claim(self.pipeline);
            if batch == 0 {
                return Ok(stats);
            }
            for _ in 0..batch {
                let shard = targets[next] as usize;
                next = (next + 1) % targets.len();
                conn.write_buf().extend_from_slice(&self.ping_by_shard[shard]);
            }
            let mut unexpected = None;
            conn.round_trip(batch, |reply, _| match parse_integer_reply(reply) {
                Some(ns) if ns >= 0 => {
                    stats.rtt_ns.saturating_record(ns as u64);
                    stats.round_trips += 1;
                }
                _ if matches!(reply.first(), Some(b'-' | b'!')) => {
                    stats.errors += 1;
                    if stats.first_error.is_none() {
                        stats.first_error = Some(BenchError::reply_text(reply));
                    }
                }
                _ => {
                    unexpected.get_or_insert_with(|| BenchError::reply_text(reply));
                }
            })
            .await?;
            if let Some(reply) = unexpected {
                return Err(BenchError::UnexpectedReply {
                    addr: conn.addr(),
                    reply: format!("MESH PING must answer a non-negative integer: {reply}"),
                });
            }
        }
    }
}

/// The result of a `mesh` run; also its JSON form. Round-trip figures are the server's own
/// measurements, converted from nanoseconds to microseconds.
#[derive(Debug, Serialize)]
struct MeshReport {
    label: Option<String>,
    shards: u32,
    connections: u32,
    pipeline: u32,
    target_shard: Option<u32>,
    /// Whether answers from a connection's own shard (0 ns, no mesh) are in the figures.
    local_included: bool,
    /// Connections that had no shard to target and sent nothing.
    idle_connections: u64,
    round_trips: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed_s: f64,
    round_trips_per_s: f64,
    rtt_p50_us: f64,
    rtt_p90_us: f64,
    rtt_p99_us: f64,
    rtt_p999_us: f64,
    rtt_max_us: f64,
}

impl MeshReport {
    fn new(args: &MeshArgs, shards: u32, outcome: RunOutcome<MeshStats>) -> Self {
        let mut rtt_ns = new_histogram(RTT_NS_MAX);
        let (mut round_trips, mut errors, mut idle, mut first_error) = (0, 0, 0, None);
        for stats in outcome.stats {
            rtt_ns.add(&stats.rtt_ns).expect("histograms of equal bounds add");
            round_trips += stats.round_trips;
            errors += stats.errors;
            idle += u64::from(stats.idle);
            first_error = first_error.or(stats.first_error);
        }
        let p = Percentiles::of(&rtt_ns);
        let us = |ns: u64| ns as f64 / 1000.0;
        let elapsed_s = outcome.elapsed.as_secs_f64();
        Self {
            label: args.label.clone(),
            shards,
            connections: args.connections,
            pipeline: args.pipeline,
            target_shard: args.target_shard,
            local_included: !args.exclude_local,
            idle_connections: idle,
            round_trips,
            errors,
            first_error,
            elapsed_s,
            round_trips_per_s: round_trips as f64 / elapsed_s,
            rtt_p50_us: us(p.p50),
            rtt_p90_us: us(p.p90),
            rtt_p99_us: us(p.p99),
            rtt_p999_us: us(p.p999),
            rtt_max_us: us(p.max),
        }
    }

    fn human(&self) -> String {
        let target = match self.target_shard {
            Some(shard) => format!("shard {shard}"),
            None => format!("all {} shards in turn", self.shards),
        };
        let local = if self.local_included {
            "included (answered by the connection's own shard with 0 ns, no mesh)"
        } else {
            "excluded (--exclude-local)"
        };
        let mut out = format!(
            "label:                   {}\n\
             shards:                  {}\n\
             connections:             {} ({} idle: nothing to target)\n\
             pipeline:                {}\n\
             target:                  {target}\n\
             local round trips:       {local}\n\
             round trips:             {}\n\
             errors:                  {}\n",
            self.label.as_deref().unwrap_or("-"),
            self.shards,
            self.connections,
            self.idle_connections,
            self.pipeline,
            self.round_trips,
            self.errors,
        );
        if let Some(first_error) = &self.first_error {
            out += &format!("first error:             {first_error}\n");
        }
        out += &format!(
            "seconds:                 {:.3}\n\
             round trips/s:           {:.0}\n\
             mesh RTT us (server):    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n",
            self.elapsed_s,
            self.round_trips_per_s,
            self.rtt_p50_us,
            self.rtt_p90_us,
            self.rtt_p99_us,
            self.rtt_p999_us,
            self.rtt_max_us,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shards_line_in_info() {
        let info = "# Server\r\nredis_version:7.2.0\r\nshards:4\r\nos:Linux\r\n";
        assert_eq!(parse_info_shards(info), Some(4));
        assert_eq!(parse_info_shards("# Server\nshards: 16\n"), Some(16));
        assert_eq!(parse_info_shards("# Server\r\nredis_version:7\r\n"), None);
        assert_eq!(parse_info_shards("shards:many\r\n"), None);
        // A key that merely ends in "shards" is not the line.
        assert_eq!(parse_info_shards("cluster_shards:3\r\nshards:2\r\n"), Some(2));
    }

    #[test]
    fn info_reply_to_shard_count() {
        let text = "# Server\r\nshards:8\r\n";
        let reply = format!("${}\r\n{text}\r\n", text.len());
        let info = bulk_payload(reply.as_bytes()).unwrap();
        assert_eq!(parse_info_shards(std::str::from_utf8(info).unwrap()), Some(8));
    }

    #[test]
    fn ping_requests_are_encoded_per_shard() {
        let addr = "127.0.0.1:1".parse().unwrap();
        let workload = MeshWorkload::new(addr, 12, None, false, 1);
        assert_eq!(
            &workload.ping_by_shard[11][..],
            b"*3\r\n$4\r\nMESH\r\n$4\r\nPING\r\n$2\r\n11\r\n"
        );
    }
}
