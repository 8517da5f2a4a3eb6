//! A private PostgreSQL 15 cluster for the sink tests: initdb and pg_ctl from Debian's
//! postgresql package (scripts/test.sh installs it) on a temporary directory and port, run as
//! the `postgres` user when the tests run as root (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn bin(tool: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed (scripts/test.sh installs it)")
        .flatten()
        .map(|e| e.path())
        .collect();
    versions.sort();
    versions.last().expect("a PostgreSQL version").join("bin").join(tool)
}

/// A PostgreSQL tool's command, as `postgres` when we are root.
fn command(tool: &str) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(tool));
        c
    } else {
        Command::new(bin(tool))
    }
}

fn run(tool: &str, args: &[&str]) {
    let out = command(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("PostgreSQL tool runs");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = super::free_port();
        let pg = Postgres { dir, port };
        pg.ctl_start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        run(
            "pg_ctl",
            &[
                "-D",
                path(&self.data()),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "start",
            ],
        );
    }

    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }

    /// Stops the server at once (as a crash would) and starts it again on the same data.
    pub fn restart(&self) {
        run("pg_ctl", &["-D", path(&self.data()), "-m", "immediate", "-w", "stop"]);
        self.ctl_start();
    }

    pub fn stop(&self) {
        run("pg_ctl", &["-D", path(&self.data()), "-m", "immediate", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        self.ctl_start();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = command("pg_ctl")
            .args(["-D", path(&self.data()), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
