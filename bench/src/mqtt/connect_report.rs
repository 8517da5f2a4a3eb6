//! The result of an `mqtt connect` run; also its JSON form (names carry their units last).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::common::percentiles::Percentiles;
use crate::mqtt::server_rss::kib_per_connection;

/// What the ramp and the hold measured.
#[derive(Debug, Default)]
pub struct ConnectMeasurement {
    /// TCP connect to CONNACK, microseconds, of the connections that succeeded.
    pub latency_us: Percentiles,
    pub established: u64,
    /// Failed connections by reason (`client::ClientError`'s text, or a timeout).
    pub failures: BTreeMap<String, u64>,
    /// Established connections the server closed during the hold, by reason.
    pub drops: BTreeMap<String, u64>,
    /// From the first connection started to the last one answered.
    pub ramp_s: f64,
    pub rss_before_kib: Option<u64>,
    /// Right after the last CONNACK.
    pub rss_up_kib: Option<u64>,
    /// At the end of the hold, just before the connections close.
    pub rss_held_kib: Option<u64>,
    /// Connections still open when `rss_held_kib` was read.
    pub open_at_hold_end: u64,
    pub server_cpu_ns: Option<u64>,
}

/// The command line, as the report repeats it.
pub struct ConnectShape {
    pub label: Option<String>,
    pub version: &'static str,
    pub connections: u64,
    pub rate_per_s: f64,
    pub keep_alive_s: u16,
    pub hold_s: f64,
    pub server_cpu_method: Option<&'static str>,
    pub client_open_files: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ConnectReport {
    label: Option<String>,
    kind: &'static str,
    version: &'static str,
    connections: u64,
    rate_per_s: f64,
    keep_alive_s: u16,
    hold_s: f64,
    established: u64,
    failed: u64,
    failures: BTreeMap<String, u64>,
    dropped_during_hold: u64,
    drops: BTreeMap<String, u64>,
    ramp_s: f64,
    connects_per_s: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    rss_before_kib: Option<u64>,
    rss_up_kib: Option<u64>,
    rss_held_kib: Option<u64>,
    /// (rss_held - rss_before) / connections open at the end of the hold.
    rss_per_conn_kib: Option<f64>,
    server_cpu_us_per_connect: Option<f64>,
    server_cpu_method: Option<&'static str>,
    /// This process's RLIMIT_NOFILE soft limit after raising it.
    client_open_files: Option<u64>,
}

impl ConnectReport {
    pub fn new(shape: ConnectShape, measured: ConnectMeasurement) -> Self {
        let rss_per_conn_kib = match (measured.rss_before_kib, measured.rss_held_kib) {
            (Some(before), Some(held)) => kib_per_connection(before, held, measured.open_at_hold_end),
            _ => None,
        };
        let per_connect = |ns: u64| {
            if measured.established > 0 {
                ns as f64 / 1000.0 / measured.established as f64
            } else {
                0.0
            }
        };
        Self {
            label: shape.label,
            kind: "connect",
            version: shape.version,
            connections: shape.connections,
            rate_per_s: shape.rate_per_s,
            keep_alive_s: shape.keep_alive_s,
            hold_s: shape.hold_s,
            established: measured.established,
            failed: measured.failures.values().sum(),
            failures: measured.failures,
            dropped_during_hold: measured.drops.values().sum(),
            drops: measured.drops,
            ramp_s: measured.ramp_s,
            connects_per_s: if measured.ramp_s > 0.0 {
                measured.established as f64 / measured.ramp_s
            } else {
                0.0
            },
            p50_us: measured.latency_us.p50,
            p90_us: measured.latency_us.p90,
            p99_us: measured.latency_us.p99,
            p999_us: measured.latency_us.p999,
            max_us: measured.latency_us.max,
            rss_before_kib: measured.rss_before_kib,
            rss_up_kib: measured.rss_up_kib,
            rss_held_kib: measured.rss_held_kib,
            rss_per_conn_kib,
            server_cpu_us_per_connect: measured.server_cpu_ns.map(per_connect),
            server_cpu_method: shape.server_cpu_method,
            client_open_files: shape.client_open_files,
        }
    }

    /// Whether every connection came up and stayed up.
    pub fn all_held(&self) -> bool {
        self.failed == 0 && self.dropped_during_hold == 0
    }

