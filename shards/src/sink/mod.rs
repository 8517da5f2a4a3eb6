//! `shardhub sink`: a separate process that consumes the orders topic and writes the order
//! store in PostgreSQL (docs/pipeline.md, "The sink").
//!
//! - [`order_event`]: the topic's events, read for what the store needs.
//! - [`store`]: migrations, and a batch applied with its offsets in one transaction.
//! - [`metrics`]: the sink's own `/metrics`.
//!
//! It takes every partition of the topic by static assignment, starting where the store's
//! `sink_offsets` say (the start where they say nothing): offsets live with the rows, never
//! in Kafka. PostgreSQL unreachable: the batch is retried with backoff, never skipped.

pub mod metrics;
pub mod order_event;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use metrics::{SinkStats, WatermarkContext};
use store::{Consumed, Store};

/// Retries of a failed transaction or connection wait from this, doubling up to the max.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a batch waits for more records once it has one.
const BATCH_WAIT: Duration = Duration::from_millis(10);
/// How often the lag is measured against the broker.
const LAG_EVERY: Duration = Duration::from_secs(1);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the broker may hold a fetch that has too little to return.
const FETCH_WAIT_MS: &str = "20";

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Kafka bootstrap servers.
    #[arg(long, value_name = "HOSTS")]
    pub brokers: String,
    /// The orders topic the relay publishes.
    #[arg(long, default_value = "seckill.orders")]
    pub topic: String,
    /// PostgreSQL connection string (`host=... user=... dbname=...` or a URL). Prefer
    /// --postgres-file when it holds a password.
    #[arg(long, value_name = "CONN", conflicts_with = "postgres_file")]
    pub postgres: Option<String>,
    /// File holding the connection string (a systemd credential).
    #[arg(long, value_name = "FILE")]
    pub postgres_file: Option<PathBuf>,
    /// Address of the sink's /metrics.
    #[arg(long, default_value = "127.0.0.1:9465")]
    pub metrics: SocketAddr,
    /// Records per transaction at most.
    #[arg(long, default_value_t = 1000)]
    pub batch_max: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("no PostgreSQL connection string: give --postgres or --postgres-file")]
    NoPostgres,
    #[error("cannot read {path}: {source}")]
    PostgresFile { path: PathBuf, source: std::io::Error },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("metrics listener: {0}")]
    Metrics(std::io::Error),
}

pub fn run(args: SinkArgs) -> Result<(), SinkError> {
    let url = match (&args.postgres, &args.postgres_file) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|source| SinkError::PostgresFile {
                path: path.clone(),
                source,
            })?
            .trim()
            .to_string(),
        (None, None) => return Err(SinkError::NoPostgres),
    };
    let stats = Arc::new(SinkStats::default());
    let bound = metrics::serve(args.metrics, stats.clone()).map_err(SinkError::Metrics)?;
    tracing::info!(metrics = %bound, topic = %args.topic, "sink starting");
    let mut store = open_store(&url, &stats);
    let consumer: BaseConsumer<WatermarkContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        // Required to assign partitions; offsets are never committed to Kafka.
        .set("group.id", "shardhub-sink")
        .set("enable.auto.commit", "false")
        .set("socket.nagle.disable", "true")
        .set("statistics.interval.ms", "1000")
        // A fetch returns within this even when the broker holds it for fetch.min.bytes; the
        // end-to-end latency depends on it (docs/benchmarks.md).
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create_with_context(WatermarkContext(stats.clone()))?;
    let partitions = assign(&consumer, &mut store, &url, &args.topic, &stats);
    let next = store.offsets(&args.topic).unwrap_or_default();
    let mut sink = Sink {
        args,
        url,
        stats,
        store,
        consumer,
        partitions,
        next,
        lag_at: Instant::now(),
    };
    sink.run();
    Ok(())
}

