//! The soak (`scripts/soak.sh`; ignored by `cargo test`): all three protocols under load for
//! `SOAK_SECS` (3600), through phases that take turns, `SOAK_PHASE_SECS` (60) each:
//!
//! - steady load;
//! - kill -9 in the middle of the load, and a restart on the same data;
//! - a full disk: the data directory's filesystem is filled to the last byte while the load
//!   runs; the server must keep answering reads and health checks, say it is not ready, and
//!   lose nothing it acknowledged; then space is freed and the server restarted;
//! - slow clients: hundreds of HTTP connections that send half a header, idle RESP
//!   connections, MQTT connections that never send CONNECT; the health check must still get
//!   through, the load go on, and every slow connection be closed by its timeout.
//!
//! After every restart, and at the end, every acknowledged write is checked: flash-sale
//! orders (each as it was left, every SKU's counters equal to its orders), retained MQTT
//! messages, device shadows and wallets. The data directory must be a filesystem of the
//! soak's own (`SOAK_DATA_DIR`: soak.sh mounts a tmpfs in a private namespace), so that
//! filling it harms nothing else.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{orders_get, stock_get, write_config, Expect, Rng, Server};
use shardhub_net::mqtt::{
    decode, Connect, MqttStr, Packet, ProtocolVersion, Publish, QoS, Subscribe, Subscription, SubscriptionOptions,
};

const SHARDS: usize = 2;
const SKUS: [&str; 4] = ["soak-a", "soak-b", "soak-c", "soak-d"];
/// Units per SKU: more than the soak can sell, so a BUY is never refused as sold out and
/// every order a REQID retry settles is the one the first try would have made.
const UNITS_PER_SKU: i64 = 1 << 40;
const USERS: u64 = 10_000;
const RETAINED_TOPICS: usize = 16;
const SHADOW_DEVICES: usize = 16;
/// Pauses between one worker's requests: a steady load that one hour of fits in the tmpfs.
const BUY_PAUSE_MS: u64 = 20;
const PUBLISH_PAUSE_MS: u64 = 10;
const SHADOW_PAUSE_MS: u64 = 20;
const WALLET_PAUSE_MS: u64 = 100;
/// How long anything may take to answer; past it, a request counts as lost.
const ANSWER_SECS_MAX: u64 = 10;
/// Slow connections opened in the slow-client phase, per protocol.
const SLOW_HTTP: usize = 600;
const SLOW_RESP: usize = 600;
const SLOW_MQTT: usize = 300;
/// The timeouts the soak runs with (short, so the slow-client phase sees them act).
const HTTP_HEADER_TIMEOUT_MS: u64 = 2000;
const RESP_IDLE_TIMEOUT_SECS: u64 = 5;
const MQTT_CONNECT_TIMEOUT_MS: u64 = 2000;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} is seconds")))
}

// ---- the ledgers: what clients were told ----

#[derive(Debug, Clone)]
struct Known {
    sku: usize,
    user: String,
    qty: i64,
    expect: Expect,
}

/// A BUY whose answer never came, or that a failed log refused: settled by a REQID retry.
#[derive(Debug, Clone)]
struct UnsettledBuy {
    sku: usize,
    user: String,
    qty: i64,
    reqid: String,
}

#[derive(Default)]
struct Ledger {
    orders: HashMap<String, Known>,
    unsettled: Vec<UnsettledBuy>,
    /// Per retained topic: the last value acknowledged with PUBACK 0x00, the last one sent.
    retained: HashMap<String, (u64, u64)>,
    /// Per shadow device: the last reported `n` answered 200, the last one sent.
    shadows: HashMap<String, (u64, u64)>,
    /// Wallet id and the Ethereum address it derived when created.
    wallets: Vec<(String, String)>,
}

impl Ledger {
    fn record_order(&mut self, id: String, known: Known) {
        if let Some(previous) = self.orders.insert(id.clone(), known) {
            panic!("order {id} handed out twice (first {previous:?})");
        }
    }
}

