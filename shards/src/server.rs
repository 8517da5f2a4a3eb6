//! Start-up and shutdown of the whole process: bind, start the shards and the sidecar, say
//! READY, and on SIGTERM/SIGINT drain within bounds and exit 0.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, Overrides};
use crate::error::ServerError;
use crate::runtime::listener::bind_reuseport;
use crate::runtime::logging::LogHandle;
use crate::runtime::shared::{Ports, Shared};
use crate::runtime::sidecar::{self, ReloadContext};
use crate::shard::{self, ShardListeners, ShardStart, ShardWire, StartReport};
use crate::storage::OutboxMark;
use crate::tls::TlsListeners;
use crate::wallet::WalletShared;

/// How long shards may take to build their runtimes and start listening.
const SHARD_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Jobs the sidecar queues before refusing more.
const SIDECAR_QUEUE_MAX: usize = 4096;
/// How often the main thread checks a drain's progress.
const DRAIN_POLL: Duration = Duration::from_millis(10);

pub struct ServeArgs {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
    pub log: LogHandle,
}

/// Runs the server until a signal drains it. Returns only on a start-up error.
pub fn serve(args: ServeArgs) -> Result<(), ServerError> {
    let config = args.config;
    let shard_count = config.shard_count();
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| ServerError::DataDir {
        path: config.server.data_dir.clone(),
        source: e,
    })?;
    let _data_lock = crate::storage::data_dir::claim(&config.server.data_dir, shard_count)?;
    crate::runtime::rlimits::check(&config);
    let wallet = Arc::new(WalletShared::open(&config)?);

    let backlog = config.listen.backlog;
    let resp = bind_reuseport("RESP", &config.listen.resp, shard_count, backlog)?;
    let mqtt = bind_reuseport("MQTT", &config.listen.mqtt, shard_count, backlog)?;
    let http = bind_reuseport("HTTP", &config.listen.http, shard_count, backlog)?;
    // The certificates are read before anything listens: a bad one stops the start.
    let tls = TlsListeners::load(&config)?;
    let bind_tls = |name: &'static str, addr: &str| -> Result<Vec<Option<std::net::TcpListener>>, ServerError> {
        Ok(match addr {
            "" => (0..shard_count).map(|_| None).collect(),
            addr => bind_reuseport(name, addr, shard_count, backlog)?
                .into_iter()
                .map(Some)
                .collect(),
        })
    };
    let resps = bind_tls("RESP over TLS", &config.listen.resps)?;
    let https = bind_tls("HTTPS", &config.listen.https)?;
    let mqtts = bind_tls("MQTT over TLS", &config.listen.mqtts)?;
    let tls_addr = |l: &[Option<std::net::TcpListener>]| {
        l[0].as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    let (resps_addr, https_addr, mqtts_addr) = (tls_addr(&resps), tls_addr(&https), tls_addr(&mqtts));
    let ports = Ports {
        resp: resp[0].local_addr().map(|a| a.port()).unwrap_or(0),
        http: http[0].local_addr().map(|a| a.port()).unwrap_or(0),
    };
    let resp_addr = resp[0].local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mqtt_addr = mqtt[0].local_addr().map(|a| a.to_string()).unwrap_or_default();
    let http_addr = http[0].local_addr().map(|a| a.to_string()).unwrap_or_default();

    let (endpoints, doorbells) = crate::runtime::mesh::build::<ShardWire>(shard_count, config.mesh.ring_capacity);
    let shared = Arc::new(Shared::new(config.clone(), shard_count, doorbells, ports));
    let (drain_tx, drain_rx) = mpsc::channel();
    let reloaded_wallet = wallet.clone();
    let reloaded_tls = tls.clone();
    let reload = ReloadContext {
        shared: shared.clone(),
        path: args.config_path,
        overrides: args.overrides,
        log: Some(args.log),
        // The keys file may change while the config does not: it is read on every reload.
        hooks: vec![
            Box::new(move |config: &Config| reloaded_wallet.reload(&config.wallet)),
            Box::new(move |config: &Config| reloaded_tls.reload(config)),
        ],
    };
    let sidecar = sidecar::start(SIDECAR_QUEUE_MAX, Some(reload), drain_tx).map_err(ServerError::Sidecar)?;
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let outbox: Option<Arc<[OutboxMark]>> = config
        .pipeline
        .enabled()
        .then(|| (0..shard_count).map(|_| OutboxMark::default()).collect());
    let (started_tx, started_rx) = mpsc::sync_channel::<StartReport>(shard_count);
    let listeners = resp
        .into_iter()
        .zip(mqtt)
        .zip(http)
        .zip(resps.into_iter().zip(https).zip(mqtts))
        .map(|(((resp, mqtt), http), ((resps, https), mqtts))| ShardListeners {
            resp,
            mqtt,
            http,
            resps,
            https,
            mqtts,
        });
    for (id, (endpoint, listeners)) in endpoints.into_iter().zip(listeners).enumerate() {
        let start = ShardStart {
            id: id as u16,
            shared: shared.clone(),
            wallet: wallet.clone(),
            outbox: outbox.clone(),
            sidecar: sidecar.clone(),
            endpoint,
            listeners,
            tls: tls.clone(),
            cpu: (config.server.pin_cpus && !cpus.is_empty()).then(|| cpus[id % cpus.len()]),
        };
        let started = started_tx.clone();
        std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard::run(start, started))
            .map_err(ServerError::Thread)?;
    }
    let deadline = Instant::now() + SHARD_START_TIMEOUT;
    for _ in 0..shard_count {
        let wait = deadline.saturating_duration_since(Instant::now());
        match started_rx.recv_timeout(wait) {
            Ok(Ok(_)) => {}
            Ok(Err((shard, source))) => return Err(ServerError::ShardStart { shard, source }),
            Err(_) => {
                return Err(ServerError::ShardsTimedOut {
                    secs: SHARD_START_TIMEOUT.as_secs(),
                })
            }
        }
    }

    // After every shard replayed its log: the relay starts from what they committed.
    let relay = match outbox {
        Some(marks) => {
            let dirs = (0..shard_count)
                .map(|shard| crate::seckill::owner::log_dir(&config.server.data_dir, shard as u16))
                .collect();
            let resp = local_address(&resp_addr);
            Some(crate::pipeline::start(&config.pipeline, marks, dirs, resp).map_err(ServerError::Pipeline)?)
        }
        None => None,
    };
    let watched = shared.clone();
    tls.watch(move || watched.config.load_full());
    shared.lifecycle.set_serving();
    tracing::info!(
        resp = %resp_addr,
        http = %http_addr,
        mqtt = %mqtt_addr,
        resps = %resps_addr,
        https = %https_addr,
        mqtts = %mqtts_addr,
        shards = shard_count,
        "listening"
    );
    notify(&[sd_notify::NotifyState::Ready]);

    let signal = drain_rx.recv().unwrap_or("channel closed");
    // The pipeline first: the payments consumer's connection must not hold the drain open.
    // The relay saves where it stands; what is committed after is published on the next start.
    if let Some(relay) = relay {
        relay.stop();
    }
    drain(&shared, signal);
    tracing::info!("drained; exiting");
    std::process::exit(0);
}

