//! A yes/no draw with a fixed probability (the hot-item share of BUYs, the share of orders
//! paid), decided per request with one integer comparison instead of float arithmetic.

use crate::common::fast_rng::FastRng;

#[derive(Clone, Copy, Debug)]
pub struct Chance {
    /// `probability * 2^64`: a draw hits when a uniform u64 falls below it. 2^64 (probability
    /// 1) does not fit a u64, hence u128.
    threshold: u128,
}

impl Chance {
    /// `probability` must lie in `0.0..=1.0` (checked by the caller, which names the flag).
    pub fn new(probability: f64) -> Self {
        debug_assert!((0.0..=1.0).contains(&probability));
        // 2^64 as f64 is exact; the product rounds to the nearest representable threshold.
        Self {
            threshold: (probability * 18_446_744_073_709_551_616.0) as u128,
        }
    }

    pub fn hit(self, rng: &mut FastRng) -> bool {
        u128::from(rng.next_u64()) < self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_and_always_are_exact() {
        let mut rng = FastRng::new(5);
        assert!((0..10_000).all(|_| !Chance::new(0.0).hit(&mut rng)));
        assert!((0..10_000).all(|_| Chance::new(1.0).hit(&mut rng)));
    }

    #[test]
    fn hits_about_the_given_share() {
        let mut rng = FastRng::new(11);
        let chance = Chance::new(0.25);
        let hits = (0..100_000).filter(|_| chance.hit(&mut rng)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }
}