/// The ports of the server that is up now; they change with each restart.
#[derive(Clone, Copy)]
struct Ports {
    resp: u16,
    http: u16,
    mqtt: u16,
}

struct Load {
    ports: Ports,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    /// Requests answered in this phase, and refusals by a failed log or a full listener.
    answered: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Load {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

// ---- flash sales over RESP ----

fn resp_connect(port: u16) -> Option<redis::Connection> {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection()
        .ok()?;
    c.set_read_timeout(Some(Duration::from_secs(ANSWER_SECS_MAX))).ok()?;
    Some(c)
}

/// BUY with a REQID, then sometimes PAY or CANCEL; whatever was not answered is left to
/// settle after the next restart.
fn buyer(load: &Load, worker: u64) {
    let mut rng = Rng::new(worker * 7919 + 1);
    let mut conn = None;
    let mut seq = 0u64;
    while load.running() {
        thread::sleep(Duration::from_millis(BUY_PAUSE_MS));
        if conn.is_none() {
            conn = resp_connect(load.ports.resp);
        }
        let Some(c) = conn.as_mut() else { continue };
        seq += 1;
        let sku = rng.below(SKUS.len() as u64) as usize;
        let user = format!("user{}", rng.below(USERS));
        let qty = 1 + rng.below(3) as i64;
        let reqid = format!("w{worker}-{seq}-{}", rng.next());
        let mut cmd = redis::cmd("SECKILL.BUY");
        cmd.arg(SKUS[sku])
            .arg(&user)
            .arg("QTY")
            .arg(qty)
            .arg("REQID")
            .arg(&reqid);
        let id: String = match cmd.query(c) {
            Ok(id) => id,
            Err(e) => {
                if e.code().is_none() {
                    conn = None;
                } else {
                    load.refused.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(100));
                }
                let unsettled = UnsettledBuy { sku, user, qty, reqid };
                load.ledger.lock().unwrap().unsettled.push(unsettled);
                continue;
            }
        };
        load.answered.fetch_add(1, Ordering::Relaxed);
        let mut known = Known {
            sku,
            user,
            qty,
            expect: Expect::Reserved,
        };
        let next = rng.below(100);
        if next < 30 {
            let (name, done, unknown) = if next < 20 {
                ("ORDER.PAY", Expect::Paid, Expect::PayUnknown)
            } else {
                ("ORDER.CANCEL", Expect::Cancelled, Expect::CancelUnknown)
            };
            known.expect = match redis::cmd(name).arg(&id).query::<String>(c) {
                Ok(_) => done,
                Err(e) => {
                    if e.code().is_none() {
                        conn = None;
                    }
                    unknown
                }
            };
        }
        load.ledger.lock().unwrap().record_order(id, known);
    }
}

/// Settles the unanswered BUYs by retrying their REQIDs, then checks every order any client
/// was given, and that each SKU's counters are exactly its orders.
fn verify_orders(server: &Server, ledger: &mut Ledger) -> usize {
    let mut c = resp_connect(server.resp_port).expect("connect for the check");
    for buy in std::mem::take(&mut ledger.unsettled) {
        let mut cmd = redis::cmd("SECKILL.BUY");
        cmd.arg(SKUS[buy.sku])
            .arg(&buy.user)
            .arg("QTY")
            .arg(buy.qty)
            .arg("REQID")
            .arg(&buy.reqid);
        match cmd.query::<String>(&mut c) {
            Ok(id) => {
                // The same order if the first try was logged, a new one if not.
                if !ledger.orders.contains_key(&id) {
                    let known = Known {
                        sku: buy.sku,
                        user: buy.user,
                        qty: buy.qty,
                        expect: Expect::Reserved,
                    };
                    ledger.record_order(id, known);
                }
            }
            Err(e) => panic!("retry of {buy:?}: {e}"),
        }
    }
    let ids: Vec<String> = ledger.orders.keys().cloned().collect();
    let mut reserved = [0i64; SKUS.len()];
    let mut sold = [0i64; SKUS.len()];
    for (id, found) in ids.iter().zip(orders_get(&mut c, &ids)) {
        let k = ledger.orders.get_mut(id).unwrap();
        let o = found.unwrap_or_else(|e| panic!("acknowledged order {id} ({k:?}) is gone: {e}"));
        assert_eq!(
            (o.sku.as_str(), o.user.as_str(), o.qty),
            (SKUS[k.sku], k.user.as_str(), k.qty),
            "{id}"
        );
        k.expect = k
            .expect
            .settle(&o.state)
            .unwrap_or_else(|| panic!("{id}: acknowledged {:?}, found {}: {o:?}", k.expect, o.state));
        match k.expect {
            Expect::Reserved => reserved[k.sku] += k.qty,
            Expect::Paid => sold[k.sku] += k.qty,
            _ => {}
        }
    }
    for (i, sku) in SKUS.iter().enumerate() {
        let s = stock_get(&mut c, sku);
        assert!(s.balanced(), "{sku}: {s:?}");
        assert_eq!(s.total, UNITS_PER_SKU, "{sku}: {s:?}");
        assert_eq!((s.reserved, s.sold), (reserved[i], sold[i]), "{sku}: {s:?}");
    }
    ids.len()
}

// ---- retained messages over MQTT ----

/// A bare MQTT 5 client on `shardhub-net`'s codec that gives up (None) instead of panicking.
struct Mqtt {
    stream: TcpStream,
    buf: BytesMut,
}

impl Mqtt {
    fn connect(port: u16, client_id: &str, read_timeout: Duration) -> Option<Mqtt> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(read_timeout)).ok()?;
        let mut c = Mqtt {
            stream,
            buf: BytesMut::new(),
        };
        c.send(Packet::Connect(Box::new(Connect {
            protocol_version: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: MqttStr::from_bytes(client_id.to_string().into()).ok()?,
            ..Connect::default()
        })))?;
        match c.recv()? {
            Packet::ConnAck(ack) if !ack.reason_code.is_error() => Some(c),
            _ => None,
        }
    }

    fn send(&mut self, packet: Packet) -> Option<()> {
        let mut out = BytesMut::new();
        packet.encode(ProtocolVersion::V5, &mut out).ok()?;
        self.stream.write_all(&out).ok()
    }

    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = decode(&mut self.buf, ProtocolVersion::V5, u32::MAX).ok()? {
                return Some(p);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

fn retained_topic(i: usize) -> String {
    format!("soak/dev-{i}/state")
}

/// Retained QoS 1 PUBLISHes of a counter on a few topics; a PUBACK 0x00 acknowledges one.
fn publisher(load: &Load, worker: usize) {
    let mut conn: Option<Mqtt> = None;
    let mut packet_id = 0u16;
    let mut i = worker;
    while load.running() {
        thread::sleep(Duration::from_millis(PUBLISH_PAUSE_MS));
        if conn.is_none() {
            let id = format!("soak-pub-{worker}");
            conn = Mqtt::connect(load.ports.mqtt, &id, Duration::from_secs(ANSWER_SECS_MAX));
        }
        let Some(c) = conn.as_mut() else { continue };
        i = (i + 2) % RETAINED_TOPICS;
        let topic = retained_topic(i);
        let value = {
            let mut ledger = load.ledger.lock().unwrap();
            let entry = ledger.retained.entry(topic.clone()).or_default();
            entry.1 += 1;
            entry.1
        };
        packet_id = packet_id.checked_add(1).unwrap_or(1);
        let sent = c.send(Packet::Publish(Publish {
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: MqttStr::from_bytes(topic.clone().into()).unwrap(),
            packet_id: NonZeroU16::new(packet_id),
            payload: value.to_string().into(),
            ..Publish::default()
        }));
        match sent.and_then(|()| c.recv()) {
            Some(Packet::PubAck(ack)) if !ack.reason_code.is_error() => {
                load.answered.fetch_add(1, Ordering::Relaxed);
                load.ledger.lock().unwrap().retained.get_mut(&topic).unwrap().0 = value;
            }
            Some(Packet::PubAck(_)) => {
                load.refused.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(100));
            }
            _ => conn = None,
        }
    }
}

