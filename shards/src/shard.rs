//! One shard: an executor thread pinned to a CPU, the state it owns (its slots' keys, its
//! connections, its metrics), its listeners and its end of the mesh.

use std::cell::{Cell, RefCell};
use std::net::TcpListener as StdTcpListener;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::Canceller;
use monoio::net::{TcpListener, TcpStream};
use shardhub_core::{KeyOp, Keyspace, KeyspaceLimits, ShardId};
use shardhub_net::resp::RequestLimits;

use crate::clients::ClientRegistry;
use crate::config::Config;
use crate::mesh::{Mesh, MeshBusy, MeshEndpoint, ReplyFuture, ReplyTo};
use crate::metrics::{MetricsSnapshot, ShardMetrics};
use crate::mqtt::broker::{Broker, Handled};
use crate::mqtt::io::CloseRequest;
use crate::mqtt::settings::MqttSettings;
use crate::seckill_front::SeckillFront;
use crate::seckill_owner::{Completion, SeckillOwner};
use crate::shard_op::{SeckillOp, SeckillReply, ShardOp, ShardReply, ShardStats};
use crate::shared::{unix_ms, Shared};
use crate::wallet::owner::Handled as WalletHandled;
use crate::wallet::WalletShard;
use crate::{http_conn, resp_conn, seckill_owner};

/// The listeners a shard serves, bound for it by the main thread.
pub struct ShardListeners {
    pub resp: StdTcpListener,
    pub mqtt: StdTcpListener,
    pub http: StdTcpListener,
}

