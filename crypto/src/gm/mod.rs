//! Chinese national standard cryptography (GM/T) for the light wallet: SM2 signatures, the SM2
//! key exchange that opens the secure channel, the channel's SM4-GCM records, and the
//! keystore's encryption. Pure: no I/O, no clocks; randomness comes in as bytes.
//!
//! The primitives are RustCrypto's: `sm2` (curve, signatures), `sm3`, `sm4` in the
//! `aes-gcm` crate's generic GCM, `argon2`. What those crates lack is written here over their
//! types: Z and the SM3 KDF (both private in `sm2`) and the GM/T 0003.3 key exchange, which is
//! generic over the curve so the standard's worked example (on its 256-bit example curve) runs
//! through the same code as SM2.
//!
//! # Files
//!
//! - `key_pair`: [`KeyPair`] / [`Sm2KeyPair`], a private key d and P = \[d\]G.
//! - `public_key`: public keys on the wire, `04 || x || y` in lower-case hex.
//! - `z_value`: [`z_value`], Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP).
//! - `sm3_kdf`: the SM3 counter-mode KDF of GM/T 0003.
//! - `sm2_signature`: [`sm2_sign`] / [`sm2_verify`], [`Sm2Signature`] (r || s).
//! - `key_exchange`: [`Initiator`] (client, A), [`Responder`] (server, B), [`Confirmation`]
//!   (S_B, S_A); its module docs give the exact formulas.
//! - `session_keys`: [`SessionKeys`], K split in the two directions' SM4 keys.
//! - `sm4_gcm`: [`Sm4Gcm`], SM4-GCM with 12-byte nonces.
//! - `channel_cipher`: [`ChannelCipher`], [`Direction`], the record nonce and aad.
//! - `passphrase`, `keystore`: [`Passphrase`], [`seal_keystore`] / [`open_keystore`],
//!   [`KdfParams`], [`KeystoreKey`] (derive once, seal many); the file format is in the keystore module's docs.
//! - `error`: [`GmError`], [`KeystoreError`].
//!
//! Secrets (private keys, ephemeral scalars, shared points, session keys, passphrases,
//! decrypted plaintexts) are zeroized on drop and have redacted `Debug`. One exception is
//! upstream: the `sm2` crate's signing key does not zeroize itself, so [`sm2_sign`] builds it
//! per call rather than keeping one.
//!
//! # The secure channel, end to end
//!
//! The server is the responder B with its long-term key from the keystore; the client is the
//! initiator A. Every binary value travels as lower-case hex.
//!
//! ```
//! use shardhub_crypto::gm::{ChannelCipher, Direction, Initiator, Responder, Sm2KeyPair};
//!
//! # fn main() -> Result<(), shardhub_crypto::gm::GmError> {
//! // Long-term keys (the server's comes out of the keystore). Random bytes in real use.
//! let server = Sm2KeyPair::from_secret_bytes(&[0x42; 32])?;
//! let client = Sm2KeyPair::from_secret_bytes(&[0x17; 32])?;
//!
//! // Client: RA, sent with its public key PA and its id.
//! let initiator = Initiator::start(&client, "alice@wallet", server.public_key(), "shardhub", &[0x01; 32])?;
//!
//! // Server: RB and S_B back; it keeps `responder` (no keys usable yet) until S_A arrives.
//! let responder = Responder::respond(
//!     &server,
//!     "shardhub",
//!     client.public_key(),
//!     "alice@wallet",
//!     initiator.ephemeral_public(),
//!     &[0x02; 32],
//! )?;
//!
//! // Client: checks S_B, gets the keys and S_A to send.
//! let (client_keys, s_a) = initiator.finish(responder.ephemeral_public(), responder.confirmation())?;
//!
//! // Server: checks S_A; only now does it hold the session keys.
//! let server_keys = responder.confirm(&s_a)?;
//!
//! // Records: seq starts at 1 and rises per request (the answer reuses it); the session
//! // string is bound into every record.
//! let (client_channel, server_channel) = (ChannelCipher::new(&client_keys), ChannelCipher::new(&server_keys));
//! let request = client_channel.seal(Direction::ClientToServer, "session-1", 1, br#"{"op":"balance"}"#)?;
//! let opened = server_channel.open(Direction::ClientToServer, "session-1", 1, &request)?;
//! assert_eq!(&opened[..], br#"{"op":"balance"}"#);
//! # Ok(())
//! # }
//! ```

mod channel_cipher;
mod error;
#[cfg(test)]
mod example_curve;
mod key_exchange;
mod key_pair;
mod keystore;
mod passphrase;
mod public_key;
mod session_keys;
mod sm2_signature;
mod sm3_kdf;
mod sm4_gcm;
#[cfg(test)]
mod worked_example;
mod z_value;

pub use channel_cipher::{record_aad, record_nonce, ChannelCipher, Direction};
pub use error::{GmError, KeystoreError};
pub use key_exchange::{Confirmation, Initiator, Responder};
pub use key_pair::{KeyPair, Sm2KeyPair};
pub use keystore::{open_keystore, open_keystore_key, seal_keystore, KdfParams, KeystoreKey};
pub use passphrase::Passphrase;
pub use public_key::{public_key_from_bytes, public_key_from_hex, public_key_to_bytes, public_key_to_hex};
pub use session_keys::SessionKeys;
pub use sm2::{PublicKey as Sm2PublicKey, Sm2};
pub use sm2_signature::{sm2_sign, sm2_verify, Sm2Signature};
pub use sm4_gcm::{Sm4Gcm, SM4_GCM_TAG_LEN};
pub use z_value::{z_value, USER_ID_MAX_BYTES};
