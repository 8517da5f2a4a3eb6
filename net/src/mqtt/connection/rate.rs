//! A client's PUBLISH rate: a token bucket that refills at the configured rate and holds at
//! most one second's worth.

use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct PublishRate {
    tokens: f64,
    counted: Instant,
}

impl PublishRate {
    /// A full bucket: a new client may send a second's worth at once.
    pub fn new(per_sec: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(per_sec),
            counted: now,
        }
    }

    /// Takes a token for one PUBLISH; false when the client is over `per_sec` (which may have
    /// changed since the last call: a reload).
    pub fn take(&mut self, per_sec: u32, now: Instant) -> bool {
        let rate = f64::from(per_sec);
        let elapsed = now.saturating_duration_since(self.counted).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.counted = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_of_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut rate = PublishRate::new(10, t0);
        assert_eq!((0..12).filter(|_| rate.take(10, t0)).count(), 10);
        assert!(!rate.take(10, t0));
        assert!(
            rate.take(10, t0 + Duration::from_millis(100)),
            "a tenth of a second refills one"
        );
        assert!(!rate.take(10, t0 + Duration::from_millis(100)));
        // Idle for a minute: still only a second's worth.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| rate.take(10, later)).count(), 10);
    }
}