/// What a shard reports once it listens (or why it could not start).
pub type StartReport = Result<(ShardId, &'static str), (ShardId, std::io::Error)>;

pub struct Shard {
    pub id: ShardId,
    pub shared: Arc<Shared>,
    pub driver: &'static str,
    pub keyspace: RefCell<Keyspace>,
    pub mesh: Mesh,
    pub metrics: RefCell<ShardMetrics>,
    pub clients: RefCell<ClientRegistry>,
    /// The flash-sale SKUs and orders this shard owns, and their log.
    pub seckill: SeckillOwner,
    /// Sold-out hints and admission queues in front of every owner.
    pub seckill_front: SeckillFront,
    /// This shard's part of the MQTT broker.
    pub mqtt: Broker,
    /// The wallets this shard owns and the secure sessions of its clients.
    pub wallet: WalletShard,
    /// Hot-reloadable settings, copied from the shared config when its generation moves.
    pub request_limits: Cell<RequestLimits>,
    pub max_connections: Cell<usize>,
    config_generation: Cell<u64>,
    /// Cancels the RESP and MQTT accept loops when a drain starts. The HTTP listener stays open so load
    /// balancers keep reading 503 from /readyz until the process exits.
    accept_canceller: RefCell<Option<Canceller>>,
}

impl Shard {
    fn new(
        id: ShardId,
        shared: Arc<Shared>,
        driver: &'static str,
        endpoint: MeshEndpoint,
        seckill: SeckillOwner,
        mqtt: Broker,
        wallet: WalletShard,
    ) -> Self {
        let config = shared.config.load_full();
        Self {
            mqtt,
            wallet,
            seckill,
            seckill_front: SeckillFront::new(shared.shard_count, &config.seckill),
            id,
            driver,
            keyspace: RefCell::new(Keyspace::new(keyspace_limits(&config))),
            mesh: Mesh::new(endpoint, config.limits.max_pending_mesh_requests),
            metrics: RefCell::new(ShardMetrics::default()),
            clients: RefCell::new(ClientRegistry::default()),
            request_limits: Cell::new(request_limits(&config)),
            max_connections: Cell::new(config.limits.max_connections_per_shard),
            config_generation: Cell::new(shared.config_generation.load(Ordering::Acquire)),
            accept_canceller: RefCell::new(Some(Canceller::new())),
            shared,
        }
    }

    /// Runs a request for state this shard owns; the mesh calls this for other shards.
    pub fn execute(&self, op: ShardOp) -> ShardReply {
        match op {
            ShardOp::Key(op) => ShardReply::Key(self.keyspace.borrow_mut().apply(op, unix_ms())),
            ShardOp::Stats => ShardReply::Stats(self.stats()),
            ShardOp::Metrics => ShardReply::Metrics(Box::new(MetricsSnapshot {
                stats: self.stats(),
                metrics: self.metrics.borrow().clone(),
                seckill: self.seckill.metrics.borrow().clone(),
                mqtt: self.mqtt.metrics.borrow().clone(),
                mqtt_gauges: crate::mqtt::metrics::MqttGauges {
                    sessions: self.mqtt.sessions_len() as u64,
                    subscriptions: self.mqtt.subscriptions_len() as u64,
                    retained: self.mqtt.retained_len() as u64,
                    shadows: self.mqtt.shadows_len() as u64,
                },
                wallet: self.wallet.metrics.borrow().clone(),
                wallets: self.wallet.wallets_len() as u64,
                secure_sessions: self.wallet.sessions.borrow().len() as u64,
            })),
            ShardOp::ClientList(filter) => ShardReply::ClientList(self.clients.borrow().list(&filter, self.id)),
            ShardOp::Ping => ShardReply::Pong,
            ShardOp::SoldOutHint { sku, sold_out } => {
                self.seckill_front.set_hint(sku, sold_out);
                ShardReply::Pong
            }
            ShardOp::Seckill(_) | ShardOp::Mqtt(_) | ShardOp::Wallet(_) => {
                unreachable!("flash-sale, broker and wallet ops go through `call` or `handle_remote`")
            }
        }
    }

    /// Runs a request from another shard: answers at once, or (for flash-sale writes) parks
    /// the reply until the log has it and answers through the mesh then.
    fn handle_remote(self: &Rc<Self>, op: ShardOp, to: ReplyTo) -> Option<ShardReply> {
        match op {
            ShardOp::Mqtt(op) => match self.mqtt.handle(self, op) {
                Handled::Now(reply) => Some(ShardReply::Mqtt(reply)),
                Handled::Later(future) => {
                    let shard = self.clone();
                    monoio::spawn(async move {
                        let reply = future.await;
                        shard.mesh.reply(to, ShardReply::Mqtt(reply));
                    });
                    None
                }
            },
            ShardOp::Wallet(op) => match crate::wallet::owner::handle(self, op) {
                WalletHandled::Now(reply) => Some(ShardReply::Wallet(reply)),
                WalletHandled::Later(future) => {
                    let shard = self.clone();
                    monoio::spawn(async move {
                        let reply = future.await;
                        shard.mesh.reply(to, ShardReply::Wallet(reply));
                    });
                    None
                }
            },
            ShardOp::Seckill(op) => self
                .run_seckill(op, |owner, reply, started| {
                    owner.defer(reply, Completion::Remote(to), started)
                })
                .ok(),
            op => Some(self.execute(op)),
        }
    }

    /// Runs `op` on `owner`: at once when that is this shard, else through the mesh.
    pub fn call(&self, owner: ShardId, op: ShardOp) -> Result<Routed, MeshBusy> {
        if owner != self.id {
            return self.mesh.call(owner, op).map(Routed::Remote);
        }
        Ok(match op {
            ShardOp::Seckill(op) => match self.run_seckill(op, SeckillOwner::defer_local) {
                Ok(reply) => Routed::Local(reply),
                Err(parked) => Routed::Remote(parked),
            },
            op => Routed::Local(self.execute(op)),
        })
    }

    /// Runs a flash-sale op this shard owns: the reply, or what `park` made of it when the
    /// reply must wait for the log.
    fn run_seckill<P>(
        &self,
        op: SeckillOp,
        park: impl FnOnce(&SeckillOwner, SeckillReply, Option<Instant>) -> P,
    ) -> Result<ShardReply, P> {
        let started = matches!(op, SeckillOp::Buy(_)).then(Instant::now);
        let (reply, wait) = self.seckill.execute(self, op);
        if wait {
            return Err(park(&self.seckill, reply, started));
        }
        if let Some(started) = started {
            self.seckill.metrics.borrow_mut().record_reserve(started.elapsed());
        }
        Ok(ShardReply::Seckill(reply))
    }

    /// Runs `op` on the owner of `key`'s slot.
    pub fn call_owner_of(&self, key: &[u8], op: ShardOp) -> Result<Routed, MeshBusy> {
        self.call(self.shared.slots.owner_of_key(key), op)
    }

    /// Applies a key operation on the key's owner.
    pub fn call_key(&self, key: &[u8], op: KeyOp) -> Result<Routed, MeshBusy> {
        self.call(self.shared.slots.owner_of_key(key), ShardOp::Key(op))
    }

    pub fn stats(&self) -> ShardStats {
        let metrics = self.metrics.borrow();
        let keyspace = self.keyspace.borrow();
        let mesh = self.mesh.stats();
        ShardStats {
            shard: self.id,
            keys: keyspace.len() as u64,
            expires: keyspace.expires_len() as u64,
            expired_keys: metrics.expired_keys,
            connected_clients: metrics.connections_current,
            total_connections: metrics.connections_total,
            rejected_connections: metrics.connections_rejected,
            commands_processed: metrics.commands_processed(),
            net_input_bytes: metrics.bytes_in,
            net_output_bytes: metrics.bytes_out,
            mesh_requests_sent: mesh.requests_sent,
            mesh_notices_sent: mesh.notices_sent,
            mesh_requests_received: mesh.requests_received,
            mesh_busy: mesh.busy,
            driver: self.driver,
        }
    }

    fn apply_config(&self, config: &Config) {
        self.keyspace.borrow_mut().set_limits(keyspace_limits(config));
        self.request_limits.set(request_limits(config));
        self.max_connections.set(config.limits.max_connections_per_shard);
        self.seckill.apply_config(&config.seckill);
        self.mqtt.settings.set(MqttSettings::from(&config.mqtt));
        self.mqtt.store.apply_config(config);
        self.wallet.apply_config(&config.wallet);
        self.seckill_front
            .settings
            .set(crate::seckill_front::FrontSettings::from(&config.seckill));
    }

    /// Picks up a reloaded config, if any.
    fn refresh_config(&self) {
        let generation = self.shared.config_generation.load(Ordering::Acquire);
        if generation != self.config_generation.get() {
            self.config_generation.set(generation);
            self.apply_config(&self.shared.config.load());
        }
    }

    /// Marks a request served during a drain, so the main thread knows the shard is busy.
    pub fn note_drain_activity(&self) {
        if self.shared.lifecycle.is_draining() {
            self.shared.drain_activity_ms[usize::from(self.id)].store(self.shared.uptime_ms(), Ordering::Release);
        }
    }

    pub fn connection_opened(&self) {
        let mut m = self.metrics.borrow_mut();
        m.connections_current += 1;
        m.connections_total += 1;
        self.shared.open_connections[usize::from(self.id)].fetch_add(1, Ordering::AcqRel);
    }

    pub fn connection_closed(&self) {
        self.metrics.borrow_mut().connections_current -= 1;
        self.shared.open_connections[usize::from(self.id)].fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether one more connection fits under the per-shard limit.
    pub fn admits_connection(&self) -> bool {
        let fits = (self.metrics.borrow().connections_current as usize) < self.max_connections.get();
        if !fits {
            self.metrics.borrow_mut().connections_rejected += 1;
        }
        fits
    }
}

/// A request's answer: already there, or on its way back over the mesh.
pub enum Routed {
    Local(ShardReply),
    Remote(ReplyFuture),
}

impl Routed {
    pub async fn get(self) -> ShardReply {
        match self {
            Routed::Local(reply) => reply,
            Routed::Remote(future) => future.await,
        }
    }
}

fn keyspace_limits(config: &Config) -> KeyspaceLimits {
    KeyspaceLimits {
        keys_max: config.keyspace.max_keys_per_shard,
    }
}

fn request_limits(config: &Config) -> RequestLimits {
    RequestLimits {
        args_max: config.limits.max_args,
        bulk_bytes_max: config.limits.max_bulk_bytes,
        inline_bytes_max: config.limits.max_inline_bytes,
        request_bytes_max: config.limits.max_request_bytes,
    }
}

/// The body of a shard's thread: build the runtime, report, serve until the process exits.
pub fn run(
    id: ShardId,
    shared: Arc<Shared>,
    endpoint: MeshEndpoint,
    listeners: ShardListeners,
    cpu: Option<core_affinity::CoreId>,
    started: SyncSender<StartReport>,
) {
    if let Some(cpu) = cpu {
        if !core_affinity::set_for_current(cpu) {
            tracing::warn!(shard = id, cpu = cpu.id, "could not pin shard to its CPU");
        }
    }
    let entries = shared.config.load().server.uring_entries;
    let (mut runtime, driver) = match crate::runtime::build(entries) {
        Ok(built) => built,
        Err(e) => {
            let _ = started.send(Err((id, e)));
            return;
        }
    };
    runtime.block_on(async move {
        let resp = match TcpListener::from_std(listeners.resp) {
            Ok(l) => l,
            Err(e) => {
                let _ = started.send(Err((id, e)));
                return;
            }
        };
        let mqtt = match TcpListener::from_std(listeners.mqtt) {
            Ok(l) => l,
            Err(e) => {
                let _ = started.send(Err((id, e)));
                return;
            }
        };
        let http = match TcpListener::from_std(listeners.http) {
            Ok(l) => l,
            Err(e) => {
                let _ = started.send(Err((id, e)));
                return;
            }
        };
        let spin = Duration::from_micros(shared.config.load().mesh.spin_us);
        let (seckill, recovery) = match SeckillOwner::open(id, &shared.config.load()) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = started.send(Err((id, std::io::Error::other(e))));
                return;
            }
        };
        let broker = match crate::mqtt::open_broker(id, &shared) {
            Ok(broker) => broker,
            Err(e) => {
                let _ = started.send(Err((id, std::io::Error::other(e))));
                return;
            }
        };
        let wallet = match WalletShard::open(id, &shared.config.load(), &shared.wallet) {
            Ok(wallet) => wallet,
            Err(e) => {
                let _ = started.send(Err((id, std::io::Error::other(e))));
                return;
            }
        };
        let shard = Rc::new(Shard::new(id, shared, driver, endpoint, seckill, broker, wallet));
        {
            let inventory = shard.seckill.inventory.borrow();
            tracing::info!(
                shard = id,
                snapshot = recovery.snapshot.is_some(),
                records = recovery.records,
                torn_bytes = recovery.torn_bytes,
                skus = inventory.skus_len(),
                orders = inventory.orders_len(),
                reserved_orders = inventory.reserved_orders_len(),
                "seckill log replayed"
            );
        }
        tracing::info!(shard = id, driver, cpu = cpu.map(|c| c.id), "shard started");

        let handle = shard.accept_canceller.borrow().as_ref().expect("set at start").handle();
        monoio::spawn(accept_loop(shard.clone(), resp, Some(handle.clone()), Protocol::Resp));
        monoio::spawn(accept_loop(shard.clone(), mqtt, Some(handle), Protocol::Mqtt));
        monoio::spawn(accept_loop(shard.clone(), http, None, Protocol::Http));
        monoio::spawn(housekeeping(shard.clone()));
        monoio::spawn(seckill_owner::flusher(shard.clone()));
        monoio::spawn(seckill_owner::expiry_timer(shard.clone()));
        monoio::spawn(crate::mqtt::store::flusher(shard.clone()));
        monoio::spawn(crate::mqtt::io::flusher(shard.mqtt.batch.clone()));
        monoio::spawn(crate::wallet::run(shard.clone()));
        shard.seckill.announce_soldout(&shard);
        let _ = started.send(Ok((id, driver)));
        let mesh_shard = shard.clone();
        shard
            .mesh
            .run(spin, move |op, to| mesh_shard.handle_remote(op, to))
            .await;
    });
}

