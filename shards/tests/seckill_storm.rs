//! Hundreds of clients on a two-shard server race for a few hundred units (docs/seckill.md,
//! "Never oversell"): afterwards every SKU's counters must add up, match the orders the
//! clients were given, and respect the per-user limits; /metrics must count the outcomes.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{key_on_shard, metric_sum, orders_get, stock_get, write_config, Rng, Server};

const SKUS: usize = 8;
const UNITS: i64 = 50;
/// The first `LIMITED` SKUs have `LIMIT 2`.
const LIMITED: usize = 4;
const PER_USER: i64 = 2;
const CLIENTS: usize = 240;
const BUYS_PER_CLIENT: usize = 12;
const USERS: u64 = 60;

/// An order a client was given, and the state its own PAY/CANCEL left it in.
#[derive(Debug, Clone)]
struct Bought {
    id: String,
    sku: usize,
    user: String,
    qty: i64,
    state: &'static str,
}

#[derive(Debug, Default)]
struct Outcome {
    bought: Vec<Bought>,
    soldout: u64,
    limit: u64,
    busy: u64,
    reqid_repeats: u64,
    /// REQID retries that did not answer their order.
    reqid_problems: Vec<String>,
}

enum Buy {
    Order(String),
    Refused(&'static str),
}

/// One SECKILL.BUY; `-BUSY` is counted and retried after a jittered pause that doubles with
/// each refusal in a row (0.5 ms up to 32 ms), as docs/seckill.md tells clients to back off.
fn buy(c: &mut redis::Connection, rng: &mut Rng, args: &[String], out: &mut Outcome) -> Buy {
    let mut backoff_us = 500;
    loop {
        let mut cmd = redis::cmd("SECKILL.BUY");
        for a in args {
            cmd.arg(a);
        }
        match cmd.query::<String>(c) {
            Ok(id) => return Buy::Order(id),
            Err(e) => match e.code() {
                Some("SOLDOUT") => {
                    assert_eq!(e.detail(), Some("sold out"));
                    out.soldout += 1;
                    return Buy::Refused("SOLDOUT");
                }
                Some("LIMIT") => {
                    assert_eq!(e.detail(), Some("per-user limit reached"));
                    out.limit += 1;
                    return Buy::Refused("LIMIT");
                }
                Some("BUSY") => {
                    assert_eq!(e.detail(), Some("shard queue full, retry later"));
                    out.busy += 1;
                    std::thread::sleep(Duration::from_micros(backoff_us / 2 + rng.below(backoff_us)));
                    backoff_us = (backoff_us * 2).min(32_000);
                }
                _ => panic!("SECKILL.BUY {args:?}: {e}"),
            },
        }
    }
}

fn client(port: u16, n: usize, skus: Arc<Vec<String>>, start: Arc<Barrier>) -> Outcome {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut rng = Rng::new(n as u64 + 1);
    let mut out = Outcome::default();
    start.wait();
    for op in 0..BUYS_PER_CLIENT {
        let sku = rng.below(SKUS as u64) as usize;
        let user = format!("user{}", rng.below(USERS));
        let qty = if rng.chance(20) { 2 } else { 1 };
        let mut args = vec![skus[sku].clone(), user.clone()];
        if qty > 1 || rng.chance(50) {
            args.extend(["QTY".to_string(), qty.to_string()]);
        }
        let reqid = rng.chance(30).then(|| format!("c{n}-{op}"));
        if let Some(r) = &reqid {
            args.extend(["REQID".to_string(), r.clone()]);
        }
        let Buy::Order(id) = buy(&mut c, &mut rng, &args, &mut out) else {
            continue;
        };
        let mut state = "reserved";
        if rng.chance(30) {
            assert_eq!(redis::cmd("ORDER.PAY").arg(&id).query::<String>(&mut c).unwrap(), "OK");
            state = "paid";
        } else if rng.chance(20) {
            assert_eq!(
                redis::cmd("ORDER.CANCEL").arg(&id).query::<String>(&mut c).unwrap(),
                "OK"
            );
            state = "cancelled";
        }
        if reqid.is_some() {
            // The retry answers the same order, whatever happened to it, and reserves nothing.
            // (Checked at the end, after the counters: see `reqid_problems`.)
            match buy(&mut c, &mut rng, &args, &mut out) {
                Buy::Order(again) if again == id => out.reqid_repeats += 1,
                Buy::Order(again) => {
                    out.reqid_repeats += 1;
                    out.reqid_problems
                        .push(format!("REQID retry of {args:?} (order {id}) answered {again}"));
                }
                Buy::Refused(why) => out
                    .reqid_problems
                    .push(format!("REQID retry of {args:?} (order {id}): {why}")),
            }
        }
        out.bought.push(Bought {
            id,
            sku,
            user,
            qty,
            state,
        });
    }
    out
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("shardhub.toml");
    // A small admission queue, so that the crowd also meets -BUSY.
    write_config(&path, "[seckill]\nadmission_queue = 16\n");
    path
}

#[test]
fn hundreds_of_clients_never_oversell() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(2, Some(&config(dir.path())), &[]);
    let skus: Vec<String> = (0..SKUS)
        .map(|i| key_on_shard(&format!("storm{i}-"), i % 2, 2))
        .collect();
    let mut admin = server.client();
    for (i, sku) in skus.iter().enumerate() {
        let mut cmd = redis::cmd("STOCK.SET");
        cmd.arg(sku).arg(UNITS);
        if i < LIMITED {
            cmd.arg("LIMIT").arg(PER_USER);
        }
        let _: () = cmd.query(&mut admin).unwrap();
    }

