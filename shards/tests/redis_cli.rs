//! redis-cli and redis-benchmark, the tools operators reach for first, against shardhub.
//! Needs redis-tools (scripts/test.sh installs it).

mod common;

use std::process::Command;

use common::Server;

fn cli(server: &Server, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &server.resp_port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_speaks_to_shardhub() {
    let server = Server::start(2);
    assert_eq!(cli(&server, &["PING"]), "PONG\n");
    assert_eq!(cli(&server, &["SET", "user:{42}:name", "ada"]), "OK\n");
    assert_eq!(cli(&server, &["GET", "user:{42}:name"]), "ada\n");
    assert_eq!(cli(&server, &["--no-raw", "INCRBY", "visits", "5"]), "(integer) 5\n");
    assert_eq!(cli(&server, &["--no-raw", "GET", "missing"]), "(nil)\n");
    assert_eq!(
        cli(&server, &["--no-raw", "GET"]),
        "(error) ERR wrong number of arguments for 'get' command\n"
    );
    assert_eq!(cli(&server, &["-3", "--no-raw", "GET", "missing"]), "(nil)\n");
    let hello = cli(&server, &["-3", "--no-raw", "HELLO", "3"]);
    assert!(hello.contains("\"proto\" => (integer) 3"), "{hello}");
    assert!(cli(&server, &["INFO", "server"]).contains("shards:2"));
    assert_eq!(cli(&server, &["DBSIZE"]), "2\n");
    // Commands piped on stdin, as scripts use redis-cli.
    let mut child = Command::new("redis-cli")
        .args(["-p", &server.resp_port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SET a 1\nINCR a\nMGET a user:{42}:name\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n2\n2\nada\n");
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let server = Server::start(2);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &server.resp_port.to_string(),
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            "2000",
            "-c",
            "10",
            "-P",
            "4",
            "-q",
        ])
        .output()
        .expect("redis-benchmark must be installed (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"] {
        // redis-benchmark redraws progress with carriage returns; the final figure follows one.
        let done = stdout
            .split(['\r', '\n'])
            .map(str::trim)
            .any(|l| l.starts_with(test) && l.contains("requests per second"));
        assert!(done, "{test}: {stdout}");
    }
    let mut c = server.client();
    let calls: i64 = redis::cmd("GET").arg("counter:__rand_int__").query(&mut c).unwrap();
    assert_eq!(calls, 2000, "every INCR of redis-benchmark landed");
}
