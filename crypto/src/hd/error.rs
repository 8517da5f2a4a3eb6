//! The one error type of the HD wallet: every refusal has its own kind, so the HTTP layer maps
//! each to its own code ([`HdError::code`]) without reading messages.
//!
//! Variants carry only `Copy` data (`&'static str` field names, counts, positions), never the
//! input: an error message must not echo a mnemonic word or a key back into a log.

/// Why a wallet operation was refused. Refusals change no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HdError {
    /// Every word is in the list but the checksum bits do not match: a mistyped word.
    #[error("mnemonic checksum does not match")]
    MnemonicChecksum,
    /// The word at `position` (0-based) is not in the English BIP-39 list.
    #[error("mnemonic word {position} is not in the English BIP-39 word list")]
    MnemonicWord { position: usize },
    /// Only 12, 15, 18, 21 and 24 words encode entropy.
    #[error("mnemonic has {words} words; expected 12, 15, 18, 21 or 24")]
    MnemonicLength { words: usize },
    /// Entropy for a new mnemonic must be 16, 20, 24, 28 or 32 bytes.
    #[error("entropy has {bytes} bytes; expected 16, 20, 24, 28 or 32")]
    EntropyLength { bytes: usize },
    /// BIP-32 master keys come from 16 to 64 seed bytes.
    #[error("seed has {bytes} bytes; expected 16 to 64")]
    SeedLength { bytes: usize },
    #[error("bad derivation path: {0}")]
    Path(&'static str),
    /// Not one of "btc", "btc-segwit", "eth", "cosmos".
    #[error("unknown coin")]
    UnknownCoin,
    #[error("bad address: {0}")]
    Address(&'static str),
    /// A hex field that is not hex, or not of the expected length.
    #[error("bad hex in {field}")]
    Hex { field: &'static str },
    /// An amount that does not fit its type, or a sum past MAX_MONEY.
    #[error("amount overflow in {field}")]
    AmountOverflow { field: &'static str },
    /// A Bitcoin transaction whose outputs spend more than its inputs bring.
    #[error("outputs ({outputs_sat} sat) exceed inputs ({inputs_sat} sat)")]
    OutputsExceedInputs { inputs_sat: u64, outputs_sat: u64 },
    #[error("invalid extended key: {0}")]
    ExtendedKey(&'static str),
    #[error("bad transaction field {field}: {reason}")]
    TxField { field: &'static str, reason: &'static str },
    /// A signature that is malformed, non-canonical, high-S or does not verify.
    #[error("bad signature: {0}")]
    Signature(&'static str),
    /// A child key that BIP-32 declares invalid (probability below 2^-127 per step); the caller
    /// should move on to the next index, as BIP-32 says.
    #[error("derivation produced an invalid key; use the next index")]
    InvalidChild,
}

impl HdError {
    /// A stable machine-readable code per kind, for the HTTP layer's `{"error": {"code"}}`.
    pub fn code(&self) -> &'static str {
        match self {
            HdError::MnemonicChecksum => "bad_mnemonic_checksum",
            HdError::MnemonicWord { .. } => "bad_mnemonic_word",
            HdError::MnemonicLength { .. } => "bad_mnemonic_length",
            HdError::EntropyLength { .. } => "bad_entropy_length",
            HdError::SeedLength { .. } => "bad_seed_length",
            HdError::Path(_) => "bad_path",
            HdError::UnknownCoin => "unknown_coin",
            HdError::Address(_) => "bad_address",
            HdError::Hex { .. } => "bad_hex",
            HdError::AmountOverflow { .. } => "amount_overflow",
            HdError::OutputsExceedInputs { .. } => "outputs_exceed_inputs",
            HdError::ExtendedKey(_) => "invalid_extended_key",
            HdError::TxField { .. } => "bad_tx_field",
            HdError::Signature(_) => "bad_signature",
            HdError::InvalidChild => "invalid_child_key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code() {
        let all = [
            HdError::MnemonicChecksum,
            HdError::MnemonicWord { position: 0 },
            HdError::MnemonicLength { words: 0 },
            HdError::EntropyLength { bytes: 0 },
            HdError::SeedLength { bytes: 0 },
            HdError::Path(""),
            HdError::UnknownCoin,
            HdError::Address(""),
            HdError::Hex { field: "" },
            HdError::AmountOverflow { field: "" },
            HdError::OutputsExceedInputs {
                inputs_sat: 0,
                outputs_sat: 0,
            },
            HdError::ExtendedKey(""),
            HdError::TxField { field: "", reason: "" },
            HdError::Signature(""),
            HdError::InvalidChild,
        ];
        let mut codes: Vec<_> = all.iter().map(HdError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