    pub fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let version = if self.version == "5" { "MQTT 5.0" } else { "MQTT 3.1.1" };
        let mut out = format!(
            "label:              {}\n\
             test:               connect, {version}, keep alive {} s\n\
             connections:        {} at {}/s, held {} s\n\
             established:        {} in {:.3} s ({:.0}/s)\n\
             failed:             {}\n",
            self.label.as_deref().unwrap_or("-"),
            self.keep_alive_s,
            self.connections,
            self.rate_per_s,
            self.hold_s,
            self.established,
            self.ramp_s,
            self.connects_per_s,
            self.failed,
        );
        for (reason, count) in &self.failures {
            out += &format!("  {count:>8}  {reason}\n");
        }
        out += &format!("dropped in hold:    {}\n", self.dropped_during_hold);
        for (reason, count) in &self.drops {
            out += &format!("  {count:>8}  {reason}\n");
        }
        out += &format!(
            "connect ms:         p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (TCP connect to CONNACK)\n",
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
        );
        out += &match (self.rss_before_kib, self.rss_up_kib, self.rss_held_kib) {
            (Some(before), Some(up), Some(held)) => format!(
                "server RSS KiB:     {before} before, {up} all up, {held} after the hold: {} KiB per connection\n",
                self.rss_per_conn_kib.map_or("-".to_string(), |kib| format!("{kib:.2}")),
            ),
            _ => "server RSS KiB:     - (no --server-pid)\n".to_string(),
        };
        out += &match (self.server_cpu_us_per_connect, self.server_cpu_method) {
            (Some(us), Some(method)) => format!("server CPU us/conn: {us:.1} during the ramp (from {method})\n"),
            _ => "server CPU us/conn: - (no --server-pid)\n".to_string(),
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ConnectShape {
        ConnectShape {
            label: Some("mosquitto".into()),
            version: "5",
            connections: 1000,
            rate_per_s: 500.0,
            keep_alive_s: 60,
            hold_s: 2.0,
            server_cpu_method: Some("schedstat"),
            client_open_files: Some(20_000),
        }
    }

    fn measured() -> ConnectMeasurement {
        ConnectMeasurement {
            latency_us: Percentiles {
                p50: 250,
                p90: 400,
                p99: 900,
                p999: 1500,
                max: 2000,
            },
            established: 998,
            failures: BTreeMap::from([("CONNACK 0x97 (Quota exceeded)".to_string(), 2)]),
            drops: BTreeMap::new(),
            ramp_s: 2.0,
            rss_before_kib: Some(10_000),
            rss_up_kib: Some(12_000),
            rss_held_kib: Some(12_495),
            open_at_hold_end: 998,
            server_cpu_ns: Some(49_900_000),
        }
    }

    #[test]
    fn per_connection_figures() {
        let report = ConnectReport::new(shape(), measured());
        assert_eq!(report.failed, 2);
        assert_eq!(report.connects_per_s, 499.0);
        assert_eq!(report.rss_per_conn_kib, Some(2.5));
        assert_eq!(report.server_cpu_us_per_connect, Some(50.0));
        assert!(!report.all_held());
    }

    #[test]
    fn human_report_lines() {
        let text = ConnectReport::new(shape(), measured()).human();
        for line in [
            "label:              mosquitto\n",
            "test:               connect, MQTT 5.0, keep alive 60 s\n",
            "connections:        1000 at 500/s, held 2 s\n",
            "established:        998 in 2.000 s (499/s)\n",
            "failed:             2\n",
            "         2  CONNACK 0x97 (Quota exceeded)\n",
            "dropped in hold:    0\n",
            "connect ms:         p50 0.250  p90 0.400  p99 0.900  p99.9 1.500  max 2.000  (TCP connect to CONNACK)\n",
            "server RSS KiB:     10000 before, 12000 all up, 12495 after the hold: 2.50 KiB per connection\n",
            "server CPU us/conn: 50.0 during the ramp (from schedstat)\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn without_a_server_pid_there_are_no_server_figures() {
        let mut measured = measured();
        measured.rss_before_kib = None;
        measured.server_cpu_ns = None;
        let report = ConnectReport::new(shape(), measured);
        assert_eq!(report.rss_per_conn_kib, None);
        let text = report.human();
        assert!(text.contains("server RSS KiB:     - (no --server-pid)\n"), "{text}");
        assert!(text.contains("server CPU us/conn: - (no --server-pid)\n"), "{text}");
    }

    #[test]
    fn json_fields() {
        let json = serde_json::to_value(ConnectReport::new(shape(), measured())).unwrap();
        assert_eq!(json["kind"], "connect");
        assert_eq!(json["failures"]["CONNACK 0x97 (Quota exceeded)"], 2);
        assert_eq!(json["rss_per_conn_kib"], 2.5);
        assert_eq!(json["established"], 998);
    }
}