/// Where this process reaches its own listener bound at `bound`: loopback when it listens on
/// every address.
fn local_address(bound: &str) -> std::net::SocketAddr {
    let mut addr: std::net::SocketAddr = bound.parse().unwrap_or_else(|_| ([127, 0, 0, 1], 6379).into());
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

/// Stops accepting, lets in-flight requests finish, and returns when every connection has
/// closed, when no request arrived for `drain_quiet_ms`, or at `drain_timeout_ms`.
fn drain(shared: &Shared, signal: &str) {
    let lifecycle = shared.config.load().lifecycle.clone();
    tracing::info!(
        signal,
        timeout_ms = lifecycle.drain_timeout_ms,
        "draining: /readyz now answers 503"
    );
    notify(&[sd_notify::NotifyState::Stopping]);
    let drain_started_ms = shared.uptime_ms();
    for activity in &shared.drain_activity_ms {
        activity.store(drain_started_ms, Ordering::Release);
    }
    shared.lifecycle.start_draining();
    shared.ring_all();
    let deadline = Instant::now() + Duration::from_millis(lifecycle.drain_timeout_ms);
    loop {
        std::thread::sleep(DRAIN_POLL);
        let open: u64 = shared.open_connections.iter().map(|c| c.load(Ordering::Acquire)).sum();
        let last_activity = shared
            .drain_activity_ms
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .max()
            .unwrap_or(0);
        let quiet_ms = shared.uptime_ms().saturating_sub(last_activity);
        if open == 0 {
            tracing::info!("all connections closed");
            return;
        }
        if quiet_ms >= lifecycle.drain_quiet_ms {
            tracing::info!(
                open,
                quiet_ms,
                "no request during the quiet period; closing idle connections"
            );
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(open, "drain timeout reached; closing remaining connections");
            return;
        }
    }
}

fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}
