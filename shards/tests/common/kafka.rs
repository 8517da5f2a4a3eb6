//! A real Kafka-protocol broker for the pipeline tests: tansu 0.6.0 (scripts/test.sh installs
//! it), on a loopback port, storing in SQLite in its own directory so it survives its own
//! restart; and a consumer that reads a whole topic back.

use super::{free_port, write_config};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub struct Tansu {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Tansu {
    pub fn start() -> Tansu {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(&dir, port);
        let tansu = Tansu { child, port, dir };
        tansu.wait_listening();
        tansu
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new("tansu")
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .status()
            .expect("tansu must be installed (scripts/test.sh installs it)");
        assert!(status.success(), "tansu topic create {topic}");
    }

    pub fn signal(&self, signal: i32) {
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Stops the broker and starts it again on the same storage and port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, self.port);
        self.wait_listening();
    }
}

fn spawn(dir: &tempfile::TempDir, port: u16) -> Child {
    let url = format!("tcp://127.0.0.1:{port}");
    Command::new("tansu")
        .arg("broker")
        .args(["--listener-url", &url, "--advertised-listener-url", &url])
        // A path relative to the working directory, which is the broker's own.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu must be installed (scripts/test.sh installs it)")
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: serde_json::Value,
}

/// Reads every partition of `topic` from the start until `done` says the records are enough,
/// or nothing new arrived for `quiet`; panics past `deadline`.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    deadline: Duration,
    mut done: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // Offsets are given, never committed: no group is joined.
        .set("group.id", "shardhub-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let until = Instant::now() + deadline;
    // `done` looks at every record: asked after each one it made a long topic quadratic, so
    // it is asked when the consumer has nothing ready and every `DONE_EVERY` records.
    const DONE_EVERY: usize = 4096;
    let mut ask = true;
    while !(ask && done(&records)) {
        assert!(
            Instant::now() < until,
            "topic {topic}: {} records so far, not enough",
            records.len()
        );
        ask = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                records.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    value: serde_json::from_slice(m.payload().unwrap_or_default()).expect("every event is JSON"),
                });
                records.len() % DONE_EVERY == 0
            }
            Some(Err(e)) => {
                eprintln!("consumer: {e}");
                true
            }
            None => true,
        };
    }
    records
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), to check where the relay's records
/// land against what every other Kafka client computes.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// The Java client's default partition of a keyed record.
pub fn partition_of(key: &[u8], partitions: u32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions) as i32
}

/// Produces `records` (key, value) to `topic` and waits until the broker has them all.
pub fn produce(brokers: &str, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("message.max.bytes", "2000000")
        .create()
        .unwrap();
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(key).payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A config with sync durability and the relay on `brokers`, plus lines for each section.
/// Events are retried for a minute, longer than any outage here: the relay's producer never
/// times out an event the broker may still hold, which makes librdkafka bump its idempotent
/// epoch, which tansu 0.6.0 cannot take (its SQLite engine panics and serves nothing more;
/// docs/pipeline.md). The time-out path has its own test, where nothing was ever sent.
/// Written to `dir/shardhub.toml`; returns its path.
pub fn pipeline_config(dir: &Path, brokers: &str, seckill: &str, pipeline: &str) -> std::path::PathBuf {
    let path = dir.join("shardhub.toml");
    write_config(
        &path,
        &format!(
            "[seckill]\ndurability = \"sync\"\n{seckill}\n[pipeline]\nbrokers = \"{brokers}\"\n\
             linger_ms = 2\nposition_sync_ms = 20\nretry_backoff_ms = 200\nmessage_timeout_ms = 60000\n{pipeline}"
        ),
    );
    path
}
