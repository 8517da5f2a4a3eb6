//! Hex fields of API requests (`0x` optional), decoded with an error that names the field.

use super::error::HdError;

/// Decodes hex with an optional `0x` prefix; `field` names the input in the error.
pub fn decode_hex(field: &'static str, text: &str) -> Result<Vec<u8>, HdError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(digits).map_err(|_| HdError::Hex { field })
}

/// Decodes exactly `N` bytes of hex (optional `0x`).
pub fn decode_hex_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], HdError> {
    decode_hex(field, text)?.try_into().map_err(|_| HdError::Hex { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_accepts_an_optional_prefix_and_checks_length() {
        assert_eq!(decode_hex("f", "0x0aFF").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(decode_hex("f", "").unwrap(), Vec::<u8>::new());
        assert_eq!(decode_hex_array::<2>("f", "0aff").unwrap(), [0x0a, 0xff]);
        assert_eq!(decode_hex("f", "0x0"), Err(HdError::Hex { field: "f" }));
        assert_eq!(decode_hex("f", "zz"), Err(HdError::Hex { field: "f" }));
        assert_eq!(decode_hex_array::<3>("f", "0aff"), Err(HdError::Hex { field: "f" }));
    }
}
