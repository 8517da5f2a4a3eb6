//! The `[wallet]` section: custody of the keys (where the keystore passphrase comes from, the
//! KDF cost of a new keystore), who may call the API, and the secure channel's bounds.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shardhub_crypto::gm::{public_key_from_hex, Sm2};

/// How plain HTTP callers of the wallet API prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletAuth {
    /// Anyone who reaches the listener: allowed only while it is on loopback.
    None,
    /// `Authorization: Bearer <key>`, checked against `api_keys_file`'s hashes.
    ApiKey,
}

/// One registered secure-channel client: its id and SM2 public key (`04 || x || y`, hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureClientConfig {
    pub id: String,
    pub public_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// File holding the keystore passphrase; empty: the systemd credential
    /// `wallet-passphrase`, else the wallet API is disabled.
    pub passphrase_file: PathBuf,
    pub auth: WalletAuth,
    /// Hashed bearer keys, `<name> <role> <sha256 hex>` per line.
    pub api_keys_file: PathBuf,
    /// Plain wallet endpoints answer 403; only the secure channel reaches them.
    pub require_secure_channel: bool,
    /// The server's SM2 user id, hashed into Z_B.
    pub server_id: String,
    /// A secure session unused this long is dropped.
    pub session_idle_secs: u64,
    /// Secure sessions one client may hold; a new one beyond it evicts its least recently used.
    pub sessions_per_client_max: usize,
    /// Wallets one shard owns; creating one more answers 503.
    #[serde(rename = "max_wallets_per_shard")]
    pub wallets_per_shard_max: usize,
    /// Argon2id cost of a keystore created by this run (an existing one keeps its own).
    pub kdf_memory_kib: u32,
    pub kdf_iterations: u32,
    pub kdf_parallelism: u32,
    /// The secure-channel allow-list (`[[wallet.clients]]`).
    pub clients: Vec<SecureClientConfig>,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            passphrase_file: PathBuf::new(),
            auth: WalletAuth::None,
            api_keys_file: PathBuf::new(),
            require_secure_channel: false,
            server_id: "shardhub".into(),
            session_idle_secs: 300,
            sessions_per_client_max: 16,
            wallets_per_shard_max: 1_000_000,
            kdf_memory_kib: 64 * 1024,
            kdf_iterations: 3,
            kdf_parallelism: 1,
            clients: Vec::new(),
        }
    }
}

/// Keys of this section that reload live.
pub const HOT_KEYS: &[&str] = &[
    "wallet.api_keys_file",
    "wallet.require_secure_channel",
    "wallet.session_idle_secs",
    "wallet.sessions_per_client_max",
    "wallet.max_wallets_per_shard",
    "wallet.clients",
];

impl WalletConfig {
    /// The config to run with after a reload: `new` for the live keys, `running` for the rest.
    pub fn reloaded(running: &WalletConfig, new: &WalletConfig) -> WalletConfig {
        WalletConfig {
            api_keys_file: new.api_keys_file.clone(),
            require_secure_channel: new.require_secure_channel,
            session_idle_secs: new.session_idle_secs,
            sessions_per_client_max: new.sessions_per_client_max,
            wallets_per_shard_max: new.wallets_per_shard_max,
            clients: new.clients.clone(),
            ..running.clone()
        }
    }
}

/// Longest client id: it is hashed to pick the shard that holds the client's sessions.
pub const CLIENT_ID_BYTES_MAX: usize = 128;

/// Checks a client id and key as the config and the admin endpoint accept them.
pub fn check_client(id: &str, public_key: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > CLIENT_ID_BYTES_MAX || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err("a client id of 1 to 128 printable ASCII characters without '/'");
    }
    if public_key.bytes().any(|b| b.is_ascii_uppercase()) || public_key_from_hex::<Sm2>(public_key).is_err() {
        return Err("an uncompressed SM2 public key in lower-case hex (04 || x || y)");
    }
    Ok(())
}
