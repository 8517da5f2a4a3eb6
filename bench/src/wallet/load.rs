//! `shardhub-bench wallet`: load on the light wallet's HTTP API (docs/wallet.md), plain or
//! through the secure channel, or the same operations in-process as the per-core ceiling.
//!
//! Set-up, before the clock: one wallet is imported from the BIP-39 test mnemonic
//! (`POST /v1/wallets`) and the op is run once on it, so that the server has built the
//! wallet's key tree and cached the account's chain keys; with `secure`, every connection
//! registers its own SM2 key and completes its handshake. Then each connection keeps one
//! request in flight (a closed loop) until `--duration` is up. Every answer must be 200 with
//! the op's fields, or the run stops with the reason. Secure clients registered by the run
//! are deleted again at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::runtime::Runtime;

use crate::common::client_connection::ClientConnection;
use crate::common::connection_runner::{ConnectionRunner, ConnectionWorkload, RunOptions};
use crate::common::error::BenchError;
use crate::common::load_args::seconds_to_duration;
use crate::common::percentiles::new_histogram;
use crate::common::run_limit::RunLimit;
use crate::wallet::channel::WalletChannel;
use crate::wallet::client_wait::ClientWait;
use crate::wallet::http::HttpClient;
use crate::wallet::op::{create_wallet_body, WalletOp, WalletRequest};
use crate::wallet::raw::{self, LATENCY_US_MAX};
use crate::wallet::report::{CpuOf, WalletMeasure, WalletReport};
use crate::wallet::secure::SecureSession;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// In this process, shardhub-crypto called directly on one thread: no server.
    Raw,
    /// HTTP/1.1 + JSON.
    Plain,
    /// SM4-GCM records of the SM2 secure channel, over HTTP/1.1.
    Secure,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Raw => "raw",
            Transport::Plain => "plain",
            Transport::Secure => "secure",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct WalletArgs {
    /// The operation: a new BIP-84 address per request, or an ETH / BTC signature.
    #[arg(long, value_enum)]
    pub op: WalletOp,
    /// How requests reach the wallet code.
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// The server's HTTP listener, HOST:PORT (not used by `raw`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Connections, each with one request in flight (not used by `raw`).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// How the load's connections wait for answers (client_wait.rs; not used by `raw`).
    #[arg(long, value_enum, default_value_t = ClientWait::Sleep)]
    pub client_wait: ClientWait,
    /// Seconds of load.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Server process whose CPU time is measured over the run (`plain`, `secure`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Bearer key for `/v1/wallets` and `/v1/admin` (an `admin` key with `secure`, which
    /// registers clients) when the server runs `wallet.auth = "api_key"`.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Print one JSON object on one line instead of the human-readable block.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: WalletArgs) -> Result<(), BenchError> {
    let duration = seconds_to_duration(args.duration)?;
    let report = match args.transport {
        Transport::Raw => {
            if args.server_pid.is_some() {
                return Err(BenchError::Usage(
                    "--server-pid has no meaning with --transport raw, which measures this process".to_string(),
                ));
            }
            let outcome = raw::run(args.op, duration)?;
            WalletReport::new(
                args.op.name(),
                Transport::Raw.name(),
                None,
                None,
                None,
                WalletMeasure {
                    ops: outcome.ops,
                    elapsed_s: outcome.elapsed.as_secs_f64(),
                    latency_us: &outcome.latency_us,
                    cpu_ns: Some(outcome.cpu_ns),
                    cpu_of: CpuOf::Bench,
                    cpu_method: Some(outcome.cpu_method),
                    client_cpu_us: None,
                },
            )
        }
        Transport::Plain | Transport::Secure => run_http(&args, duration)?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

fn run_http(args: &WalletArgs, duration: std::time::Duration) -> Result<WalletReport, BenchError> {
    let addr = ClientConnection::resolve(&args.addr)?;
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let clients = SecureClients {
        addr,
        pid: std::process::id(),
        connections: args.connections,
        bearer: args.api_key.clone(),
        wait: args.client_wait,
    };
    let result = measure(args, duration, &control, &clients);
    if args.transport == Transport::Secure {
        // Whatever happened, leave no bench keys registered on the server.
        if let Err(e) = control.block_on(clients.remove_all()) {
            eprintln!("shardhub-bench: warning: could not remove the bench's secure clients: {e}");
        }
    }
    result
}

/// Set-up, then the timed load.
fn measure(
    args: &WalletArgs,
    duration: std::time::Duration,
    control: &Runtime,
    clients: &SecureClients,
) -> Result<WalletReport, BenchError> {
    let wallet_id = control.block_on(set_up(args, clients))?;
    let (runner, limit, server_cpu_method) = ConnectionRunner::plan(RunOptions {
        threads: 1,
        connections: args.connections as usize,
        duration: Some(duration),
        requests: None,
        server_pid: args.server_pid,
    })?;
    let workload = Arc::new(WalletWorkload {
        op: args.op,
        transport: args.transport,
        wallet_id: wallet_id.clone(),
        connections: u64::from(args.connections),
        clients: clients.clone(),
    });
    let outcome = runner.run(workload, Arc::new(limit))?;
    let mut latency_us = new_histogram(LATENCY_US_MAX);
    let mut ops = 0;
    for stats in &outcome.stats {
        latency_us
            .add(&stats.latency_us)
            .expect("histograms of equal bounds add");
        ops += stats.ops;
    }
    Ok(WalletReport::new(
        args.op.name(),
        args.transport.name(),
        Some(args.connections),
        Some(args.client_wait),
        Some(wallet_id),
        WalletMeasure {
            ops,
            elapsed_s: outcome.elapsed.as_secs_f64(),
            latency_us: &latency_us,
            cpu_ns: outcome.server_cpu_ns,
            cpu_of: CpuOf::Server,
            cpu_method: server_cpu_method,
            client_cpu_us: Some(outcome.client_cpu_us),
        },
    ))
}

/// Imports the bench wallet and runs the op once on it; returns the wallet id.
async fn set_up(args: &WalletArgs, clients: &SecureClients) -> Result<String, BenchError> {
    let mut channel = clients.open(args.transport, "setup", ClientWait::Sleep).await?;
    let create = WalletRequest {
        method: "POST",
        path: "/v1/wallets".to_string(),
        body: create_wallet_body(),
    };
    let created = channel.call(&create, 201).await?;
    let wallet_id = created
        .get("wallet_id")
        .and_then(|id| id.as_str())
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| BenchError::UnexpectedReply {
            addr: clients.addr,
            reply: format!("POST /v1/wallets: 201 without a wallet_id: {created}"),
        })?
        .to_string();
    let mut warm_up = WalletRequest::default();
    args.op.write_request(&wallet_id, 0, &mut warm_up);
    let answer = channel.call(&warm_up, 200).await?;
    args.op.check_answer(&answer).map_err(|e| BenchError::UnexpectedReply {
        addr: clients.addr,
        reply: format!("{} {}: {e}: {answer}", warm_up.method, warm_up.path),
    })?;
    Ok(wallet_id)
}

/// How the run's connections reach the API, and the secure clients it registers:
/// `bench-<pid>-setup` and `bench-<pid>-<connection>`.
#[derive(Clone)]
struct SecureClients {
    addr: SocketAddr,
    pid: u32,
    connections: u32,
    bearer: Option<String>,
    /// How the timed load's connections wait; set-up and clean-up always sleep.
    wait: ClientWait,
}

impl SecureClients {
    fn client_id(&self, name: &str) -> String {
        format!("bench-{}-{name}", self.pid)
    }

    /// A connected channel: plain, or a confirmed secure session as client `name`.
    async fn open(&self, transport: Transport, name: &str, wait: ClientWait) -> Result<WalletChannel, BenchError> {
        let http = HttpClient::connect(self.addr, wait).await?;
        Ok(match transport {
            Transport::Secure => {
                let session = SecureSession::open(http, &self.client_id(name), self.bearer.as_deref()).await?;
                WalletChannel::Secure(Box::new(session))
            }
            _ => WalletChannel::Plain {
                http,
                bearer: self.bearer.clone(),
            },
        })
    }

    /// `DELETE /v1/admin/secure-clients/{id}` for every id this run may have registered.
    async fn remove_all(&self) -> Result<(), BenchError> {
        let mut http = HttpClient::connect(self.addr, ClientWait::Sleep).await?;
        let names = std::iter::once("setup".to_string()).chain((0..self.connections).map(|i| i.to_string()));
        for name in names {
            let target = format!("/v1/admin/secure-clients/{}", self.client_id(&name));
            let answer = http.call("DELETE", &target, self.bearer.as_deref(), None).await?;
            // 404: never registered (the run stopped before this connection got there).
            if !matches!(answer.status, 204 | 404) {
                return Err(BenchError::UnexpectedReply {
                    addr: self.addr,
                    reply: format!(
                        "DELETE {target}: {} {}",
                        answer.status,
                        BenchError::reply_text(answer.body)
                    ),
                });
            }
        }
        Ok(())
    }
}

struct WalletWorkload {
    op: WalletOp,
    transport: Transport,
    wallet_id: String,
    connections: u64,
    clients: SecureClients,
}

/// What one connection measured.
struct WalletStats {
    latency_us: Histogram<u64>,
    ops: u64,
}

impl ConnectionWorkload for WalletWorkload {
    type Conn = (usize, WalletChannel);
    type Stats = WalletStats;

    async fn connect(&self, index: usize) -> Result<Self::Conn, BenchError> {
        let channel = self
            .clients
            .open(self.transport, &index.to_string(), self.clients.wait)
            .await?;
        Ok((index, channel))
    }

    async fn drive(&self, (index, mut channel): Self::Conn, limit: &RunLimit) -> Result<WalletStats, BenchError> {
        let mut stats = WalletStats {
            latency_us: new_histogram(LATENCY_US_MAX),
            ops: 0,
        };
        let mut request = WalletRequest::default();
        // Connection i sends numbers i + 1, i + 1 + N, ...: each address index and nonce is
        // used once over the run (0 was the set-up's).
        let mut n = index as u64 + 1;
        while limit.claim(1) == 1 {
            self.op.write_request(&self.wallet_id, n, &mut request);
            let sent_at = Instant::now();
            let answer = channel.call(&request, 200).await?;
            stats.latency_us.saturating_record(sent_at.elapsed().as_micros() as u64);
            self.op.check_answer(&answer).map_err(|e| BenchError::UnexpectedReply {
                addr: self.clients.addr,
                reply: format!(
                    "{} {}: {e}: {}",
                    request.method,
                    request.path,
                    BenchError::reply_text(answer.to_string().as_bytes())
                ),
            })?;
            stats.ops += 1;
            n += self.connections;
        }
        Ok(stats)
    }
}
