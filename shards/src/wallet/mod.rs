//! The light wallet: HD keys, addresses and signatures for mobile apps over HTTP/JSON, and
//! the SM2/SM4 secure channel that carries the same requests encrypted (docs/wallet.md,
//! docs/secure-channel.md). The cryptography is `shardhub-crypto`; this module is custody,
//! routing and the HTTP surface.
//!
//! - `custody`: the keystore passphrase, the key derived from it once, the server SM2 key.
//! - `book`: the wallets one shard owns, sealed in its log; the only place seeds live.
//! - [`WalletService`]: one shard's part; `owner`: messages run on the owner shard
//!   ([`message::WalletOp`] over the mesh).
//! - `api`: the routes; `request`: the JSON bodies parsed into crypto types.
//! - `secure`: secure-channel sessions on the shard owning their client id.
//! - `clients`: the channel's allow-list; `access`: hashed bearer keys.
//! - `error`: [`ApiError`] (status + code), [`CustodyError`] and [`WalletStartError`]
//!   (start-up).

pub mod access;
pub mod api;
pub mod book;
pub mod clients;
pub mod custody;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod message;
pub mod owner;
pub mod request;
pub mod secure;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use shardhub_net::http::Status;

use crate::config::{Config, WalletAuth, WalletConfig};
use crate::metrics::{Collect, Families};
use crate::runtime::{Peers, Replied, Reply, Service, ShardCtx};
use crate::storage::JournalError;
use access::{ApiKeys, ApiKeysError};
use book::WalletBook;
use clients::{ClientListError, SecureClients};
use custody::Custody;
pub use error::{ApiError, CustodyError};
use message::{WalletOp, WalletReply};
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

