//! Slow and idle clients (docs/operations.md, "Limits and timeouts"): HTTP connections that
//! send half a request are cut off with 408 and cannot take the connections of the other
//! protocols, a load balancer's health check still gets through, and RESP closes idle
//! connections when told to, as Redis's `timeout` does.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{write_config, Server};
use shardhub_net::mqtt::{decode, Connect, MqttStr, Packet, ProtocolVersion, ReasonCode};

const SLOW: usize = 150;
const HTTP_MAX: usize = 40;

fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardhub.toml");
    write_config(
        &config,
        &format!(
            "[limits]\nmax_connections_per_shard = {SLOW}\n\
             [http]\nconnections_per_shard_max = {HTTP_MAX}\nhealth_connections_per_shard_max = 4\n\
             header_timeout_ms = 4000\nidle_timeout_ms = 10000\n\
             [resp]\nidle_timeout_secs = 1\n"
        ),
    );
    (Server::start_with(1, Some(&config), &[]), dir)
}

/// What the server sent before it closed, or before `wait` passed; and whether it closed.
fn read_all(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let closed = match stream.read_to_end(&mut out) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn healthz(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        .ok()?;
    let (reply, _) = read_all(&mut s, Duration::from_secs(2));
    reply.starts_with("HTTP/1.1 200").then_some(reply)
}

fn mqtt_connects(port: u16) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    matches!(mqtt_connack(&mut s), Some(ReasonCode::SUCCESS))
}