    let skus = Arc::new(skus);
    let start = Arc::new(Barrier::new(CLIENTS));
    let began = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (skus, start, port) = (skus.clone(), start.clone(), server.resp_port);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || client(port, n, skus, start))
                .unwrap()
        })
        .collect();
    let outcomes: Vec<Outcome> = threads
        .into_iter()
        .map(|t| t.join().expect("a client failed"))
        .collect();
    let storm = began.elapsed();

    let bought: Vec<Bought> = outcomes.iter().flat_map(|o| o.bought.iter().cloned()).collect();
    let soldout: u64 = outcomes.iter().map(|o| o.soldout).sum();
    let limit: u64 = outcomes.iter().map(|o| o.limit).sum();
    let busy: u64 = outcomes.iter().map(|o| o.busy).sum();
    let reqid_repeats: u64 = outcomes.iter().map(|o| o.reqid_repeats).sum();
    eprintln!(
        "storm: {} orders, {soldout} sold out, {limit} over the limit, {busy} busy, {reqid_repeats} REQID \
         retries in {storm:?}",
        bought.len()
    );

    // No id was handed out twice.
    let mut ids = HashSet::new();
    for b in &bought {
        assert!(ids.insert(b.id.clone()), "{} handed out twice", b.id);
    }
    // Demand (240 x 12 buys) far exceeds supply (400 units): the crowd met both refusals.
    assert!(soldout > 0 && limit > 0, "soldout {soldout}, limit {limit}");

    // Every order is as its client left it.
    let ids: Vec<String> = bought.iter().map(|b| b.id.clone()).collect();
    let found = orders_get(&mut admin, &ids);
    let mut reserved = [0i64; SKUS];
    let mut sold = [0i64; SKUS];
    let mut held: HashMap<(usize, &str), i64> = HashMap::new();
    for (b, got) in bought.iter().zip(found) {
        let o = got.unwrap_or_else(|e| panic!("ORDER.GET {}: {e}", b.id));
        assert_eq!(
            (o.sku.as_str(), o.user.as_str(), o.qty, o.state.as_str()),
            (skus[b.sku].as_str(), b.user.as_str(), b.qty, b.state),
            "{}",
            b.id
        );
        match b.state {
            "reserved" => reserved[b.sku] += b.qty,
            "paid" => sold[b.sku] += b.qty,
            _ => continue,
        }
        *held.entry((b.sku, &b.user)).or_default() += b.qty;
    }
    for (i, sku) in skus.iter().enumerate() {
        let s = stock_get(&mut admin, sku);
        assert!(s.balanced(), "{sku}: {s:?}");
        assert_eq!(s.total, UNITS, "{sku}: {s:?}");
        assert_eq!(
            (s.reserved, s.sold),
            (reserved[i], sold[i]),
            "{sku}: counters vs. the orders' states: {s:?}"
        );
        assert_eq!(s.limit, if i < LIMITED { PER_USER } else { 0 });
    }
    for ((sku, user), units) in &held {
        if *sku < LIMITED {
            assert!(*units <= PER_USER, "{user} holds {units} of {}", skus[*sku]);
        }
    }

    // /metrics counts the outcomes (the counters may be published on the next tick).
    let accepted_at_least = bought.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let (status, text) = server.http_get("/metrics");
        assert_eq!(status, 200);
        let accepted = metric_sum(&text, "shardhub_seckill_buys_total", &["sku=\"", "result=\"accepted\""]);
        if accepted >= accepted_at_least || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        text.lines()
            .any(|l| l.starts_with("shardhub_seckill_buys_total{") && l.contains("result=\"accepted\"")),
        "{text}"
    );
    let sum = |result: &str| {
        metric_sum(
            &text,
            "shardhub_seckill_buys_total",
            &["sku=\"", &format!("result=\"{result}\"")],
        )
    };
    let accepted = sum("accepted");
    assert!(
        accepted >= accepted_at_least && accepted <= accepted_at_least + reqid_repeats as f64,
        "accepted {accepted}: {} orders, {reqid_repeats} REQID retries",
        bought.len()
    );
    assert_eq!(sum("soldout"), soldout as f64, "soldout");
    assert_eq!(sum("limit"), limit as f64, "limit");
    assert_eq!(sum("busy"), busy as f64, "busy");
    let paid = bought.iter().filter(|b| b.state == "paid").count() as f64;
    let cancelled = bought.iter().filter(|b| b.state == "cancelled").count() as f64;
    let event = |e: &str| {
        metric_sum(
            &text,
            "shardhub_seckill_orders_total",
            &["sku=\"", &format!("event=\"{e}\"")],
        )
    };
    assert_eq!(event("paid"), paid, "paid");
    assert_eq!(event("cancelled"), cancelled, "cancelled");

    let problems: Vec<&String> = outcomes.iter().flat_map(|o| &o.reqid_problems).collect();
    assert!(
        problems.is_empty(),
        "{} of {} REQID retries did not answer their order, e.g. {:?}",
        problems.len(),
        reqid_repeats as usize + problems.len(),
        &problems[..problems.len().min(5)]
    );
}