/// Connects to PostgreSQL (and migrates), retrying with backoff until it can.
fn open_store(url: &str, stats: &SinkStats) -> Store {
    let mut backoff = BACKOFF_MIN;
    loop {
        match Store::open(url) {
            Ok(store) => return store,
            Err(e) => {
                stats.db_errors_total.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "order store unreachable; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Takes every partition of the topic from the offsets the store holds; returns how many.
fn assign(
    consumer: &BaseConsumer<WatermarkContext>,
    store: &mut Store,
    url: &str,
    topic: &str,
    stats: &SinkStats,
) -> i32 {
    loop {
        let partitions = consumer
            .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
            .map(|m| m.topics().first().map_or(0, |t| t.partitions().len() as i32));
        let offsets = store.offsets(topic);
        match (partitions, offsets) {
            (Ok(n), Ok(offsets)) if n > 0 => {
                let mut tpl = TopicPartitionList::new();
                for p in 0..n {
                    let from = offsets.get(&p).map_or(Offset::Beginning, |&o| Offset::Offset(o));
                    let _ = tpl.add_partition_offset(topic, p, from);
                }
                if consumer.assign(&tpl).is_ok() {
                    tracing::info!(topic, partitions = n, "sink assigned");
                    return n;
                }
            }
            (Ok(_), Ok(_)) => tracing::warn!(topic, "orders topic not there yet"),
            (Err(e), _) => tracing::warn!(topic, error = %e, "orders topic metadata unavailable"),
            (_, Err(e)) => {
                stats.db_errors_total.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "sink offsets unreadable");
                if store.is_closed() {
                    *store = open_store(url, stats);
                }
            }
        }
        std::thread::sleep(BACKOFF_MAX);
    }
}

struct Sink {
    args: SinkArgs,
    url: String,
    stats: Arc<SinkStats>,
    store: Store,
    consumer: BaseConsumer<WatermarkContext>,
    partitions: i32,
    /// Per partition: the next offset to apply, once a batch committed there.
    next: std::collections::BTreeMap<i32, i64>,
    lag_at: Instant,
}

impl Sink {
    fn run(&mut self) {
        let mut batch = Vec::new();
        loop {
            self.fill(&mut batch);
            if !batch.is_empty() {
                self.commit(&batch);
                batch.clear();
            }
            if self.lag_at.elapsed() >= LAG_EVERY {
                self.measure_lag();
            }
        }
    }

    /// Reads up to a batch: waits for a first record, then takes what follows within
    /// `BATCH_WAIT`. A record that is not an order event is counted, logged and passed.
    fn fill(&mut self, batch: &mut Vec<Consumed>) {
        let mut started = Instant::now();
        while batch.len() < self.args.batch_max {
            let wait = if batch.is_empty() {
                Duration::from_millis(200)
            } else {
                BATCH_WAIT.saturating_sub(started.elapsed())
            };
            let message = match self.consumer.poll(wait) {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "sink consumer");
                    continue;
                }
                None => return,
            };
            let event = match order_event::parse(message.payload().unwrap_or_default()) {
                Ok(event) => event,
                Err(reason) => {
                    self.stats.bad_events_total.fetch_add(1, Relaxed);
                    tracing::warn!(partition = message.partition(), offset = message.offset(), %reason, "passing over a record");
                    order_event::SinkEvent::Skip
                }
            };
            if batch.is_empty() {
                started = Instant::now();
            }
            batch.push(Consumed {
                partition: message.partition(),
                offset: message.offset(),
                event,
            });
            if started.elapsed() >= BATCH_WAIT {
                return;
            }
        }
    }

    /// Applies the batch in one transaction, retrying (reconnecting when the connection is
    /// gone) until it commits.
    fn commit(&mut self, batch: &[Consumed]) {
        let mut backoff = BACKOFF_MIN;
        while let Err(e) = self.store.apply(&self.args.topic, batch) {
            self.stats.db_errors_total.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, records = batch.len(), "order store transaction failed; retrying");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
            if self.store.is_closed() {
                self.store = open_store(&self.url, &self.stats);
            }
        }
        for c in batch {
            let n = self.next.entry(c.partition).or_insert(0);
            *n = (*n).max(c.offset + 1);
        }
        self.stats.events_total.fetch_add(batch.len() as u64, Relaxed);
        self.stats.batches_total.fetch_add(1, Relaxed);
        self.stats
            .last_commit_ms
            .store(crate::runtime::unix_ms() as i64, Relaxed);
    }

    fn measure_lag(&mut self) {
        self.lag_at = Instant::now();
        let high = self.stats.high.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let lag = (0..self.partitions)
            .filter_map(|p| {
                let next = self.next.get(&p).copied().unwrap_or(0);
                high.get(&p).map(|&h| (p, (h - next).max(0)))
            })
            .collect();
        *self.stats.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }
}
