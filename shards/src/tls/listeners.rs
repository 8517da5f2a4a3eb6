//! Each TLS listener's live rustls configuration: loaded at start (a bad file stops the start),
//! swapped on reload (SIGHUP, or its files changing on disk) for new handshakes only, so
//! established connections keep the session they have. A reload that fails keeps the old
//! configuration serving and says why in the log.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use rustls::ServerConfig;

use super::server_config;
use super::TlsError;
use crate::config::Config;

/// How often the certificate and key files are looked at for a change.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// What a file looked like when it was last loaded: a change in any of these reloads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    // The target's metadata: a Kubernetes-style symlink swap counts as a change.
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

struct Slot {
    name: &'static str,
    alpn: &'static [&'static [u8]],
    current: ArcSwapOption<ServerConfig>,
    /// The certificate's and the key's stamps when last loaded (or tried).
    stamps: Mutex<(Option<FileStamp>, Option<FileStamp>)>,
}

pub struct TlsListeners {
    slots: [Slot; 3],
}

impl TlsListeners {
    /// Loads every TLS listener the config turns on.
    pub fn load(config: &Config) -> Result<Arc<TlsListeners>, TlsError> {
        let slot = |name, alpn| Slot {
            name,
            alpn,
            current: ArcSwapOption::empty(),
            stamps: Mutex::new((None, None)),
        };
        let listeners = TlsListeners {
            slots: [
                slot("resps", &[]),
                slot("https", &[b"http/1.1"]),
                slot("mqtts", &[b"mqtt"]),
            ],
        };
        for s in &listeners.slots {
            if !config.listen.tls_address(s.name).is_empty() {
                let built = listeners.build(s, config)?;
                s.current.store(Some(built));
            }
        }
        Ok(Arc::new(listeners))
    }

    /// The configuration new handshakes on `name` use; `None` when the listener is off.
    pub fn current(&self, name: &str) -> Option<Arc<ServerConfig>> {
        self.slots.iter().find(|s| s.name == name)?.current.load_full()
    }

    /// Loads every TLS listener that is on again (SIGHUP). One that fails keeps its old
    /// configuration.
    pub fn reload(&self, config: &Config) {
        for s in self.slots.iter().filter(|s| s.current.load().is_some()) {
            match self.build(s, config) {
                Ok(built) => {
                    s.current.store(Some(built));
                    tracing::info!(listener = s.name, "tls certificate and key reloaded");
                }
                Err(e) => {
                    tracing::error!(listener = s.name, error = %e, "tls reload refused; the previous certificate keeps serving")
                }
            }
        }
    }

    /// Reloads the listeners whose certificate or key file changed since it was last read.
    pub fn reload_changed(&self, config: &Config) {
        let changed = self.slots.iter().any(|s| {
            s.current.load().is_some() && *s.stamps.lock().unwrap_or_else(|e| e.into_inner()) != stamps_of(s, config)
        });
        if changed {
            self.reload(config);
        }
    }

    fn build(&self, s: &Slot, config: &Config) -> Result<Arc<ServerConfig>, TlsError> {
        // Stamped before reading: a write that lands during the read is seen next time.
        *s.stamps.lock().unwrap_or_else(|e| e.into_inner()) = stamps_of(s, config);
        server_config::build(s.name, tls_of(config, s.name), s.alpn)
    }

    /// Watches the files of the listeners that are on, on a thread of its own, for the life
    /// of the process.
    pub fn watch(self: &Arc<Self>, config: impl Fn() -> Arc<Config> + Send + 'static) {
        if self.slots.iter().all(|s| s.current.load().is_none()) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("shardhub-tls-watch".into())
            .spawn(move || loop {
                std::thread::sleep(WATCH_INTERVAL);
                me.reload_changed(&config());
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "tls file watcher not started; certificates reload on SIGHUP only");
        }
    }
}

fn tls_of<'a>(config: &'a Config, name: &str) -> &'a crate::config::TlsListenerConfig {
    config.tls.listener(name).expect("a slot for every TLS listener")
}

fn stamps_of(s: &Slot, config: &Config) -> (Option<FileStamp>, Option<FileStamp>) {
    let tls = tls_of(config, s.name);
    let key = tls.key_source(s.name);
    (stamp(&tls.cert_file), key.as_deref().and_then(stamp))
}
