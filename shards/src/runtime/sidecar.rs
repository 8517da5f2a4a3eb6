//! The sidecar: one thread with a tokio current-thread runtime for work that must never run
//! on a shard: tokio-only clients (Kafka, PostgreSQL, chain nodes later), signal handling,
//! and watching the config file. Shards feed it through a bounded channel.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};

use super::logging::LogHandle;
use super::shared::Shared;
use crate::config::{Config, ConfigDiff, Overrides};

pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The sending side; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct SidecarHandle {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

/// The job queue is full; the caller answers "busy".
#[derive(Debug, PartialEq, Eq)]
pub struct SidecarBusy;

impl SidecarHandle {
    pub fn submit(&self, job: Job) -> Result<(), SidecarBusy> {
        self.jobs.try_send(job).map_err(|_| SidecarBusy)
    }
}

/// Something outside the shards that takes a reloaded config (the wallet's keys file and
/// allow-list), called on every reload whether or not a live key changed.
pub type ReloadHook = Box<dyn Fn(&Config) + Send + Sync>;

/// What the sidecar needs to reload the config.
pub struct ReloadContext {
    pub shared: Arc<Shared>,
    pub path: Option<PathBuf>,
    pub overrides: Overrides,
    pub log: Option<LogHandle>,
    pub hooks: Vec<ReloadHook>,
}

/// Starts the sidecar thread. `drain` receives one message when SIGTERM or SIGINT arrives.
pub fn start(
    queue_max: usize,
    reload: Option<ReloadContext>,
    drain: Sender<&'static str>,
) -> std::io::Result<SidecarHandle> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (jobs, mut queue) = tokio::sync::mpsc::channel::<Job>(queue_max);
    std::thread::Builder::new()
        .name("shardhub-sidecar".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Some(reload) = reload {
                    let reload = Arc::new(reload);
                    tokio::spawn(watch_signals(reload.clone(), drain));
                    tokio::spawn(watch_file(reload));
                }
                while let Some(job) = queue.recv().await {
                    tokio::spawn(job);
                }
            });
        })?;
    Ok(SidecarHandle { jobs })
}

async fn watch_signals(reload: Arc<ReloadContext>, drain: Sender<&'static str>) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { let _ = drain.send("SIGTERM"); }
            _ = int.recv() => { let _ = drain.send("SIGINT"); }
            _ = hup.recv() => apply_reload(&reload, "SIGHUP"),
        }
    }
}

async fn watch_file(reload: Arc<ReloadContext>) {
    let Some(path) = reload.path.clone() else {
        return;
    };
    let stamp = |p: &PathBuf| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
    };
    let mut last = stamp(&path);
    loop {
        let poll_ms = reload.shared.config.load().lifecycle.config_poll_ms;
        tokio::time::sleep(Duration::from_millis(if poll_ms == 0 { 1000 } else { poll_ms })).await;
        if poll_ms == 0 {
            continue;
        }
        let now = stamp(&path);
        if now != last {
            last = now;
            apply_reload(&reload, "file change");
        }
    }
}

/// Loads the file again and applies what can be applied live.
pub fn apply_reload(reload: &ReloadContext, reason: &str) {
    let Some(path) = &reload.path else {
        tracing::info!(
            reason,
            "reload requested, but the server runs on embedded defaults (no --config)"
        );
        return;
    };
    let new = match Config::load(Some(path), &reload.overrides) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(reason, error = %e, "config reload failed; the running config stays");
            return;
        }
    };
    let running = reload.shared.config.load_full();
    let (diff, next) = ConfigDiff::between(&running, &new);
    // A file a hook reads (the wallet's keys) may change while the config does not.
    for hook in &reload.hooks {
        hook(&next);
    }
    for (key, old, new) in &diff.needs_restart {
        tracing::warn!(reason, key = %key, old = %old, new = %new, "config key changed; it takes effect after a restart");
    }
    if diff.applied.is_empty() {
        tracing::info!(reason, "config reloaded; no live key changed");
        return;
    }
    for (key, old, new) in &diff.applied {
        tracing::info!(reason, key = %key, old = %old, new = %new, "config key reloaded");
    }
    if let Some(log) = &reload.log {
        log.set_level(&next.server.log_level);
    }
    reload.shared.replace_config(next);
    reload.shared.ring_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_sidecar_thread() {
        let (drain, _) = std::sync::mpsc::channel();
        let sidecar = start(1, None, drain).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        sidecar
            .submit(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                tx.send(std::thread::current().name().map(str::to_string)).unwrap();
            }))
            .unwrap();
        let ran_on = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ran_on.as_deref(), Some("shardhub-sidecar"));
    }
}
