//! Starts the real `shardhub` binary on ephemeral ports for integration tests.

#![allow(dead_code)]

pub mod kafka;
pub mod pki;
pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub resp_port: u16,
    pub http_port: u16,
    pub mqtt_port: u16,
    /// Every line the server logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
    pub data_dir: tempfile::TempDir,
    /// The line that says where it listens.
    pub listening: String,
}

/// A loopback port nothing listens on now (the OS's next ephemeral one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shardhub"))
}

/// `shardhub serve --shards N --data-dir DIR` with every listener on an ephemeral loopback
/// port; callers add flags and spawn it.
pub fn serve_command(shards: usize, data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .args(["--shards", &shards.to_string()])
        .args([
            "--resp",
            "127.0.0.1:0",
            "--mqtt",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

impl Server {
    /// Starts `shardhub serve` with `--shards N` on port 0 and waits until it listens.
    pub fn start(shards: usize) -> Server {
        Server::start_with(shards, None, &[])
    }

    pub fn start_with(shards: usize, config: Option<&Path>, extra: &[&str]) -> Server {
        Server::start_in(shards, tempfile::tempdir().unwrap(), config, extra)
    }

    /// Like `start_with`, on a given data directory: hand it back with `stop` and pass it here
    /// again to restart the server on the same data.
    pub fn start_in(shards: usize, data_dir: tempfile::TempDir, config: Option<&Path>, extra: &[&str]) -> Server {
        Server::spawn(serve_command(shards, data_dir.path()), data_dir, config, extra)
    }

    /// Like `start_with`, with the data directory on a tmpfs of `bytes` of its own, mounted
    /// in a mount namespace of the server's own (`unshare`, as root or in a user namespace),
    /// so the disk fills up for real.
    pub fn start_on_small_disk(shards: usize, bytes: u64, config: Option<&Path>, extra: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o size="$0" tmpfs "$1" && shift && exec "$@""#)
            .arg(bytes.to_string())
            .arg(data_dir.path())
            .arg(serve_command(shards, data_dir.path()).get_program())
            .args(serve_command(shards, data_dir.path()).get_args());
        Server::spawn(cmd, data_dir, config, extra)
    }

    fn spawn(mut cmd: Command, data_dir: tempfile::TempDir, config: Option<&Path>, extra: &[&str]) -> Server {
        cmd.args(extra).stdout(Stdio::null()).stderr(Stdio::piped());
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.spawn().expect("start shardhub");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("shardhub did not start; log:\n{}", log.lock().unwrap().join("\n")));
        Server {
            child,
            resp_port: port_after(&line, "resp"),
            http_port: port_after(&line, "http"),
            mqtt_port: port_after(&line, "mqtt"),
            log,
            data_dir,
            listening: line,
        }
    }

    /// The port of a listener by its `listen.*` name (`resps`, `https`, ...).
    pub fn port(&self, listener: &str) -> u16 {
        port_after(&self.listening, listener)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.resp_port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.resp_port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no log line with {needle:?}; log:\n{}",
            self.log.lock().unwrap().join("\n")
        );
    }

    /// Sends `signal`, waits for the process to exit (at most 30 s) and hands back its exit
    /// status and the data directory, for `start_in` on the same data.
    pub fn stop(mut self, signal: i32) -> (std::process::ExitStatus, tempfile::TempDir) {
        self.signal(signal);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "shardhub did not exit after signal {signal}; log:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        (status, dir)
    }

    /// A `redis` crate connection speaking RESP3 (HELLO 3).
    pub fn client_resp3(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", self.resp_port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A `redis` crate connection that shard `shard` accepted (connections land on shards at
    /// the kernel's choice: this tries until one lands there).
    pub fn client_on_shard(&self, shard: usize) -> redis::Connection {
        for _ in 0..500 {
            let mut c = self.client();
            let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
            let on: usize = info.split("shard=").nth(1).unwrap().trim().parse().unwrap();
            if on == shard {
                return c;
            }
        }
        panic!("no connection landed on shard {shard}");
    }

    /// A plain HTTP/1.1 GET; returns the status and the body.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let response = ureq::get(&format!("http://127.0.0.1:{}{}", self.http_port, path)).call();
        match response {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of `name` in the "listening" line, human (`resp=ADDR`) or JSON (`"resp":"ADDR"`).
fn port_after(line: &str, name: &str) -> u16 {
    let (start, key) = [format!("{name}="), format!("\"{name}\":\"")]
        .into_iter()
        .find_map(|key| line.find(&key).map(|at| (at, key)))
        .unwrap_or_else(|| panic!("{name} in {line}"));
    let rest = &line[start + key.len()..];
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A raw TCP connection that writes bytes and reads whole RESP replies: for asserting the
/// exact bytes on the wire.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as a RESP array.
    pub fn command(&mut self, args: &[&str]) {
        let mut out = bytes::BytesMut::new();
        shardhub_net::resp::encode_request(args, &mut out);
        self.send(&out);
    }

    /// Reads one complete reply and returns its bytes; `None` if the server closed first.
    pub fn reply(&mut self) -> Option<Vec<u8>> {
        loop {
            let framed = shardhub_net::resp::reply_len(&self.buf).unwrap_or_else(|e| {
                panic!(
                    "invalid RESP from server ({e:?}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            });
            if let Some(len) = framed {
                return Some(self.buf.drain(..len).collect());
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn call(&mut self, args: &[&str]) -> String {
        self.command(args);
        String::from_utf8_lossy(&self.reply().expect("a reply")).into_owned()
    }

    /// True when the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Finds a key whose slot lives on `shard` given `shards` (even split of 16384 slots).
pub fn key_on_shard(prefix: &str, shard: usize, shards: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| {
            let slot = usize::from(shardhub_core::key_hash_slot(k.as_bytes()));
            slot * shards / 16384 == shard
        })
        .unwrap()
}

/// Writes a config file and syncs it.
pub fn write_config(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

/// A reply value as text: integers, bulk and simple strings alike.
pub fn value_text(v: &redis::Value) -> String {
    match v {
        redis::Value::Int(n) => n.to_string(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The fields of a field/value reply: a map (RESP3) or a flat array of pairs (RESP2).
pub fn reply_fields(v: &redis::Value) -> std::collections::HashMap<String, String> {
    match v {
        redis::Value::Map(pairs) => pairs.iter().map(|(k, v)| (value_text(k), value_text(v))).collect(),
        redis::Value::Array(items) => {
            assert!(items.len() % 2 == 0, "odd field/value array: {v:?}");
            items
                .chunks(2)
                .map(|p| (value_text(&p[0]), value_text(&p[1])))
                .collect()
        }
        other => panic!("not a field/value reply: {other:?}"),
    }
}

fn field_of<T: std::str::FromStr>(fields: &std::collections::HashMap<String, String>, name: &str) -> T {
    fields
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("bad {name} in {fields:?}"))
}

/// A SKU's counters as STOCK.GET reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    pub limit: i64,
    pub hold: i64,
    pub total: i64,
}

impl Stock {
    pub fn from_value(v: &redis::Value) -> Stock {
        let f = reply_fields(v);
        assert_eq!(f.len(), 6, "STOCK.GET has six fields: {f:?}");
        Stock {
            available: field_of(&f, "available"),
            reserved: field_of(&f, "reserved"),
            sold: field_of(&f, "sold"),
            limit: field_of(&f, "limit"),
            hold: field_of(&f, "hold"),
            total: field_of(&f, "total"),
        }
    }

    /// `available + reserved + sold == total`, none negative.
    pub fn balanced(&self) -> bool {
        self.available >= 0
            && self.reserved >= 0
            && self.sold >= 0
            && self.available + self.reserved + self.sold == self.total
    }
}

/// An order as ORDER.GET reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub sku: String,
    pub user: String,
    pub qty: i64,
    pub state: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub expires_ms: i64,
}

impl Order {
    pub fn from_value(v: &redis::Value) -> Order {
        let f = reply_fields(v);
        assert_eq!(f.len(), 7, "ORDER.GET has seven fields: {f:?}");
        Order {
            sku: field_of(&f, "sku"),
            user: field_of(&f, "user"),
            qty: field_of(&f, "qty"),
            state: field_of(&f, "state"),
            created_ms: field_of(&f, "created_ms"),
            updated_ms: field_of(&f, "updated_ms"),
            expires_ms: field_of(&f, "expires_ms"),
        }
    }
}

/// STOCK.GET through the `redis` crate.
pub fn stock_get(c: &mut redis::Connection, sku: &str) -> Stock {
    let v: redis::Value = redis::cmd("STOCK.GET").arg(sku).query(c).unwrap();
    Stock::from_value(&v)
}

/// ORDER.GET through the `redis` crate.
pub fn order_get(c: &mut redis::Connection, id: &str) -> Order {
    let v: redis::Value = redis::cmd("ORDER.GET").arg(id).query(c).unwrap();
    Order::from_value(&v)
}

/// ORDER.GET for many ids in one pipeline; the error code of an id that failed.
pub fn orders_get(c: &mut redis::Connection, ids: &[String]) -> Vec<Result<Order, String>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("ORDER.GET").arg(id);
        }
        // The raw pipeline keeps error replies in place (`query` would fail on the first).
        let replies =
            redis::ConnectionLike::req_packed_commands(c, &pipe.get_packed_pipeline(), 0, chunk.len()).unwrap();
        assert_eq!(replies.len(), chunk.len());
        for r in &replies {
            out.push(match r {
                redis::Value::ServerError(e) => Err(format!("{} {}", e.code(), e.details().unwrap_or(""))),
                v => Ok(Order::from_value(v)),
            });
        }
    }
    out
}

/// The sum of the samples of metric `name` whose labels contain every one of `labels`
/// (each written `key="value"`).
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// A small deterministic PRNG (xorshift64*) for load generators.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a client last heard about a flash-sale order, and whether it heard the answer: the
/// crash tests and the soak check each acknowledged order against it after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Reserved,
    Paid,
    Cancelled,
    /// A PAY or CANCEL whose reply never came (or that a failed log refused): either state.
    PayUnknown,
    CancelUnknown,
}

impl Expect {
    /// What the client knows once the order is found in `state`; `None` if that state
    /// contradicts what it was told.
    pub fn settle(self, state: &str) -> Option<Expect> {
        use Expect::*;
        match (self, state) {
            (Reserved | PayUnknown | CancelUnknown, "reserved") => Some(Reserved),
            (Paid | PayUnknown, "paid") => Some(Paid),
            (Cancelled | CancelUnknown, "cancelled") => Some(Cancelled),
            _ => None,
        }
    }
}
