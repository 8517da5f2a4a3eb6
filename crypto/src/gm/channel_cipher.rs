//! The secure channel's records: each request and response body is sealed with SM4-GCM under
//! the session key of its direction.
//!
//! ```text
//! record = SM4-GCM(key_dir, nonce, aad, plaintext) = ciphertext || 16-byte tag
//! nonce  = direction (4 bytes: 00000001 client-to-server, 00000002 server-to-client)
//!          || seq (8 bytes, big-endian)
//! aad    = session (its UTF-8 bytes) || seq (8 bytes, big-endian)
//! key_dir = K[..16] client-to-server, K[16..] server-to-client
//! ```
//!
//! The direction in the nonce keeps the two directions' nonces apart even if the keys were
//! equal; the session string and seq in the aad bind a record to its session and position, so
//! a record replayed into another session, at another seq or in the other direction fails its
//! tag. Each (key, seq) pair must seal at most one record: the caller keeps one counter per
//! direction and refuses a seq it has already accepted (this type holds no state).

use std::fmt;

use zeroize::Zeroizing;

use super::error::GmError;
use super::session_keys::SessionKeys;
use super::sm4_gcm::Sm4Gcm;

/// Which way a record travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// The nonce's first four bytes.
    pub fn nonce_prefix(self) -> [u8; 4] {
        match self {
            Direction::ClientToServer => [0, 0, 0, 1],
            Direction::ServerToClient => [0, 0, 0, 2],
        }
    }
}

/// The record nonce: direction || seq.
pub fn record_nonce(direction: Direction, seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&direction.nonce_prefix());
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    nonce
}

/// The record aad: session || seq.
pub fn record_aad(session: &str, seq: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(session.len() + 8);
    aad.extend_from_slice(session.as_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad
}

/// One session's two record ciphers, built once from its [`SessionKeys`].
pub struct ChannelCipher {
    client_to_server: Sm4Gcm,
    server_to_client: Sm4Gcm,
}

impl ChannelCipher {
    pub fn new(keys: &SessionKeys) -> ChannelCipher {
        ChannelCipher {
            client_to_server: Sm4Gcm::new(keys.client_to_server()),
            server_to_client: Sm4Gcm::new(keys.server_to_client()),
        }
    }

    /// Seals record `seq` of `session` going `direction`.
    pub fn seal(&self, direction: Direction, session: &str, seq: u64, plaintext: &[u8]) -> Result<Vec<u8>, GmError> {
        self.cipher(direction)
            .seal(&record_nonce(direction, seq), &record_aad(session, seq), plaintext)
    }

    /// Opens record `seq` of `session` coming `direction`; refuses a record sealed for any
    /// other key, direction, session or seq, or modified in any bit.
    pub fn open(
        &self,
        direction: Direction,
        session: &str,
        seq: u64,
        record: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, GmError> {
        self.cipher(direction)
            .open(&record_nonce(direction, seq), &record_aad(session, seq), record)
    }

    fn cipher(&self, direction: Direction) -> &Sm4Gcm {
        match direction {
            Direction::ClientToServer => &self.client_to_server,
            Direction::ServerToClient => &self.server_to_client,
        }
    }
}

/// Redacted: key material.
impl fmt::Debug for ChannelCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelCipher(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn channel() -> ChannelCipher {
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = i as u8;
        }
        ChannelCipher::new(&SessionKeys::from_bytes(&k))
    }

    #[test]
    fn nonce_and_aad_layout() {
        assert_eq!(
            hex::encode(record_nonce(Direction::ClientToServer, 0x0102)),
            "000000010000000000000102"
        );
        assert_eq!(
            hex::encode(record_nonce(Direction::ServerToClient, u64::MAX)),
            "00000002ffffffffffffffff"
        );
        assert_eq!(record_aad("s-1", 7), b"s-1\x00\x00\x00\x00\x00\x00\x00\x07");
    }

    /// The record is plain SM4-GCM under K[..16] (client to server) with the documented nonce
    /// and aad: anyone holding the key can open it with a stock implementation.
    #[test]
    fn records_are_sm4_gcm_with_the_documented_nonce_aad_and_key() {
        let channel = channel();
        let record = channel
            .seal(Direction::ClientToServer, "sess", 5, b"{\"op\":\"balance\"}")
            .unwrap();
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let plain = Sm4Gcm::new(&key)
            .open(
                &hex_array("000000010000000000000005"),
                b"sess\0\0\0\0\0\0\0\x05",
                &record,
            )
            .unwrap();
        assert_eq!(*plain, b"{\"op\":\"balance\"}");
        assert_eq!(record.len(), plain.len() + 16);
    }

    fn hex_array(text: &str) -> [u8; 12] {
        hex::decode(text).unwrap().try_into().unwrap()
    }

    #[test]
    fn a_record_opens_only_where_it_was_sealed() {
        let channel = channel();
        let record = channel.seal(Direction::ServerToClient, "sess-a", 9, b"hello").unwrap();
        assert_eq!(
            *channel.open(Direction::ServerToClient, "sess-a", 9, &record).unwrap(),
            b"hello"
        );

        let refused = Err(GmError::RecordAuthentication);
        assert_eq!(
            channel.open(Direction::ServerToClient, "sess-a", 10, &record),
            refused,
            "wrong seq"
        );
        assert_eq!(
            channel.open(Direction::ClientToServer, "sess-a", 9, &record),
            refused,
            "wrong direction"
        );
        assert_eq!(
            channel.open(Direction::ServerToClient, "sess-b", 9, &record),
            refused,
            "wrong session"
        );
        assert_eq!(
            channel.open(Direction::ServerToClient, "sess-a", 9, &record[..record.len() - 1]),
            refused
        );
        for bit in 0..record.len() * 8 {
            let mut flipped = record.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                channel.open(Direction::ServerToClient, "sess-a", 9, &flipped),
                refused,
                "bit {bit}"
            );
        }
    }

    #[test]
    fn another_sessions_keys_do_not_open_it() {
        let record = channel().seal(Direction::ClientToServer, "s", 1, b"x").unwrap();
        let other = ChannelCipher::new(&SessionKeys::from_bytes(&[7; 32]));
        assert_eq!(
            other.open(Direction::ClientToServer, "s", 1, &record),
            Err(GmError::RecordAuthentication)
        );
        assert_eq!(format!("{other:?}"), "ChannelCipher(<redacted>)");
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::ClientToServer), Just(Direction::ServerToClient)]
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(
            k in any::<[u8; 32]>(),
            direction in direction(),
            session in "[ -~]{0,40}",
            seq in any::<u64>(),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let channel = ChannelCipher::new(&SessionKeys::from_bytes(&k));
            let record = channel.seal(direction, &session, seq, &plaintext).unwrap();
            prop_assert_eq!(record.len(), plaintext.len() + 16);
            let opened = channel.open(direction, &session, seq, &record).unwrap();
            prop_assert_eq!(&*opened, &plaintext);
            prop_assert!(channel.open(direction, &session, seq.wrapping_add(1), &record).is_err());
        }
    }
}
