//! The PROXY protocol behind a real L4 balancer: HAProxy from Debian in TCP mode in front of
//! shardhub on loopback, `send-proxy-v2` to the RESP and RESP-over-TLS listeners (TLS passed
//! through) and `send-proxy` (v1) to MQTT. The client address shardhub reports is the
//! client's, not the balancer's; connections that skip the balancer, or forge a header, are
//! closed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{free_port, write_config, Server};

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy forwarding each `(frontend port, backend port, send-proxy option)`.
fn haproxy(dir: &Path, routes: &[(u16, u16, &str)]) -> Haproxy {
    let mut cfg =
        String::from("defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n");
    for (i, (front, back, option)) in routes.iter().enumerate() {
        cfg += &format!(
            "frontend f{i}\n  bind 127.0.0.1:{front}\n  default_backend b{i}\n\
             backend b{i}\n  server s{i} 127.0.0.1:{back} {option}\n"
        );
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    // Debian puts it in /usr/sbin, which a user's PATH may not hold.
    let bin = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("haproxy");
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy (scripts/test.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    for (front, _, _) in routes {
        while TcpStream::connect(("127.0.0.1", *front)).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not listen on {front}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Haproxy(child)
}

/// A connection from a chosen loopback address, so the address shardhub reports can be
/// told from the balancer's (127.0.0.1).
fn connect_from(from: &str, port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket
        .connect(&format!("127.0.0.1:{port}").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Sends `request` and reads until `done` says the reply is whole, or the peer closes.
fn exchange(stream: &mut TcpStream, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&reply) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
    }
    reply
}

fn config(dir: &Path, cert: &Path, key: &Path) -> std::path::PathBuf {
    let path = dir.join("shardhub.toml");
    write_config(
        &path,
        &format!(
            "[listen]\nresps = \"127.0.0.1:0\"\n[tls.resps]\ncert_file = {:?}\nkey_file = {:?}\n\
             [proxy.resp]\nmode = \"v2\"\nfrom = [\"127.0.0.1/32\"]\n\
             [proxy.resps]\nmode = \"any\"\nfrom = [\"127.0.0.1/32\"]\n\
             [proxy.mqtt]\nmode = \"v1\"\nfrom = [\"127.0.0.1/32\"]\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    path
}

#[test]
fn haproxy_in_front_passes_the_client_address_and_nothing_else_gets_in() {
    let pki = Pki::new("proxy test CA");
    let (cert, key) = pki.server("server");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(2, Some(&config(dir.path(), &cert, &key)), &[]);
    let (resp, resps, mqtt) = (free_port(), free_port(), free_port());
    let _balancer = haproxy(
        dir.path(),
        &[
            (resp, server.resp_port, "send-proxy-v2"),
            (resps, server.port("resps"), "send-proxy-v2"),
            (mqtt, server.mqtt_port, "send-proxy"),
        ],
    );

    // Through the balancer: CLIENT LIST names the client's own address and port.
    let mut client = connect_from("127.0.0.5", resp);
    let me = client.local_addr().unwrap();
    let list = exchange(&mut client, b"CLIENT LIST\r\n", |r| r.ends_with(b"\n\r\n"));
    let list = String::from_utf8_lossy(&list);
    assert!(list.contains(&format!("addr={me} ")), "{me} in {list}");
    let pong = exchange(&mut client, b"PING\r\n", |r| r.ends_with(b"\r\n"));
    assert_eq!(pong, b"+PONG\r\n");

    // TLS passed through: the header comes before the ClientHello.
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(pki.ca())
        .args(["-h", "127.0.0.1", "-p", &resps.to_string(), "PING"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");

    // MQTT behind a v1 header.
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mqtt.to_string(),
            "-q",
            "1",
            "-t",
            "proxied",
            "-m",
            "hi",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Skipping the balancer: no header from a trusted address, then an address not trusted
    // at all, then a forged header: each is closed without an answer.
    let closed = |mut s: TcpStream, request: &[u8]| exchange(&mut s, request, |_| false).is_empty();
    assert!(closed(connect_from("127.0.0.1", server.resp_port), b"PING\r\n"));
    assert!(closed(connect_from("127.0.0.9", server.resp_port), b"PING\r\n"));
    assert!(closed(
        connect_from("127.0.0.1", server.resp_port),
        b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\nPING\r\n"
    ));
    // A v1 header where the listener takes v2 only.
    assert!(closed(
        connect_from("127.0.0.1", server.resp_port),
        b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nPING\r\n"
    ));
    // And the balancer's clients are still served.
    let mut again = connect_from("127.0.0.6", resp);
    assert_eq!(
        exchange(&mut again, b"PING\r\n", |r| r.ends_with(b"\r\n")),
        b"+PONG\r\n"
    );
}
