//! The RESP front end through real clients: the `redis` crate and raw RESP.

mod common;

use std::time::Duration;

use common::{key_on_shard, Server};
use redis::Commands;

#[test]
fn strings_pipelining_and_multi_key_commands_across_shards() {
    let server = Server::start(2);
    let mut c = server.client();
    let a = key_on_shard("a", 0, 2);
    let b = key_on_shard("b", 1, 2);

    let _: () = c.set(&a, "1").unwrap();
    let got: Option<String> = c.get(&a).unwrap();
    assert_eq!(got.as_deref(), Some("1"));

    // A pipeline of 200 commands whose keys alternate between the shards comes back whole
    // and in order.
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("INCR").arg(&a).cmd("SET").arg(format!("{b}:{i}")).arg(i);
    }
    let replies: Vec<redis::Value> = pipe.query(&mut c).unwrap();
    assert_eq!(replies.len(), 200);
    for (i, pair) in replies.chunks(2).enumerate() {
        assert_eq!(pair[0], redis::Value::Int(2 + i as i64));
        assert_eq!(pair[1], redis::Value::Okay);
    }

    let _: () = redis::cmd("MSET")
        .arg(&a)
        .arg("x")
        .arg(&b)
        .arg("y")
        .query(&mut c)
        .unwrap();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&b).arg("missing").arg(&a).query(&mut c).unwrap();
    assert_eq!(values, vec![Some("y".into()), None, Some("x".into())]);
    let n: i64 = redis::cmd("EXISTS")
        .arg(&a)
        .arg(&b)
        .arg(&a)
        .arg("missing")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3);
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 102);
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db0:keys=102"), "{info}");
    let per_shard: u64 = (0..2).map(|s| field_kv(&info, &format!("shard{s}"), "keys")).sum();
    assert_eq!(per_shard, 102, "{info}");
    let removed: i64 = redis::cmd("DEL").arg(&a).arg(&b).arg("missing").query(&mut c).unwrap();
    assert_eq!(removed, 2);

    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let sent: u64 = field(&info, "mesh_requests_sent");
    assert!(sent > 0, "multi-key commands on a 2-shard server use the mesh: {info}");
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

