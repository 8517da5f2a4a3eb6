//! The client's open-file limit. Every connection is a descriptor, so thousands of
//! connections need RLIMIT_NOFILE's soft limit raised to the hard limit, which any process
//! may do for itself (as the server does for itself, shards/src/rlimits.rs).
//!
//! Above the hard limit there is nothing to do from inside the process: the client and the
//! server each count their own descriptors against their own limits, so on a host whose
//! hard limit is 20,000 one client process holds at most about 19,900 connections. Larger
//! counts need `ulimit -Hn` raised (as root) or more client processes or hosts.

use std::io;

/// Descriptors the client needs besides its connections: stdio, the runtime, /proc reads.
pub const FDS_RESERVED: u64 = 64;

/// Raises the soft limit to the hard limit and returns `(soft, hard)` afterwards.
pub fn raise_to_hard_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// The warning to print when `connections` will not fit under `soft`, if they will not.
pub fn shortfall_warning(connections: u64, soft: u64, hard: u64) -> Option<String> {
    let needed = connections + FDS_RESERVED;
    (needed > soft).then(|| {
        format!(
            "warning: {connections} connections need about {needed} open files, but this process may hold {soft} \
             (hard limit {hard}); the rest will fail with 'Too many open files'. Raise `ulimit -Hn` or spread \
             the connections over more client processes or hosts"
        )
    })
}

/// Raises this process's open-file limit as far as it goes, and warns on stderr if
/// `connections` still will not fit. Returns the soft limit now in force.
pub fn raise_open_files(connections: u64) -> Option<u64> {
    match raise_to_hard_limit() {
        Ok((soft, hard)) => {
            if let Some(warning) = shortfall_warning(connections, soft, hard) {
                eprintln!("{warning}");
            }
            Some(soft)
        }
        Err(e) => {
            eprintln!("warning: cannot raise RLIMIT_NOFILE: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_soft_at_hard() {
        let (soft, hard) = raise_to_hard_limit().unwrap();
        assert_eq!(soft, hard);
    }

    #[test]
    fn warns_only_when_short() {
        assert_eq!(shortfall_warning(15_000, 20_000, 20_000), None);
        let warning = shortfall_warning(19_990, 20_000, 20_000).unwrap();
        assert!(warning.contains("20054"), "{warning}");
        assert!(warning.contains("hard limit 20000"), "{warning}");
    }
}
