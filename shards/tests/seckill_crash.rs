//! Buy storms killed with SIGKILL (docs/seckill.md, "Durability"): after each restart on the
//! same data dir every acknowledged change is there, no order id was handed out twice, and
//! every SKU's counters add up to the orders. Rounds repeat on the same data dir; set
//! SECKILL_CRASH_ROUNDS (default 3) for more, as scripts/seckill-soak.sh does. And a log
//! damaged on disk: a torn tail is cut off, a bad record before good ones stops the start.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{key_on_shard, orders_get, stock_get, write_config, Expect, Rng, Server};

const CLIENTS: usize = 32;
/// Orders acknowledged in a round before the kill: at least this, at most twice as many.
const ACKED_BEFORE_KILL: usize = 300;
/// SKUs: the big ones never sell out; the small ones do, and one of them is restocked
/// during the storms.
const BIG: i64 = 1_000_000;
const SMALL: i64 = 150;
const USERS: u64 = 500;

fn rounds(default: usize) -> usize {
    std::env::var("SECKILL_CRASH_ROUNDS")
        .ok()
        .map(|v| v.parse().expect("SECKILL_CRASH_ROUNDS is a number"))
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Known {
    sku: usize,
    user: String,
    qty: i64,
    reqid: String,
    expect: Expect,
}

/// A BUY whose reply was lost: retried with its REQID after the restart.
#[derive(Debug, Clone)]
struct LostBuy {
    sku: usize,
    user: String,
    qty: i64,
    reqid: String,
}

#[derive(Default)]
struct Ledger {
    orders: HashMap<String, Known>,
    lost_buys: Vec<LostBuy>,
    /// Each SKU's total as far as acknowledged STOCK.ADDs tell, and an unacknowledged delta.
    totals: Vec<i64>,
    lost_add: Option<(usize, i64)>,
}

impl Ledger {
    fn record(&mut self, id: String, k: Known) {
        if let Some(prev) = self.orders.get(&id) {
            panic!("{id} handed out twice: {prev:?} and {k:?}");
        }
        self.orders.insert(id, k);
    }
}

/// The result of one command on a connection that may die under it.
enum Reply<T> {
    Ok(T),
    Refused(String),
    Lost,
}

fn send<T: redis::FromRedisValue>(c: &mut redis::Connection, cmd: &redis::Cmd) -> Reply<T> {
    match cmd.query::<T>(c) {
        Ok(v) => Reply::Ok(v),
        // A server's error reply has a code; a dead connection does not.
        Err(e) => match e.code() {
            Some(code) => Reply::Refused(format!("{code} {}", e.detail().unwrap_or(""))),
            None => Reply::Lost,
        },
    }
}

fn try_connect(port: u16) -> Option<redis::Connection> {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .ok()?;
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Some(c)
}

fn connect(port: u16) -> redis::Connection {
    try_connect(port).expect("connect")
}

struct Storm {
    skus: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
}

/// One buyer: BUY (always with a REQID), then sometimes PAY or CANCEL, until its connection
/// dies or `stop`.
fn buyer(port: u16, round: usize, n: usize, storm: &Storm) {
    // A thread that starts late may find the server already killed.
    let Some(mut c) = try_connect(port) else { return };
    let mut rng = Rng::new((round * 1000 + n) as u64 + 7);
    let mut seq = 0;
    while !storm.stop.load(Ordering::Relaxed) {
        seq += 1;
        let sku = rng.below(storm.skus.len() as u64) as usize;
        let user = format!("user{}", rng.below(USERS));
        let qty = 1 + rng.below(3) as i64;
        let reqid = format!("r{round}-{n}-{seq}");
        let mut cmd = redis::cmd("SECKILL.BUY");
        cmd.arg(&storm.skus[sku])
            .arg(&user)
            .arg("QTY")
            .arg(qty)
            .arg("REQID")
            .arg(&reqid);
        let id: String = match send(&mut c, &cmd) {
            Reply::Ok(id) => id,
            Reply::Refused(e) if e.starts_with("SOLDOUT") => continue,
            Reply::Refused(e) if e.starts_with("BUSY") => {
                std::thread::sleep(Duration::from_micros(200 + rng.below(2000)));
                continue;
            }
            Reply::Refused(e) => panic!("BUY {sku} {user}: {e}"),
            Reply::Lost => {
                let lost = LostBuy { sku, user, qty, reqid };
                storm.ledger.lock().unwrap().lost_buys.push(lost);
                return;
            }
        };
        let mut known = Known {
            sku,
            user,
            qty,
            reqid,
            expect: Expect::Reserved,
        };
        let next = rng.below(100);
        let lost = if !(30..90).contains(&next) {
            let (name, done, unknown) = if next < 30 {
                ("ORDER.PAY", Expect::Paid, Expect::PayUnknown)
            } else {
                ("ORDER.CANCEL", Expect::Cancelled, Expect::CancelUnknown)
            };
            match send::<String>(&mut c, redis::cmd(name).arg(&id)) {
                Reply::Ok(ok) => {
                    assert_eq!(ok, "OK");
                    known.expect = done;
                    false
                }
                Reply::Refused(e) => panic!("{name} {id}: {e}"),
                Reply::Lost => {
                    known.expect = unknown;
                    true
                }
            }
        } else {
            false
        };
        storm.ledger.lock().unwrap().record(id, known);
        storm.acked.fetch_add(1, Ordering::Relaxed);
        if lost {
            return;
        }
    }
}

/// Restocks the first small SKU a few units at a time.
fn restocker(port: u16, storm: &Storm) {
    let Some(mut c) = try_connect(port) else { return };
    let sku = storm.skus.len() - 1;
    while !storm.stop.load(Ordering::Relaxed) {
        match send::<i64>(&mut c, redis::cmd("STOCK.ADD").arg(&storm.skus[sku]).arg(3)) {
            Reply::Ok(available) => {
                assert!(available >= 3);
                storm.ledger.lock().unwrap().totals[sku] += 3;
            }
            Reply::Refused(e) => panic!("STOCK.ADD: {e}"),
            Reply::Lost => {
                storm.ledger.lock().unwrap().lost_add = Some((sku, 3));
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After a restart: settle what the crash left unknown, then check everything acknowledged.
fn verify(server: &Server, skus: &[String], ledger: &mut Ledger) {
    let mut c = connect(server.resp_port);
    // REQID retries go through a connection on the SKU's owner (SKU i lives on shard i % 2),
    // so that the answer comes from the owner's records, never from a sold-out hint.
    let mut owners = [server.client_on_shard(0), server.client_on_shard(1)];
    // A STOCK.ADD whose reply was lost happened or not; either way the equations must hold.
    if let Some((sku, delta)) = ledger.lost_add.take() {
        let total = stock_get(&mut c, &skus[sku]).total;
        assert!(
            total == ledger.totals[sku] || total == ledger.totals[sku] + delta,
            "{}: total {total}, acknowledged {} (+{delta} unacknowledged)",
            skus[sku],
            ledger.totals[sku]
        );
        ledger.totals[sku] = total;
    }
    // Lost BUYs are retried with their REQID: the same order if it was logged, a new one if
    // not (or a refusal: then nothing was reserved).
    for lost in std::mem::take(&mut ledger.lost_buys) {
        let mut cmd = redis::cmd("SECKILL.BUY");
        cmd.arg(&skus[lost.sku])
            .arg(&lost.user)
            .arg("QTY")
            .arg(lost.qty)
            .arg("REQID")
            .arg(&lost.reqid);
        match send::<String>(&mut owners[lost.sku % 2], &cmd) {
            Reply::Ok(id) => {
                let known = Known {
                    sku: lost.sku,
                    user: lost.user,
                    qty: lost.qty,
                    reqid: lost.reqid,
                    expect: Expect::Reserved,
                };
                ledger.record(id, known);
            }
            Reply::Refused(e) if e.starts_with("SOLDOUT") => {}
            Reply::Refused(e) => panic!("retry of {lost:?}: {e}"),
            Reply::Lost => panic!("retry of {lost:?}: connection lost"),
        }
    }

    // Every order any client was given exists, as it was left.
    let ids: Vec<String> = ledger.orders.keys().cloned().collect();
    let found = orders_get(&mut c, &ids);
    let mut reserved = vec![0i64; skus.len()];
    let mut sold = vec![0i64; skus.len()];
    for (id, got) in ids.iter().zip(found) {
        let k = ledger.orders.get_mut(id).unwrap();
        let o = got.unwrap_or_else(|e| panic!("acknowledged order {id} ({k:?}) lost: {e}"));
        assert_eq!(
            (o.sku.as_str(), o.user.as_str(), o.qty),
            (skus[k.sku].as_str(), k.user.as_str(), k.qty),
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
    // Every SKU adds up, and its counters are exactly the known orders (lost buys included).
    for (i, sku) in skus.iter().enumerate() {
        let s = stock_get(&mut c, sku);
        assert!(s.balanced(), "{sku}: {s:?}");
        assert_eq!(s.total, ledger.totals[i], "{sku}: {s:?}");
        assert_eq!((s.reserved, s.sold), (reserved[i], sold[i]), "{sku}: {s:?}");
    }
    // REQIDs survived: a retry of a sample answers the same order and reserves nothing.
    let mut sample: Vec<(&String, &Known)> = ledger.orders.iter().collect();
    sample.sort_by(|a, b| a.0.cmp(b.0));
    for (id, k) in sample.iter().step_by(7) {
        let mut cmd = redis::cmd("SECKILL.BUY");
        cmd.arg(&skus[k.sku])
            .arg(&k.user)
            .arg("QTY")
            .arg(k.qty)
            .arg("REQID")
            .arg(&k.reqid);
        match send::<String>(&mut owners[k.sku % 2], &cmd) {
            Reply::Ok(again) => assert_eq!(&again, *id, "REQID {} after restart", k.reqid),
            Reply::Refused(e) => panic!("REQID {} of {id} after restart: {e}", k.reqid),
            Reply::Lost => panic!("connection lost"),
        }
    }
    for (i, sku) in skus.iter().enumerate() {
        let s = stock_get(&mut c, sku);
        assert_eq!(
            (s.reserved, s.sold),
            (reserved[i], sold[i]),
            "{sku} after REQID retries: {s:?}"
        );
    }
}

fn config(dir: &Path, durability: &str) -> PathBuf {
    let path = dir.join("shardhub.toml");
    // A small snapshot threshold, so that restarts load snapshots as well as logs.
    write_config(
        &path,
        &format!("[seckill]\ndurability = \"{durability}\"\nmax_qty = 10\nsnapshot_log_bytes = 16384\n"),
    );
    path
}

/// `rounds` storms, each killed with SIGKILL and followed by a restart on the same data dir
/// and a full check.
fn crash_rounds(durability: &str, rounds: usize) {
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = config(cfg_dir.path(), durability);
    let skus: Vec<String> = (0..6).map(|i| key_on_shard(&format!("crash{i}-"), i % 2, 2)).collect();
    let totals = vec![BIG, BIG, BIG, BIG, SMALL, SMALL];
    let mut server = Server::start_in(2, tempfile::tempdir().unwrap(), Some(&config), &[]);
    {
        let mut c = connect(server.resp_port);
        for (sku, total) in skus.iter().zip(&totals) {
            let _: () = redis::cmd("STOCK.SET").arg(sku).arg(*total).query(&mut c).unwrap();
        }
    }
    let ledger = Arc::new(Mutex::new(Ledger {
        totals,
        ..Ledger::default()
    }));
    let skus = Arc::new(skus);
    for round in 0..rounds {
        let storm = Arc::new(Storm {
            skus: skus.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            acked: Arc::new(AtomicUsize::new(0)),
            ledger: ledger.clone(),
        });
        let port = server.resp_port;
        let mut threads: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let storm = storm.clone();
                std::thread::spawn(move || buyer(port, round, n, &storm))
            })
            .collect();
        let restock = storm.clone();
        threads.push(std::thread::spawn(move || restocker(port, &restock)));

        // Kill at a different point each round.
        let kill_at = ACKED_BEFORE_KILL + Rng::new(round as u64).below(ACKED_BEFORE_KILL as u64) as usize;
        let deadline = Instant::now() + Duration::from_secs(30);
        while storm.acked.load(Ordering::Relaxed) < kill_at {
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} orders acknowledged",
                storm.acked.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let (status, data) = server.stop(libc::SIGKILL);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        storm.stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("a client failed");
        }
        server = Server::start_in(2, data, Some(&config), &[]);
        let mut ledger = ledger.lock().unwrap();
        eprintln!(
            "{durability} round {round}: {} orders in all, {} buys and {} adds to settle",
            ledger.orders.len(),
            ledger.lost_buys.len(),
            usize::from(ledger.lost_add.is_some())
        );
        verify(&server, &skus, &mut ledger);
    }
    // A graceful stop after all that still works and keeps everything.
    let (status, data) = server.stop(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let server = Server::start_in(2, data, Some(&config), &[]);
    verify(&server, &skus, &mut ledger.lock().unwrap());
}

#[test]
fn sync_mode_survives_kill_9_mid_storm() {
    crash_rounds("sync", rounds(3));
}

#[test]
fn batch_and_none_modes_lose_nothing_acknowledged_on_kill_9() {
    // The modes differ only in what an operating-system crash can take: a killed process
    // loses no acknowledged change in any of them.
    let rounds = rounds(3).div_ceil(3);
    crash_rounds("batch", rounds);
    crash_rounds("none", rounds);
}

/// The frames of a log segment (`[length u32 LE][CRC32C u32 LE][payload]`): their offsets.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if at + 8 + len > bytes.len() {
            break;
        }
        offsets.push(at);
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "the log ends on a frame boundary");
    offsets
}

/// The newest non-empty log segment of shard 0.
fn newest_segment(data: &Path) -> PathBuf {
    let dir = data.join("seckill").join("shard-0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log") && std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    logs.sort();
    logs.pop()
        .unwrap_or_else(|| panic!("no log segment in {}", dir.display()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_torn_tail_is_cut_off_but_damage_before_it_stops_the_start() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = config(cfg_dir.path(), "sync");
    let server = Server::start_in(1, tempfile::tempdir().unwrap(), Some(&config), &[]);
    let mut c = connect(server.resp_port);
    let _: () = redis::cmd("STOCK.SET").arg("widget").arg(100).query(&mut c).unwrap();
    // One at a time: each reservation is its own acknowledged write.
    let ids: Vec<String> = (0..24)
        .map(|i| {
            redis::cmd("SECKILL.BUY")
                .arg("widget")
                .arg(format!("u{i}"))
                .query(&mut c)
                .unwrap()
        })
        .collect();
    drop(c);
    let (_, data) = server.stop(libc::SIGKILL);
    let damaged = tempfile::tempdir().unwrap();
    copy_dir(data.path(), damaged.path());

    // A crash in the middle of the last write: the record is cut short and cut off; every
    // record before it is there.
    let log = newest_segment(data.path());
    let bytes = std::fs::read(&log).unwrap();
    let frames = frame_offsets(&bytes);
    assert!(
        frames.len() > ids.len(),
        "{} frames for {} orders",
        frames.len(),
        ids.len()
    );
    let last = *frames.last().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len((last + 5) as u64)
        .unwrap();
    let server = Server::start_in(1, data, Some(&config), &[]);
    let mut c = connect(server.resp_port);
    let found = orders_get(&mut c, &ids);
    let kept = found.iter().take_while(|o| o.is_ok()).count();
    assert!(
        found[kept..].iter().all(|o| o.is_err()),
        "what survives is a prefix: {found:?}"
    );
    assert!(
        kept + 1 >= ids.len(),
        "only the torn record is lost: {kept} of {} orders",
        ids.len()
    );
    let s = stock_get(&mut c, "widget");
    assert!(s.balanced() && s.total == 100 && s.reserved == kept as i64, "{s:?}");
    let next: String = redis::cmd("SECKILL.BUY")
        .arg("widget")
        .arg("late")
        .query(&mut c)
        .unwrap();
    assert!(!ids[..kept].contains(&next), "{next} handed out twice");
    drop(server);

    // One flipped byte in a record that acknowledged writes followed: refusing to start,
    // naming the file and the record's offset, is the only answer that loses nothing silently.
    let log = newest_segment(damaged.path());
    let mut bytes = std::fs::read(&log).unwrap();
    let frames = frame_offsets(&bytes);
    let bad = frames[frames.len() / 2];
    bytes[bad + 9] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let mut child = common::serve_command(1, damaged.path())
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The log, line by line; a "listening" line means it started over the damage.
    let (tx, rx) = std::sync::mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                stderr.push_str(&line);
                stderr.push('\n');
                if !line.contains("listening") {
                    continue;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        child.kill().unwrap();
        let _ = child.wait();
        panic!(
            "started over a damaged log (record at offset {bad} of {}):\n{stderr}",
            log.display()
        );
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "{stderr}");
    let name = log.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(name) && l.split(|c: char| !c.is_ascii_digit()).any(|n| n == bad.to_string())),
        "the error names {name} and offset {bad}: {stderr}"
    );
}
