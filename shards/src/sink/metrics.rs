//! The sink's own `/metrics` (Prometheus text): a plain thread answering GETs, since the sink
//! is a separate process with nothing else listening.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::exposition::render;
use crate::metrics::{Families, Kind, Sample, Scope};

/// Bound on a request head the metrics listener reads.
const REQUEST_BYTES_MAX: usize = 8192;

#[derive(Default)]
pub struct SinkStats {
    pub events_total: AtomicU64,
    pub bad_events_total: AtomicU64,
    pub batches_total: AtomicU64,
    pub db_errors_total: AtomicU64,
    /// Per partition: the broker's high watermark minus the next offset to apply.
    pub lag: Mutex<Vec<(i32, i64)>>,
    /// Unix ms of the last committed batch.
    pub last_commit_ms: AtomicI64,
    /// Per partition: the high watermark librdkafka's statistics last reported.
    pub high: Mutex<std::collections::BTreeMap<i32, i64>>,
}

/// The consumer's context: takes each partition's high watermark from librdkafka's periodic
/// statistics, so measuring the lag costs no request of its own.
pub struct WatermarkContext(pub Arc<SinkStats>);

impl rdkafka::ClientContext for WatermarkContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut high = self.0.high.lock().unwrap_or_else(|e| e.into_inner());
        for topic in statistics.topics.values() {
            for (&p, partition) in &topic.partitions {
                if p >= 0 && partition.hi_offset >= 0 {
                    high.insert(p, partition.hi_offset);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for WatermarkContext {}

impl SinkStats {
    /// The families, written by the server's own Prometheus writer (one process, no shard
    /// label).
    fn render(&self) -> String {
        let mut families = Families::default();
        for (name, help, value) in [
            (
                "shardhub_sink_events_total",
                "Order events applied to PostgreSQL.",
                self.events_total.load(Relaxed),
            ),
            (
                "shardhub_sink_bad_events_total",
                "Records that are not order events, passed over.",
                self.bad_events_total.load(Relaxed),
            ),
            (
                "shardhub_sink_batches_total",
                "Transactions committed.",
                self.batches_total.load(Relaxed),
            ),
            (
                "shardhub_sink_db_errors_total",
                "Failed transactions and connections (each retried).",
                self.db_errors_total.load(Relaxed),
            ),
        ] {
            families
                .push(name, Kind::Counter, help, Scope::Process)
                .push(Sample::int(Vec::new(), value));
        }
        let lag = families.push(
            "shardhub_sink_lag_events",
            Kind::Gauge,
            "Records in the topic not yet applied.",
            Scope::Process,
        );
        for &(partition, behind) in self.lag.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            lag.push(Sample::int(
                vec![("partition", partition.to_string())],
                behind.max(0) as u64,
            ));
        }
        families
            .push(
                "shardhub_sink_last_commit_ms",
                Kind::Gauge,
                "Unix ms of the last committed batch.",
                Scope::Process,
            )
            .push(Sample::int(Vec::new(), self.last_commit_ms.load(Relaxed).max(0) as u64));
        render(&[], &families)
    }
}

/// Serves `GET /metrics` on `addr` from a thread of its own; returns the bound address.
pub fn serve(addr: SocketAddr, stats: Arc<SinkStats>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("sink-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &stats);
        }
    })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, stats: &SinkStats) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < REQUEST_BYTES_MAX {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let (status, body) = if head.starts_with(b"GET /metrics ") {
        ("200 OK", stats.render())
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_families_are_written_without_a_shard_label() {
        let stats = SinkStats::default();
        stats.events_total.store(7, Relaxed);
        *stats.lag.lock().unwrap() = vec![(1, 5)];
        let text = stats.render();
        assert!(
            text.contains("# TYPE shardhub_sink_events_total counter\nshardhub_sink_events_total 7\n"),
            "{text}"
        );
        assert!(text.contains("shardhub_sink_lag_events{partition=\"1\"} 5\n"), "{text}");
    }
}
