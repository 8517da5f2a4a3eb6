//! The result of a `wallet` run; also its JSON form (names carry their units last).
//!
//! The figure that matters is CPU microseconds per op: the server's for `plain` and
//! `secure` (what an op costs a shard, HTTP, JSON and the secure channel included), this
//! process's for `raw` (the cryptography alone). `per_core_ops_per_s` = 1e6 / that: the
//! rate one fully busy core would sustain, which on a 2-core host shared with the client is
//! a fairer comparison than the measured ops/s.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::common::percentiles::Percentiles;
use crate::wallet::client_wait::ClientWait;

/// Whose CPU the per-op figure counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuOf {
    /// The server process (`--server-pid`).
    Server,
    /// This process: the in-process loop.
    Bench,
}

/// What a run measured, whatever the transport.
pub struct WalletMeasure<'a> {
    pub ops: u64,
    pub elapsed_s: f64,
    pub latency_us: &'a Histogram<u64>,
    /// CPU time of whoever `cpu_of` names over the run; `None` if not measured.
    pub cpu_ns: Option<u64>,
    pub cpu_of: CpuOf,
    pub cpu_method: Option<&'static str>,
    /// This process's CPU over the run, for the HTTP loads.
    pub client_cpu_us: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct WalletReport {
    op: &'static str,
    transport: &'static str,
    /// `null` for `raw`, which has none.
    connections: Option<u32>,
    /// `sleep` or `spin` (client_wait.rs); `null` for `raw`.
    client_wait: Option<&'static str>,
    wallet_id: Option<String>,
    ops: u64,
    elapsed_s: f64,
    ops_per_s: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    cpu_us_per_op: Option<f64>,
    cpu_of: CpuOf,
    /// `schedstat` or `stat` (see process_cpu_clock.rs).
    cpu_method: Option<&'static str>,
    /// 1e6 / `cpu_us_per_op`.
    per_core_ops_per_s: Option<f64>,
    client_cpu_us_per_op: Option<f64>,
}

/// Microseconds per op of `total_us`; `None` when no op completed.
pub fn per_op_us(total_us: f64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| total_us / ops as f64)
}

/// Ops per second one core sustains at `cpu_us_per_op`; `None` for a cost of 0 (too small
/// to measure, or nothing measured).
pub fn per_core_rate(cpu_us_per_op: f64) -> Option<f64> {
    (cpu_us_per_op > 0.0).then(|| 1e6 / cpu_us_per_op)
}

/// Ops per second over the run.
pub fn rate(ops: u64, elapsed_s: f64) -> f64 {
    if elapsed_s > 0.0 {
        ops as f64 / elapsed_s
    } else {
        0.0
    }
}

impl WalletReport {
    pub fn new(
        op: &'static str,
        transport: &'static str,
        connections: Option<u32>,
        client_wait: Option<ClientWait>,
        wallet_id: Option<String>,
        measure: WalletMeasure<'_>,
    ) -> WalletReport {
        let p = Percentiles::of(measure.latency_us);
        let cpu_us_per_op = measure.cpu_ns.and_then(|ns| per_op_us(ns as f64 / 1000.0, measure.ops));
        WalletReport {
            op,
            transport,
            connections,
            client_wait: client_wait.map(ClientWait::name),
            wallet_id,
            ops: measure.ops,
            elapsed_s: measure.elapsed_s,
            ops_per_s: rate(measure.ops, measure.elapsed_s),
            p50_us: p.p50,
            p90_us: p.p90,
            p99_us: p.p99,
            p999_us: p.p999,
            max_us: p.max,
            cpu_us_per_op,
            cpu_of: measure.cpu_of,
            cpu_method: measure.cpu_method,
            per_core_ops_per_s: cpu_us_per_op.and_then(per_core_rate),
            client_cpu_us_per_op: measure.client_cpu_us.and_then(|us| per_op_us(us as f64, measure.ops)),
        }
    }

