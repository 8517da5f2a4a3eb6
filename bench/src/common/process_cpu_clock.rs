//! CPU time of a process, read from /proc, to report server CPU microseconds per request.
//!
//! Why schedstat: the first field of `/proc/PID/task/TID/schedstat` is the scheduler's
//! `sum_exec_runtime` for that thread, in nanoseconds, as accounted by the scheduler on every
//! context switch. `utime + stime` in `/proc/PID/stat` are sampled in clock ticks (10 ms at
//! USER_HZ 100), so over a 2-second run they carry an error of a few percent, enough to blur
//! the per-request differences between runtimes this harness exists to show. Schedstat is
//! per thread, so the threads are summed; threads that exit during the interval take their
//! time with them (the server's shard threads live for the whole run, so this does not
//! matter there). `/proc/PID/stat` is the fallback for kernels built without
//! CONFIG_SCHED_INFO, where schedstat is missing or reads all zeros.

use std::fs;

use crate::common::error::BenchError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuSource {
    /// Sum over `/proc/PID/task/*/schedstat`, nanoseconds.
    Schedstat,
    /// `utime + stime` of `/proc/PID/stat`, clock ticks.
    Stat,
}

impl CpuSource {
    pub fn name(self) -> &'static str {
        match self {
            CpuSource::Schedstat => "schedstat",
            CpuSource::Stat => "stat",
        }
    }
}

/// Reads one process's CPU time, always by the same method, so that the two readings around
/// a measured interval are comparable.
#[derive(Clone, Debug)]
pub struct ProcessCpuClock {
    pid: u32,
    source: CpuSource,
    ns_per_tick: u64,
}

impl ProcessCpuClock {
    /// Picks schedstat if it works for `pid`, else `/proc/PID/stat`.
    pub fn open(pid: u32) -> Result<Self, BenchError> {
        let ticks_per_s = clock_ticks_per_s();
        let stat_ticks = read_stat_ticks(pid)?;
        let source = match read_schedstat_ns(pid) {
            // All zeros while the process has run at all means sched_info is compiled out.
            Ok(0) if stat_ticks > 0 => CpuSource::Stat,
            Ok(_) => CpuSource::Schedstat,
            Err(_) => CpuSource::Stat,
        };
        Ok(Self {
            pid,
            source,
            ns_per_tick: 1_000_000_000 / ticks_per_s,
        })
    }

    pub fn source(&self) -> CpuSource {
        self.source
    }

    /// Total CPU time (user + system) of all the process's threads so far, in nanoseconds.
    pub fn read_ns(&self) -> Result<u64, BenchError> {
        match self.source {
            CpuSource::Schedstat => read_schedstat_ns(self.pid),
            CpuSource::Stat => Ok(read_stat_ticks(self.pid)? * self.ns_per_tick),
        }
    }
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // Linux has used USER_HZ 100 on every architecture for decades; trust it if sysconf fails.
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

fn read_schedstat_ns(pid: u32) -> Result<u64, BenchError> {
    let error = |message: String| BenchError::ProcessCpu { pid, message };
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| error(format!("/proc/{pid}/task: {e}")))?;
    let mut total_ns = 0;
    for task in tasks {
        let task = task.map_err(|e| error(format!("/proc/{pid}/task: {e}")))?;
        let path = task.path().join("schedstat");
        match fs::read_to_string(&path) {
            Ok(text) => {
                total_ns += parse_schedstat_ns(&text)
                    .ok_or_else(|| error(format!("{}: cannot parse {text:?}", path.display())))?;
            }
            // The thread exited between listing and reading: it is no longer running.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(format!("{}: {e}", path.display()))),
        }
    }
    Ok(total_ns)
}

fn read_stat_ticks(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| BenchError::ProcessCpu {
        pid,
        message: format!("{path}: {e}"),
    })?;
    parse_stat_ticks(&text).ok_or_else(|| BenchError::ProcessCpu {
        pid,
        message: format!("{path}: cannot parse {text:?}"),
    })
}

/// The first field of a schedstat line: nanoseconds spent on a CPU.
pub fn parse_schedstat_ns(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// `utime + stime` (fields 14 and 15 of proc(5)) of a `/proc/PID/stat` line, in clock ticks.
/// The command name (field 2) is in parentheses and may itself hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, index 11 here.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time of this process (all threads, including ones that have exited), microseconds.
/// getrusage rather than schedstat here because the harness's worker threads have exited by
/// the time the run is totalled, and schedstat forgets exited threads.
pub fn self_cpu_us() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedstat() {
        assert_eq!(parse_schedstat_ns("277276504 610825 102\n"), Some(277_276_504));
        assert_eq!(parse_schedstat_ns("0 0 0\n"), Some(0));
        assert_eq!(parse_schedstat_ns(""), None);
        assert_eq!(parse_schedstat_ns("x 1 2"), None);
    }

    #[test]
    fn parses_stat_utime_plus_stime() {
        let line = "5623 (cat) R 5618 5618 3943 0 -1 4194304 101 0 0 0 24 3 0 0 20 0 1 0 63930 \
                    3133440 384 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(parse_stat_ticks(line), Some(27));
    }

    #[test]
    fn stat_name_with_spaces_and_parens_does_not_shift_fields() {
        let line = "42 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 100 50 0 0 20 0 4 0 1 1 1\n";
        assert_eq!(parse_stat_ticks(line), Some(150));
    }

    #[test]
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat_ticks("1 (x) R 1 1"), None);
        assert_eq!(parse_stat_ticks("no parens"), None);
    }

    #[test]
    fn measures_a_busy_child_process() {
        // A child with one long-lived thread: the test harness's own threads come and go,
        // and schedstat forgets exited threads, so its sum is not monotonic.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let clock = ProcessCpuClock::open(child.id()).unwrap();
        let stat = ProcessCpuClock {
            source: CpuSource::Stat,
            ..clock.clone()
        };
        let before_ns = (clock.read_ns().unwrap(), stat.read_ns().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let after_ns = (clock.read_ns().unwrap(), stat.read_ns().unwrap());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(clock.source(), CpuSource::Schedstat);
        assert!(after_ns.0 > before_ns.0, "{before_ns:?} {after_ns:?}");
        assert!(after_ns.1 >= before_ns.1, "{before_ns:?} {after_ns:?}");
    }

    #[test]
    fn own_cpu_time_grows() {
        let before_us = self_cpu_us();
        std::hint::black_box((0..1_000_000u64).fold(0u64, |a, i| a.wrapping_add(i * i)));
        assert!(self_cpu_us() >= before_us);
    }
}