fn field_kv(info: &str, line: &str, key: &str) -> u64 {
    let fields = info.lines().find_map(|l| l.strip_prefix(&format!("{line}:"))).unwrap();
    fields
        .split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn connections_land_on_every_shard() {
    let server = Server::start(2);
    let mut seen = [0usize; 2];
    let mut conns = Vec::new();
    for _ in 0..32 {
        let mut raw = server.raw();
        let line = raw.call(&["CLIENT", "INFO"]);
        let shard: usize = line.split("shard=").nth(1).unwrap().trim().parse().unwrap();
        seen[shard] += 1;
        conns.push(raw);
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "SO_REUSEPORT spreads connections: {seen:?}"
    );
    let info = server.raw().call(&["INFO", "clients"]);
    assert!(
        info.contains("shard0_connected_clients:") && info.contains("shard1_connected_clients:"),
        "{info}"
    );
}

#[test]
fn resp3_hello_switches_reply_encoding() {
    let server = Server::start(1);
    let mut raw = server.raw();
    assert_eq!(raw.call(&["GET", "nothing"]), "$-1\r\n");
    let hello = raw.call(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert_eq!(raw.call(&["GET", "nothing"]), "_\r\n");
    let info = raw.call(&["INFO", "server"]);
    assert!(
        info.starts_with('=') && info.contains("txt:# Server"),
        "verbatim string in RESP3: {info}"
    );
    assert!(raw.call(&["CONFIG", "GET", "save"]).starts_with("%1\r\n"));
    assert!(raw.call(&["HELLO", "2"]).starts_with("*14\r\n"));
    assert_eq!(raw.call(&["GET", "nothing"]), "$-1\r\n");
}

#[test]
fn inline_commands_and_pipelined_raw_bytes() {
    let server = Server::start(2);
    let mut raw = server.raw();
    raw.send(b"SET greeting \"hello world\"\r\nGET greeting\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(raw.reply().unwrap(), b"+OK\r\n");
    assert_eq!(raw.reply().unwrap(), b"$11\r\nhello world\r\n");
    assert_eq!(raw.reply().unwrap(), b"+PONG\r\n");
    assert_eq!(raw.reply().unwrap(), b"+PONG\r\n");
    // A request split across writes is reassembled.
    raw.send(b"*2\r\n$4\r\nEC");
    std::thread::sleep(Duration::from_millis(50));
    raw.send(b"HO\r\n$2\r\nhi\r\n");
    assert_eq!(raw.reply().unwrap(), b"$2\r\nhi\r\n");
}

#[test]
fn protocol_errors_close_only_their_connection() {
    let server = Server::start(2);
    let mut good = server.raw();
    assert_eq!(good.call(&["SET", "k", "v"]), "+OK\r\n");
    let mut bad = server.raw();
    bad.send(b"*1\r\n$-5\r\n");
    assert_eq!(bad.reply().unwrap(), b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(bad.closed());
    let mut bad = server.raw();
    bad.send(b"GET \"unterminated\r\n");
    assert_eq!(
        bad.reply().unwrap(),
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert!(bad.closed());
    assert_eq!(good.call(&["GET", "k"]), "$1\r\nv\r\n");
}

#[test]
fn keys_expire_lazily_and_actively() {
    let server = Server::start(2);
    let mut c = server.client();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("tmp{i}"))
            .arg("v")
            .arg("PX")
            .arg(150)
            .query(&mut c)
            .unwrap();
    }
    let _: () = c.set("keep", "v").unwrap();
    let _: bool = c.expire("keep", 100).unwrap();
    let ttl: i64 = c.ttl("keep").unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let pttl: i64 = c.pttl("tmp0").unwrap();
    assert!((1..=150).contains(&pttl), "{pttl}");
    let _: () = c.set("plain", "v").unwrap();
    assert_eq!(c.ttl::<_, i64>("plain").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);

    std::thread::sleep(Duration::from_millis(600));
    // Never touched again, the expired keys are gone from DBSIZE: active expiry removed them.
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 2);
    let got: Option<String> = c.get("tmp1").unwrap();
    assert_eq!(got, None);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(field(&info, "expired_keys") >= 49, "{info}");

    // A non-positive EXPIRE deletes the key at once.
    let _: bool = c.expire("keep", -1).unwrap();
    assert!(!c.exists::<_, bool>("keep").unwrap());
}

#[test]
fn client_and_command_introspection() {
    let server = Server::start(2);
    let mut raw = server.raw();
    assert_eq!(raw.call(&["CLIENT", "SETNAME", "worker-1"]), "+OK\r\n");
    assert_eq!(raw.call(&["CLIENT", "GETNAME"]), "$8\r\nworker-1\r\n");
    let id = raw.call(&["CLIENT", "ID"]);
    let id = id.trim().trim_start_matches(':').to_string();
    let mut other = server.raw();
    let list = other.call(&["CLIENT", "LIST"]);
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=worker-1"),
        "CLIENT LIST spans shards: {list}"
    );
    let count = raw.call(&["COMMAND", "COUNT"]);
    let count: usize = count.trim().trim_start_matches(':').parse().unwrap();
    assert_eq!(count, shardhub_net::resp::COMMANDS.len());
    let docs = raw.call(&["COMMAND", "DOCS", "get"]);
    assert!(
        docs.contains("summary") && docs.contains("Returns the string value of a key."),
        "{docs}"
    );
    assert_eq!(raw.call(&["SELECT", "0"]), "+OK\r\n");
    assert_eq!(
        raw.call(&["CLUSTER", "KEYSLOT", "123456789"]),
        format!(":{}\r\n", 0x31C3)
    );
    assert_eq!(raw.call(&["QUIT"]), "+OK\r\n");
    assert!(raw.closed());
}

#[test]
fn mesh_ping_measures_a_round_trip() {
    let server = Server::start(2);
    let mut raw = server.raw();
    let line = raw.call(&["CLIENT", "INFO"]);
    let me: usize = line.split("shard=").nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(raw.call(&["MESH", "PING", &me.to_string()]), ":0\r\n");
    let other = (1 - me).to_string();
    let ns = raw.call(&["MESH", "PING", &other]);
    let ns: i64 = ns.trim().trim_start_matches(':').parse().unwrap();
    assert!(ns > 0);
    assert_eq!(raw.call(&["MESH", "PING", "2"]), "-ERR shard index out of range\r\n");
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Opening and closing thousands of idle RESP connections, round after round, does not make
/// the server grow: what a connection holds is given back (it used to climb by megabytes
/// each round, a 16 KiB read and a 16 KiB write buffer per connection fragmenting the heap).
#[test]
fn idle_connections_give_their_memory_back_round_after_round() {
    use std::io::{Read, Write};
    const CONNECTIONS: usize = 3000;
    const ROUNDS: usize = 12;
    let server = Server::start(1);
    let mut after_round = Vec::new();
    for _ in 0..ROUNDS {
        let mut conns: Vec<std::net::TcpStream> = (0..CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).unwrap())
            .collect();
        for c in &mut conns {
            c.write_all(b"PING\r\n").unwrap();
        }
        for c in &mut conns {
            let mut pong = [0u8; 7];
            c.read_exact(&mut pong).unwrap();
        }
        drop(conns);
        // Sampled once the server has closed them all: under load (CI runs test binaries
        // side by side) 300 ms was not always enough, and live connections were counted.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, metrics) = server.http_get("/metrics");
            if common::metric_sum(&metrics, "shardhub_listener_connections", &["listener=\"resp\""]) == 0.0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "connections never closed");
            std::thread::sleep(Duration::from_millis(50));
        }
        // jemalloc's background thread gives freed pages back a second after they go unused
        // (the server's malloc_conf): sampled after that.
        std::thread::sleep(Duration::from_millis(1500));
        after_round.push(rss_kib(server.pid()));
    }
    let (settled, last) = (after_round[2], after_round[ROUNDS - 1]);
    assert!(
        last <= settled + settled / 10 + 2048,
        "RSS after each round, KiB: {after_round:?}"
    );
}