    pub fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let cpu_label = match self.cpu_of {
            CpuOf::Server => "server CPU us/op:",
            CpuOf::Bench => "bench CPU us/op:",
        };
        let cpu = match (self.cpu_us_per_op, self.cpu_method) {
            (Some(us), Some(method)) => format!("{us:.2} (from {method})"),
            _ => "- (no --server-pid)".to_string(),
        };
        let per_core = match self.per_core_ops_per_s {
            Some(rate) => format!("{rate:.0} ops/s (1e6 / CPU us per op)"),
            None => "-".to_string(),
        };
        let connections = match (self.connections, self.client_wait) {
            (Some(n), Some(wait)) => format!("{n} on 1 client thread, one request in flight each, {wait} for answers"),
            _ => "- (in-process loop on one thread)".to_string(),
        };
        let mut out = format!(
            "op:                 {}\n\
             transport:          {}\n\
             connections:        {connections}\n",
            self.op, self.transport,
        );
        if let Some(id) = &self.wallet_id {
            out += &format!("wallet:             {id}\n");
        }
        out += &format!(
            "ops:                {}\n\
             seconds:            {:.3}\n\
             ops/s:              {:.0}\n\
             latency ms:         p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n\
             {cpu_label:<20}{cpu}\n\
             per-core rate:      {per_core}\n",
            self.ops,
            self.elapsed_s,
            self.ops_per_s,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
        );
        if let Some(us) = self.client_cpu_us_per_op {
            out += &format!("client CPU us/op:   {us:.2}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::percentiles::new_histogram;

    #[test]
    fn per_op_and_per_core_arithmetic() {
        assert_eq!(per_op_us(1000.0, 4), Some(250.0));
        assert_eq!(per_op_us(1000.0, 0), None);
        assert_eq!(per_core_rate(250.0), Some(4000.0));
        assert_eq!(per_core_rate(0.0), None);
        assert_eq!(rate(500, 2.0), 250.0);
        assert_eq!(rate(500, 0.0), 0.0);
    }

    #[test]
    fn report_carries_cpu_per_op_and_per_core_rate() {
        let mut latency_us = new_histogram(60_000_000);
        for us in [100, 200, 300, 400] {
            latency_us.saturating_record(us);
        }
        let report = WalletReport::new(
            "sign-eth",
            "plain",
            Some(4),
            Some(ClientWait::Spin),
            Some("ab".to_string()),
            WalletMeasure {
                ops: 4,
                elapsed_s: 0.5,
                latency_us: &latency_us,
                // 200 us of server CPU per op.
                cpu_ns: Some(800_000),
                cpu_of: CpuOf::Server,
                cpu_method: Some("schedstat"),
                client_cpu_us: Some(40),
            },
        );
        assert_eq!(report.ops_per_s, 8.0);
        assert_eq!(report.cpu_us_per_op, Some(200.0));
        assert_eq!(report.per_core_ops_per_s, Some(5000.0));
        assert_eq!(report.client_cpu_us_per_op, Some(10.0));
        assert_eq!(report.p50_us, 200);
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["cpu_of"], "server");
        assert_eq!(json["per_core_ops_per_s"], 5000.0);
        assert_eq!(json["client_wait"], "spin");
        let text = report.human();
        assert!(text.contains("one request in flight each, spin for answers"), "{text}");
        assert!(text.contains("server CPU us/op:   200.00 (from schedstat)"), "{text}");
        assert!(text.contains("per-core rate:      5000 ops/s"), "{text}");
    }

    #[test]
    fn unmeasured_cpu_is_null() {
        let latency_us = new_histogram(10);
        let report = WalletReport::new(
            "address",
            "secure",
            Some(1),
            Some(ClientWait::Sleep),
            None,
            WalletMeasure {
                ops: 0,
                elapsed_s: 1.0,
                latency_us: &latency_us,
                cpu_ns: None,
                cpu_of: CpuOf::Server,
                cpu_method: None,
                client_cpu_us: Some(5),
            },
        );
        assert_eq!((report.cpu_us_per_op, report.per_core_ops_per_s), (None, None));
        assert_eq!(report.client_cpu_us_per_op, None);
        assert!(report.human().contains("- (no --server-pid)"));
    }
}
