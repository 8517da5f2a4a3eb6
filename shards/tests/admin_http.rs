//! The HTTP admin endpoints through a real HTTP client.

mod common;

use common::Server;

#[test]
fn health_readiness_and_metrics() {
    let server = Server::start(2);
    assert_eq!(server.http_get("/healthz").0, 200);
    let (status, body) = server.http_get("/readyz");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ready\"}"));

    let mut c = server.client();
    for i in 0..20 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    let _: redis::RedisResult<()> = redis::cmd("INCR").arg("k1x").arg("extra").query(&mut c);
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    for shard in ["0", "1"] {
        assert!(
            text.contains(&format!("shardhub_connections{{shard=\"{shard}\"}}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("shardhub_mesh_requests_sent_total{{shard=\"{shard}\"}}")),
            "{text}"
        );
    }
    let sets: u64 = text
        .lines()
        .filter(|l| l.starts_with("shardhub_commands_by_name_total{") && l.contains("command=\"set\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sets, 20);
    assert!(text.contains("shardhub_command_errors_total{shard="), "{text}");
    assert!(
        text.contains("shardhub_command_latency_seconds{command=\"set\",quantile=\"0.99\"}"),
        "{text}"
    );
    assert!(
        text.contains("shardhub_command_latency_seconds_count{command=\"set\"} 20"),
        "{text}"
    );
    assert!(text.contains("shardhub_ready 1"));
    // The server runs on jemalloc and reports it: what it holds fits in the pages it keeps
    // active, which fit in what it maps, which fits in the process's RSS.
    let allocator = |name: &str| common::metric_sum(&text, &format!("shardhub_allocator_{name}_bytes"), &[]) as u64;
    let (allocated, active, resident) = (allocator("allocated"), allocator("active"), allocator("resident"));
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    assert!(
        0 < allocated && allocated <= active && active <= resident && resident <= rss_kib * 1024,
        "allocated {allocated}, active {active}, resident {resident}, rss {rss_kib} KiB"
    );

    let (status, body) = server.http_get("/nope");
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "not_found");
}

/// A command answered at once but queued behind a BUY that waits for the log is still counted.
#[test]
fn commands_queued_behind_a_waiting_reply_are_counted() {
    let server = Server::start(1);
    let mut c = server.client();
    let _: () = redis::cmd("STOCK.SET").arg("sku:m").arg(10).query(&mut c).unwrap();
    let (order, first, second): (String, String, String) = redis::pipe()
        .cmd("SECKILL.BUY")
        .arg("sku:m")
        .arg("u1")
        .cmd("PING")
        .cmd("PING")
        .query(&mut c)
        .unwrap();
    assert!(!order.is_empty());
    assert_eq!((first.as_str(), second.as_str()), ("PONG", "PONG"));
    let (_, text) = server.http_get("/metrics");
    let count = |command: &str| -> u64 {
        text.lines()
            .filter(|l| {
                l.starts_with("shardhub_commands_by_name_total{") && l.contains(&format!("command=\"{command}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(count("ping"), 2, "{text}");
    assert_eq!(count("seckill.buy"), 1, "{text}");
}

/// Requests two parsers could read differently (request smuggling, RFC 9112 6.3) are answered
/// 400 and the connection closes; a plain request after them on a new connection is served.
#[test]
fn ambiguous_request_framing_is_refused() {
    use std::io::{Read, Write};
    let server = Server::start(1);
    for raw in [
        &b"POST /v1/shadows/d1 HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc"[..],
        b"POST /v1/shadows/d1 HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"POST /v1/shadows/d1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /healthz HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        s.write_all(raw).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 400"),
            "{:?} -> {reply:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(server.http_get("/healthz").0, 200);
}
