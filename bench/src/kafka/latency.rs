//! `pipeline-latency`: the order pipeline end to end, from a SECKILL.BUY's reply to its row
//! committed in PostgreSQL by `shardhub sink`, at a steady rate. BUYs go out paced from a few
//! connections, one at a time each; every reply's time is noted; then the rows' `stored_us`
//! (the sink's clock_timestamp() at insert, the same host's clock) give each order's latency.
//!
//! With `--brokers`, the path is also split at Kafka: a consumer of the orders topic (every
//! partition, from its end when the run starts) notes when each `reserved` event reaches it,
//! and the event's CreateTime says when the relay handed it to its producer. So each order's
//! time is cut into reply -> relay send, relay send -> readable in Kafka, readable -> row
//! committed (the sink's own fetch and batch).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use postgres::{Client, NoTls};
use shardhub_net::resp::{encode_request, reply_len};

use crate::common::error::BenchError;
use crate::common::percentiles::{new_histogram, Percentiles};

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// shardhub's RESP address.
    #[arg(long, default_value = "127.0.0.1:6380")]
    addr: String,
    /// The order store the sink writes.
    #[arg(long)]
    postgres: String,
    /// BUYs per second in all.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Connections, each sending its share of the rate one BUY at a time.
    #[arg(long, default_value_t = 8)]
    connections: u64,
    /// The SKU to buy (stock must be set; the bench does not set it).
    #[arg(long, default_value = "sku:latency")]
    sku: String,
    /// Kafka bootstrap servers: split the latency at the orders topic.
    #[arg(long)]
    brokers: Option<String>,
    #[arg(long, default_value = "seckill.orders")]
    topic: String,
    /// How long to wait for the last rows after the load stops.
    #[arg(long, default_value_t = 60)]
    drain_secs: u64,
    #[arg(long)]
    json: bool,
}

fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn io(addr: &str, e: std::io::Error) -> BenchError {
    BenchError::Usage(format!("{addr}: {e}"))
}

fn db(e: postgres::Error) -> BenchError {
    BenchError::Usage(format!("postgres: {e}"))
}

/// One connection's paced BUYs: (order id, reply time in unix µs).
fn buyer(args: &LatencyArgs, index: u64) -> Result<Vec<(String, i64)>, BenchError> {
    let mut stream = TcpStream::connect(&args.addr).map_err(|e| io(&args.addr, e))?;
    stream.set_nodelay(true).map_err(|e| io(&args.addr, e))?;
    let every = Duration::from_secs_f64(args.connections as f64 / args.rate as f64);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut replies = Vec::new();
    let mut out = BytesMut::new();
    let mut buf = Vec::with_capacity(256);
    let mut n = 0u64;
    loop {
        // Slots are fixed in time: a slow reply is not made up for by a burst.
        let slot = started + every.mul_f64(n as f64) + every.mul_f64(index as f64 / args.connections as f64);
        if slot >= end {
            break;
        }
        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        out.clear();
        let user = format!("lat-{index}-{n}");
        encode_request(&["SECKILL.BUY", args.sku.as_str(), user.as_str()], &mut out);
        stream.write_all(&out).map_err(|e| io(&args.addr, e))?;
        buf.clear();
        let len = loop {
            if let Ok(Some(len)) = reply_len(&buf) {
                break len;
            }
            let mut chunk = [0u8; 256];
            let got = stream.read(&mut chunk).map_err(|e| io(&args.addr, e))?;
            if got == 0 {
                return Err(BenchError::Usage("server closed the connection".into()));
            }
            buf.extend_from_slice(&chunk[..got]);
        };
        let at = unix_us();
        let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
        // A bulk string: the order id. Anything else (SOLDOUT, BUSY) is not an order.
        if let Some(id) = reply.strip_prefix('$').and_then(|r| r.split("\r\n").nth(1)) {
            replies.push((id.to_string(), at));
        }
        n += 1;
    }
    Ok(replies)
}

/// When each order's `reserved` event was created by the relay and read by this consumer
/// (unix µs).
struct Seen {
    created_us: i64,
    read_us: i64,
}

/// Reads the orders topic from its end until `stop`, noting each `reserved` event.
fn watch_topic(
    brokers: &str,
    topic: &str,
    ready: &AtomicBool,
    stop: &AtomicBool,
) -> Result<HashMap<String, Seen>, BenchError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let kafka = |e: rdkafka::error::KafkaError| BenchError::Usage(format!("kafka: {e}"));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "shardhub-bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("socket.nagle.disable", "true")
        .create()
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(kafka)?;
    let mut partitions = TopicPartitionList::new();
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        partitions
            .add_partition_offset(topic, p.id(), Offset::End)
            .map_err(kafka)?;
    }
    consumer.assign(&partitions).map_err(kafka)?;
    let mut seen = HashMap::new();
    // The first polls place the consumer at the partitions' ends before any BUY goes out.
    for _ in 0..20 {
        consumer.poll(Duration::from_millis(50));
    }
    ready.store(true, Ordering::Release);
    while !stop.load(Ordering::Acquire) {
        let Some(message) = consumer.poll(Duration::from_millis(20)) else {
            continue;
        };
        let message = message.map_err(kafka)?;
        let read_us = unix_us();
        let Some(value) = message.payload() else { continue };
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(value) else {
            continue;
        };
        if event["type"] != "reserved" {
            continue;
        }
        if let (Some(id), Some(ms)) = (event["order_id"].as_str(), message.timestamp().to_millis()) {
            seen.insert(
                id.to_string(),
                Seen {
                    created_us: ms * 1000,
                    read_us,
                },
            );
        }
    }
    Ok(seen)
}

