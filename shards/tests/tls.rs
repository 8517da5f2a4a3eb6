//! TLS listeners through real clients: `redis-cli --tls` on `listen.resps`, curl on
//! `listen.https`, `openssl s_client` for versions, a held-open session and garbage. The
//! certificates come from throwaway CAs made with the openssl CLI (common/pki.rs).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{write_config, Server};

fn config(dir: &Path, cert: &Path, key: &Path, min_version: &str) -> std::path::PathBuf {
    let path = dir.join("shardhub.toml");
    let tls = format!(
        "cert_file = {:?}\nkey_file = {:?}\nmin_version = \"{min_version}\"\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    write_config(
        &path,
        &format!("[listen]\nresps = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\n[tls.resps]\n{tls}[tls.https]\n{tls}"),
    );
    path
}

/// `redis-cli --tls` against the RESP-over-TLS port, trusting `ca`: its output, or why not.
fn redis_tls(server: &Server, ca: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-h", "127.0.0.1", "-p", &server.port("resps").to_string()])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    );
    // redis-cli exits 0 even when it could not connect; its complaint is on stdout or stderr.
    if !out.status.success() || stdout.contains("Could not connect") || !stderr.is_empty() {
        return Err(format!("{stdout} {stderr}"));
    }
    Ok(stdout)
}

/// Whether `openssl s_client` completes a handshake with `flags` (such as `-tls1_2`).
fn handshakes(port: u16, ca: &Path, flags: &[&str]) -> bool {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(ca)
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verify return code: 0 (ok)")
}

#[test]
fn resp_and_http_speak_tls_beside_their_plain_listeners() {
    let pki = Pki::new("shardhub test CA");
    let (cert, key) = pki.server("server");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(2, Some(&config(dir.path(), &cert, &key, "1.2")), &[]);

    assert_eq!(
        redis_tls(&server, &pki.ca(), &["SET", "greeting", "hello"]).unwrap(),
        "OK"
    );
    // The same keyspace behind both listeners.
    let mut plain = server.client();
    let got: String = redis::cmd("GET").arg("greeting").query(&mut plain).unwrap();
    assert_eq!(got, "hello");
    assert_eq!(redis_tls(&server, &pki.ca(), &["GET", "greeting"]).unwrap(), "hello");
    // A large value crosses several TLS records each way.
    let big = "x".repeat(100_000);
    assert_eq!(redis_tls(&server, &pki.ca(), &["SET", "big", &big]).unwrap(), "OK");
    assert_eq!(redis_tls(&server, &pki.ca(), &["GET", "big"]).unwrap(), big);

    let out = Command::new("curl")
        .args(["-sv", "--cacert"])
        .arg(pki.ca())
        .arg(format!("https://127.0.0.1:{}/healthz", server.port("https")))
        .output()
        .unwrap();
    let (body, trace) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{trace}");
    assert_eq!(body, "{\"status\":\"alive\"}");
    assert!(trace.contains("ALPN: server accepted http/1.1"), "{trace}");

    for flags in [["-tls1_2"], ["-tls1_3"]] {
        assert!(handshakes(server.port("resps"), &pki.ca(), &flags), "{flags:?}");
    }

    // Plain bytes where a ClientHello belongs: that connection gets an alert and closes;
    // nothing else notices.
    let mut garbage = TcpStream::connect(("127.0.0.1", server.port("resps"))).unwrap();
    garbage.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    garbage.write_all(b"PING\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer[0] == 0x15,
        "an alert record or nothing: {answer:?}"
    );
    assert_eq!(redis_tls(&server, &pki.ca(), &["PING"]).unwrap(), "PONG");
    let pong: String = redis::cmd("PING").query(&mut plain).unwrap();
    assert_eq!(pong, "PONG");
}