/// Each topic's retained value is at least the last acknowledged and at most the last sent.
fn verify_retained(server: &Server, ledger: &Ledger) -> usize {
    let mut c = Mqtt::connect(server.mqtt_port, "soak-check", Duration::from_secs(2)).expect("connect for the check");
    c.send(Packet::Subscribe(Subscribe {
        packet_id: NonZeroU16::new(1).unwrap(),
        properties: Default::default(),
        filters: vec![Subscription {
            filter: MqttStr::from_bytes("soak/#".into()).unwrap(),
            options: SubscriptionOptions::default(),
        }],
    }))
    .expect("SUBSCRIBE");
    let mut found = HashMap::new();
    while let Some(packet) = c.recv() {
        if let Packet::Publish(p) = packet {
            let value: u64 = String::from_utf8_lossy(&p.payload).parse().expect("a counter");
            found.insert(p.topic.as_str().to_string(), value);
        }
    }
    for (topic, &(acked, sent)) in &ledger.retained {
        if acked == 0 {
            continue;
        }
        let value = found.get(topic).copied();
        assert!(
            value.is_some_and(|v| acked <= v && v <= sent),
            "{topic}: retained {value:?}, acknowledged {acked}, last sent {sent}"
        );
    }
    found.len()
}

// ---- device shadows and wallets over HTTP ----

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(ANSWER_SECS_MAX))
        .build()
}

