//! `shardhub-bench mqtt connect`: ramps up `--connections` MQTT connections at `--rate` per
//! second, each sending CONNECT and waiting for its CONNACK; holds them idle for `--hold`
//! seconds (sending PINGREQ only when the keep alive needs one); then closes them.
//!
//! Reported: connect latency (TCP connect to CONNACK) percentiles, failures by reason,
//! connections the server dropped during the hold, and with `--server-pid` the server's
//! VmRSS before the ramp, when all are up, and at the end of the hold, with the difference
//! per open connection, and the server's CPU per connect during the ramp.
//!
//! One tokio current-thread runtime runs every connection: an idle connection costs the
//! client a parked task and a small read buffer, and the ramp rate, not the client, is what
//! limits how fast connections open. Failures do not stop the run: they are what it
//! measures at high counts.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;
use shardhub_net::mqtt::Packet;
use tokio::sync::watch;
use tokio::task::LocalSet;
use tokio::time::Instant;

use crate::common::client_connection::ClientConnection;
use crate::common::error::BenchError;
use crate::common::percentiles::{new_histogram, Percentiles};
use crate::common::process_cpu_clock::ProcessCpuClock;
use crate::mqtt::args::MqttCommonArgs;
use crate::mqtt::client::{ClientError, ConnectOptions, MqttClient};
use crate::mqtt::connect_ramp::RampSchedule;
use crate::mqtt::connect_report::{ConnectMeasurement, ConnectReport, ConnectShape};
use crate::mqtt::open_files::raise_open_files;
use crate::mqtt::server_rss::read_rss_kib;

/// Read buffer growth for an idle connection, which only ever reads a PINGRESP.
const IDLE_READ_CHUNK: usize = 256;
/// Highest connect latency the histogram tells apart: one minute.
const LATENCY_US_MAX: u64 = 60_000_000;
/// How often the ramp checks whether every connection has its answer.
const RESOLVE_POLL: Duration = Duration::from_millis(1);

#[derive(Debug, clap::Args)]
pub struct MqttConnectArgs {
    /// Connections to open. Each is a file descriptor in this process and in the server;
    /// beyond this process's hard RLIMIT_NOFILE (see `ulimit -Hn`), use more client hosts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Connections started per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds the connections stay open and idle once all have their CONNACK.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Seconds one connection may take from TCP connect to CONNACK before it counts as
    /// failed.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Local addresses to connect from, used in turn (e.g. 127.0.0.1,127.0.0.2). One
    /// address reaches one server through about 14,000 connections before the kernel's
    /// ephemeral port search stalls every connect (see client.rs); on loopback any
    /// 127.x.y.z will do.
    #[arg(long, value_delimiter = ',', value_name = "IP,...")]
    pub bind: Vec<IpAddr>,
    #[command(flatten)]
    pub common: MqttCommonArgs,
}

pub fn run(args: MqttConnectArgs) -> Result<(), BenchError> {
    let addr = ClientConnection::resolve(&args.common.addr)?;
    let schedule = RampSchedule::new(args.connections as usize, args.rate)?;
    let hold = seconds(args.hold, "--hold", true)?;
    let connect_timeout = seconds(args.connect_timeout, "--connect-timeout", false)?;
    let client_open_files = raise_open_files(u64::from(args.connections));
    let server_cpu = args.common.report.server_pid.map(ProcessCpuClock::open).transpose()?;
    let plan = RampPlan {
        addr,
        schedule,
        connections: args.connections as usize,
        hold,
        connect_timeout,
        options: ConnectOptions {
            version: args.common.version(),
            keep_alive_s: args.common.keep_alive,
            client_id: String::new(),
            source: None,
        },
        sources: args.bind.clone(),
        client_id_prefix: format!("bench-{}-c", std::process::id()),
        server_pid: args.common.report.server_pid,
        server_cpu: server_cpu.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let measured = LocalSet::new().block_on(&runtime, plan.ramp_and_hold())?;
    let report = ConnectReport::new(
        ConnectShape {
            label: args.common.report.label.clone(),
            version: args.common.version_name(),
            connections: u64::from(args.connections),
            rate_per_s: args.rate,
            keep_alive_s: args.common.keep_alive,
            hold_s: hold.as_secs_f64(),
            server_cpu_method: server_cpu.as_ref().map(|c| c.source().name()),
            client_open_files,
        },
        measured,
    );
    if args.common.report.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else {
        print!("{}", report.human());
    }
    if !report.all_held() {
        eprintln!("note: not every connection came up and stayed up; the failures are in the report");
    }
    Ok(())
}

/// `value` seconds as a duration, or a usage error naming `flag`.
fn seconds(value: f64, flag: &str, zero_allowed: bool) -> Result<Duration, BenchError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| zero_allowed || !d.is_zero())
        .ok_or_else(|| {
            let least = if zero_allowed { ">= 0" } else { "> 0" };
            BenchError::Usage(format!("{flag} must be {least} seconds, got {value}"))
        })
}

struct RampPlan {
    addr: SocketAddr,
    schedule: RampSchedule,
    connections: usize,
    hold: Duration,
    connect_timeout: Duration,
    /// The CONNECT every connection sends, but for its client id and source address.
    options: ConnectOptions,
    /// Source addresses, in turn; empty: the kernel's choice.
    sources: Vec<IpAddr>,
    client_id_prefix: String,
    server_pid: Option<u32>,
    server_cpu: Option<ProcessCpuClock>,
}

