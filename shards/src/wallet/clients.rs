//! The secure channel's allow-list: client ids and their SM2 public keys, from the config
//! (`[[wallet.clients]]`, hot-reloadable) and from the admin endpoint (kept in
//! `<data_dir>/wallet/clients.json`). A config entry wins over an admin one of the same id.
//! Every shard reads the current table lock-free; the rare writes rebuild it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::custody::replace_file;
use crate::config::SecureClientConfig;
pub use crate::config::{check_client, CLIENT_ID_BYTES_MAX};

/// Where a registration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredClient {
    /// `04 || x || y`, lower-case hex.
    pub public_key: String,
    pub source: Source,
}

/// The admin registrations' file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ClientListError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The allow-list every shard reads.
pub struct SecureClients {
    table: ArcSwap<HashMap<String, RegisteredClient>>,
    /// The admin registrations and the config's, kept to rebuild the table from either side.
    admin: Mutex<(BTreeMap<String, String>, Vec<SecureClientConfig>)>,
    admin_file: Option<PathBuf>,
}

impl SecureClients {
    /// Loads the admin registrations (if the wallet has a data dir) and merges the config's.
    pub fn open(admin_file: Option<PathBuf>, config: &[SecureClientConfig]) -> Result<SecureClients, ClientListError> {
        let admin: BTreeMap<String, String> = match &admin_file {
            Some(path) => match std::fs::read(path) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ClientListError::Parse {
                    path: path.clone(),
                    source,
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(source) => {
                    return Err(ClientListError::Io {
                        path: path.clone(),
                        source,
                    })
                }
            },
            None => BTreeMap::new(),
        };
        let registry = SecureClients {
            table: ArcSwap::from_pointee(HashMap::new()),
            admin: Mutex::new((admin, config.to_vec())),
            admin_file,
        };
        registry.rebuild(&registry.admin.lock().expect("not poisoned"));
        Ok(registry)
    }

    pub fn get(&self, id: &str) -> Option<RegisteredClient> {
        self.table.load().get(id).cloned()
    }

    /// Whether `id` is registered with `public_key` (hex, as stored): a session's key is
    /// checked on every record, so this compares in place rather than cloning the entry.
    pub fn is_registered(&self, id: &str, public_key: &str) -> bool {
        self.table.load().get(id).is_some_and(|c| c.public_key == public_key)
    }

    /// Every client, sorted by id.
    pub fn list(&self) -> Vec<(String, RegisteredClient)> {
        let mut all: Vec<_> = self.table.load().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// A reloaded config's clients.
    pub fn set_config(&self, config: &[SecureClientConfig]) {
        let mut state = self.admin.lock().expect("not poisoned");
        state.1 = config.to_vec();
        self.rebuild(&state);
    }

    /// Whether the config registers `id` (the admin endpoint cannot override it).
    pub fn in_config(&self, id: &str) -> bool {
        let state = self.admin.lock().expect("not poisoned");
        state.1.iter().any(|c| c.id == id)
    }

    /// Registers (or re-keys) a client; persisted before it takes effect.
    pub fn put(&self, id: &str, public_key: &str) -> Result<(), ClientListError> {
        let mut state = self.admin.lock().expect("not poisoned");
        let mut next = state.0.clone();
        next.insert(id.to_string(), public_key.to_string());
        self.persist(&next)?;
        state.0 = next;
        self.rebuild(&state);
        Ok(())
    }

    /// Removes an admin registration; false when there was none (config entries stay).
    pub fn remove(&self, id: &str) -> Result<bool, ClientListError> {
        let mut state = self.admin.lock().expect("not poisoned");
        let mut next = state.0.clone();
        if next.remove(id).is_none() {
            return Ok(false);
        }
        self.persist(&next)?;
        state.0 = next;
        self.rebuild(&state);
        Ok(true)
    }

    fn persist(&self, admin: &BTreeMap<String, String>) -> Result<(), ClientListError> {
        let Some(path) = &self.admin_file else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(admin).expect("a map of strings serializes");
        replace_file(path, &bytes).map_err(|source| ClientListError::Io {
            path: path.clone(),
            source,
        })
    }

    fn rebuild(&self, state: &(BTreeMap<String, String>, Vec<SecureClientConfig>)) {
        let mut table = HashMap::new();
        for (id, public_key) in &state.0 {
            table.insert(
                id.clone(),
                RegisteredClient {
                    public_key: public_key.clone(),
                    source: Source::Admin,
                },
            );
        }
        for client in &state.1 {
            table.insert(
                client.id.clone(),
                RegisteredClient {
                    public_key: client.public_key.clone(),
                    source: Source::Config,
                },
            );
        }
        self.table.store(Arc::new(table));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        shardhub_crypto::gm::Sm2KeyPair::from_secret_bytes(&[5; 32])
            .unwrap()
            .public_key_hex()
    }

    #[test]
    fn ids_and_keys_are_checked() {
        assert!(check_client("app-1", &key()).is_ok());
        assert!(check_client("", &key()).is_err());
        assert!(check_client("a/b", &key()).is_err());
        let mut off_curve = key();
        let last = if off_curve.ends_with('0') { "1" } else { "0" };
        off_curve.replace_range(off_curve.len() - 1.., last);
        assert!(check_client("app", &off_curve).is_err(), "not on the curve");
        assert!(check_client("app", &key().to_uppercase()).is_err());
    }

    #[test]
    fn admin_entries_persist_and_config_entries_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clients.json");
        let config = vec![SecureClientConfig {
            id: "both".into(),
            public_key: key(),
        }];
        let r = SecureClients::open(Some(file.clone()), &config).unwrap();
        r.put("both", "04aa").unwrap();
        r.put("admin-only", &key()).unwrap();
        assert_eq!(r.get("both").unwrap().source, Source::Config);
        let again = SecureClients::open(Some(file), &[]).unwrap();
        assert_eq!(again.get("admin-only").unwrap().source, Source::Admin);
        assert_eq!(again.get("both").unwrap().public_key, "04aa");
        assert!(again.remove("admin-only").unwrap());
        assert!(!again.remove("admin-only").unwrap());
        assert!(again.get("admin-only").is_none());
    }
}
