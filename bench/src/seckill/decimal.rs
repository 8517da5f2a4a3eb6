//! Decimal digits of a number for the hot loop: no formatting machinery, no allocation.

/// Digits of `u64::MAX`.
const U64_DIGITS_MAX: usize = 20;

/// A number's decimal digits, right-aligned in a stack buffer.
pub struct Decimal {
    digits: [u8; U64_DIGITS_MAX],
    start: usize,
}

impl Decimal {
    pub fn new(mut value: u64) -> Self {
        let mut digits = [0; U64_DIGITS_MAX];
        let mut start = U64_DIGITS_MAX;
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Self { digits, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_plain_digits() {
        assert_eq!(Decimal::new(0).as_bytes(), b"0");
        assert_eq!(Decimal::new(4242).as_bytes(), b"4242");
        assert_eq!(Decimal::new(u64::MAX).as_bytes(), u64::MAX.to_string().as_bytes());
    }
}
