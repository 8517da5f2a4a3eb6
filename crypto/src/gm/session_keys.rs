//! The 32 bytes the key exchange agrees on, split as the channel uses them: the first 16 are
//! the client-to-server SM4 key, the last 16 the server-to-client key.
//!
//! Zeroized on drop, never printed, and only readable inside this crate: the one thing to do
//! with them is build a [`ChannelCipher`](super::ChannelCipher).

use std::fmt;

use zeroize::Zeroizing;

/// Both directions' SM4 keys of one secure-channel session.
pub struct SessionKeys {
    client_to_server: Zeroizing<[u8; 16]>,
    server_to_client: Zeroizing<[u8; 16]>,
}

impl SessionKeys {
    /// klen of the key exchange, in bytes.
    pub const LEN: usize = 32;

    /// Splits the key exchange's output K: K[..16] client to server, K[16..] server to client.
    pub(crate) fn from_bytes(bytes: &[u8; SessionKeys::LEN]) -> SessionKeys {
        let mut client_to_server = Zeroizing::new([0u8; 16]);
        let mut server_to_client = Zeroizing::new([0u8; 16]);
        client_to_server.copy_from_slice(&bytes[..16]);
        server_to_client.copy_from_slice(&bytes[16..]);
        SessionKeys {
            client_to_server,
            server_to_client,
        }
    }

    pub(crate) fn client_to_server(&self) -> &[u8; 16] {
        &self.client_to_server
    }

    pub(crate) fn server_to_client(&self) -> &[u8; 16] {
        &self.server_to_client
    }

    /// K again, for the tests' known answers.
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> [u8; SessionKeys::LEN] {
        let mut bytes = [0u8; SessionKeys::LEN];
        bytes[..16].copy_from_slice(&*self.client_to_server);
        bytes[16..].copy_from_slice(&*self.server_to_client);
        bytes
    }
}

/// Redacted: session keys must never reach a log.
impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_half_is_client_to_server() {
        let mut bytes = [0u8; 32];
        bytes[..16].fill(1);
        bytes[16..].fill(2);
        let keys = SessionKeys::from_bytes(&bytes);
        assert_eq!(keys.to_bytes(), bytes);
        assert_eq!(keys.client_to_server(), &[1; 16]);
        assert_eq!(keys.server_to_client(), &[2; 16]);
        assert_eq!(format!("{keys:?}"), "SessionKeys(<redacted>)");
    }
}
