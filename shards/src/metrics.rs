//! Shard-local metrics and their Prometheus rendering.
//!
//! Each shard counts into plain fields on its own thread (no atomics, no locks). A scrape
//! asks every shard for a snapshot over the mesh, like any other request, and merges them on
//! the scraping shard: a scrape never blocks a shard, it just waits its turn.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use shardhub_net::resp::COMMANDS;

use crate::shard_op::ShardStats;

/// Latencies are recorded in microseconds up to this; longer ones saturate.
const LATENCY_US_MAX: u64 = 60_000_000;
/// Two significant figures: 1% resolution, and a histogram small enough to clone on scrape.
const LATENCY_SIGFIG: u8 = 2;

#[derive(Clone, Default)]
pub struct CommandMetrics {
    pub calls: u64,
    pub errors: u64,
    /// Allocated on a command's first call, so unused commands cost nothing.
    pub latency_us: Option<Histogram<u64>>,
}

/// Counters one shard keeps; the counterpart of [`ShardStats`] with histograms.
#[derive(Clone)]
pub struct ShardMetrics {
    pub commands: Vec<CommandMetrics>,
    pub unknown_commands: u64,
    pub protocol_errors: u64,
    pub connections_current: u64,
    pub connections_total: u64,
    pub connections_rejected: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub expired_keys: u64,
    pub http_requests: u64,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self {
            commands: vec![CommandMetrics::default(); COMMANDS.len()],
            unknown_commands: 0,
            protocol_errors: 0,
            connections_current: 0,
            connections_total: 0,
            connections_rejected: 0,
            bytes_in: 0,
            bytes_out: 0,
            expired_keys: 0,
            http_requests: 0,
        }
    }
}

impl ShardMetrics {
    pub fn record_command(&mut self, command_index: usize, elapsed: Duration, error: bool) {
        let m = &mut self.commands[command_index];
        m.calls += 1;
        m.errors += u64::from(error);
        let histogram = m.latency_us.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGFIG).expect("valid histogram bounds")
        });
        histogram.saturating_record((elapsed.as_micros() as u64).max(1));
    }

    pub fn commands_processed(&self) -> u64 {
        self.commands.iter().map(|c| c.calls).sum::<u64>() + self.unknown_commands
    }
}

/// What one shard sends a scraper.
pub struct MetricsSnapshot {
    pub stats: ShardStats,
    pub metrics: ShardMetrics,
    pub seckill: crate::seckill_metrics::SeckillMetrics,
    pub mqtt: crate::mqtt::metrics::MqttMetrics,
    pub mqtt_gauges: crate::mqtt::metrics::MqttGauges,
    pub wallet: crate::wallet::WalletMetrics,
    /// Wallets the shard owns, and secure sessions it holds.
    pub wallets: u64,
    pub secure_sessions: u64,
}

