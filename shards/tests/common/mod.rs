//! Starts the real `shardhub` binary on ephemeral ports for integration tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub resp_port: u16,
    pub http_port: u16,
    pub mqtt_port: u16,
    /// Every line the server logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
    pub data_dir: tempfile::TempDir,
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shardhub"))
}

impl Server {
    /// Starts `shardhub serve` with `--shards N` on port 0 and waits until it listens.
    pub fn start(shards: usize) -> Server {
        Server::start_with(shards, None, &[])
    }

    pub fn start_with(shards: usize, config: Option<&Path>, extra: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .args(["--shards", &shards.to_string()])
            .args([
                "--resp",
                "127.0.0.1:0",
                "--mqtt",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.spawn().expect("start shardhub");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("shardhub did not start; log:\n{}", log.lock().unwrap().join("\n")));
        Server {
            child,
            resp_port: port_after(&line, "resp"),
            http_port: port_after(&line, "http"),
            mqtt_port: port_after(&line, "mqtt"),
            log,
            data_dir,
        }
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.resp_port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.resp_port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no log line with {needle:?}; log:\n{}",
            self.log.lock().unwrap().join("\n")
        );
    }

    /// A plain HTTP/1.1 GET; returns the status and the body.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let response = ureq::get(&format!("http://127.0.0.1:{}{}", self.http_port, path)).call();
        match response {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of `name` in the "listening" line, human (`resp=ADDR`) or JSON (`"resp":"ADDR"`).
fn port_after(line: &str, name: &str) -> u16 {
    let (start, key) = [format!("{name}="), format!("\"{name}\":\"")]
        .into_iter()
        .find_map(|key| line.find(&key).map(|at| (at, key)))
        .unwrap_or_else(|| panic!("{name} in {line}"));
    let rest = &line[start + key.len()..];
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A raw TCP connection that writes bytes and reads whole RESP replies: for asserting the
/// exact bytes on the wire.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as a RESP array.
    pub fn command(&mut self, args: &[&str]) {
        let mut out = bytes::BytesMut::new();
        shardhub_net::resp::encode_request(args, &mut out);
        self.send(&out);
    }

    /// Reads one complete reply and returns its bytes; `None` if the server closed first.
    pub fn reply(&mut self) -> Option<Vec<u8>> {
        loop {
            let framed = shardhub_net::resp::reply_len(&self.buf).unwrap_or_else(|e| {
                panic!(
                    "invalid RESP from server ({e:?}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            });
            if let Some(len) = framed {
                return Some(self.buf.drain(..len).collect());
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn call(&mut self, args: &[&str]) -> String {
        self.command(args);
        String::from_utf8_lossy(&self.reply().expect("a reply")).into_owned()
    }

    /// True when the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Finds a key whose slot lives on `shard` given `shards` (even split of 16384 slots).
pub fn key_on_shard(prefix: &str, shard: usize, shards: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| {
            let slot = usize::from(shardhub_core::key_hash_slot(k.as_bytes()));
            slot * shards / 16384 == shard
        })
        .unwrap()
}