/// A TLS session held open with `openssl s_client`, speaking RESP.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn open(port: u16, ca: &Path) -> Session {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-verify_return_error",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-CAfile",
            ])
            .arg(ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        }
    }

    fn ping(&mut self) -> String {
        self.stdin.write_all(b"PING\r\n").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn certificates_reload_without_dropping_connections_and_a_bad_one_is_refused() {
    let (old_ca, new_ca) = (Pki::new("old CA"), Pki::new("new CA"));
    let (old_cert, old_key) = old_ca.server("server");
    let (new_cert, new_key) = new_ca.server("server");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    replace(&old_cert, &cert);
    replace(&old_key, &key);
    let path = config(dir.path(), &cert, &key, "1.2");
    let server = Server::start_with(1, Some(&path), &[]);
    let mut held = Session::open(server.port("resps"), &old_ca.ca());
    assert_eq!(held.ping(), "+PONG");

    // New files on disk: the watcher loads them, no signal needed.
    replace(&new_key, &key);
    replace(&new_cert, &cert);
    eventually("the new certificate serves new handshakes", || {
        redis_tls(&server, &new_ca.ca(), &["PING"]).is_ok_and(|o| o == "PONG")
    });
    assert!(
        redis_tls(&server, &old_ca.ca(), &["PING"]).is_err(),
        "the old CA no longer verifies"
    );
    assert_eq!(held.ping(), "+PONG", "an established session keeps going");

    // A broken certificate is refused; the one loaded keeps serving.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("tls reload refused", Duration::from_secs(10));
    assert_eq!(redis_tls(&server, &new_ca.ca(), &["PING"]).unwrap(), "PONG");

    // The minimum version reloads too: TLS 1.2 is then refused.
    replace(&new_cert, &cert);
    config(dir.path(), &cert, &key, "1.3");
    server.signal(libc::SIGHUP);
    eventually("min_version 1.3 refuses TLS 1.2", || {
        !handshakes(server.port("resps"), &new_ca.ca(), &["-tls1_2"])
    });
    assert!(handshakes(server.port("resps"), &new_ca.ca(), &["-tls1_3"]));
    assert!(handshakes(server.port("https"), &new_ca.ca(), &["-tls1_3"]));
    assert_eq!(held.ping(), "+PONG");
}

/// `mosquitto_sub` over TLS until it has `count` messages: its `-v` lines, or why not.
fn subscribe_tls(port: u16, ca: &Path, filter: &str, count: usize) -> Child {
    // Line-buffered: its SUBACK line must reach us before it exits.
    Command::new("stdbuf")
        .args([
            "-oL",
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--cafile",
        ])
        .arg(ca)
        .args([
            "-t",
            filter,
            "-q",
            "1",
            "-v",
            "-d",
            "-C",
            &count.to_string(),
            "-W",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn publish(port: u16, ca: Option<&Path>, topic: &str, message: &str) {
    let mut c = Command::new("mosquitto_pub");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-q",
        "1",
        "-t",
        topic,
        "-m",
        message,
    ]);
    if let Some(ca) = ca {
        c.arg("--cafile").arg(ca);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn mqtt_speaks_tls_beside_plain_mqtt() {
    let pki = Pki::new("mqtt test CA");
    let (cert, key) = pki.server("server");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shardhub.toml");
    let tls = format!(
        "cert_file = {:?}\nkey_file = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    write_config(&path, &format!("[listen]\nmqtts = \"127.0.0.1:0\"\n[tls.mqtts]\n{tls}"));
    // One shard: with two, a publish right after another shard's SUBACK can still miss the
    // subscription (issue 16's "subscribe, then publish" item, not yet fixed).
    let server = Server::start_with(1, Some(&path), &[]);
    let port = server.port("mqtts");

    let mut sub = subscribe_tls(port, &pki.ca(), "tls/#", 3);
    let mut stdout = BufReader::new(sub.stdout.take().unwrap());
    // `-d` prints the SUBACK before any message: wait for it.
    let mut line = String::new();
    while !line.contains("SUBACK") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "mosquitto_sub ended before its SUBACK"
        );
    }
    publish(port, Some(&pki.ca()), "tls/small", "hello over tls");
    // Over several TLS records each way, and from the plain listener to a TLS subscriber.
    let big = "m".repeat(60_000);
    publish(port, Some(&pki.ca()), "tls/big", &big);
    publish(server.mqtt_port, None, "tls/plain", "from plain mqtt");
    let mut got = Vec::new();
    for l in stdout.lines() {
        let l = l.unwrap();
        if l.starts_with("tls/") {
            got.push(l);
        }
    }
    // Compared by topic and length, then content: a failure does not print 60 KB.
    let shape = |lines: &[String]| -> Vec<(String, usize)> {
        lines
            .iter()
            .map(|l| (l.split(' ').next().unwrap().to_string(), l.len()))
            .collect()
    };
    let want = [
        "tls/small hello over tls".to_string(),
        format!("tls/big {big}"),
        "tls/plain from plain mqtt".to_string(),
    ];
    assert_eq!(shape(&got), shape(&want));
    assert!(got == want, "every message arrives whole");
    assert!(sub.wait().unwrap().success(), "mosquitto_sub got its three messages");

    // ALPN: `mqtt` is agreed when offered; a client offering only another protocol is refused.
    let alpn = |protocols: &str| {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-alpn",
                protocols,
                "-CAfile",
            ])
            .arg(pki.ca())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(alpn("mqtt").contains("ALPN protocol: mqtt"));
    let refused = alpn("h2");
    assert!(
        refused.contains("alert no application protocol") && !refused.contains("ALPN protocol:"),
        "no shared protocol, no session: {refused}"
    );
}
