//! When each connection of a `connect` ramp starts: the first at once, then one every
//! `1 / rate` seconds, so N connections take `(N - 1) / rate` seconds to start.
//!
//! The ramp does not sleep once per connection (timers are millisecond-grained, and 15,000
//! sleeps would drift): it wakes, starts every connection that is due by then, and sleeps
//! until the next one is due. A ramp that falls behind (a busy client) catches up in one
//! burst rather than stretching the schedule.

use std::time::Duration;

use crate::common::error::BenchError;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RampSchedule {
    total: usize,
    rate_per_s: f64,
}

impl RampSchedule {
    pub fn new(total: usize, rate_per_s: f64) -> Result<Self, BenchError> {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0) {
            return Err(BenchError::Usage(format!(
                "--rate must be a positive number of connections per second, got {rate_per_s}"
            )));
        }
        Ok(Self { total, rate_per_s })
    }

    /// How many connections should have started `elapsed` after the ramp began.
    pub fn due(&self, elapsed: Duration) -> usize {
        if self.total == 0 {
            return 0;
        }
        // Half a nanosecond of slack: a connection is due at exactly its own (rounded up)
        // offset despite the float rounding of `elapsed * rate`.
        let started = ((elapsed.as_nanos() as f64 + 0.5) * self.rate_per_s / 1e9).floor();
        // `as` saturates, so an absurd elapsed time cannot wrap.
        (started as usize).saturating_add(1).min(self.total)
    }

    /// When connection `index` (0-based) is due, from the start of the ramp, rounded up to
    /// the nanosecond so that `due(start_offset(i)) > i`.
    pub fn start_offset(&self, index: usize) -> Duration {
        Duration::from_nanos((index as f64 * 1e9 / self.rate_per_s).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn first_connection_starts_at_once() {
        let ramp = RampSchedule::new(10, 1000.0).unwrap();
        assert_eq!(ramp.due(Duration::ZERO), 1);
        assert_eq!(ramp.start_offset(0), Duration::ZERO);
    }

    #[test]
    fn one_per_interval_then_capped_at_total() {
        let ramp = RampSchedule::new(10, 1000.0).unwrap();
        assert_eq!(ramp.due(Duration::from_micros(999)), 1);
        assert_eq!(ramp.due(ms(1)), 2);
        assert_eq!(ramp.due(ms(5)), 6);
        assert_eq!(ramp.due(ms(9)), 10);
        assert_eq!(ramp.due(ms(100)), 10);
        assert_eq!(ramp.due(Duration::MAX), 10);
    }

    #[test]
    fn offsets_and_length() {
        let ramp = RampSchedule::new(15_000, 5_000.0).unwrap();
        assert_eq!(ramp.start_offset(5_000), ms(1000));
        assert_eq!(ramp.start_offset(14_999), Duration::from_micros(2_999_800));
        // Every connection is due at its offset, and not a microsecond earlier.
        for rate in [5_000.0, 3_000.0, 7.0, 12_345.678] {
            let ramp = RampSchedule::new(15_000, rate).unwrap();
            for index in 1..15_000 {
                let at = ramp.start_offset(index);
                assert_eq!(ramp.due(at), index + 1, "{rate} {index}");
                assert_eq!(ramp.due(at - Duration::from_micros(1)), index, "{rate} {index}");
            }
        }
    }

    #[test]
    fn fractional_rates() {
        let ramp = RampSchedule::new(3, 0.5).unwrap();
        assert_eq!(ramp.due(Duration::from_secs(1)), 1);
        assert_eq!(ramp.due(Duration::from_secs(2)), 2);
        assert_eq!(ramp.start_offset(2), Duration::from_secs(4));
    }

    #[test]
    fn empty_ramp_starts_nothing() {
        let ramp = RampSchedule::new(0, 100.0).unwrap();
        assert_eq!(ramp.due(ms(10)), 0);
    }

    #[test]
    fn refuses_rates_that_never_finish() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RampSchedule::new(1, rate).is_err(), "{rate}");
        }
    }
}
