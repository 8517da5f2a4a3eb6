//! The wallets one shard owns: each seed in memory (its key tree built on first use) and
//! sealed in the shard's keystore log, `<data_dir>/wallet/shard-N/`. Only this shard's
//! thread touches them; other shards reach a wallet through the mesh.
//!
//! A record is `(wallet id, sealed seed)`; the seed is sealed under the process's keystore
//! key (see `custody.rs`), so the log holds no secret in clear. Every record is fsynced
//! before the wallet is acknowledged, whatever the other logs' durability, and a damaged
//! record stops the start instead of being cut away ([`TornTail::CutTruncatedOnly`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shardhub_core::journal::encode_record;
use shardhub_core::ShardId;
use shardhub_crypto::custody::{open_seed, seal_seed};
use shardhub_crypto::hd::{HdError, Seed, WalletKeys};
use shardhub_net::http::Status;

use super::custody::{random_bytes, wallet_dir, Custody};
use super::error::ApiError;
use crate::config::Durability;
use crate::runtime::ShardCtx;
use crate::storage::{DurableLog, Journal, JournalError, Recovery, TornTail};

/// Bound on one record: an id and a sealed 64-byte seed are about 200 bytes. Tight on
/// purpose: a damaged length field then reads as damage, not as a record cut short.
const RECORD_BYTES_MAX: usize = 1024;

#[derive(Serialize, Deserialize)]
struct WalletRecord {
    id: String,
    sealed: Vec<u8>,
}

struct Wallet {
    seed: Seed,
    /// Built on first use: a master key derivation, and the account cache after it.
    keys: Option<WalletKeys>,
}

pub struct WalletBook {
    custody: Arc<Custody>,
    wallets: RefCell<HashMap<String, Wallet>>,
    log: DurableLog,
}

/// Why a record of the wallet log did not replay.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("the wallet log takes no snapshots")]
    Snapshot,
    #[error("cannot decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("cannot unseal: {0}")]
    Unseal(#[from] shardhub_crypto::gm::KeystoreError),
}

/// The log directory of one shard's wallets.
pub fn log_dir(data_dir: &std::path::Path, shard: ShardId) -> PathBuf {
    wallet_dir(data_dir).join(format!("shard-{shard}"))
}

impl WalletBook {
    /// Opens the shard's wallet log and unseals every wallet in it.
    pub fn open(
        shard: ShardId,
        data_dir: &std::path::Path,
        custody: Arc<Custody>,
    ) -> Result<(WalletBook, Recovery), JournalError> {
        let wallets = RefCell::new(HashMap::new());
        let (journal, recovery) = Journal::open_with(
            &log_dir(data_dir, shard),
            TornTail::CutTruncatedOnly {
                record_bytes_max: RECORD_BYTES_MAX,
            },
            |_| Err(ReplayError::Snapshot),
            |bytes| {
                let record: WalletRecord = postcard::from_bytes(bytes)?;
                let seed = open_seed(&custody.key, &record.sealed)?;
                wallets.borrow_mut().insert(record.id, Wallet { seed, keys: None });
                Ok(())
            },
        )?;
        let book = WalletBook {
            custody,
            wallets,
            // Snapshots would hold the same records again: the log is the state.
            log: DurableLog::new(journal, Durability::Sync, Duration::ZERO, u64::MAX),
        };
        Ok((book, recovery))
    }

    pub fn len(&self) -> usize {
        self.wallets.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.wallets.borrow().is_empty()
    }

    /// Adds a wallet and appends its sealed record; returns the record number to wait for.
    pub fn create(&self, id: String, seed: Seed, max: usize) -> Result<u64, ApiError> {
        if self.log.failed() {
            return Err(ApiError::unavailable("the wallet log failed; restart the server"));
        }
        let mut wallets = self.wallets.borrow_mut();
        if wallets.len() >= max {
            return Err(ApiError::new(
                Status::ServiceUnavailable,
                "wallet_store_full",
                "this shard holds wallet.max_wallets_per_shard wallets",
            ));
        }
        let mut nonce = [0u8; 12];
        random_bytes(&mut nonce).map_err(|e| ApiError::unavailable(e.to_string()))?;
        let sealed = seal_seed(&self.custody.key, &seed, &nonce).map_err(|e| ApiError::unavailable(e.to_string()))?;
        let record = WalletRecord { id, sealed };
        let lsn = self.log.append(|out| encode_record(&record, out));
        wallets.insert(record.id, Wallet { seed, keys: None });
        Ok(lsn)
    }

    /// Resolves once record `lsn` is fsynced; false if the log failed, and then the wallet
    /// `id` is forgotten again (it was never acknowledged).
    pub async fn durable(&self, id: &str, lsn: u64) -> bool {
        let durable = self.log.durable(lsn).await;
        if !durable {
            self.wallets.borrow_mut().remove(id);
        }
        durable
    }

    /// Runs `f` on a wallet's key tree.
    pub fn with_keys<T>(&self, id: &str, f: impl FnOnce(&mut WalletKeys) -> Result<T, HdError>) -> Result<T, ApiError> {
        let mut wallets = self.wallets.borrow_mut();
        let wallet = wallets.get_mut(id).ok_or_else(ApiError::unknown_wallet)?;
        let keys = match &mut wallet.keys {
            Some(keys) => keys,
            slot => slot.insert(WalletKeys::from_seed(&wallet.seed)?),
        };
        Ok(f(keys)?)
    }

    /// The group-commit loop of the wallet log.
    pub async fn run_flusher(&self, ctx: &ShardCtx) {
        // Nothing to roll back here: a wallet whose record failed is forgotten by its own
        // creator when `durable` says so.
        self.log.run_flusher(ctx, "wallet", Vec::new, || {}).await;
    }
}
