//! `shardhub sink` end to end: a buy storm with payments (some succeeded, some failed, some
//! late) through shardhub, the relay, a real Kafka-protocol broker (tansu) and the sink into a
//! private PostgreSQL 15. Every order id a client received is in PostgreSQL once, in the state
//! shardhub holds; the ledger equals shardhub's sold counts; late payments are refunds. And
//! the same after the sink is killed mid-stream and after PostgreSQL restarts.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::kafka::{produce, Tansu};
use common::postgres::Postgres;
use common::{key_on_shard, order_get, stock_get, write_config, Server};

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
    let path = dir.path().join("shardhub.toml");
    write_config(
        &path,
        &format!(
            "[seckill]\ndurability = \"sync\"\n[pipeline]\nbrokers = \"{}\"\nlinger_ms = 2\n\
             position_sync_ms = 20\nretry_backoff_ms = 200\n",
            broker.brokers()
        ),
    );
    let server = Server::start_with(SHARDS, Some(&path), &[]);
    (broker, pg, server, dir)
}

fn skus() -> Vec<String> {
    (0..4)
        .map(|i| key_on_shard(&format!("sku{i}"), i % SHARDS, SHARDS))
        .collect()
}

/// Buys `n` orders (round robin over the SKUs, the short-hold SKU every tenth) and sends a
/// payment for most: even ones succeed, every third fails, every tenth (short hold) succeeds
/// after its hold ran out. Returns the order ids.
fn storm(server: &Server, broker: &Tansu, skus: &[String], short: &str, tag: &str, n: usize) -> Vec<String> {
    let mut c = server.client();
    let ids: Vec<String> = (0..n)
        .map(|i| {
            let sku = if i % 10 == 9 { short } else { &skus[i % skus.len()] };
            redis::cmd("SECKILL.BUY")
                .arg(sku)
                .arg(format!("{tag}-u{i}"))
                .query(&mut c)
                .unwrap()
        })
        .collect();
    let payment = |i: usize, status: &str| {
        let v = serde_json::json!({"payment_id": format!("{tag}-p{i}"), "order_id": ids[i], "status": status, "amount": 500});
        (ids[i].as_bytes().to_vec(), v.to_string().into_bytes())
    };
    let now: Vec<_> = (0..n)
        .filter(|i| i % 10 != 9)
        .filter_map(|i| match i {
            i if i % 3 == 0 => Some(payment(i, "failed")),
            i if i % 2 == 0 => Some(payment(i, "succeeded")),
            _ => None,
        })
        .collect();
    produce(&broker.brokers(), PAYMENTS, &now);
    std::thread::sleep(Duration::from_millis(1200));
    let late: Vec<_> = (0..n)
        .filter(|i| i % 10 == 9)
        .map(|i| payment(i, "succeeded"))
        .collect();
    produce(&broker.brokers(), PAYMENTS, &late);
    ids
}

/// Waits until PostgreSQL holds every order in the state shardhub holds, then checks the
/// ledger against shardhub's sold counts and the refunds against the late payments.
fn check_store(pg: &Postgres, server: &Server, ids: &[String], skus: &[&str], refunds: usize) {
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
            assert_eq!(got.len(), want.len(), "no order in PostgreSQL that no client was given");
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
    check_store(&pg, &server, &ids, &all, 30);
    let migrations: i64 = pg
        .client()
        .query_one("select count(*) from schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(migrations, 1);
}

/// The sink killed mid-stream and started again; then PostgreSQL stopped under it and
/// restarted: the store ends the same, each order once, the ledger exact.
#[test]
fn the_sink_survives_its_own_kill_and_a_postgresql_restart() {
    let (broker, pg, server, _dir) = start_all();
    let skus = skus();
    let short = key_on_shard("short", 1, SHARDS);
    set_stock(&server, &skus, &short);
    let mut sink = Sink::start(&broker.brokers(), &pg);
    let mut ids = storm(&server, &broker, &skus, &short, "a", 200);
    sink.kill();
    ids.extend(storm(&server, &broker, &skus, &short, "b", 200));
    let _sink = Sink::start(&broker.brokers(), &pg);
    std::thread::sleep(Duration::from_millis(300));
    pg.stop();
    ids.extend(storm(&server, &broker, &skus, &short, "c", 200));
    std::thread::sleep(Duration::from_millis(500));
    pg.start_again();
    let all: Vec<&str> = skus.iter().map(String::as_str).chain([short.as_str()]).collect();
    check_store(&pg, &server, &ids, &all, 60);
}

/// shardhub killed with -9 between storms and the broker killed and restarted on its
/// storage: the store still ends with each order once, the ledger exact.
#[test]
fn a_killed_server_and_a_restarted_broker_leave_the_store_exact() {
    let (mut broker, pg, server, dir) = start_all();
    let skus = skus();
    let short = key_on_shard("short", 1, SHARDS);
    set_stock(&server, &skus, &short);
    let _sink = Sink::start(&broker.brokers(), &pg);
    let mut ids = storm(&server, &broker, &skus, &short, "a", 200);
    let (_, data) = server.stop(libc::SIGKILL);
    let server = Server::start_in(SHARDS, data, Some(&dir.path().join("shardhub.toml")), &[]);
    broker.signal(libc::SIGKILL);
    broker.restart();
    ids.extend(storm(&server, &broker, &skus, &short, "b", 200));
    let all: Vec<&str> = skus.iter().map(String::as_str).chain([short.as_str()]).collect();
    check_store(&pg, &server, &ids, &all, 40);
}