/// One stage's latencies, in µs, as p50 / p99 / max.
fn stage(samples: impl Iterator<Item = i64>) -> Percentiles {
    // Microseconds, up to ten minutes.
    let mut histogram = new_histogram(600_000_000);
    for us in samples {
        histogram.saturating_record(us.max(0) as u64);
    }
    Percentiles::of(&histogram)
}

pub fn run(args: LatencyArgs) -> Result<(), BenchError> {
    let (ready, stop) = (AtomicBool::new(args.brokers.is_none()), AtomicBool::new(false));
    let (results, seen) = std::thread::scope(|s| {
        let watcher = args
            .brokers
            .as_deref()
            .map(|b| s.spawn(|| watch_topic(b, &args.topic, &ready, &stop)));
        while !ready.load(Ordering::Acquire) && !watcher.as_ref().is_some_and(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let handles: Vec<_> = (0..args.connections)
            .map(|i| {
                let args = &args;
                s.spawn(move || buyer(args, i))
            })
            .collect();
        let results: Vec<Result<Vec<(String, i64)>, BenchError>> =
            handles.into_iter().map(|h| h.join().expect("buyer thread")).collect();
        // The last events are read while the rows are awaited below; a few seconds suffice.
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Release);
        (results, watcher.map(|w| w.join().expect("topic watcher")))
    });
    let mut replied: HashMap<String, i64> = HashMap::new();
    for r in results {
        replied.extend(r?);
    }
    let seen = seen.transpose()?;
    let mut client = Client::connect(&args.postgres, NoTls).map_err(db)?;
    let ids: Vec<&String> = replied.keys().collect();
    let deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    let stored: Vec<(String, i64)> = loop {
        let rows = client
            .query(
                "select order_id, stored_us from orders where order_id = any($1)",
                &[&ids],
            )
            .map_err(db)?;
        if rows.len() == ids.len() || Instant::now() >= deadline {
            break rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let p = stage(stored.iter().map(|(id, at)| at - replied[id]));
    let stored_at: HashMap<&str, i64> = stored.iter().map(|(id, at)| (id.as_str(), *at)).collect();
    let split = seen.map(|seen| {
        let both: Vec<(&String, &Seen)> = replied.keys().filter_map(|id| Some((id, seen.get(id)?))).collect();
        let relay = stage(both.iter().map(|(id, s)| s.created_us - replied[*id]));
        let broker = stage(both.iter().map(|(_, s)| s.read_us - s.created_us));
        let sink = stage(
            both.iter()
                .filter_map(|(id, s)| Some(stored_at.get(id.as_str())? - s.read_us)),
        );
        (both.len(), relay, broker, sink)
    });
    let secs = args.duration as f64;
    let (p50, p99, max) = (p.p50, p.p99, p.max);
    if args.json {
        let mut line = serde_json::json!({"rate": args.rate, "orders": replied.len(), "stored": stored.len(),
            "buys_per_sec": replied.len() as f64 / secs, "p50_us": p50, "p99_us": p99, "max_us": max});
        if let Some((seen, relay, broker, sink)) = &split {
            line["seen_in_kafka"] = (*seen).into();
            for (name, p) in [("relay", relay), ("broker", broker), ("sink", sink)] {
                line[name] = serde_json::json!({"p50_us": p.p50, "p99_us": p.p99, "max_us": p.max});
            }
        }
        println!("{line}");
    } else {
        println!(
            "{} orders at {:.0}/s, {} in PostgreSQL; BUY reply -> row committed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            replied.len(),
            replied.len() as f64 / secs,
            stored.len(),
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            max as f64 / 1000.0
        );
        if let Some((seen, relay, broker, sink)) = &split {
            println!("split over the {seen} orders seen in Kafka (p50 / p99 / max, ms):");
            for (name, p) in [
                ("BUY reply -> relay send (CreateTime, ms clock)", relay),
                ("relay send -> readable in Kafka", broker),
                ("readable in Kafka -> row committed", sink),
            ] {
                println!(
                    "  {name}: {:.1} / {:.1} / {:.1}",
                    p.p50 as f64 / 1000.0,
                    p.p99 as f64 / 1000.0,
                    p.max as f64 / 1000.0
                );
            }
        }
    }
    if stored.len() < replied.len() {
        return Err(BenchError::Usage(format!(
            "{} of {} orders never reached PostgreSQL",
            replied.len() - stored.len(),
            replied.len()
        )));
    }
    Ok(())
}
