//! A full disk under concurrent writers (docs/operations.md, "When the disk fills up"): every
//! waiting write gets its error at once, nothing refused keeps its effect, reads and the rest
//! of the shard keep answering, and `/readyz` says the server is not ready. The data
//! directory is a small tmpfs of the server's own, so the disk really fills.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{stock_get, write_config, Server};

/// Connections buying at once: enough that several BUYs wait on the log when it fails.
const BUYERS: usize = 16;
/// How long anything may take to answer once the disk is full.
const ANSWER_SECS_MAX: u64 = 5;

/// What one buyer saw: the orders it was given, and the error that stopped it.
struct Buyer {
    orders: Vec<String>,
    stopped_by: String,
}

fn buyers(server: &Server, sku: &str) -> Vec<Buyer> {
    let start = Arc::new(Barrier::new(BUYERS));
    let threads: Vec<_> = (0..BUYERS)
        .map(|i| {
            let mut c = server.client();
            c.set_read_timeout(Some(Duration::from_secs(ANSWER_SECS_MAX))).unwrap();
            let (sku, start) = (sku.to_string(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut orders = Vec::new();
                let user = format!("user-{i}-{}", "u".repeat(100));
                loop {
                    let reqid = format!("{i}-{}-{}", orders.len(), "r".repeat(100));
                    match redis::cmd("SECKILL.BUY")
                        .arg(&sku)
                        .arg(&user)
                        .arg("REQID")
                        .arg(reqid)
                        .query::<String>(&mut c)
                    {
                        Ok(id) => orders.push(id),
                        Err(e) => {
                            return Buyer {
                                orders,
                                stopped_by: e.to_string(),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn disk_full_under_concurrent_buyers(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardhub.toml");
    write_config(&config, &format!("[seckill]\ndurability = \"{durability}\"\n"));
    let server = Server::start_on_small_disk(2, 192 * 1024, Some(&config), &[]);
    let mut admin = server.client();
    let sku = "phone:{disk}";
    let _: () = redis::cmd("STOCK.SET")
        .arg(sku)
        .arg(100_000_000)
        .query(&mut admin)
        .unwrap();
    let started = Instant::now();
    let buyers = buyers(&server, sku);
    // Every buyer was answered (none timed out) and each stopped at the log's error.
    for b in &buyers {
        assert!(
            b.stopped_by.contains("seckill log write failed"),
            "a buyer stopped by {:?} after {:?}; log:\n{}",
            b.stopped_by,
            started.elapsed(),
            server.log.lock().unwrap().join("\n")
        );
    }
    let acknowledged: usize = buyers.iter().map(|b| b.orders.len()).sum();
    assert!(acknowledged > 0, "the disk held some orders before it filled");
    // Reads keep answering, from the state the log holds: a refused BUY holds no units.
    let stock = stock_get(&mut admin, sku);
    assert_eq!(
        stock.reserved, acknowledged as i64,
        "reserved units are the acknowledged BUYs: {stock:?}"
    );
    assert_eq!(stock.available + stock.reserved + stock.sold, stock.total);
    let order = buyers.iter().find_map(|b| b.orders.first()).unwrap();
    let got: redis::Value = redis::cmd("ORDER.GET").arg(order).query(&mut admin).unwrap();
    assert!(matches!(got, redis::Value::Map(_) | redis::Value::Array(_)), "{got:?}");
    // Writes are refused at once; the shard's other work goes on.
    let refused = redis::cmd("STOCK.ADD").arg(sku).arg(1).query::<i64>(&mut admin);
    assert!(refused.unwrap_err().to_string().contains("seckill log write failed"));
    for _ in 0..4 {
        let mut fresh = server.client();
        let pong: String = redis::cmd("PING").query(&mut fresh).unwrap();
        assert_eq!(pong, "PONG");
        let rtt: i64 = redis::cmd("MESH").arg("PING").arg(1).query(&mut fresh).unwrap();
        assert!(rtt >= 0);
    }
    assert_eq!(server.http_get("/healthz").0, 200);
    let (status, body) = server.http_get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("log failed"), "{body}");
}

#[test]
fn a_full_disk_answers_every_waiting_buy_in_batch_mode() {
    disk_full_under_concurrent_buyers("batch");
}

#[test]
fn a_full_disk_answers_every_waiting_buy_in_sync_mode() {
    disk_full_under_concurrent_buyers("sync");
}

/// The broker's log under concurrent shadow updates: each is answered (200, or 503 once the
/// disk is full), none hangs, the rest of the server keeps answering, and each shadow reads
/// as its last acknowledged update left it (the refused one keeps no effect).
#[test]
fn a_full_disk_refuses_shadow_updates_under_concurrency() {
    let server = Server::start_on_small_disk(2, 192 * 1024, None, &[]);
    let port = server.http_port;
    let start = Arc::new(Barrier::new(BUYERS));
    let threads: Vec<_> = (0..BUYERS)
        .map(|i| {
            let start = start.clone();
            thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(ANSWER_SECS_MAX))
                    .build();
                start.wait();
                let mut statuses = Vec::new();
                for n in 0..400 {
                    let body = format!(r#"{{"state":{{"reported":{{"n":{n},"pad":"{}"}}}}}}"#, "x".repeat(4000));
                    let url = format!("http://127.0.0.1:{port}/v1/shadows/dev-{i}");
                    let status = match agent.request("PATCH", &url).send_string(&body) {
                        Ok(r) => r.status(),
                        Err(ureq::Error::Status(code, _)) => code,
                        Err(e) => panic!("PATCH {url}: {e}"),
                    };
                    statuses.push(status);
                    if status == 503 {
                        break;
                    }
                }
                statuses
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let statuses = t.join().unwrap();
        assert_eq!(statuses.last(), Some(&503), "the disk filled: {statuses:?}");
        assert!(statuses.iter().all(|&s| s == 200 || s == 503), "{statuses:?}");
        // Updates 0..acked were answered 200, update `acked` was refused.
        let acked = statuses.len() - 1;
        let (status, body) = server.http_get(&format!("/v1/shadows/dev-{i}"));
        if acked == 0 {
            assert_eq!(status, 404, "dev-{i} was never acknowledged: {body}");
        } else {
            let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                doc["state"]["reported"]["n"],
                acked - 1,
                "dev-{i}: {status} {statuses:?} {body}"
            );
        }
    }
    let mut c = server.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(server.http_get("/readyz").0, 503);
}

/// The wallet log under concurrent wallet creations: each is answered (201, or 503 once the
/// disk is full), none hangs, and every wallet that was answered 201 still derives addresses.
/// (A refused creation hands out no id to try; the soak checks the log across a restart.)
#[test]
fn a_full_disk_refuses_new_wallets_under_concurrency() {
    let secrets = tempfile::tempdir().unwrap();
    let passphrase = secrets.path().join("passphrase");
    std::fs::write(&passphrase, "a keystore passphrase for the disk-full test").unwrap();
    let flag = format!("--wallet-passphrase-file={}", passphrase.display());
    let server = Server::start_on_small_disk(2, 64 * 1024, None, &[&flag]);
    let port = server.http_port;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(ANSWER_SECS_MAX))
        .build();
    let start = Arc::new(Barrier::new(BUYERS));
    let threads: Vec<_> = (0..BUYERS)
        .map(|_| {
            let (agent, start) = (agent.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut created = Vec::new();
                let url = format!("http://127.0.0.1:{port}/v1/wallets");
                loop {
                    match agent.post(&url).send_string("") {
                        Ok(r) => {
                            assert_eq!(r.status(), 201);
                            let body: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
                            created.push(body["wallet_id"].as_str().unwrap().to_string());
                        }
                        Err(ureq::Error::Status(503, _)) => return created,
                        Err(e) => panic!("POST {url} after {} wallets: {e}", created.len()),
                    }
                }
            })
        })
        .collect();
    let created: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(!created.is_empty(), "some wallets fit before the disk filled");
    for id in &created {
        let url = format!("http://127.0.0.1:{port}/v1/wallets/{id}/address?coin=eth&account=0&index=0");
        let r = agent.get(&url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(r.status(), 200);
    }
    let mut c = server.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(server.http_get("/readyz").0, 503);
}