/// Why the wallet could not start: its custody, its keys file or its allow-list.
#[derive(Debug, thiserror::Error)]
pub enum WalletStartError {
    #[error(transparent)]
    Custody(#[from] CustodyError),
    #[error("wallet.api_keys_file {0}")]
    ApiKeys(#[from] ApiKeysError),
    #[error("secure clients: {0}")]
    Clients(#[from] ClientListError),
}

/// What every shard shares: custody, bearer keys, the allow-list.
pub struct WalletShared {
    pub custody: Option<Arc<Custody>>,
    pub api_keys: ArcSwap<ApiKeys>,
    pub clients: SecureClients,
}

impl WalletShared {
    /// Opens the keystore (or notes that the wallet is disabled), reads the keys file and the
    /// admin client list. Any failure stops the start.
    pub fn open(config: &Config) -> Result<WalletShared, WalletStartError> {
        let w = &config.wallet;
        let custody = custody::open(&config.server.data_dir, w)?;
        match &custody {
            Some(c) => tracing::info!(server_key = %c.server_public_hex, "wallet keystore opened"),
            None => tracing::warn!("wallet disabled: no wallet.passphrase_file and no wallet-passphrase credential"),
        }
        let api_keys = load_api_keys(w)?;
        let admin_file = custody
            .is_some()
            .then(|| custody::wallet_dir(&config.server.data_dir).join("clients.json"));
        let clients = SecureClients::open(admin_file, &w.clients)?;
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

fn load_api_keys(w: &WalletConfig) -> Result<ApiKeys, ApiKeysError> {
    match w.auth {
        WalletAuth::ApiKey => ApiKeys::load(&w.api_keys_file),
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

/// One shard's part of the wallet: the wallets it owns and the secure sessions of the
/// clients whose ids it owns.
pub struct WalletService {
    ctx: Rc<ShardCtx>,
    peers: Peers<WalletOp, WalletReply>,
    pub shared: Arc<WalletShared>,
    /// None while the wallet is disabled.
    pub book: Option<WalletBook>,
    pub sessions: RefCell<SecureSessions>,
    pub metrics: RefCell<WalletMetrics>,
}

impl WalletService {
    /// Opens the shard's wallet log when the wallet is enabled.
    pub fn open(
        ctx: Rc<ShardCtx>,
        peers: Peers<WalletOp, WalletReply>,
        shared: Arc<WalletShared>,
    ) -> Result<WalletService, JournalError> {
        let book = match &shared.custody {
            Some(custody) => {
                let (book, recovery) = WalletBook::open(ctx.id, &ctx.config().server.data_dir, custody.clone())?;
                tracing::info!(
                    shard = ctx.id,
                    wallets = book.len(),
                    torn_bytes = recovery.torn_bytes,
                    "wallet log replayed"
                );
                Some(book)
            }
            None => None,
        };
        Ok(WalletService {
            ctx,
            peers,
            shared,
            book,
            sessions: RefCell::default(),
            metrics: RefCell::default(),
        })
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    /// The secure sessions' bounds, as configured now.
    pub fn session_limits(&self) -> SessionLimits {
        let config = self.ctx.config();
        SessionLimits {
            idle: Duration::from_secs(config.wallet.session_idle_secs),
            per_client: config.wallet.sessions_per_client_max,
        }
    }

    /// Wallets held (a gauge for /metrics).
    pub fn wallets_len(&self) -> usize {
        self.book.as_ref().map_or(0, WalletBook::len)
    }
}

impl Service for WalletService {
    type Msg = WalletOp;
    type Reply = WalletReply;

    fn peers(&self) -> &Peers<WalletOp, WalletReply> {
        &self.peers
    }

    fn handle(self: &Rc<Self>, op: WalletOp, reply: Reply<'_, WalletReply>) -> Replied {
        reply.answer(owner::handle(self, op))
    }

    /// The log's group commit and the session sweep, when the wallet is enabled.
    fn start(self: &Rc<Self>) {
        if self.book.is_none() {
            return;
        }
        let flusher = self.clone();
        monoio::spawn(async move {
            let book = flusher.book.as_ref().expect("the wallet is enabled");
            book.run_flusher(&flusher.ctx).await;
        });
        monoio::spawn(sweep_sessions(self.clone()));
    }
}

/// Drops idle secure sessions every [`SESSION_SWEEP_EVERY`].
async fn sweep_sessions(wallet: Rc<WalletService>) {
    loop {
        monoio::time::sleep(SESSION_SWEEP_EVERY).await;
        let limits = wallet.session_limits();
        let expired = wallet.sessions.borrow_mut().sweep(Instant::now(), limits);
        wallet.metrics.borrow_mut().sessions_expired += expired as u64;
    }
}

impl Collect for WalletService {
    fn collect(&self, out: &mut Families) {
        let m = self.metrics.borrow();
        out.gauge("shardhub_wallets", "Wallets the shard owns.", self.wallets_len() as u64);
        out.counter(
            "shardhub_wallet_requests_total",
            "Wallet API requests (plain and secure-channel transport).",
            m.requests,
        );
        out.counter(
            "shardhub_wallet_refused_total",
            "Wallet API requests answered with an error.",
            m.refused,
        );
        out.counter(
            "shardhub_wallets_created_total",
            "Wallets created through this shard.",
            m.wallets_created,
        );
        out.gauge(
            "shardhub_secure_sessions",
            "Secure-channel sessions held (pending and open).",
            self.sessions.borrow().len() as u64,
        );
        out.counter(
            "shardhub_secure_sessions_opened_total",
            "Secure-channel handshakes answered.",
            m.sessions_opened,
        );
        out.counter(
            "shardhub_secure_sessions_evicted_total",
            "Sessions evicted by a newer one of the same client beyond the cap.",
            m.sessions_evicted,
        );
        out.counter(
            "shardhub_secure_sessions_expired_total",
            "Sessions dropped after wallet.session_idle_secs unused.",
            m.sessions_expired,
        );
        out.counter(
            "shardhub_secure_records_total",
            "Secure-channel records accepted.",
            m.records_accepted,
        );
        out.counter(
            "shardhub_secure_records_refused_total",
            "Secure-channel records refused (unknown session, stale seq, bad tag).",
            m.records_refused,
        );
    }
}
