//! The errors of the GM/T module: [`GmError`] for keys, signatures, the key exchange and the
//! channel records, [`KeystoreError`] for the encrypted keystore file.
//!
//! Every refusal has its own kind and a stable [`code`](GmError::code), so the HTTP layer maps
//! kinds to answers without reading messages. Variants carry only `Copy` data (field names,
//! lengths, version numbers), never the input: an error must not carry a key or a passphrase
//! into a log.

/// Why a key, signature, key-exchange step or channel record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GmError {
    /// A hex field that is not hex, or not of the expected length.
    #[error("bad hex in {field}")]
    Hex { field: &'static str },
    /// Not `04 || x || y` (65 bytes), or not a point of the curve.
    #[error("invalid public key: expected an uncompressed point (04 || x || y) on the curve")]
    PublicKey,
    /// A private key (or ephemeral randomness) that is not 32 bytes in [1, n-1]. For ephemeral
    /// randomness this happens with probability below 2^-32: draw fresh bytes and retry.
    #[error("invalid secret scalar: expected 32 bytes in [1, n-1]")]
    SecretScalar,
    /// ENTL, the user id's length in bits, must fit 16 bits: at most 8191 bytes.
    #[error("user id is {bytes} bytes; at most 8191 are allowed")]
    UserIdLength { bytes: usize },
    /// The exchange's shared point is the point at infinity: the peer's points are degenerate.
    #[error("key exchange produced the point at infinity")]
    SharedPointAtInfinity,
    /// The peer's key confirmation (S_B or S_A) is not the one this side computed: the two
    /// sides hold different keys, ids or transcripts.
    #[error("key confirmation does not match")]
    Confirmation,
    /// A signature that is not 64 bytes r || s with r and s in [1, n-1].
    #[error("malformed signature: expected 64 bytes r || s")]
    SignatureFormat,
    /// A well-formed signature that does not verify for this key, user id and message.
    #[error("signature does not verify")]
    Signature,
    /// An SM4-GCM record whose tag does not check: wrong key, sequence number, direction or
    /// session, or a modified record. GCM cannot tell these apart.
    #[error("record does not authenticate (wrong key, sequence, direction or session, or modified)")]
    RecordAuthentication,
    /// GCM needs at least one IV byte; this API takes 12-byte nonces only.
    #[error("GCM nonce of {bytes} bytes is not accepted")]
    NonceLength { bytes: usize },
    /// Longer than SM4-GCM can encrypt under one nonce (2^36 - 32 bytes).
    #[error("message too long for SM4-GCM")]
    MessageTooLong,
}

impl GmError {
    /// A stable machine-readable code per kind, for the HTTP layer's `{"error": {"code"}}`.
    pub fn code(&self) -> &'static str {
        match self {
            GmError::Hex { .. } => "bad_hex",
            GmError::PublicKey => "invalid_public_key",
            GmError::SecretScalar => "invalid_secret_scalar",
            GmError::UserIdLength { .. } => "user_id_too_long",
            GmError::SharedPointAtInfinity => "degenerate_key_exchange",
            GmError::Confirmation => "key_confirmation_failed",
            GmError::SignatureFormat => "malformed_signature",
            GmError::Signature => "bad_signature",
            GmError::RecordAuthentication => "record_authentication_failed",
            GmError::NonceLength { .. } => "bad_nonce_length",
            GmError::MessageTooLong => "message_too_long",
        }
    }
}

