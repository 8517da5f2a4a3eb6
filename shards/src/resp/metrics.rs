//! What the RESP front end of one shard counts: calls, errors and latency per command (the
//! numbers behind INFO commandstats and `/metrics`), protocol errors and bytes.

use std::time::Duration;

use hdrhistogram::Histogram;
use shardhub_net::resp::COMMANDS;

use crate::metrics::family::LATENCY_US_MAX;
use crate::metrics::{histogram, Families, Kind, Sample, Scope, Unit, Value};

#[derive(Clone, Default)]
pub struct CommandMetrics {
    pub calls: u64,
    pub errors: u64,
    /// Allocated on a command's first call, so unused commands cost nothing.
    pub latency_us: Option<Histogram<u64>>,
}

#[derive(Clone)]
pub struct RespMetrics {
    /// By position in `COMMANDS`.
    pub commands: Vec<CommandMetrics>,
    pub unknown_commands: u64,
    pub protocol_errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Default for RespMetrics {
    fn default() -> Self {
        Self {
            commands: vec![CommandMetrics::default(); COMMANDS.len()],
            unknown_commands: 0,
            protocol_errors: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

impl RespMetrics {
    pub fn record_command(&mut self, command_index: usize, elapsed: Duration, error: bool) {
        let m = &mut self.commands[command_index];
        m.calls += 1;
        m.errors += u64::from(error);
        let h = m.latency_us.get_or_insert_with(|| histogram(LATENCY_US_MAX));
        h.saturating_record((elapsed.as_micros() as u64).max(1));
    }

    pub fn commands_processed(&self) -> u64 {
        self.commands.iter().map(|c| c.calls).sum::<u64>() + self.unknown_commands
    }

    pub fn collect(&self, out: &mut Families) {
        out.counter(
            "shardhub_commands_total",
            "RESP commands processed, unknown ones included.",
            self.commands_processed(),
        );
        out.counter(
            "shardhub_protocol_errors_total",
            "Connections closed for breaking the protocol.",
            self.protocol_errors,
        );
        out.counter(
            "shardhub_net_input_bytes_total",
            "Bytes read from clients.",
            self.bytes_in,
        );
        out.counter(
            "shardhub_net_output_bytes_total",
            "Bytes written to clients.",
            self.bytes_out,
        );
        let calls = out.push(
            "shardhub_commands_by_name_total",
            Kind::Counter,
            "Calls per command and shard.",
            Scope::PerShard,
        );
        for (spec, m) in COMMANDS.iter().zip(&self.commands).filter(|(_, m)| m.calls > 0) {
            calls.push(Sample::int(vec![("command", spec.name.into())], m.calls));
        }
        let errors = out.push(
            "shardhub_command_errors_total",
            Kind::Counter,
            "Error replies per command and shard.",
            Scope::PerShard,
        );
        errors.push(Sample::int(vec![("command", "unknown".into())], self.unknown_commands));
        for (spec, m) in COMMANDS.iter().zip(&self.commands).filter(|(_, m)| m.errors > 0) {
            errors.push(Sample::int(vec![("command", spec.name.into())], m.errors));
        }
        let latency = out.push(
            "shardhub_command_latency_seconds",
            Kind::Summary,
            "Command latency from parse to reply, all shards merged.",
            Scope::Merged,
        );
        for (spec, m) in COMMANDS.iter().zip(&self.commands) {
            if let Some(h) = &m.latency_us {
                latency.push(Sample {
                    labels: vec![("command", spec.name.into())],
                    value: Value::Histogram(h.clone(), Unit::MicrosAsSeconds),
                });
            }
        }
    }
}
