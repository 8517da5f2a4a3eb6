//! `kafka-produce`: a plain producer, the ceiling the outbox relay is measured against. It
//! sends events of the relay's size and keying with the relay's producer settings
//! (idempotent, acks=all, murmur2, Nagle off, the same linger), as fast as the broker
//! acknowledges, and reports events per second, from the first send to the last
//! acknowledgement.

pub mod latency;

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use crate::common::error::BenchError;

#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, default_value = "bench.produce")]
    topic: String,
    /// Events to send.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Bytes of each event's value (a relay's `reserved` event is about 230).
    #[arg(long, default_value_t = 230)]
    value_bytes: usize,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// Events handed to the producer and not yet acknowledged.
    #[arg(long, default_value_t = 100_000)]
    in_flight_max: usize,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
}

fn kafka(e: rdkafka::error::KafkaError) -> BenchError {
    BenchError::Usage(format!("kafka: {e}"))
}

pub fn run(args: ProduceArgs) -> Result<(), BenchError> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("socket.nagle.disable", "true")
        .set("linger.ms", args.linger_ms.to_string())
        .set("queue.buffering.max.messages", args.in_flight_max.to_string())
        .create()
        .map_err(kafka)?;
    let value = vec![b'x'; args.value_bytes];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < args.events {
        let key = format!("{}-{sent}", sent % 16384);
        match producer.send(BaseRecord::<_, _, ()>::to(&args.topic).key(&key).payload(&value)) {
            Ok(()) => sent += 1,
            // The queue is full: let deliveries drain it.
            Err((_, _)) => producer.poll(Duration::from_millis(1)),
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).map_err(kafka)?;
    let secs = started.elapsed().as_secs_f64();
    let rate = args.events as f64 / secs;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"events": args.events, "secs": secs, "events_per_sec": rate, "value_bytes": args.value_bytes})
        );
    } else {
        println!(
            "{} events of {} bytes in {secs:.2} s: {rate:.0} events/s",
            args.events, args.value_bytes
        );
    }
    Ok(())
}
