//! Configuration errors, check-config, live reload, and graceful shutdown, through the real
//! binary.

mod common;

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{binary, RawConn, Server};

fn write_config(path: &std::path::Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn bad_config_files_exit_nonzero_naming_key_value_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (text, needles) in [
        (
            "[server]\nshards = \"many\"\n",
            &["server.shards", "many", "expected"][..],
        ),
        (
            "[listen]\nresp = \"nowhere\"\n",
            &["listen.resp", "nowhere", "expected"],
        ),
        (
            "[limits]\nmax_args = 0\n",
            &["limits.max_args", "0", "expected a positive number"],
        ),
        ("[server]\nshardz = 2\n", &["shardz", "expected"]),
        ("[server\n", &["(file)"]),
    ] {
        write_config(&path, text);
        for args in [
            vec!["check-config", path.to_str().unwrap()],
            vec!["serve", "--config", path.to_str().unwrap()],
        ] {
            let out = Command::new(binary()).args(&args).output().unwrap();
            assert!(!out.status.success(), "{args:?} with {text:?} must fail");
            let stderr = String::from_utf8_lossy(&out.stderr);
            for needle in needles {
                assert!(stderr.contains(needle), "{args:?} {text:?}: {needle:?} not in {stderr}");
            }
        }
    }
}

#[test]
fn check_config_prints_effective_settings_and_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../shardhub.example.toml");
    let out = Command::new(binary()).args(["check-config", example]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("resp = \"127.0.0.1:6380\"") && stdout.contains("max_keys_per_shard = 10000000"),
        "{stdout}"
    );
    let version = Command::new(binary()).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("shardhub "));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let server = Server::start_with(1, None, &["--log-format", "json"]);
    let line = server.wait_log("listening", Duration::from_secs(5));
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["level"], "INFO");
    assert!(json["fields"]["resp"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn sighup_and_file_changes_reload_hot_keys_and_report_restart_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shardhub.toml");
    write_config(
        &path,
        "[limits]\nmax_bulk_bytes = 1000\n[lifecycle]\nconfig_poll_ms = 0\n",
    );
    let server = Server::start_with(2, Some(&path), &[]);
    let mut c = server.raw();
    let value = "v".repeat(500);
    assert_eq!(c.call(&["SET", "k", &value]), "+OK\r\n");

    write_config(
        &path,
        "[limits]\nmax_bulk_bytes = 100\n[server]\nuring_entries = 512\n[lifecycle]\nconfig_poll_ms = 0\n",
    );
    server.signal(libc::SIGHUP);
    server.wait_log("key=limits.max_bulk_bytes", Duration::from_secs(5));
    let restart = server.wait_log("takes effect after a restart", Duration::from_secs(5));
    assert!(restart.contains("server.uring_entries"), "{restart}");
    // Shards pick the change up on their next housekeeping tick.
    std::thread::sleep(Duration::from_millis(300));
    let mut c = server.raw();
    assert_eq!(
        c.call(&["SET", "k", &value]),
        "-ERR Protocol error: invalid bulk length\r\n"
    );

    // Without a signal, a changed file is noticed by the poll.
    write_config(
        &path,
        "[limits]\nmax_bulk_bytes = 1000\n[lifecycle]\nconfig_poll_ms = 100\n",
    );
    server.signal(libc::SIGHUP);
    server.wait_log("key=lifecycle.config_poll_ms", Duration::from_secs(5));
    write_config(
        &path,
        "[limits]\nmax_bulk_bytes = 1000\nmax_args = 7\n[lifecycle]\nconfig_poll_ms = 100\n",
    );
    server.wait_log("key=limits.max_args", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", "k", &value]), "+OK\r\n");

    // A broken file is refused and the running config stays.
    write_config(&path, "[limits]\nmax_args = \"x\"\n");
    server.signal(libc::SIGHUP);
    server.wait_log("config reload failed", Duration::from_secs(5));
    assert_eq!(server.raw().call(&["PING"]), "+PONG\r\n");
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shardhub.toml");
    // A long quiet period keeps the drain open while we look at /readyz and the listener.
    write_config(&path, "[lifecycle]\ndrain_quiet_ms = 1500\ndrain_timeout_ms = 5000\n");
    let mut server = Server::start_with(2, Some(&path), &[]);
    let port = server.resp_port;
    let stop = Arc::new(AtomicBool::new(false));
    // Each client records (sent_at, answered) for every request it writes.
    let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                let mut conn = RawConn::connect(port);
                let key = format!("counter{i}");
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        conn.command(&["INCR", &key]);
                        conn.reply()
                    }));
                    let answered = matches!(ok, Ok(Some(ref r)) if r.starts_with(b":"));
                    log.lock().unwrap().push((sent, answered));
                    if !answered {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let sigterm_at = Instant::now();
    server.signal(libc::SIGTERM);
    server.wait_log("draining", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.http_get("/readyz").0, 503, "readyz reports draining");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "listeners are closed"
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    let log = log.lock().unwrap();
    let before: Vec<_> = log.iter().filter(|(sent, _)| *sent < sigterm_at).collect();
    assert!(before.len() > 100, "the clients were busy: {}", before.len());
    assert!(
        before.iter().all(|(_, answered)| *answered),
        "every request sent before SIGTERM got its reply"
    );
}

/// SO_REUSEPORT must not let a second server (another data directory) join a port that a
/// running one listens on, and a second server on the same data directory is refused too.
#[test]
fn a_second_server_on_the_same_port_or_data_dir_is_refused() {
    let first = Server::start(1);
    let other_dir = tempfile::tempdir().unwrap();
    let same_port = Command::new(binary())
        .args([
            "serve",
            "--shards",
            "1",
            "--mqtt",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--resp", &format!("127.0.0.1:{}", first.resp_port)])
        .arg("--data-dir")
        .arg(other_dir.path())
        .output()
        .unwrap();
    assert!(!same_port.status.success());
    let stderr = String::from_utf8_lossy(&same_port.stderr);
    assert!(stderr.contains("Address already in use"), "{stderr}");

    let same_dir = common::serve_command(1, first.data_dir.path()).output().unwrap();
    assert!(!same_dir.status.success());
    let stderr = String::from_utf8_lossy(&same_dir.stderr);
    assert!(stderr.contains("locked by another shardhub process"), "{stderr}");
}

/// A restart on the same ports right after kill -9 (systemd's `Restart=`) starts, even while
/// the killed process's sockets are still being torn down.
#[test]
fn a_restart_right_after_kill_9_binds_its_ports() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (resp, mqtt, http) = (free(), free(), free());
    let data_dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let mut child = Command::new(binary())
            .args(["serve", "--shards", "2"])
            .args(["--resp", &format!("127.0.0.1:{resp}")])
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut clients = Vec::new();
        while clients.len() < 20 {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
                panic!("round {round}: exited {status} at start:\n{stderr}");
            }
            assert!(Instant::now() < deadline, "round {round}: did not listen");
            // Open connections when killed leave their sockets to the kernel to tear down.
            match std::net::TcpStream::connect(("127.0.0.1", resp)) {
                Ok(c) => clients.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for c in &mut clients {
            let _ = c.write_all(b"PING\r\n");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
