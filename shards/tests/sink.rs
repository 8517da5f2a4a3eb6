//! `shardhub sink` end to end: a buy storm with payments (some succeeded, some failed, some
//! late) through shardhub, the relay, a real Kafka-protocol broker (tansu) and the sink into a
//! private PostgreSQL 15. Every order id a client received is in PostgreSQL once, in the state
//! shardhub holds; the ledger equals shardhub's sold counts; late payments are refunds. And
//! the same after the sink is killed mid-stream and after PostgreSQL restarts.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::kafka::{pipeline_config, produce, Tansu};
use common::postgres::Postgres;
use common::{key_on_shard, order_get, stock_get, Server};

const TOPIC: &str = "seckill.orders";
const PAYMENTS: &str = "seckill.payments";
const SHARDS: usize = 2;

struct Sink(Child);

impl Sink {
    fn start(brokers: &str, pg: &Postgres) -> Sink {
        let child = Command::new(common::binary())
            .args([
                "sink",
                "--brokers",
                brokers,
                "--postgres",
                &pg.url(),
                "--metrics",
                "127.0.0.1:0",
            ])
            .args(["--batch-max", "200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Sink(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_all() -> (Tansu, Postgres, Server, tempfile::TempDir) {
    let broker = Tansu::start();
    broker.create_topic(TOPIC, 4);
    broker.create_topic(PAYMENTS, 2);
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let path = pipeline_config(dir.path(), &broker.brokers(), "", "");
    let server = Server::start_with(SHARDS, Some(&path), &[]);
    (broker, pg, server, dir)
}

fn skus() -> Vec<String> {
    (0..4)
        .map(|i| key_on_shard(&format!("sku{i}"), i % SHARDS, SHARDS))
        .collect()
}

/// Whether the `i`-th buy of a storm goes to the short-hold SKU and is paid late.
fn late(i: usize) -> bool {
    i % 10 == 9
}

fn sku_of<'a>(i: usize, skus: &'a [String], short: &'a str) -> &'a str {
    if late(i) {
        short
    } else {
        &skus[i % skus.len()]
    }
}

/// Buys `n` orders (round robin over the SKUs, the short-hold SKU every tenth); returns
/// each order id with its buy's number.
fn buy(server: &Server, skus: &[String], short: &str, tag: &str, n: usize) -> Vec<(usize, String)> {
    let mut c = server.client();
    (0..n)
        .map(|i| {
            let id = redis::cmd("SECKILL.BUY")
                .arg(sku_of(i, skus, short))
                .arg(format!("{tag}-u{i}"))
                .query(&mut c)
                .unwrap();
            (i, id)
        })
        .collect()
}

/// Sends a payment for most orders: even ones succeed, every third fails, and the short-hold
/// ones succeed after their hold ran out.
fn pay(broker: &Tansu, tag: &str, orders: &[(usize, String)]) {
    let payment = |i: usize, id: &str, status: &str| {
        let v =
            serde_json::json!({"payment_id": format!("{tag}-p{i}"), "order_id": id, "status": status, "amount": 500});
        (id.as_bytes().to_vec(), v.to_string().into_bytes())
    };
    let now: Vec<_> = orders
        .iter()
        .filter(|(i, _)| !late(*i))
        .filter_map(|(i, id)| match i {
            i if i % 3 == 0 => Some(payment(*i, id, "failed")),
            i if i % 2 == 0 => Some(payment(*i, id, "succeeded")),
            _ => None,
        })
        .collect();
    produce(&broker.brokers(), PAYMENTS, &now);
    std::thread::sleep(Duration::from_millis(1200));
    let late: Vec<_> = orders
        .iter()
        .filter(|(i, _)| late(*i))
        .map(|(i, id)| payment(*i, id, "succeeded"))
        .collect();
    produce(&broker.brokers(), PAYMENTS, &late);
}

/// A buy storm with its payments (some succeeded, some failed, some late); returns the ids.
fn storm(server: &Server, broker: &Tansu, skus: &[String], short: &str, tag: &str, n: usize) -> Vec<String> {
    let orders = buy(server, skus, short, tag, n);
    pay(broker, tag, &orders);
    orders.into_iter().map(|(_, id)| id).collect()
}

/// Buys from four connections until the server dies; returns the orders whose id a client
/// received, with their buy's number.
fn buy_until_killed(server: &Server, skus: &[String], short: &str, tag: &str) -> Vec<(usize, String)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let told = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            let mut c = server.client();
            let (next, told) = (&next, &told);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let reply: redis::RedisResult<String> = redis::cmd("SECKILL.BUY")
                    .arg(sku_of(i, skus, short))
                    .arg(format!("{tag}-u{i}"))
                    .query(&mut c);
                match reply {
                    Ok(id) => told.lock().unwrap().push((i, id)),
                    Err(_) => return,
                }
            });
        }
    });
    told.into_inner().unwrap()
}