#[derive(Clone, Copy)]
enum Protocol {
    Resp,
    Mqtt,
    Http,
}

async fn accept_loop(
    shard: Rc<Shard>,
    listener: TcpListener,
    cancel: Option<monoio::io::CancelHandle>,
    protocol: Protocol,
) {
    loop {
        let accepted = match &cancel {
            Some(handle) => listener.cancelable_accept(handle.clone()).await,
            None => listener.accept().await,
        };
        match accepted {
            Ok((stream, peer)) => spawn_connection(&shard, stream, peer, protocol),
            Err(e) if cancel.is_some() && shard.shared.lifecycle.is_draining() => {
                tracing::debug!(shard = shard.id, error = %e, "listener closed for drain");
                break;
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on a full descriptor table.
                tracing::warn!(shard = shard.id, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn spawn_connection(shard: &Rc<Shard>, stream: TcpStream, peer: std::net::SocketAddr, protocol: Protocol) {
    let _ = stream.set_nodelay(true);
    match protocol {
        Protocol::Resp => {
            monoio::spawn(resp_conn::serve(shard.clone(), stream, peer));
        }
        Protocol::Mqtt => {
            monoio::spawn(crate::mqtt::conn::serve(shard.clone(), stream));
        }
        Protocol::Http => {
            monoio::spawn(http_conn::serve(shard.clone(), stream));
        }
    }
}

/// Periodic shard chores: active expiry, config reloads, noticing a drain.
async fn housekeeping(shard: Rc<Shard>) {
    loop {
        let (interval_ms, per_cycle) = {
            let c = shard.shared.config.load();
            (
                c.keyspace.active_expire_interval_ms,
                c.keyspace.active_expire_keys_per_cycle,
            )
        };
        monoio::time::sleep(Duration::from_millis(interval_ms)).await;
        let removed = shard.keyspace.borrow_mut().expire_cycle(unix_ms(), per_cycle);
        shard.metrics.borrow_mut().expired_keys += removed as u64;
        shard.refresh_config();
        if shard.shared.lifecycle.is_draining() {
            if let Some(canceller) = shard.accept_canceller.borrow_mut().take() {
                tracing::info!(shard = shard.id, "draining: RESP and MQTT listeners closed");
                canceller.cancel();
                shard.mqtt.close_connections(CloseRequest::ShuttingDown);
            }
        }
    }
}
