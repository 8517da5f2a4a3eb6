//! The outbox relay against a real Kafka-protocol broker (tansu, which scripts/test.sh
//! installs): every committed flash-sale change reaches the orders topic, keyed and
//! partitioned as any Kafka client expects, through a kill -9 of shardhub, a stopped broker
//! and snapshots; and past its backlog bound new BUYs answer -BUSY.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::kafka::{partition_of, pipeline_config, read_topic, Record, Tansu};
use common::{key_on_shard, write_config, Server};

const TOPIC: &str = "seckill.orders";
const PARTITIONS: u32 = 4;
const SHARDS: usize = 2;

/// A broker with `topics`, and a server on it with the config's extra lines, its SKUs'
/// stock set.
struct Setup {
    broker: Tansu,
    server: Server,
    /// Holds the config file.
    _dir: tempfile::TempDir,
    skus: Vec<String>,
}

fn setup(topics: &[(&str, u32)], seckill: &str, pipeline: &str) -> Setup {
    let broker = Tansu::start();
    for (topic, partitions) in topics {
        broker.create_topic(topic, *partitions);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = pipeline_config(dir.path(), &broker.brokers(), seckill, pipeline);
    let server = Server::start_with(SHARDS, Some(&path), &[]);
    let skus = skus();
    set_stock(&server, &skus);
    Setup {
        broker,
        server,
        _dir: dir,
        skus,
    }
}

/// Each order's settlement event ids (`paid` and `cancelled`): one per order however often
/// its payment was delivered.
fn settlements(records: &[Record]) -> HashMap<&str, BTreeSet<&str>> {
    let mut settled: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for r in records {
        if matches!(r.value["type"].as_str(), Some("paid" | "cancelled")) {
            settled
                .entry(r.value["order_id"].as_str().unwrap())
                .or_default()
                .insert(r.value["event_id"].as_str().unwrap());
        }
    }
    settled
}

/// What clients were told: orders and the settlements acknowledged for them.
#[derive(Default)]
struct Told {
    /// order id -> (sku, user, final state if one was acknowledged)
    orders: HashMap<String, (String, String, Option<&'static str>)>,
}

/// Buys from `clients` connections until `orders` were acknowledged in all; pays every third
/// order and cancels every fifth. A connection that breaks (the server was killed) stops.
fn storm(server: &Server, skus: &[String], clients: usize, orders: usize, told: &Arc<Mutex<Told>>, tag: &str) {
    let per_client = orders / clients;
    std::thread::scope(|s| {
        for c in 0..clients {
            let told = told.clone();
            let mut conn = server.client();
            s.spawn(move || {
                for i in 0..per_client {
                    let sku = &skus[(c + i) % skus.len()];
                    let user = format!("{tag}-u{c}-{i}");
                    let id: String = match redis::cmd("SECKILL.BUY").arg(sku).arg(&user).query(&mut conn) {
                        Ok(id) => id,
                        Err(_) => return,
                    };
                    told.lock()
                        .unwrap()
                        .orders
                        .insert(id.clone(), (sku.clone(), user, None));
                    let settle = match i {
                        i if i % 3 == 0 => Some(("ORDER.PAY", "paid")),
                        i if i % 5 == 0 => Some(("ORDER.CANCEL", "cancelled")),
                        _ => None,
                    };
                    if let Some((command, state)) = settle {
                        let ok: Result<String, _> = redis::cmd(command).arg(&id).query(&mut conn);
                        match ok {
                            Ok(_) => told.lock().unwrap().orders.get_mut(&id).unwrap().2 = Some(state),
                            Err(_) => return,
                        }
                    }
                }
            });
        }
    });
}

fn set_stock(server: &Server, skus: &[String]) {
    let mut c = server.client();
    for sku in skus {
        let _: String = redis::cmd("STOCK.SET").arg(sku).arg(1_000_000).query(&mut c).unwrap();
    }
}

fn skus() -> Vec<String> {
    (0..SHARDS * 2)
        .map(|i| key_on_shard(&format!("sku{i}"), i % SHARDS, SHARDS))
        .collect()
}

/// Whether the records hold every acknowledged order's reservation and settlement.
fn has_everything(records: &[Record], told: &Told) -> bool {
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in records {
        if let (Some(id), Some(kind)) = (r.value["order_id"].as_str(), r.value["type"].as_str()) {
            seen.entry(id).or_default().push(kind);
        }
    }
    told.orders.iter().all(|(id, (_, _, state))| {
        seen.get(id.as_str())
            .is_some_and(|kinds| kinds.contains(&"reserved") && state.is_none_or(|s| kinds.contains(&s)))
    })
}

/// Reads `topic` until it holds everything the clients were told (within `secs`), checks
/// it, and returns it.
fn published(broker: &Tansu, topic: &str, told: &Told, secs: u64) -> Vec<Record> {
    let records = read_topic(
        &broker.brokers(),
        topic,
        PARTITIONS as i32,
        Duration::from_secs(secs),
        |r| has_everything(r, told),
    );
    check(&records, told);
    records
}

/// The checks every test ends with: each record sits where murmur2 of its key puts it, a
/// re-sent event is the same event, each order's events are in log order, every order id the
/// shards handed out (acknowledged or not) was published with no hole in any slot's sequence,
/// and every acknowledged change is there with what the client was told.
fn check(records: &[Record], told: &Told) {
    let mut by_id: HashMap<String, &serde_json::Value> = HashMap::new();
    let mut order_events: HashMap<String, Vec<(i32, i64, String)>> = HashMap::new();
    let mut seqs: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for r in records {
        assert_eq!(r.partition, partition_of(&r.key, PARTITIONS), "{r:?}");
        assert_eq!(r.value["v"], 1);
        let id = r.value["event_id"].as_str().expect("event_id").to_string();
        if let Some(first) = by_id.insert(id.clone(), &r.value) {
            assert_eq!(first, &r.value, "event {id} re-sent with other content");
            continue;
        }
        let kind = r.value["type"].as_str().unwrap().to_string();
        if let Some(order) = r.value["order_id"].as_str() {
            assert_eq!(r.key, order.as_bytes(), "an order's events are keyed by its id");
            order_events
                .entry(order.to_string())
                .or_default()
                .push((r.partition, r.offset, kind.clone()));
            if kind == "reserved" {
                let (slot, seq) = order.split_once('-').unwrap();
                assert!(
                    seqs.entry(slot.parse().unwrap())
                        .or_default()
                        .insert(seq.parse().unwrap()),
                    "order {order} reserved twice under different event ids"
                );
            }
        } else {
            assert_eq!(
                r.key,
                r.value["sku"].as_str().unwrap().as_bytes(),
                "stock events are keyed by SKU"
            );
        }
    }
    for (slot, seqs) in &seqs {
        let max = *seqs.last().unwrap();
        assert_eq!(
            seqs.len() as u64,
            max,
            "slot {slot}: order sequence has holes: a record was skipped"
        );
    }
    for (order, events) in &order_events {
        let partitions: BTreeSet<i32> = events.iter().map(|e| e.0).collect();
        assert_eq!(partitions.len(), 1, "order {order}: events in one partition");
        let mut by_offset = events.clone();
        by_offset.sort();
        assert_eq!(
            by_offset[0].2, "reserved",
            "order {order}: reservation first: {by_offset:?}"
        );
        assert!(
            by_offset.len() <= 2,
            "order {order}: one settlement at most: {by_offset:?}"
        );
    }
    for (order, (sku, user, state)) in &told.orders {
        let events = order_events
            .get(order)
            .unwrap_or_else(|| panic!("acknowledged order {order} never published"));
        let reserved = by_id
            .values()
            .find(|v| v["order_id"] == order.as_str() && v["type"] == "reserved")
            .unwrap();
        assert_eq!(reserved["sku"], sku.as_str());
        assert_eq!(reserved["user"], user.as_str());
        assert_eq!(reserved["qty"], 1);
        if let Some(state) = state {
            assert!(
                events.iter().any(|e| e.2 == *state),
                "order {order}: {state} not published: {events:?}"
            );
        }
    }
}

/// A storm, kill -9 mid-storm, a restart and a second storm: every acknowledged change is in
/// Kafka, some twice (what was in flight at the kill), none missing.
#[test]
fn every_committed_change_reaches_kafka_through_a_kill() {
    let Setup {
        broker,
        server,
        _dir: dir,
        skus,
    } = setup(&[(TOPIC, PARTITIONS)], "", "");
    let path = dir.path().join("shardhub.toml");
    let told = Arc::new(Mutex::new(Told::default()));

    // Kill while the storm runs.
    let killer = {
        let pid = server.pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    storm(&server, &skus, 8, 100_000, &told, "a");
    killer.join().unwrap();
    let (_, data) = server.stop(libc::SIGKILL);
    let server = Server::start_in(SHARDS, data, Some(&path), &[]);
    storm(&server, &skus, 8, 800, &told, "b");

    let told = told.lock().unwrap();
    assert!(
        told.orders.len() > 800,
        "the first storm got orders acknowledged before the kill"
    );
    let records = published(&broker, TOPIC, &told, 60);
    let stock_sets = records.iter().filter(|r| r.value["type"] == "stock_set").count();
    assert!(stock_sets >= skus.len(), "every STOCK.SET published");
}

/// With the broker stopped, buys go on being accepted until the backlog passes its bound,
/// then answer -BUSY; snapshots taken meanwhile keep the unpublished segments; once the
/// broker is back everything is published and BUYs are taken again.
#[test]
fn a_stopped_broker_backs_up_into_the_log_until_busy() {
    let Setup {
        broker,
        server,
        skus,
        _dir: dir,
    } = setup(
        &[(TOPIC, PARTITIONS)],
        "snapshot_log_bytes = 65536",
        "unpublished_bytes_max = 200000\n",
    );
    let told = Arc::new(Mutex::new(Told::default()));
    storm(&server, &skus, 4, 200, &told, "before");

    broker.signal(libc::SIGSTOP);
    let mut c = server.client();
    let mut busy = 0;
    let mut accepted = 0;
    for i in 0..20_000 {
        let sku = &skus[i % skus.len()];
        let user = format!("stopped-{i}");
        let reply: redis::RedisResult<String> = redis::cmd("SECKILL.BUY").arg(sku).arg(&user).query(&mut c);
        match reply {
            Ok(id) => {
                accepted += 1;
                told.lock().unwrap().orders.insert(id, (sku.clone(), user, None));
            }
            Err(e) if e.code() == Some("BUSY") => {
                busy += 1;
                if busy > 50 {
                    break;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(accepted > 100, "buys are accepted while the broker is away: {accepted}");
    assert!(
        busy > 50,
        "past unpublished_bytes_max new BUYs answer -BUSY ({accepted} accepted)"
    );
    let (_, metrics) = server.http_get("/metrics");
    assert!(common::metric_sum(&metrics, "shardhub_relay_unpublished_bytes", &[]) > 200_000.0);
    let segments = std::fs::read_dir(server.data_dir.path().join("seckill/shard-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("seg-"))
        .count();
    assert!(segments > 1, "snapshots kept the segments the relay has not published");

    // The lag in events counts every unpublished record, also the backlog a restart finds.
    // The first storm's records (a buy and at most one settlement per order, and the stock
    // sets) may not all have been published before the stop, nor saved before the restart
    // (which counts the unsaved ones again): they are the slack.
    let lag = |server: &Server| {
        let (_, metrics) = server.http_get("/metrics");
        common::metric_sum(&metrics, "shardhub_relay_lag_events", &[]) as usize
    };
    let before_stop = told.lock().unwrap().orders.len() - accepted;
    let slack = 2 * before_stop + 2 * skus.len();
    let within = |lag: usize| (accepted..=accepted + slack).contains(&lag);
    assert!(
        within(lag(&server)),
        "lag {} for {accepted} unpublished buys",
        lag(&server)
    );
    drop(c);
    let (_, data) = server.stop(libc::SIGKILL);
    let server = Server::start_in(SHARDS, data, Some(&dir.path().join("shardhub.toml")), &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !within(lag(&server)) {
        assert!(
            std::time::Instant::now() < deadline,
            "after a restart, lag {} for {accepted} unpublished buys",
            lag(&server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = server.client();

    broker.signal(libc::SIGCONT);
    let told_now = std::mem::take(&mut *told.lock().unwrap());
    published(&broker, TOPIC, &told_now, 90);
    // The backlog drained: BUYs are taken again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reply: redis::RedisResult<String> = redis::cmd("SECKILL.BUY").arg(&skus[0]).arg("after").query(&mut c);
        if reply.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "BUYs taken again once published");
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lag(&server) != 0 {
        assert!(std::time::Instant::now() < deadline, "lag back to 0 once published");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The broker is killed mid-storm and started again on its storage: buys never stop, and
/// once it is back every committed change is published, none lost.
#[test]
fn a_restarted_broker_misses_nothing() {
    let Setup {
        mut broker,
        server,
        skus,
        ..
    } = setup(&[(TOPIC, PARTITIONS)], "", "");
    let told = Arc::new(Mutex::new(Told::default()));
    std::thread::scope(|s| {
        s.spawn(|| storm(&server, &skus, 4, 4000, &told, "during"));
        std::thread::sleep(Duration::from_millis(700));
        broker.signal(libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(1000));
        broker.restart();
    });
    let told = told.lock().unwrap();
    assert_eq!(told.orders.len(), 4000, "every buy was taken while the broker was away");
    published(&broker, TOPIC, &told, 90);
}

fn payment(order: &str, payment_id: &str, status: &str, amount: i64) -> (Vec<u8>, Vec<u8>) {
    let value = serde_json::json!({"payment_id": payment_id, "order_id": order, "status": status, "amount": amount});
    (order.as_bytes().to_vec(), value.to_string().into_bytes())
}

fn buy_one(c: &mut redis::Connection, sku: &str, user: &str) -> String {
    redis::cmd("SECKILL.BUY").arg(sku).arg(user).query(c).unwrap()
}

fn order_state(c: &mut redis::Connection, id: &str) -> String {
    common::order_get(c, id).state
}

/// The saga end to end: successes pay, failures cancel and release the units, successes that
/// come too late (expired, cancelled, or a second payment of a paid order) are published as
/// `refund_required`, payments for unknown orders as `payment_unmatched`, a payment delivered
/// twice changes nothing, and records that are not payments go to the dead-letter topic with
/// their reason while the consumer goes on.
#[test]
fn payments_drive_the_saga_and_bad_records_are_dead_lettered() {
    const PAYMENTS: &str = "seckill.payments";
    const DEAD: &str = "seckill.payments.dead";
    let Setup {
        broker, server, skus, ..
    } = setup(&[(TOPIC, PARTITIONS), (PAYMENTS, 2), (DEAD, 1)], "", "");
    let short = key_on_shard("short", 1, SHARDS);
    let mut c = server.client();
    let _: String = redis::cmd("STOCK.SET")
        .arg(&short)
        .arg(100)
        .arg("HOLD")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let orders: Vec<String> = (0..42)
        .map(|i| buy_one(&mut c, &skus[i % skus.len()], &format!("u{i}")))
        .collect();
    let late: Vec<String> = (0..3).map(|i| buy_one(&mut c, &short, &format!("late{i}"))).collect();
    for id in &orders[35..40] {
        let _: String = redis::cmd("ORDER.CANCEL").arg(id).query(&mut c).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));

    let mut records = Vec::new();
    for (i, id) in orders[..20].iter().enumerate() {
        records.push(payment(id, &format!("pay-{i}"), "succeeded", 1999));
    }
    for (i, id) in orders[20..35].iter().enumerate() {
        records.push(payment(id, &format!("fail-{i}"), "failed", 1999));
    }
    for (i, id) in orders[35..40].iter().chain(&late).enumerate() {
        records.push(payment(id, &format!("late-{i}"), "succeeded", 1999));
    }
    // Delivered twice: changes nothing. A second payment of a paid order: refunded.
    for (i, id) in orders[..5].iter().enumerate() {
        records.push(payment(id, &format!("pay-{i}"), "succeeded", 1999));
    }
    records.push(payment(&orders[5], "pay-again", "succeeded", 1999));
    // Unknown orders: one id no shard handed out yet, one that is no order id at all.
    records.push(payment("16383-999999", "ghost-1", "succeeded", 10));
    records.push(payment("not-an-order", "ghost-2", "failed", 10));
    // Not payments.
    records.push((b"bad".to_vec(), b"{not json".to_vec()));
    records.push((
        b"bad".to_vec(),
        br#"{"payment_id":"x","order_id":"1-1","status":"succeeded","amount":1,"coupon":"y"}"#.to_vec(),
    ));
    records.push(payment(&orders[40], "negative", "succeeded", -5));
    records.push((b"bad".to_vec(), vec![b'{'; 10_000]));
    // After them, the consumer still applies good payments.
    records.push(payment(&orders[41], "after-bad", "succeeded", 1999));
    common::kafka::produce(&broker.brokers(), PAYMENTS, &records);

    let expect_type = |r: &[Record], kind: &str, n: usize| r.iter().filter(|x| x.value["type"] == kind).count() >= n;
    let published = read_topic(
        &broker.brokers(),
        TOPIC,
        PARTITIONS as i32,
        Duration::from_secs(90),
        |r| {
            expect_type(r, "paid", 21)
                && expect_type(r, "cancelled", 20)
                && expect_type(r, "refund_required", 9)
                && expect_type(r, "payment_unmatched", 2)
        },
    );
    // Each order settled once, whatever was delivered twice.
    let settled = settlements(&published);
    assert!(
        settled.values().all(|ids| ids.len() == 1),
        "an order settled twice: {settled:?}"
    );
    for (i, id) in orders.iter().enumerate() {
        let want = match i {
            0..=19 | 41 => "paid",
            20..=39 => "cancelled",
            _ => "reserved",
        };
        assert_eq!(order_state(&mut c, id), want, "order {i} ({id})");
    }
    for id in &late {
        assert_eq!(order_state(&mut c, id), "expired");
    }
    let refunds: Vec<&Record> = published
        .iter()
        .filter(|r| r.value["type"] == "refund_required")
        .collect();
    let refunded: BTreeSet<&str> = refunds
        .iter()
        .map(|r| r.value["payment_id"].as_str().unwrap())
        .collect();
    assert!(refunded.contains("pay-again") && refunded.contains("late-5") && refunded.contains("late-0"));
    assert_eq!(refunded.len(), 9, "{refunded:?}");
    let paid_by = published
        .iter()
        .find(|r| r.value["type"] == "paid" && r.value["order_id"] == orders[0].as_str())
        .unwrap();
    assert_eq!(paid_by.value["payment_id"], "pay-0");
    assert_eq!(paid_by.value["amount"], 1999);
    let unmatched: BTreeSet<&str> = published
        .iter()
        .filter(|r| r.value["type"] == "payment_unmatched")
        .map(|r| r.value["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(unmatched, BTreeSet::from(["16383-999999", "not-an-order"]));

    let dead = read_topic(&broker.brokers(), DEAD, 1, Duration::from_secs(30), |r| r.len() >= 4);
    // Records of different partitions may be dead-lettered in any order.
    let reasons: Vec<&str> = dead.iter().map(|r| r.value["reason"].as_str().unwrap()).collect();
    for want in [
        "key must be a string",
        "unknown field `coupon`",
        "amount -5 is negative",
        "over the bound",
    ] {
        assert_eq!(
            reasons.iter().filter(|r| r.contains(want)).count(),
            1,
            "{want}: {reasons:?}"
        );
    }
    let huge = dead.iter().find(|r| r.value["payload_bytes"] == 10_000).unwrap();
    assert_eq!(
        huge.value["payload"].as_str().unwrap().len(),
        1024,
        "a dead letter quotes a bounded prefix"
    );
    // Units: 21 sold, the cancelled ones back in stock.
    let sold: i64 = skus.iter().map(|s| common::stock_get(&mut c, s).sold).sum();
    assert_eq!(sold, 21);
}

/// kill -9 while payments are being applied, and a restart: the consumer resumes from its
/// committed offsets, replays what it had not committed, and every payment is applied once.
#[test]
fn payments_survive_a_kill_and_apply_once() {
    const PAYMENTS: &str = "seckill.payments";
    let Setup {
        broker,
        server,
        _dir: dir,
        skus,
    } = setup(&[(TOPIC, PARTITIONS), (PAYMENTS, 2)], "", "");
    let path = dir.path().join("shardhub.toml");
    let mut c = server.client();
    let orders: Vec<String> = (0..600)
        .map(|i| buy_one(&mut c, &skus[i % skus.len()], &format!("k{i}")))
        .collect();
    let records: Vec<_> = orders
        .iter()
        .enumerate()
        .map(|(i, id)| {
            payment(
                id,
                &format!("p{i}"),
                if i % 2 == 0 { "succeeded" } else { "failed" },
                100,
            )
        })
        .collect();
    let brokers = broker.brokers();
    let producer = std::thread::spawn(move || {
        for chunk in records.chunks(50) {
            common::kafka::produce(&brokers, PAYMENTS, chunk);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    // Killed once the first payments are applied, while the rest still arrive.
    let mut c = server.client();
    while order_state(&mut c, &orders[0]) != "paid" {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (_, data) = server.stop(libc::SIGKILL);
    drop(c);
    producer.join().unwrap();
    let server = Server::start_in(SHARDS, data, Some(&path), &[]);
    let mut c = server.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (i, id) in orders.iter().enumerate() {
        let want = if i % 2 == 0 { "paid" } else { "cancelled" };
        while order_state(&mut c, id) != want {
            assert!(std::time::Instant::now() < deadline, "order {i} ({id}) never {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let published = read_topic(
        &broker.brokers(),
        TOPIC,
        PARTITIONS as i32,
        Duration::from_secs(60),
        |r| {
            r.iter()
                .filter(|x| matches!(x.value["type"].as_str(), Some("paid" | "cancelled")))
                .count()
                >= 600
        },
    );
    let settled = settlements(&published);
    assert_eq!(settled.len(), 600);
    assert!(settled.values().all(|ids| ids.len() == 1), "a payment applied twice");
    assert!(
        !published.iter().any(|r| r.value["type"] == "refund_required"),
        "a replayed payment was refunded"
    );
    let sold: i64 = skus.iter().map(|s| common::stock_get(&mut c, s).sold).sum();
    assert_eq!(sold, 300);
}

/// The orders topic does not exist yet: every event times out and the relay starts over on a
/// new producer, again and again, publishing nothing and skipping nothing; once the topic is
/// created, everything committed meanwhile arrives.
#[test]
fn events_that_time_out_are_sent_again_until_they_land() {
    const LATE: &str = "late.orders";
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shardhub.toml");
    write_config(
        &path,
        &format!(
            "[seckill]\ndurability = \"sync\"\n[pipeline]\nbrokers = \"{}\"\norders_topic = \"{LATE}\"\n\
             linger_ms = 2\nposition_sync_ms = 20\nretry_backoff_ms = 200\nmessage_timeout_ms = 1500\n",
            broker.brokers()
        ),
    );
    let server = Server::start_with(SHARDS, Some(&path), &[]);
    let skus = skus();
    set_stock(&server, &skus);
    let told = Arc::new(Mutex::new(Told::default()));
    storm(&server, &skus, 2, 100, &told, "early");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = server.http_get("/metrics");
        let errors = common::metric_sum(&metrics, "shardhub_relay_publish_errors_total", &[]);
        if errors > 0.0 {
            assert_eq!(common::metric_sum(&metrics, "shardhub_relay_published_total", &[]), 0.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events to a missing topic never timed out"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    broker.create_topic(LATE, PARTITIONS);
    let told = told.lock().unwrap();
    published(&broker, LATE, &told, 90);
}

/// Orders settled longer ago than `finished_orders_keep_secs` and published leave memory by
/// whole chunks: ORDER.GET and ORDER.PAY answer -ARCHIVED, a REQID retry still gets its
/// order id, the sale's counts are intact, and the last chunk stays.
#[test]
fn finished_and_published_orders_leave_memory() {
    // The broker must outlive the test: `..` would drop it here.
    let Setup {
        broker: _broker,
        server,
        skus,
        ..
    } = setup(
        &[(TOPIC, PARTITIONS)],
        "finished_orders_keep_secs = 1\nexpiry_tick_ms = 50",
        "",
    );
    let sku = &skus[0];
    let mut c = server.client();
    let first: String = redis::cmd("SECKILL.BUY")
        .arg(sku)
        .arg("first")
        .arg("REQID")
        .arg("r-1")
        .query(&mut c)
        .unwrap();
    let n = 4096 * 2 + 10;
    let mut buys = redis::pipe();
    for i in 1..n {
        buys.cmd("SECKILL.BUY").arg(sku).arg(format!("u{i}"));
    }
    let mut ids: Vec<String> = buys.query(&mut c).unwrap();
    ids.insert(0, first.clone());
    let mut pays = redis::pipe();
    for id in &ids {
        pays.cmd("ORDER.PAY").arg(id);
    }
    let _: Vec<String> = pays.query(&mut c).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: redis::RedisResult<redis::Value> = redis::cmd("ORDER.GET").arg(&first).query(&mut c);
        match got {
            Err(e) if e.code() == Some("ARCHIVED") => break,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
        if std::time::Instant::now() > deadline {
            let (_, metrics) = server.http_get("/metrics");
            let lines: Vec<&str> = metrics
                .lines()
                .filter(|l| l.starts_with("shardhub_relay") || l.starts_with("shardhub_seckill_orders_"))
                .collect();
            panic!("the first chunk never left memory: {lines:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pay: redis::RedisResult<String> = redis::cmd("ORDER.PAY").arg(&first).query(&mut c);
    assert_eq!(pay.unwrap_err().code(), Some("ARCHIVED"));
    let retry: String = redis::cmd("SECKILL.BUY")
        .arg(sku)
        .arg("first")
        .arg("REQID")
        .arg("r-1")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        retry, first,
        "a REQID retry of an archived order gets its id, not a second order"
    );
    assert_eq!(
        common::order_get(&mut c, ids.last().unwrap()).state,
        "paid",
        "the last chunk stays"
    );
    assert_eq!(
        common::stock_get(&mut c, sku).sold,
        n as i64,
        "the sale's counts are intact"
    );
    // Both full chunks go; the last one, never.
    while common::metric_sum(&server.http_get("/metrics").1, "shardhub_seckill_orders_archived", &[]) < 8192.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second chunk never left memory"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, metrics) = server.http_get("/metrics");
    assert_eq!(
        common::metric_sum(&metrics, "shardhub_seckill_orders_archived", &[]),
        8192.0
    );
    assert_eq!(common::metric_sum(&metrics, "shardhub_seckill_orders_live", &[]), 10.0);
}