/// Why a keystore file could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// The bytes do not start with the keystore magic: some other file.
    #[error("not a keystore file")]
    NotAKeystore,
    /// A keystore of a format version this build does not read.
    #[error("unsupported keystore version {version}")]
    UnsupportedVersion { version: u8 },
    /// A KDF or cipher id this build does not know.
    #[error("unsupported keystore {what} id {id}")]
    UnsupportedAlgorithm { what: &'static str, id: u8 },
    /// The file is shorter than its fields say, its fields are inconsistent, or its checksum
    /// does not match: damaged on disk or cut short.
    #[error("keystore file is corrupt or truncated: {0}")]
    Corrupt(&'static str),
    /// The file is intact (its checksum matches) but SM4-GCM refused it. With an intact file
    /// that is a wrong passphrase; it is also what deliberate tampering that recomputed the
    /// checksum looks like: GCM cannot tell the two apart.
    #[error("wrong passphrase, or the keystore was tampered with (SM4-GCM cannot tell these apart)")]
    WrongPassphraseOrTampered,
    /// KDF parameters outside what Argon2 accepts or outside this crate's bounds (which keep a
    /// damaged or hostile file from asking for unbounded memory or time).
    #[error("keystore KDF parameters out of bounds: {0}")]
    KdfParams(&'static str),
    /// A file sealed under another salt or KDF parameters than the key at hand.
    #[error("keystore record was sealed under another key (salt or KDF parameters differ)")]
    OtherKey,
    /// Plaintext longer than the format's 32-bit length field.
    #[error("keystore plaintext too long")]
    PlaintextTooLong,
}

impl KeystoreError {
    /// A stable machine-readable code per kind.
    pub fn code(&self) -> &'static str {
        match self {
            KeystoreError::NotAKeystore => "not_a_keystore",
            KeystoreError::UnsupportedVersion { .. } => "unsupported_keystore_version",
            KeystoreError::UnsupportedAlgorithm { .. } => "unsupported_keystore_algorithm",
            KeystoreError::Corrupt(_) => "corrupt_keystore",
            KeystoreError::WrongPassphraseOrTampered => "wrong_passphrase_or_tampered",
            KeystoreError::KdfParams(_) => "bad_kdf_params",
            KeystoreError::PlaintextTooLong => "keystore_plaintext_too_long",
            KeystoreError::OtherKey => "keystore_other_key",
        }
    }
}

/// Decodes exactly `N` bytes of hex; `field` names the input in the error.
pub(crate) fn decode_hex_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], GmError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| GmError::Hex { field })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code() {
        let gm = [
            GmError::Hex { field: "" },
            GmError::PublicKey,
            GmError::SecretScalar,
            GmError::UserIdLength { bytes: 0 },
            GmError::SharedPointAtInfinity,
            GmError::Confirmation,
            GmError::SignatureFormat,
            GmError::Signature,
            GmError::RecordAuthentication,
            GmError::NonceLength { bytes: 0 },
            GmError::MessageTooLong,
        ];
        let keystore = [
            KeystoreError::NotAKeystore,
            KeystoreError::UnsupportedVersion { version: 0 },
            KeystoreError::UnsupportedAlgorithm { what: "", id: 0 },
            KeystoreError::Corrupt(""),
            KeystoreError::WrongPassphraseOrTampered,
            KeystoreError::KdfParams(""),
            KeystoreError::PlaintextTooLong,
            KeystoreError::OtherKey,
        ];
        let mut codes: Vec<_> = gm
            .iter()
            .map(GmError::code)
            .chain(keystore.iter().map(KeystoreError::code))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), gm.len() + keystore.len());
    }

    #[test]
    fn wrong_passphrase_says_gcm_cannot_tell_it_from_tampering() {
        let text = KeystoreError::WrongPassphraseOrTampered.to_string();
        assert!(text.contains("wrong passphrase") && text.contains("tampered") && text.contains("cannot tell"));
    }

    #[test]
    fn hex_arrays_check_length_and_digits() {
        assert_eq!(decode_hex_array::<2>("f", "0aFF").unwrap(), [0x0a, 0xff]);
        assert_eq!(
            decode_hex_array::<2>("f", "0a").unwrap_err(),
            GmError::Hex { field: "f" }
        );
        assert_eq!(
            decode_hex_array::<1>("f", "zz").unwrap_err(),
            GmError::Hex { field: "f" }
        );
    }
}
