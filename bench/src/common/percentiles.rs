//! The percentiles every report prints, taken from an hdrhistogram.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant figures kept by every histogram: 0.1% relative error, as the brief for the
/// harness asks, at a few tens of KiB per histogram.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// Values in the histogram's own unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// A histogram for values in `1..=highest` (lower values are still recorded, as 0), which
/// saturates rather than failing above that.
pub fn new_histogram(highest: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, highest, SIGNIFICANT_FIGURES).expect("constant histogram bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform_values() {
        let mut histogram = new_histogram(1_000_000);
        for v in 1..=1000 {
            histogram.saturating_record(v);
        }
        let p = Percentiles::of(&histogram);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (500, 900, 990, 1000));
        assert_eq!(p.p999, 999);
    }

    #[test]
    fn empty_histogram_gives_zeros() {
        assert_eq!(Percentiles::of(&new_histogram(10)), Percentiles::default());
    }
}