/// What the connections have reported so far; shared by the tasks of the one thread.
struct RampTally {
    latency_us: Histogram<u64>,
    established: u64,
    /// Connections that have their answer (CONNACK, failure or timeout).
    resolved: usize,
    failures: BTreeMap<String, u64>,
    drops: BTreeMap<String, u64>,
}

impl RampPlan {
    async fn ramp_and_hold(self) -> Result<ConnectMeasurement, BenchError> {
        let rss = |pid: Option<u32>| pid.map(read_rss_kib).transpose();
        let tally = Rc::new(RefCell::new(RampTally {
            latency_us: new_histogram(LATENCY_US_MAX),
            established: 0,
            resolved: 0,
            failures: BTreeMap::new(),
            drops: BTreeMap::new(),
        }));
        let (stop_tx, stop_rx) = watch::channel(false);
        let rss_before_kib = rss(self.server_pid)?;
        let cpu_before_ns = self.server_cpu.as_ref().map(|c| c.read_ns()).transpose()?;

        let started_at = Instant::now();
        let mut tasks = Vec::with_capacity(self.connections);
        while tasks.len() < self.connections {
            let due = self.schedule.due(started_at.elapsed());
            while tasks.len() < due {
                let mut options = self.options.clone();
                options.client_id = format!("{}{}", self.client_id_prefix, tasks.len());
                if !self.sources.is_empty() {
                    options.source = Some(self.sources[tasks.len() % self.sources.len()]);
                }
                tasks.push(tokio::task::spawn_local(connection_life(
                    self.addr,
                    options,
                    self.connect_timeout,
                    tally.clone(),
                    stop_rx.clone(),
                )));
            }
            if tasks.len() < self.connections {
                tokio::time::sleep_until(started_at + self.schedule.start_offset(tasks.len())).await;
            }
        }
        while tally.borrow().resolved < self.connections {
            tokio::time::sleep(RESOLVE_POLL).await;
        }
        let ramp_s = started_at.elapsed().as_secs_f64();
        let server_cpu_ns = match (&self.server_cpu, cpu_before_ns) {
            (Some(clock), Some(before)) => Some(clock.read_ns()?.saturating_sub(before)),
            _ => None,
        };
        let rss_up_kib = rss(self.server_pid)?;
        tokio::time::sleep(self.hold).await;
        let rss_held_kib = rss(self.server_pid)?;
        let open_at_hold_end = {
            let tally = tally.borrow();
            tally.established - tally.drops.values().sum::<u64>()
        };

        // Every task holds a receiver, so the send cannot fail.
        let _ = stop_tx.send(true);
        for task in tasks {
            task.await.map_err(|_| BenchError::WorkerPanicked)?;
        }
        let tally = Rc::try_unwrap(tally)
            .ok()
            .expect("every connection task has finished")
            .into_inner();
        Ok(ConnectMeasurement {
            latency_us: Percentiles::of(&tally.latency_us),
            established: tally.established,
            failures: tally.failures,
            drops: tally.drops,
            ramp_s,
            rss_before_kib,
            rss_up_kib,
            rss_held_kib,
            open_at_hold_end,
            server_cpu_ns,
        })
    }
}

/// One connection: connect, report, sit idle until told to stop, say goodbye.
async fn connection_life(
    addr: SocketAddr,
    options: ConnectOptions,
    connect_timeout: Duration,
    tally: Rc<RefCell<RampTally>>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let connected = tokio::time::timeout(connect_timeout, MqttClient::connect(addr, &options, IDLE_READ_CHUNK)).await;
    let mut client = {
        let mut tally = tally.borrow_mut();
        tally.resolved += 1;
        match connected {
            Ok(Ok((client, _connack))) => {
                tally.latency_us.saturating_record(started.elapsed().as_micros() as u64);
                tally.established += 1;
                client
            }
            Ok(Err(e)) => {
                *tally.failures.entry(e.to_string()).or_default() += 1;
                return;
            }
            Err(_) => {
                let reason = format!("no CONNACK within {connect_timeout:?}");
                *tally.failures.entry(reason).or_default() += 1;
                return;
            }
        }
    };
    if let Err(e) = hold_idle(&mut client, &mut stop).await {
        *tally.borrow_mut().drops.entry(e.to_string()).or_default() += 1;
        return;
    }
    client.disconnect().await;
}

/// Waits for `stop`, answering nothing but the keep alive.
async fn hold_idle(client: &mut MqttClient, stop: &mut watch::Receiver<bool>) -> Result<(), ClientError> {
    while !*stop.borrow() {
        let ping_at = client.ping_due();
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            read = client.read_more() => {
                read?;
                while let Some(packet) = client.next_packet()? {
                    if packet != Packet::PingResp {
                        return Err(ClientError::Unexpected { got: packet.packet_type(), waiting_for: "PINGRESP" });
                    }
                }
            }
            _ = sleep_until(ping_at) => {
                if client.queue_ping_if_due(std::time::Instant::now()) {
                    client.flush().await?;
                }
            }
        }
    }
    Ok(())
}

/// Sleeps until `at`, or forever if there is no `at`.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_flags() {
        assert_eq!(seconds(0.0, "--hold", true).unwrap(), Duration::ZERO);
        assert_eq!(seconds(1.5, "--hold", true).unwrap(), Duration::from_millis(1500));
        let error = seconds(0.0, "--connect-timeout", false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "bad argument: --connect-timeout must be > 0 seconds, got 0"
        );
        assert!(seconds(-1.0, "--hold", true).is_err());
        assert!(seconds(f64::NAN, "--hold", true).is_err());
    }
}