/// Sends a CONNECT on `s` and reads the CONNACK's reason; None if the server closed first.
fn mqtt_connack(s: &mut TcpStream) -> Option<ReasonCode> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BytesMut::new();
    Packet::Connect(Box::new(Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 30,
        client_id: MqttStr::from_static("after-the-slow-ones"),
        ..Connect::default()
    }))
    .encode(ProtocolVersion::V5, &mut out)
    .unwrap();
    // A connection closed at accept may refuse the write; its read says so.
    let _ = s.write_all(&out);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 256];
    loop {
        if let Ok(Some(p)) = decode(&mut buf, ProtocolVersion::V5, u32::MAX) {
            return match p {
                Packet::ConnAck(a) => Some(a.reason_code),
                other => panic!("expected CONNACK, got {other:?}"),
            };
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn slow_http_clients_are_capped_and_cut_off_without_starving_the_others() {
    let (server, _dir) = start();
    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // The other protocols still get in: HTTP holds at most its own cap.
    let mut c = server.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(mqtt_connects(server.mqtt_port), "MQTT CONNECT gets through");

    // A health check gets through within a couple of tries while the cap is held.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut health = None;
    while health.is_none() && Instant::now() < deadline {
        health = healthz(server.http_port);
        if health.is_none() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(
        health.is_some(),
        "/healthz answered while slow clients hold the HTTP cap"
    );

    // Beyond the cap and its health room, slow clients were refused at once; the ones let in
    // are answered 408 once their head is late, and closed.
    // (A generous wait: a server that never cuts them off leaves them unanswered.)
    let replies: Vec<String> = slow
        .iter_mut()
        .map(|s| read_all(s, Duration::from_secs(30)).0)
        .collect();
    let refused = replies.iter().filter(|r| r.starts_with("HTTP/1.1 503")).count();
    let timed_out = replies.iter().filter(|r| r.starts_with("HTTP/1.1 408")).count();
    assert!(refused >= SLOW - HTTP_MAX - 4, "{refused} refused");
    assert!(timed_out >= HTTP_MAX, "{timed_out} cut off with 408");
    assert_eq!(
        refused + timed_out,
        SLOW,
        "every slow client got an answer: {replies:?}"
    );
    assert!(
        opened.elapsed() >= Duration::from_secs(4),
        "not before the 4 s head timeout"
    );
    let metrics = server.http_get("/metrics").1;
    assert_eq!(
        common::metric_sum(&metrics, "shardhub_listener_connections", &["listener=\"http\""]),
        1.0,
        "only the scrape's own connection is left:\n{metrics}"
    );
}

#[test]
fn idle_resp_connections_close_when_configured() {
    let (server, _dir) = start();
    let mut idle = TcpStream::connect(("127.0.0.1", server.resp_port)).unwrap();
    idle.write_all(b"PING\r\n").unwrap();
    let started = Instant::now();
    let (reply, closed) = read_all(&mut idle, Duration::from_secs(30));
    assert_eq!(reply, "+PONG\r\n");
    assert!(closed, "an idle connection is closed");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed after resp.idle_timeout_secs = 1, not at once"
    );
}

/// A shard whose connections are all taken lets in no more than the rooms its listeners keep
/// beyond the caps: MQTT answers at most 64 CONNECTs with 0x97 and closes the rest at
/// accept, HTTP serves `/healthz` on its health room only and answers the rest 503.
#[test]
fn a_full_shard_lets_in_no_more_than_the_rooms() {
    const SHARD_MAX: usize = 20;
    const HEALTH_ROOM: usize = 4;
    const MQTT_ROOM: usize = 64;
    const KNOCKING: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardhub.toml");
    write_config(
        &config,
        &format!(
            "[limits]\nmax_connections_per_shard = {SHARD_MAX}\n\
             [http]\nhealth_connections_per_shard_max = {HEALTH_ROOM}\n"
        ),
    );
    let server = Server::start_with(1, Some(&config), &[]);
    let resp: Vec<redis::Connection> = (0..SHARD_MAX).map(|_| server.client()).collect();
    let mut extra = server.raw();
    extra.send(b"PING\r\n");
    assert_eq!(
        extra.reply().as_deref(),
        Some(&b"-ERR max number of clients reached\r\n"[..])
    );

    // Every socket is open before any speaks: the room is held while they wait.
    let mut mqtt: Vec<TcpStream> = (0..KNOCKING)
        .map(|_| TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap())
        .collect();
    let mut http: Vec<TcpStream> = (0..KNOCKING)
        .map(|_| TcpStream::connect(("127.0.0.1", server.http_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused_by_connack = mqtt
        .iter_mut()
        .filter_map(mqtt_connack)
        .inspect(|reason| assert_eq!(*reason, ReasonCode::QUOTA_EXCEEDED))
        .count();
    assert!(
        (1..=MQTT_ROOM).contains(&refused_by_connack),
        "{refused_by_connack} CONNECTs answered on a full shard"
    );
    let mut healthy = 0;
    for s in &mut http {
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n");
        let (reply, _) = read_all(s, Duration::from_secs(10));
        if reply.starts_with("HTTP/1.1 200") {
            healthy += 1;
        } else {
            assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
        }
    }
    assert!((1..=HEALTH_ROOM).contains(&healthy), "{healthy} health checks served");
    drop(resp);
}

/// A client that pipelines thousands of `GET /metrics` after a large request (so the server's
/// read buffer had grown to take them in one read) and reads nothing makes the server hold
/// about one batch of responses; reading them afterwards gets every one.
#[test]
fn a_slow_reader_of_pipelined_http_requests_holds_one_batch() {
    const BODY_BYTES: usize = 1_000_000;
    const GETS: usize = 10_000;
    /// A few batches of 64 responses of about 10 KB, where one read's worth of requests
    /// answered at once is tens of megabytes.
    const GROWTH_KIB_MAX: u64 = 8 * 1024;
    const STATUS_LINE: &[u8] = b"HTTP/1.1 ";
    let server = Server::start(1);
    let rss_kib = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_string();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    let before = rss_kib();
    let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    let mut big = format!("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY_BYTES}\r\n\r\n").into_bytes();
    big.resize(big.len() + BODY_BYTES, b'x');
    big.extend_from_slice("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(GETS - 1).as_bytes());
    big.extend_from_slice(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut writer = s.try_clone().unwrap();
    // One write, so the requests follow the body closely. It blocks once the server stops
    // reading, and ends when the reader below drains the responses.
    let sender = std::thread::spawn(move || writer.write_all(&big).unwrap());
    let mut peak = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib().saturating_sub(before));
    }
    assert!(
        peak < GROWTH_KIB_MAX,
        "the server grew by {peak} KiB holding the responses"
    );
    // Every response arrives (the 405 for the POST, then each GET's), then the close.
    let (mut answered, mut window, mut chunk) = (0, Vec::new(), vec![0u8; 1 << 20]);
    loop {
        let n = s.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        window.extend_from_slice(&chunk[..n]);
        answered += window.windows(STATUS_LINE.len()).filter(|w| *w == STATUS_LINE).count();
        window.drain(..window.len().saturating_sub(STATUS_LINE.len() - 1));
    }
    assert_eq!(answered, GETS + 1);
    sender.join().unwrap();
}