/// A client that pipelines hundreds of reads of a 1 MiB value and reads the replies slowly
/// makes the server hold about one batch of replies, not all of them at once, whether the
/// value lives on the connection's shard or on another; every reply still arrives, whole and
/// in order.
#[test]
fn a_slow_reader_of_a_long_pipeline_holds_one_batch_of_replies() {
    for (shards, other_shard) in [(1, false), (2, true)] {
        slow_reader_of_a_long_pipeline(shards, other_shard);
    }
}

fn slow_reader_of_a_long_pipeline(shards: usize, other_shard: bool) {
    use std::io::{BufRead, BufReader, Read, Write};
    const VALUE_BYTES: usize = 1 << 20;
    const GETS: usize = 300;
    /// What the server may grow by while the replies wait: a few batches and socket buffers,
    /// far below the 300 MiB of all the replies at once.
    const GROWTH_KIB_MAX: u64 = 64 * 1024;
    let server = Server::start(shards);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).unwrap();
    raw.write_all(b"CLIENT INFO\r\n").unwrap();
    let mut info = [0u8; 1024];
    let n = raw.read(&mut info).unwrap();
    let info = String::from_utf8_lossy(&info[..n]);
    let mine: usize = info
        .split("shard=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let owner = if other_shard { (mine + 1) % shards } else { mine };
    let key = key_on_shard("big", owner, shards);
    let value: Vec<u8> = (0..VALUE_BYTES).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .query(&mut server.client())
        .unwrap();
    let before = rss_kib(server.pid());

    raw.write_all(format!("GET {key}\r\n").repeat(GETS).as_bytes()).unwrap();
    // The most the server held while nobody read (it reaches its peak at once when it holds
    // everything; the look lasts long enough for a busy machine to get there).
    let mut peak = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib(server.pid()).saturating_sub(before));
    }
    assert!(
        peak < GROWTH_KIB_MAX,
        "{shards} shard(s): the server grew by {peak} KiB holding the replies"
    );

    let mut replies = BufReader::with_capacity(64 * 1024, raw);
    let mut got = vec![0u8; VALUE_BYTES + 2];
    for i in 0..GETS {
        let mut header = String::new();
        replies.read_line(&mut header).unwrap();
        assert_eq!(header, format!("${VALUE_BYTES}\r\n"), "reply {i}");
        replies.read_exact(&mut got).unwrap();
        assert!(
            got[..VALUE_BYTES] == value[..] && &got[VALUE_BYTES..] == b"\r\n",
            "reply {i}"
        );
    }
}
