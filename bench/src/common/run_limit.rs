//! When a run ends: after a number of requests, or when told to stop (by the duration timer
//! or because another connection failed). Shared by every connection on every thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub struct RunLimit {
    /// Requests not yet handed out; `u64::MAX` for a run bounded by time only.
    requests_left: AtomicU64,
    initial: u64,
    stopped: AtomicBool,
}

impl RunLimit {
    pub fn requests(total: u64) -> Self {
        Self {
            requests_left: AtomicU64::new(total),
            initial: total,
            stopped: AtomicBool::new(false),
        }
    }

    pub fn until_stopped() -> Self {
        Self::requests(u64::MAX)
    }

    /// Hands out up to `batch` requests to a connection; 0 means the run is over. One atomic
    /// operation per batch, not per request, so threads barely contend on it. Requests are
    /// handed out before they are sent, so a run with `--requests R` sends exactly R.
    pub fn claim(&self, batch: usize) -> usize {
        if self.stopped.load(Ordering::Relaxed) {
            return 0;
        }
        let batch = batch as u64;
        match self
            .requests_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left > 0).then(|| left - left.min(batch))
            }) {
            Ok(left) => left.min(batch) as usize,
            Err(_) => 0,
        }
    }

    /// Requests handed out so far: the run's progress, watched for stalls.
    pub fn claimed(&self) -> u64 {
        self.initial - self.requests_left.load(Ordering::Relaxed)
    }

    /// Ends the run: connections finish the batch they have in flight and claim no more.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_exactly_the_total() {
        let limit = RunLimit::requests(10);
        assert_eq!(limit.claim(4), 4);
        assert_eq!(limit.claim(4), 4);
        assert_eq!(limit.claim(4), 2);
        assert_eq!(limit.claim(4), 0);
        assert_eq!(limit.claimed(), 10);
    }

    #[test]
    fn stop_ends_an_open_run() {
        let limit = RunLimit::until_stopped();
        assert_eq!(limit.claim(16), 16);
        limit.stop();
        assert_eq!(limit.claim(16), 0);
    }
}