/// Whether PostgreSQL may hold orders no client was told of: a server killed mid-storm may
/// have logged buys whose replies it never sent.
#[derive(PartialEq)]
enum Unanswered {
    None,
    AsShardhubHoldsThem,
}

/// Waits until PostgreSQL holds every order in the state shardhub holds, then checks the
/// ledger against shardhub's sold counts and the refunds against the late payments.
fn check_store(pg: &Postgres, server: &Server, ids: &[String], skus: &[&str], refunds: usize, unanswered: Unanswered) {
    let mut c = server.client();
    let want: HashMap<String, String> = ids.iter().map(|id| (id.clone(), order_get(&mut c, id).state)).collect();
    let mut db = loop_connect(pg);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows = db.query("select order_id, state from orders", &[]).unwrap();
        let got: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let done = want.iter().all(|(id, state)| got.get(id) == Some(state));
        let refunded: i64 = db.query_one("select count(*) from refunds", &[]).unwrap().get(0);
        if done && refunded as usize >= refunds {
            let extra: Vec<(&String, &String)> = got.iter().filter(|(id, _)| !want.contains_key(*id)).collect();
            if unanswered == Unanswered::None {
                assert!(
                    extra.is_empty(),
                    "no order in PostgreSQL that no client was given: {extra:?}"
                );
            }
            for (id, state) in extra {
                assert_eq!(
                    &order_get(&mut c, id).state,
                    state,
                    "{id} in PostgreSQL as shardhub holds it"
                );
            }
            assert_eq!(refunded as usize, refunds, "one refund per late payment");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store never caught up: {} of {} orders",
            got.len(),
            want.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for sku in skus {
        let sold: i64 = db
            .query_opt("select sold from sku_ledger where sku = $1", &[sku])
            .unwrap()
            .map_or(0, |r| r.get(0));
        assert_eq!(
            sold,
            stock_get(&mut c, sku).sold,
            "ledger of {sku} equals shardhub's sold count"
        );
    }
}

fn loop_connect(pg: &Postgres) -> postgres::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&pg.url(), postgres::NoTls) {
            Ok(c) => return c,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set_stock(server: &Server, skus: &[String], short: &str) {
    let mut c = server.client();
    for sku in skus {
        let _: String = redis::cmd("STOCK.SET").arg(sku).arg(1_000_000).query(&mut c).unwrap();
    }
    let _: String = redis::cmd("STOCK.SET")
        .arg(short)
        .arg(1_000_000)
        .arg("HOLD")
        .arg(1)
        .query(&mut c)
        .unwrap();
}

#[test]
fn orders_reach_postgresql_once_in_their_final_state() {
    let (broker, pg, server, _dir) = start_all();
    let skus = skus();
    let short = key_on_shard("short", 1, SHARDS);
    set_stock(&server, &skus, &short);
    let _sink = Sink::start(&broker.brokers(), &pg);
    let ids = storm(&server, &broker, &skus, &short, "a", 300);
    let all: Vec<&str> = skus.iter().map(String::as_str).chain([short.as_str()]).collect();
    check_store(&pg, &server, &ids, &all, 30, Unanswered::None);
    let migrations: i64 = pg
        .client()
        .query_one("select count(*) from schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(migrations, 1);
}

/// Waits until one of the sink's statements waits on a lock, and returns how many orders
/// PostgreSQL shows meanwhile.
fn wait_for_blocked_sink(pg: &Postgres) -> i64 {
    let mut db = pg.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let blocked: i64 = db
            .query_one(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%sink_offsets%'",
                &[],
            )
            .unwrap()
            .get(0);
        if blocked > 0 {
            return db.query_one("select count(*) from orders", &[]).unwrap().get(0);
        }
        assert!(Instant::now() < deadline, "the sink never reached its offsets");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sink killed in the middle of a batch (held there by a lock on its offsets table, after
/// it wrote the batch's orders and ledger), started again; then PostgreSQL stopped under it
/// and restarted: the store ends the same, each order once, the ledger exact.
#[test]
fn the_sink_survives_its_own_kill_mid_batch_and_a_postgresql_restart() {
    let (broker, pg, server, _dir) = start_all();
    let skus = skus();
    let short = key_on_shard("short", 1, SHARDS);
    set_stock(&server, &skus, &short);
    let mut sink = Sink::start(&broker.brokers(), &pg);
    let mut ids = storm(&server, &broker, &skus, &short, "a", 200);
    let all: Vec<&str> = skus.iter().map(String::as_str).chain([short.as_str()]).collect();
    check_store(&pg, &server, &ids, &all, 20, Unanswered::None);

    let mut locker = pg.client();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("lock table sink_offsets in exclusive mode").unwrap();
    ids.extend(storm(&server, &broker, &skus, &short, "b", 200));
    let visible = wait_for_blocked_sink(&pg);
    assert_eq!(visible, 200, "a batch in flight shows nothing before it commits");
    sink.kill();
    lock.rollback().unwrap();

    let _sink = Sink::start(&broker.brokers(), &pg);
    std::thread::sleep(Duration::from_millis(300));
    pg.stop();
    ids.extend(storm(&server, &broker, &skus, &short, "c", 200));
    std::thread::sleep(Duration::from_millis(500));
    pg.start_again();
    check_store(&pg, &server, &ids, &all, 60, Unanswered::None);
}

/// shardhub killed with -9 in the middle of a buy storm (sync durability) and restarted, then
/// the broker killed and restarted on its storage: every order a client was told of is in
/// PostgreSQL once, in its final state; orders logged whose reply was lost are there as
/// shardhub holds them; the ledger is exact.
#[test]
fn a_server_killed_mid_storm_and_a_restarted_broker_leave_the_store_exact() {
    let (mut broker, pg, server, dir) = start_all();
    let skus = skus();
    let short = key_on_shard("short", 1, SHARDS);
    set_stock(&server, &skus, &short);
    let _sink = Sink::start(&broker.brokers(), &pg);
    let killer = {
        let pid = server.pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    let first = buy_until_killed(&server, &skus, &short, "a");
    killer.join().unwrap();
    assert!(
        first.len() > 50,
        "buys were acknowledged before the kill: {}",
        first.len()
    );
    let (_, data) = server.stop(libc::SIGKILL);
    let server = Server::start_in(SHARDS, data, Some(&dir.path().join("shardhub.toml")), &[]);
    pay(&broker, "a", &first);
    broker.signal(libc::SIGKILL);
    broker.restart();
    let second = buy(&server, &skus, &short, "b", 200);
    pay(&broker, "b", &second);
    let refunds = first.iter().chain(&second).filter(|(i, _)| late(*i)).count();
    let ids: Vec<String> = first.into_iter().chain(second).map(|(_, id)| id).collect();
    let all: Vec<&str> = skus.iter().map(String::as_str).chain([short.as_str()]).collect();
    check_store(&pg, &server, &ids, &all, refunds, Unanswered::AsShardhubHoldsThem);
}