/// What an HTTP request came to: a status, or nothing (the connection failed).
fn status_of(result: Result<ureq::Response, ureq::Error>) -> (Option<u16>, String) {
    match result {
        Ok(r) => (Some(r.status()), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (Some(code), r.into_string().unwrap_or_default()),
        Err(_) => (None, String::new()),
    }
}

/// PATCHes of a counter into each device's reported state; a 200 acknowledges one.
fn shadow_writer(load: &Load, worker: usize) {
    let agent = agent();
    let mut device = worker;
    while load.running() {
        thread::sleep(Duration::from_millis(SHADOW_PAUSE_MS));
        device = (device + 2) % SHADOW_DEVICES;
        let name = format!("soak-{device}");
        let n = {
            let mut ledger = load.ledger.lock().unwrap();
            let entry = ledger.shadows.entry(name.clone()).or_default();
            entry.1 += 1;
            entry.1
        };
        let url = format!("http://127.0.0.1:{}/v1/shadows/{name}", load.ports.http);
        let body = format!(r#"{{"state":{{"reported":{{"n":{n}}}}}}}"#);
        match status_of(agent.request("PATCH", &url).send_string(&body)).0 {
            Some(200) => {
                load.answered.fetch_add(1, Ordering::Relaxed);
                load.ledger.lock().unwrap().shadows.get_mut(&name).unwrap().0 = n;
            }
            Some(_) => {
                load.refused.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(100));
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn verify_shadows(server: &Server, ledger: &Ledger) -> usize {
    let agent = agent();
    for (name, &(acked, sent)) in &ledger.shadows {
        if acked == 0 {
            continue;
        }
        let url = format!("http://127.0.0.1:{}/v1/shadows/{name}", server.http_port);
        let (status, body) = status_of(agent.get(&url).call());
        assert_eq!(status, Some(200), "GET {name}: {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let n = doc["state"]["reported"]["n"].as_u64();
        assert!(
            n.is_some_and(|n| acked <= n && n <= sent),
            "{name}: reported {n:?}, acknowledged {acked}, last sent {sent}"
        );
    }
    ledger.shadows.len()
}

/// Creates wallets and notes the first Ethereum address of each.
fn wallet_creator(load: &Load) {
    let agent = agent();
    while load.running() {
        thread::sleep(Duration::from_millis(WALLET_PAUSE_MS));
        let base = format!("http://127.0.0.1:{}/v1/wallets", load.ports.http);
        let (status, body) = status_of(agent.post(&base).send_string(""));
        if status != Some(201) {
            if status.is_some() {
                load.refused.fetch_add(1, Ordering::Relaxed);
            }
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        load.answered.fetch_add(1, Ordering::Relaxed);
        let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["wallet_id"]
            .as_str()
            .unwrap()
            .to_string();
        // Acknowledged: it must survive even if the address is never read now.
        let address = wallet_address(&agent, load.ports.http, &id).unwrap_or_default();
        load.ledger.lock().unwrap().wallets.push((id, address));
    }
}

fn wallet_address(agent: &ureq::Agent, port: u16, id: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{port}/v1/wallets/{id}/address?coin=eth&account=0&index=0");
    let (status, body) = status_of(agent.get(&url).call());
    (status == Some(200)).then(|| serde_json::from_str::<serde_json::Value>(&body).unwrap()["address"].to_string())
}

fn verify_wallets(server: &Server, ledger: &mut Ledger) -> usize {
    let agent = agent();
    for (id, address) in &mut ledger.wallets {
        let now = wallet_address(&agent, server.http_port, id).unwrap_or_else(|| panic!("wallet {id} is gone"));
        if address.is_empty() {
            *address = now;
        } else {
            assert_eq!(&now, address, "wallet {id} derives another address");
        }
    }
    ledger.wallets.len()
}

// ---- the phases ----

/// Starts every worker on the server now up.
fn start_load(server: &Server, ledger: &Arc<Mutex<Ledger>>) -> (Arc<Load>, Vec<JoinHandle<()>>) {
    let load = Arc::new(Load {
        ports: Ports {
            resp: server.resp_port,
            http: server.http_port,
            mqtt: server.mqtt_port,
        },
        stop: Arc::new(AtomicBool::new(false)),
        ledger: ledger.clone(),
        answered: Arc::new(AtomicU64::new(0)),
        refused: Arc::new(AtomicU64::new(0)),
    });
    let mut workers = Vec::new();
    let seed = Rng::new(clock_seed()).next() % 1_000_000;
    for w in 0..4 {
        let l = load.clone();
        workers.push(thread::spawn(move || buyer(&l, seed * 10 + w)));
    }
    for w in 0..2 {
        let l = load.clone();
        workers.push(thread::spawn(move || publisher(&l, w)));
        let l = load.clone();
        workers.push(thread::spawn(move || shadow_writer(&l, w)));
    }
    let l = load.clone();
    workers.push(thread::spawn(move || wallet_creator(&l)));
    (load, workers)
}

fn stop_load(load: &Load, workers: Vec<JoinHandle<()>>) -> (u64, u64) {
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a load worker failed");
    }
    (
        load.answered.load(Ordering::Relaxed),
        load.refused.load(Ordering::Relaxed),
    )
}

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("soak.toml");
    write_config(
        &path,
        &format!(
            "[resp]\nidle_timeout_secs = {RESP_IDLE_TIMEOUT_SECS}\n\
             [http]\nconnections_per_shard_max = 256\nhealth_connections_per_shard_max = 8\n\
             header_timeout_ms = {HTTP_HEADER_TIMEOUT_MS}\nbody_timeout_ms = {HTTP_HEADER_TIMEOUT_MS}\n\
             [mqtt]\nconnect_timeout_ms = {MQTT_CONNECT_TIMEOUT_MS}\nsnapshot_log_bytes = 4194304\n\
             [seckill]\nsnapshot_log_bytes = 8388608\n"
        ),
    );
    path
}

struct Soak {
    config: PathBuf,
    flags: Vec<String>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Soak {
    fn start(&self, data: tempfile::TempDir) -> Server {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        Server::start_in(SHARDS, data, Some(&self.config), &flags)
    }

    /// Stops the server with `signal`, checks it never panicked, starts it again on the same
    /// data and checks every acknowledged write.
    fn restart(&self, server: Server, signal: i32) -> Server {
        let log = server.log.clone();
        let (_, data) = server.stop(signal);
        assert_no_panic(&log);
        let server = self.start(data);
        self.verify(&server);
        server
    }

    fn verify(&self, server: &Server) {
        let mut ledger = self.ledger.lock().unwrap();
        let orders = verify_orders(server, &mut ledger);
        let retained = verify_retained(server, &ledger);
        let shadows = verify_shadows(server, &ledger);
        let wallets = verify_wallets(server, &mut ledger);
        eprintln!("  checked: {orders} orders, {retained} retained topics, {shadows} shadows, {wallets} wallets");
    }
}

fn assert_no_panic(log: &Mutex<Vec<String>>) {
    let log = log.lock().unwrap();
    assert!(
        !log.iter().any(|l| l.contains("panicked")),
        "the server panicked:\n{}",
        log.join("\n")
    );
}

/// Fills the filesystem of `dir` to the last byte; returns the ballast file.
fn fill_disk(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 1 << 20];
    while file.write_all(&chunk).is_ok() {}
    let mut byte = [0u8; 1];
    while file.write_all(&byte).is_ok() {
        byte[0] = byte[0].wrapping_add(1);
    }
    path
}

/// Waits (up to `secs`) for a GET to answer `want`.
fn wait_status(port: u16, path: &str, want: u16, secs: u64) -> bool {
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if status_of(agent.get(&format!("http://127.0.0.1:{port}{path}")).call()).0 == Some(want) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The full-disk phase: reads, PING and health checks keep answering, /readyz says not
/// ready, and after space is freed and the server restarted nothing acknowledged is missing.
fn disk_full(soak: &Soak, server: Server, phase: Duration) -> Server {
    let (load, workers) = start_load(&server, &soak.ledger);
    thread::sleep(phase / 4);
    let ballast = fill_disk(&soak_dir());
    assert!(
        wait_status(server.http_port, "/readyz", 503, phase.as_secs().max(30)),
        "no log noticed the full disk"
    );
    let mut c = resp_connect(server.resp_port).expect("PING on a full disk");
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert!(stock_get(&mut c, SKUS[0]).balanced());
    assert!(wait_status(server.http_port, "/healthz", 200, 5));
    thread::sleep(phase / 4);
    let (answered, refused) = stop_load(&load, workers);
    eprintln!("  disk full: {answered} answered, {refused} refused");
    assert!(refused > 0, "nothing was refused on a full disk");
    std::fs::remove_file(ballast).unwrap();
    let server = soak.restart(server, libc::SIGTERM);
    assert!(
        wait_status(server.http_port, "/readyz", 200, 10),
        "not ready after the restart"
    );
    server
}

/// The slow-client phase: the health check gets through, the load goes on, and every slow
/// connection is closed by its timeout.
fn slow_clients(soak: &Soak, server: &Server, phase: Duration) {
    let (load, workers) = start_load(server, &soak.ledger);
    let mut slow: Vec<(&str, TcpStream)> = Vec::new();
    for _ in 0..SLOW_HTTP {
        let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
        s.write_all(b"GET /v1/shadows/x HTTP/1.1\r\nHost: soak\r\n").unwrap();
        slow.push(("http", s));
    }
    for _ in 0..SLOW_RESP {
        slow.push(("resp", TcpStream::connect(("127.0.0.1", server.resp_port)).unwrap()));
    }
    for _ in 0..SLOW_MQTT {
        slow.push(("mqtt", TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap()));
    }
    assert!(
        wait_status(server.http_port, "/readyz", 200, 5),
        "/readyz did not get through the slow clients"
    );
    let closed_by = Instant::now() + Duration::from_secs(RESP_IDLE_TIMEOUT_SECS + 5);
    for (kind, mut s) in slow {
        let left = closed_by
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        s.set_read_timeout(Some(left)).unwrap();
        let mut sink = [0u8; 512];
        loop {
            match s.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("a slow {kind} connection is still open ({e})"),
            }
        }
    }
    thread::sleep(phase.saturating_sub(Duration::from_secs(RESP_IDLE_TIMEOUT_SECS + 5)));
    let (answered, refused) = stop_load(&load, workers);
    eprintln!("  slow clients closed; load: {answered} answered, {refused} refused");
    assert!(answered > 0, "the load stalled behind the slow clients");
}

/// A seed that differs from run to run (a soak should not replay the same moments).
fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_nanos() as u64 | 1
}

fn soak_dir() -> PathBuf {
    PathBuf::from(std::env::var("SOAK_DATA_DIR").expect("SOAK_DATA_DIR: run scripts/soak.sh"))
}

#[test]
#[ignore = "an hour long; scripts/soak.sh runs it"]
fn mixed_load_through_kills_full_disks_and_slow_clients() {
    let total = Duration::from_secs(env_secs("SOAK_SECS", 3600));
    let phase = Duration::from_secs(env_secs("SOAK_PHASE_SECS", 60));
    let files = tempfile::tempdir().unwrap();
    let passphrase = files.path().join("passphrase");
    std::fs::write(&passphrase, "the soak's keystore passphrase").unwrap();
    let soak = Soak {
        config: config(files.path()),
        flags: vec![format!("--wallet-passphrase-file={}", passphrase.display())],
        ledger: Arc::new(Mutex::new(Ledger::default())),
    };
    let mut server = soak.start(tempfile::tempdir_in(soak_dir()).unwrap());
    {
        let mut c = resp_connect(server.resp_port).unwrap();
        for sku in SKUS {
            let mut cmd = redis::cmd("STOCK.SET");
            cmd.arg(sku)
                .arg(UNITS_PER_SKU)
                .arg("LIMIT")
                .arg(UNITS_PER_SKU)
                .arg("HOLD")
                .arg(86400);
            let _: () = cmd.query(&mut c).unwrap();
        }
    }
    let started = Instant::now();
    let mut rng = Rng::new(clock_seed());
    let mut round = 0;
    while started.elapsed() < total {
        let kind = ["steady", "kill -9", "disk full", "slow clients"][round % 4];
        eprintln!("[{:>5}s] phase {round}: {kind}", started.elapsed().as_secs());
        server = match round % 4 {
            0 => {
                let (load, workers) = start_load(&server, &soak.ledger);
                thread::sleep(phase);
                let (answered, refused) = stop_load(&load, workers);
                eprintln!("  {answered} answered, {refused} refused");
                soak.verify(&server);
                server
            }
            1 => {
                let (load, workers) = start_load(&server, &soak.ledger);
                thread::sleep(phase / 2 + Duration::from_millis(rng.below(phase.as_millis() as u64 / 2 + 1)));
                let log = server.log.clone();
                let (_, data) = server.stop(libc::SIGKILL);
                let (answered, _) = stop_load(&load, workers);
                eprintln!("  killed after {answered} answers");
                assert_no_panic(&log);
                let server = soak.start(data);
                soak.verify(&server);
                server
            }
            2 => disk_full(&soak, server, phase),
            _ => {
                slow_clients(&soak, &server, phase);
                soak.verify(&server);
                server
            }
        };
        round += 1;
    }
    let server = soak.restart(server, libc::SIGTERM);
    drop(server);
    eprintln!("soak passed: {round} phases in {} s", started.elapsed().as_secs());
}
