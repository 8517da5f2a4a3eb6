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
             [http]\nconnections_per_shard_max = {HTTP_MAX}\nhealth_connections_per_shard = 4\n\
             header_timeout_ms = 4000\nidle_timeout_ms = 10000\n\
             [resp]\nidle_timeout_secs = 1\n"
        ),
    );
    (Server::start_with(1, Some(&config), &[]), dir)
}

/// What the server sent before it closed (or before `wait` passed).
fn read_all(stream: &mut TcpStream, wait: Duration) -> String {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn healthz(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        .ok()?;
    let reply = read_all(&mut s, Duration::from_secs(2));
    reply.starts_with("HTTP/1.1 200").then_some(reply)
}

fn mqtt_connects(port: u16) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
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
    s.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 256];
    loop {
        if let Ok(Some(p)) = decode(&mut buf, ProtocolVersion::V5, u32::MAX) {
            return matches!(p, Packet::ConnAck(a) if a.reason_code == ReasonCode::SUCCESS);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn slow_http_clients_are_capped_and_cut_off_without_starving_the_others() {
    let (server, _dir) = start();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n").unwrap();
            s
        })
        .collect();
    let opened = Instant::now();
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
    let replies: Vec<String> = slow.iter_mut().map(|s| read_all(s, Duration::from_secs(6))).collect();
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
        opened.elapsed() < Duration::from_secs(9),
        "the 4 s head timeout, not never"
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
    let reply = read_all(&mut idle, Duration::from_secs(5));
    assert_eq!(reply, "+PONG\r\n", "answered, then closed when idle");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after resp.idle_timeout_secs = 1, not at once and not never: {waited:?}"
    );
}