#[test]
fn metrics_keep_a_bounded_set_of_sku_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shardhub.toml");
    write_config(&path, "[seckill]\nmetrics_skus_max = 2\n");
    let server = Server::start_with(1, Some(&path), &[]);
    let mut c = server.client();
    let skus: Vec<String> = (0..6).map(|i| format!("label{i}")).collect();
    for sku in &skus {
        let _: () = redis::cmd("STOCK.SET").arg(sku).arg(1).query(&mut c).unwrap();
        let id: String = redis::cmd("SECKILL.BUY").arg(sku).arg("alice").query(&mut c).unwrap();
        let refused = redis::cmd("SECKILL.BUY").arg(sku).arg("bob").query::<String>(&mut c);
        assert_eq!(refused.unwrap_err().code(), Some("SOLDOUT"));
        let _: () = redis::cmd("ORDER.PAY").arg(&id).query(&mut c).unwrap();
    }
    // Six SKUs seen; at most two have their own label, the rest count as "_other".
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let (status, text) = server.http_get("/metrics");
        assert_eq!(status, 200);
        let done = metric_sum(&text, "shardhub_seckill_orders_total", &["event=\"paid\""]) >= 6.0;
        if done || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let labels: HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("shardhub_seckill_buys_total{") || l.starts_with("shardhub_seckill_orders_total{"))
        .map(|l| l.split("sku=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert!(labels.contains("_other"), "{labels:?}\n{text}");
    assert!(labels.len() <= 3, "{labels:?}");
    let buys = |result: &str| metric_sum(&text, "shardhub_seckill_buys_total", &[&format!("result=\"{result}\"")]);
    assert_eq!((buys("accepted"), buys("soldout")), (6.0, 6.0), "{text}");
    assert_eq!(
        metric_sum(&text, "shardhub_seckill_orders_total", &["event=\"paid\""]),
        6.0,
        "{text}"
    );
    for family in [
        "shardhub_seckill_reserve_latency_us{",
        "shardhub_seckill_log_fsync_latency_us{",
        "shardhub_seckill_log_batch_records{",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family) && l.contains("quantile=")),
            "{family} in {text}"
        );
    }
}
