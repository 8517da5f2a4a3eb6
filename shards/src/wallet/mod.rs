//! The light wallet: HD keys, addresses and signatures for mobile apps over HTTP/JSON, and
//! the SM2/SM4 secure channel that carries the same requests encrypted (docs/wallet.md,
//! docs/secure-channel.md). The cryptography is `shardhub-crypto`; this module is custody,
//! routing and the HTTP surface.
//!
//! - `custody`: the keystore passphrase, the key derived from it once, the server SM2 key.
//! - `book`: the wallets one shard owns, sealed in its log; the only place seeds live.
//! - `owner`: ops run on the owner shard ([`op::WalletOp`] over the mesh).
//! - `api`: the routes; `request`: the JSON bodies parsed into crypto types.
//! - `secure`: secure-channel sessions on the shard owning their client id.
//! - `clients`: the channel's allow-list; `access`: hashed bearer keys.
//! - `error`: [`ApiError`] (status + code) and [`CustodyError`] (start-up).

pub mod access;
pub mod api;
pub mod book;
pub mod clients;
pub mod custody;
pub mod error;
pub mod op;
pub mod owner;
pub mod request;
pub mod secure;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use shardhub_core::ShardId;
use shardhub_net::http::Status;

use crate::config::{Config, WalletAuth, WalletConfig};
use access::ApiKeys;
use book::WalletBook;
use clients::ClientRegistry;
use custody::Custody;
pub use error::{ApiError, CustodyError};
use secure::{SecureSessions, SessionLimits};

/// How often a shard drops its idle secure sessions.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The answer of every wallet endpoint while no passphrase is configured.
pub fn disabled() -> ApiError {
    ApiError::new(
        Status::ServiceUnavailable,
        "wallet_disabled",
        "the wallet has no keystore passphrase (set wallet.passphrase_file or the wallet-passphrase credential)",
    )
}

/// What every shard shares: custody, bearer keys, the allow-list.
pub struct WalletShared {
    pub custody: Option<Arc<Custody>>,
    pub api_keys: ArcSwap<ApiKeys>,
    pub clients: ClientRegistry,
}

impl WalletShared {
    /// Opens the keystore (or notes that the wallet is disabled), reads the keys file and the
    /// admin client list. Any failure stops the start.
    pub fn open(config: &Config) -> Result<WalletShared, String> {
        let w = &config.wallet;
        let custody = custody::open(&config.server.data_dir, w).map_err(|e| e.to_string())?;
        match &custody {
            Some(c) => tracing::info!(server_key = %c.server_public_hex, "wallet keystore opened"),
            None => tracing::warn!("wallet disabled: no wallet.passphrase_file and no wallet-passphrase credential"),
        }
        let api_keys = load_api_keys(w)?;
        let admin_file = custody
            .is_some()
            .then(|| custody::wallet_dir(&config.server.data_dir).join("clients.json"));
        let clients = ClientRegistry::open(admin_file, &w.clients)?;
        Ok(WalletShared {
            custody: custody.map(Arc::new),
            api_keys: ArcSwap::from_pointee(api_keys),
            clients,
        })
    }

    /// A reload: the keys file is read again (a bad one keeps the running keys) and the
    /// config's clients replace the previous ones.
    pub fn reload(&self, config: &WalletConfig) {
        match load_api_keys(config) {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "wallet API keys reloaded");
                self.api_keys.store(Arc::new(keys));
            }
            Err(e) => tracing::error!(error = %e, "wallet API keys not reloaded; the running keys stay"),
        }
        self.clients.set_config(&config.clients);
    }
}

fn load_api_keys(w: &WalletConfig) -> Result<ApiKeys, String> {
    match w.auth {
        WalletAuth::ApiKey => ApiKeys::load(&w.api_keys_file).map_err(|e| format!("wallet.api_keys_file {e}")),
        WalletAuth::None => Ok(ApiKeys::default()),
    }
}

/// Counters of one shard's wallet work.
#[derive(Debug, Default, Clone)]
pub struct WalletMetrics {
    pub requests: u64,
    pub refused: u64,
    pub wallets_created: u64,
    pub sessions_opened: u64,
    pub sessions_evicted: u64,
    pub sessions_expired: u64,
    pub records_accepted: u64,
    pub records_refused: u64,
}

/// One shard's part of the wallet.
pub struct WalletShard {
    /// None while the wallet is disabled.
    pub book: Option<WalletBook>,
    pub sessions: RefCell<SecureSessions>,
    pub limits: Cell<SessionLimits>,
    pub max_wallets: Cell<usize>,
    pub metrics: RefCell<WalletMetrics>,
}

impl WalletShard {
    /// Opens the shard's wallet log when the wallet is enabled.
    pub fn open(id: ShardId, config: &Config, shared: &WalletShared) -> Result<WalletShard, String> {
        let book = match &shared.custody {
            Some(custody) => {
                let (book, recovery) =
                    WalletBook::open(id, &config.server.data_dir, custody.clone()).map_err(|e| e.to_string())?;
                tracing::info!(
                    shard = id,
                    wallets = book.len(),
                    torn_bytes = recovery.torn_bytes,
                    "wallet log replayed"
                );
                Some(book)
            }
            None => None,
        };
        let shard = WalletShard {
            book,
            sessions: RefCell::default(),
            limits: Cell::new(limits(&config.wallet)),
            max_wallets: Cell::new(config.wallet.max_wallets_per_shard),
            metrics: RefCell::default(),
        };
        Ok(shard)
    }

    pub fn apply_config(&self, config: &WalletConfig) {
        self.limits.set(limits(config));
        self.max_wallets.set(config.max_wallets_per_shard);
    }

    /// Wallets held (a gauge for /metrics).
    pub fn wallets_len(&self) -> usize {
        self.book.as_ref().map_or(0, WalletBook::len)
    }
}

fn limits(config: &WalletConfig) -> SessionLimits {
    SessionLimits {
        idle: Duration::from_secs(config.session_idle_secs),
        per_client: config.sessions_per_client_max,
    }
}

/// The wallet's background work on one shard: the log's group commit and the session sweep.
pub async fn run(shard: Rc<crate::shard::Shard>) {
    if shard.wallet.book.is_none() {
        return;
    }
    let flusher = shard.clone();
    monoio::spawn(async move {
        let book = flusher.wallet.book.as_ref().expect("the wallet is enabled");
        book.run_flusher(flusher.id).await;
    });
    loop {
        monoio::time::sleep(SESSION_SWEEP_EVERY).await;
        let wallet = &shard.wallet;
        let expired = wallet.sessions.borrow_mut().sweep(Instant::now(), wallet.limits.get());
        wallet.metrics.borrow_mut().sessions_expired += expired as u64;
    }
}