/// A per-shard series: name, type, help text, and how to read it from a snapshot.
type ShardSeries = (&'static str, &'static str, &'static str, fn(&MetricsSnapshot) -> u64);

/// Renders all shards' snapshots as Prometheus text exposition format 0.0.4.
pub fn render(snapshots: &[MetricsSnapshot], ready: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let shard_gauges: &[ShardSeries] = &[
        ("shardhub_connections", "gauge", "Open client connections.", |s| {
            s.metrics.connections_current
        }),
        (
            "shardhub_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            |s| s.metrics.connections_total,
        ),
        (
            "shardhub_connections_rejected_total",
            "counter",
            "Connections refused at the per-shard limit.",
            |s| s.metrics.connections_rejected,
        ),
        (
            "shardhub_commands_total",
            "counter",
            "RESP commands processed, unknown ones included.",
            |s| s.metrics.commands_processed(),
        ),
        (
            "shardhub_protocol_errors_total",
            "counter",
            "Connections closed for breaking the protocol.",
            |s| s.metrics.protocol_errors,
        ),
        (
            "shardhub_net_input_bytes_total",
            "counter",
            "Bytes read from clients.",
            |s| s.metrics.bytes_in,
        ),
        (
            "shardhub_net_output_bytes_total",
            "counter",
            "Bytes written to clients.",
            |s| s.metrics.bytes_out,
        ),
        ("shardhub_keys", "gauge", "Keys stored.", |s| s.stats.keys),
        ("shardhub_expires", "gauge", "Keys with a time to live.", |s| {
            s.stats.expires
        }),
        (
            "shardhub_expired_keys_total",
            "counter",
            "Keys removed by active expiry.",
            |s| s.metrics.expired_keys,
        ),
        (
            "shardhub_mesh_requests_sent_total",
            "counter",
            "Requests sent to other shards.",
            |s| s.stats.mesh_requests_sent,
        ),
        (
            "shardhub_mesh_notices_sent_total",
            "counter",
            "One-way messages (hints, forwarded publishes) sent to other shards.",
            |s| s.stats.mesh_notices_sent,
        ),
        (
            "shardhub_mesh_requests_received_total",
            "counter",
            "Requests and one-way messages received from other shards.",
            |s| s.stats.mesh_requests_received,
        ),
        (
            "shardhub_mesh_busy_total",
            "counter",
            "Mesh sends refused because a ring or the pending table was full.",
            |s| s.stats.mesh_busy,
        ),
        (
            "shardhub_http_requests_total",
            "counter",
            "HTTP requests served.",
            |s| s.metrics.http_requests,
        ),
        ("shardhub_wallets", "gauge", "Wallets the shard owns.", |s| s.wallets),
        (
            "shardhub_wallet_requests_total",
            "counter",
            "Wallet API requests (plain and secure-channel transport).",
            |s| s.wallet.requests,
        ),
        (
            "shardhub_wallet_refused_total",
            "counter",
            "Wallet API requests answered with an error.",
            |s| s.wallet.refused,
        ),
        (
            "shardhub_wallets_created_total",
            "counter",
            "Wallets created through this shard.",
            |s| s.wallet.wallets_created,
        ),
        (
            "shardhub_secure_sessions",
            "gauge",
            "Secure-channel sessions held (pending and open).",
            |s| s.secure_sessions,
        ),
        (
            "shardhub_secure_sessions_opened_total",
            "counter",
            "Secure-channel handshakes answered.",
            |s| s.wallet.sessions_opened,
        ),
        (
            "shardhub_secure_sessions_evicted_total",
            "counter",
            "Sessions evicted by a newer one of the same client beyond the cap.",
            |s| s.wallet.sessions_evicted,
        ),
        (
            "shardhub_secure_sessions_expired_total",
            "counter",
            "Sessions dropped after wallet.session_idle_secs unused.",
            |s| s.wallet.sessions_expired,
        ),
        (
            "shardhub_secure_records_total",
            "counter",
            "Secure-channel records accepted.",
            |s| s.wallet.records_accepted,
        ),
        (
            "shardhub_secure_records_refused_total",
            "counter",
            "Secure-channel records refused (unknown session, stale seq, bad tag).",
            |s| s.wallet.records_refused,
        ),
    ];
    for (name, kind, help, get) in shard_gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in snapshots {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.stats.shard, get(s));
        }
    }
    let _ = writeln!(
        out,
        "# HELP shardhub_commands_by_name_total Calls per command and shard."
    );
    let _ = writeln!(out, "# TYPE shardhub_commands_by_name_total counter");
    for s in snapshots {
        for (spec, m) in COMMANDS.iter().zip(&s.metrics.commands) {
            if m.calls > 0 {
                let _ = writeln!(
                    out,
                    "shardhub_commands_by_name_total{{shard=\"{}\",command=\"{}\"}} {}",
                    s.stats.shard, spec.name, m.calls
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP shardhub_command_errors_total Error replies per command and shard."
    );
    let _ = writeln!(out, "# TYPE shardhub_command_errors_total counter");
    for s in snapshots {
        let _ = writeln!(
            out,
            "shardhub_command_errors_total{{shard=\"{}\",command=\"unknown\"}} {}",
            s.stats.shard, s.metrics.unknown_commands
        );
        for (spec, m) in COMMANDS.iter().zip(&s.metrics.commands) {
            if m.errors > 0 {
                let _ = writeln!(
                    out,
                    "shardhub_command_errors_total{{shard=\"{}\",command=\"{}\"}} {}",
                    s.stats.shard, spec.name, m.errors
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP shardhub_command_latency_seconds Command latency from parse to reply, all shards merged."
    );
    let _ = writeln!(out, "# TYPE shardhub_command_latency_seconds summary");
    for (index, spec) in COMMANDS.iter().enumerate() {
        let mut merged: Option<Histogram<u64>> = None;
        for s in snapshots {
            if let Some(h) = &s.metrics.commands[index].latency_us {
                match &mut merged {
                    Some(m) => m.add(h).expect("same bounds on every shard"),
                    None => merged = Some(h.clone()),
                }
            }
        }
        let Some(h) = merged else { continue };
        for q in [0.5, 0.9, 0.99, 0.999] {
            let seconds = h.value_at_quantile(q) as f64 / 1e6;
            let _ = writeln!(
                out,
                "shardhub_command_latency_seconds{{command=\"{}\",quantile=\"{q}\"}} {seconds}",
                spec.name
            );
        }
        let sum = h.mean() * h.len() as f64 / 1e6;
        let _ = writeln!(
            out,
            "shardhub_command_latency_seconds_sum{{command=\"{}\"}} {sum}",
            spec.name
        );
        let _ = writeln!(
            out,
            "shardhub_command_latency_seconds_count{{command=\"{}\"}} {}",
            spec.name,
            h.len()
        );
    }
    let seckill: Vec<_> = snapshots.iter().map(|s| (s.stats.shard, &s.seckill)).collect();
    crate::seckill_metrics::render(&seckill, &mut out);
    let mqtt: Vec<_> = snapshots
        .iter()
        .map(|s| (s.stats.shard, &s.mqtt, s.mqtt_gauges))
        .collect();
    crate::mqtt::metrics::render(&mqtt, &mut out);
    let _ = writeln!(
        out,
        "# HELP shardhub_ready Whether the server accepts traffic (1) or is starting or draining (0)."
    );
    let _ = writeln!(out, "# TYPE shardhub_ready gauge\nshardhub_ready {}", u8::from(ready));
    out
}
