//! The server's life: starting, serving, draining. Read by `/readyz` and by every shard.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Serving = 1,
    Draining = 2,
}

/// The phase as one atomic: written rarely, read on every `/readyz` and housekeeping tick.
#[derive(Default)]
pub struct Lifecycle {
    phase: AtomicU8,
}

impl Lifecycle {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Draining,
        }
    }

    pub fn set_serving(&self) {
        // Never back from draining.
        let _ = self.phase.compare_exchange(
            Phase::Starting as u8,
            Phase::Serving as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Returns true for the caller that started the drain.
    pub fn start_draining(&self) -> bool {
        self.phase.swap(Phase::Draining as u8, Ordering::AcqRel) != Phase::Draining as u8
    }

    pub fn is_draining(&self) -> bool {
        self.phase() == Phase::Draining
    }

    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Serving
    }
}
