//! A server's resident memory, from `VmRSS` in `/proc/PID/status`, to report what each idle
//! connection costs it.
//!
//! VmRSS counts the pages the process has resident (anonymous, file-backed and shared
//! memory). It does not count the kernel's own socket memory (socket buffers, TCP control
//! blocks), which is the same for every server and is what DESIGN.md says an idle connection
//! should cost: "kernel sockets, not megabytes of user-space buffers each".

use std::fs;

use crate::common::error::BenchError;

/// `pid`'s VmRSS in KiB.
pub fn read_rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path)
        .map_err(|e| BenchError::Usage(format!("--server-pid {pid}: cannot read {path}: {e}")))?;
    parse_vm_rss_kib(&text).ok_or_else(|| BenchError::Usage(format!("--server-pid {pid}: no VmRSS line in {path}")))
}

/// The value of the `VmRSS:` line (`VmRSS:     12345 kB`), in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_ascii_whitespace();
    let value = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(value)
}

/// KiB per connection between two readings; negative if the server gave memory back.
pub fn kib_per_connection(before_kib: u64, after_kib: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| (after_kib as f64 - before_kib as f64) / connections as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tmosquitto\nVmPeak:\t   20000 kB\nVmRSS:\t    8664 kB\nRssAnon:\t  1000 kB\n";
        assert_eq!(parse_vm_rss_kib(status), Some(8664));
    }

    #[test]
    fn missing_or_odd_vm_rss_is_none() {
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\n"), None);
    }

    #[test]
    fn reads_our_own_rss() {
        assert!(read_rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn per_connection_arithmetic() {
        assert_eq!(kib_per_connection(1000, 3000, 1000), Some(2.0));
        assert_eq!(kib_per_connection(3000, 2000, 1000), Some(-1.0));
        assert_eq!(kib_per_connection(1000, 3000, 0), None);
    }
}
