//! Start-up checks of the process limits the configured connection counts need.
//!
//! Every connection is a file descriptor, so RLIMIT_NOFILE must cover
//! `shards x max_connections_per_shard` plus listeners and files. The soft limit is raised
//! to what is needed when the hard limit allows (as Redis does); otherwise we say what to
//! raise. io_uring rings are charged to RLIMIT_MEMLOCK only on kernels before 5.12; newer
//! kernels charge the memory cgroup, so there we only report it.

use crate::config::Config;

/// Descriptors beyond client connections: listeners, rings, eventfds, logs, the sidecar.
const FDS_RESERVED: u64 = 64;
/// io_uring locked memory per shard on pre-5.12 kernels, generously: rings plus buffers.
const RING_MEMLOCK_BYTES_PER_SHARD: u64 = 1024 * 1024;

pub fn check(config: &Config) {
    let shards = config.shard_count() as u64;
    let needed = shards * config.limits.connections_per_shard_max as u64 + shards * 3 + FDS_RESERVED;
    match get(libc::RLIMIT_NOFILE) {
        Some((soft, hard)) if soft < needed => {
            let target = needed.min(hard);
            if set(libc::RLIMIT_NOFILE, target, hard) {
                tracing::info!(from = soft, to = target, "raised the soft RLIMIT_NOFILE");
            }
            if hard < needed {
                tracing::warn!(
                    hard,
                    needed,
                    "RLIMIT_NOFILE hard limit is below what shards x limits.connections_per_shard_max needs: \
                     raise LimitNOFILE (systemd) or `ulimit -Hn`, or lower limits.connections_per_shard_max"
                );
            }
        }
        Some((soft, _)) => tracing::debug!(soft, needed, "RLIMIT_NOFILE is sufficient"),
        None => tracing::warn!("cannot read RLIMIT_NOFILE"),
    }
    let memlock_needed = shards * RING_MEMLOCK_BYTES_PER_SHARD;
    if let Some((soft, _)) = get(libc::RLIMIT_MEMLOCK) {
        if soft != libc::RLIM_INFINITY && soft < memlock_needed {
            if kernel_charges_memcg() {
                tracing::info!(
                    soft,
                    "RLIMIT_MEMLOCK is low, but this kernel charges io_uring to the memory cgroup"
                );
            } else {
                tracing::warn!(
                    soft,
                    needed = memlock_needed,
                    "RLIMIT_MEMLOCK may be too low for io_uring on this kernel: set LimitMEMLOCK=infinity"
                );
            }
        }
    }
}

fn get(resource: libc::__rlimit_resource_t) -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    (unsafe { libc::getrlimit(resource, &mut limit) } == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

fn set(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    unsafe { libc::setrlimit(resource, &limit) == 0 }
}

/// Kernels from 5.12 on account io_uring memory to the memory cgroup, not RLIMIT_MEMLOCK.
fn kernel_charges_memcg() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 12)
}
