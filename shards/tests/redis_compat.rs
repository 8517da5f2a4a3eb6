//! Differential test: the same commands, on the wire, to redis-server 7 and to shardhub; the
//! replies must match byte for byte. This pins error texts, arity checks, option parsing and
//! integer rules to what Redis really answers, not to what we think it answers.
//!
//! Redis runs with `--databases 1`: shardhub has one database, as Redis Cluster does.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{RawConn, Server};

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(child, port)
}

fn commands() -> Vec<Vec<String>> {
    let long = "x".repeat(200);
    let script: &[&[&str]] = &[
        &["GET"],
        &["GET", "a", "b"],
        &["SET", "k"],
        &["FOO"],
        &["FOO", "bar", "baz"],
        &["nosuch", &long, "more"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "k", "v", "EX", "abc"],
        &["SET", "k", "v", "EX", "abc", "NX", "XX"],
        &["SET", "k", "v", "EX", "0"],
        &["SET", "k", "v", "EX", "-5"],
        &["SET", "k", "v", "PX", "9223372036854775807"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "BOGUS"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "GET"],
        &["SET", "k", "v2", "NX", "GET"],
        &["SET", "k", "v3", "XX", "GET"],
        &["SET", "k", "v4", "nx"],
        &["GET", "k"],
        &["SET", "gone", "v", "EXAT", "1"],
        &["GET", "gone"],
        &["SET", "s", "abc"],
        &["INCR", "s"],
        &["DECR", "s"],
        &["INCRBY", "n", "x"],
        &["INCRBY", "n", "1.5"],
        &["INCRBY", "n", " 1"],
        &["INCRBY", "n", "+1"],
        &["INCRBY", "n", "01"],
        &["INCRBY", "n", "5"],
        &["DECRBY", "n", "7"],
        &["DECR", "n"],
        &["SET", "m", "9223372036854775807"],
        &["INCR", "m"],
        &["DECRBY", "m", "-9223372036854775808"],
        &["SET", "low", "-9223372036854775808"],
        &["DECR", "low"],
        &["INCR", "k"],
        &["EXPIRE", "k", "10", "NX", "XX"],
        &["EXPIRE", "k", "10", "GT", "LT"],
        &["EXPIRE", "k", "10", "FOO"],
        &["EXPIRE", "k", "abc"],
        &["EXPIRE", "k", "9223372036854775807"],
        &["PEXPIRE", "k", "9223372036854775807"],
        &["EXPIRE", "missing", "10"],
        &["EXPIRE", "k", "100", "XX"],
        &["EXPIRE", "k", "100", "NX"],
        &["EXPIRE", "k", "200", "GT"],
        &["EXPIRE", "k", "50", "GT"],
        &["TTL", "k"],
        &["PEXPIRE", "n", "100000"],
        &["TTL", "n"],
        &["TTL", "s"],
        &["PTTL", "missing"],
        &["TTL"],
        &["EXPIRE", "n", "-1"],
        &["EXISTS", "n"],
        &["MSET", "a"],
        &["MSET", "a", "1", "b"],
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "a", "nope", "b"],
        &["MGET"],
        &["DEL"],
        &["DEL", "a", "b", "a", "nope"],
        &["EXISTS"],
        &["EXISTS", "k", "k", "nope"],
        &["SELECT", "1"],
        &["SELECT", "x"],
        &["SELECT", "0"],
        &["SELECT"],
        &["HELLO", "4"],
        &["HELLO", "x"],
        &["HELLO", "1"],
        &["HELLO", "2", "FOO"],
        &["HELLO", "2", "SETNAME"],
        &["HELLO", "2", "AUTH", "bob"],
        &["PING"],
        &["PING", "hello"],
        &["PING", "a", "b"],
        &["ECHO"],
        &["ECHO", "x"],
        &["CLIENT", "FOO"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME"],
        &["CLIENT", "SETNAME", "ok-name"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "GETNAME", "x"],
        &["CLIENT"],
        &["COMMAND", "FOO"],
        &["COMMAND", "INFO", "nosuchcommand"],
        &["CONFIG", "GET"],
        &["CONFIG", "GET", "save"],
        &["CONFIG", "GET", "appendonly"],
        &["CONFIG", "FOO"],
        &["CLUSTER", "KEYSLOT"],
        &["DBSIZE", "x"],
        &["INFO", "a", "b", "c"],
    ];
    script
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Raw byte streams that break the protocol; each gets its own connection.
const PROTOCOL_ERRORS: &[&[u8]] = &[
    b"*1\r\n$-5\r\n",
    b"*x\r\n",
    b"*1\r\n:5\r\n",
    b"*3000000000\r\n",
    b"*1\r\n$600000000\r\n",
    b"*1\r\n$abc\r\n",
    b"GET \"abc\r\n",
    b"GET 'abc'x\r\n",
    b"*0\r\n\r\n*-1\r\nPING\r\n",
    // Counts are read as Redis's string2ll reads them: no `+`, no leading zero.
    b"*+1\r\n$4\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*-0\r\nPING\r\n",
    b"*1\r\n$+4\r\nPING\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*1\r\n$+5\r\nPING\r\n",
];

#[test]
fn replies_match_redis_byte_for_byte() {
    let redis = start_redis();
    let server = Server::start(2);
    let mut theirs = RawConn::connect(redis.1);
    let mut ours = server.raw();
    let mut mismatches = Vec::new();
    for cmd in commands() {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (r, s) = (theirs.call(&args), ours.call(&args));
        if r != s {
            mismatches.push(format!("{args:?}\n   redis:    {r:?}\n   shardhub: {s:?}"));
        }
    }
    for bytes in PROTOCOL_ERRORS {
        let mut theirs = RawConn::connect(redis.1);
        let mut ours = server.raw();
        theirs.send(bytes);
        ours.send(bytes);
        let (r, s) = (theirs.reply(), ours.reply());
        if r != s {
            mismatches.push(format!(
                "{:?}\n   redis:    {:?}\n   shardhub: {:?}",
                String::from_utf8_lossy(bytes),
                r.map(|b| String::from_utf8_lossy(&b).into_owned()),
                s.map(|b| String::from_utf8_lossy(&b).into_owned())
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} replies differ from Redis:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
