//! Building a shard's monoio runtime.
//!
//! io_uring with COOP_TASKRUN and SINGLE_ISSUER: without COOP_TASKRUN, completions interrupt
//! the thread with task-work IPIs and io_uring cost 2.3x the CPU per request of epoll on our
//! kernel. SINGLE_ISSUER holds because only the shard's own thread submits. If the kernel
//! refuses those flags, or io_uring itself, we fall back (plain io_uring, then epoll) and say
//! so, rather than refuse to start.

use monoio::time::TimeDriver;
use monoio::{FusionDriver, FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

pub type ShardRuntime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Which I/O driver a shard got, for the log and INFO.
pub fn driver_name(rt: &ShardRuntime, flags: bool) -> &'static str {
    match (rt, flags) {
        (FusionRuntime::Uring(_), true) => "io_uring(coop_taskrun,single_issuer)",
        (FusionRuntime::Uring(_), false) => "io_uring",
        (FusionRuntime::Legacy(_), _) => "epoll",
    }
}

/// Builds the runtime on the calling thread (the ring must be created by its only issuer).
pub fn build(entries: u32) -> std::io::Result<(ShardRuntime, &'static str)> {
    let mut flagged = io_uring::IoUring::builder();
    flagged.setup_coop_taskrun().setup_single_issuer();
    let attempt = RuntimeBuilder::<FusionDriver>::new()
        .with_entries(entries)
        .uring_builder(flagged)
        .enable_timer()
        .build();
    match attempt {
        Ok(rt) => {
            let name = driver_name(&rt, true);
            Ok((rt, name))
        }
        Err(e) => {
            tracing::warn!(error = %e, "io_uring refused COOP_TASKRUN/SINGLE_ISSUER; retrying without them");
            let rt = RuntimeBuilder::<FusionDriver>::new()
                .with_entries(entries)
                .enable_timer()
                .build()?;
            let name = driver_name(&rt, false);
            Ok((rt, name))
        }
    }
}
