//! One shard: an executor thread pinned to a CPU, the services it assembles, and its end of
//! the mesh. This is the one place that names every service: it builds them, gives each its
//! typed ends of the mesh, and routes what arrives over the mesh to the service it is for.
//! The services never see each other through it.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::net::TcpListener as StdTcpListener;
use std::rc::Rc;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{CancelHandle, Canceller};
use monoio::net::{TcpListener, TcpStream};
use rustls::ServerConfig;
use shardhub_core::ShardId;

use crate::admin::AdminService;
use crate::config::Config;
use crate::error::ShardStartError;
use crate::http::HttpFront;
use crate::kv::KvService;
use crate::mqtt::broker::Broker;
use crate::resp::RespFront;
use crate::runtime::accept::accept_loop;
use crate::runtime::mesh::{Mesh, MeshEndpoint, Wire};
use crate::runtime::proxy_header::{self, ProxyPolicy};
use crate::runtime::service::{Port, ReplyPort};
use crate::runtime::shared::Shared;
use crate::runtime::sidecar::SidecarHandle;
use crate::runtime::{MeshBusy, Peers, ReplyTo, Service, ShardCtx};
use crate::seckill::SeckillService;
use crate::storage::OutboxMark;
use crate::tls::TlsListeners;
use crate::wallet::{WalletService, WalletShared};

/// How often a shard looks for a reloaded config and a drain.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);

/// The listeners a shard serves: bound for it by the main thread (`ShardListeners`), then
/// taken over by its runtime.
pub struct Listeners<L> {
    pub resp: L,
    pub mqtt: L,
    pub http: L,
    /// The TLS listeners that are on.
    pub resps: Option<L>,
    pub https: Option<L>,
    pub mqtts: Option<L>,
}

pub type ShardListeners = Listeners<StdTcpListener>;

impl<L> Listeners<L> {
    fn try_map<M, E>(self, f: impl Fn(L) -> Result<M, E>) -> Result<Listeners<M>, E> {
        Ok(Listeners {
            resp: f(self.resp)?,
            mqtt: f(self.mqtt)?,
            http: f(self.http)?,
            resps: self.resps.map(&f).transpose()?,
            https: self.https.map(&f).transpose()?,
            mqtts: self.mqtts.map(&f).transpose()?,
        })
    }
}

/// What the main thread gives a shard's thread.
pub struct ShardStart {
    pub id: ShardId,
    pub shared: Arc<Shared>,
    pub wallet: Arc<WalletShared>,
    /// What every shard's flash-sale log shares with the outbox relay; `None` while the
    /// pipeline is off.
    pub outbox: Option<Arc<[OutboxMark]>>,
    pub sidecar: SidecarHandle,
    pub endpoint: MeshEndpoint<ShardWire>,
    pub listeners: ShardListeners,
    /// The TLS listeners' live configurations.
    pub tls: Arc<TlsListeners>,
    pub cpu: Option<core_affinity::CoreId>,
}

/// What a shard reports once it listens (or why it could not start).
pub type StartReport = Result<(ShardId, &'static str), (ShardId, ShardStartError)>;

/// How one service's messages travel inside the shard's mesh envelopes.
trait Carried: Service {
    fn msg(msg: Self::Msg) -> ShardMsg;
    fn answer(reply: Self::Reply) -> ShardAnswer;
    fn waiter(tx: local_sync::oneshot::Sender<Self::Reply>) -> Waiter;
}

/// The services of a shard, one line each: the variant its messages travel in, the field
/// that holds it, its type.
macro_rules! services {
    ($($variant:ident($field:ident): $service:ty),* $(,)?) => {
        /// A message for one service of another shard.
        pub enum ShardMsg {
            $($variant(<$service as Service>::Msg)),*
        }

        /// A service's reply.
        pub enum ShardAnswer {
            $($variant(<$service as Service>::Reply)),*
        }

        /// Who waits for a reply on the asking shard.
        pub enum Waiter {
            $($variant(local_sync::oneshot::Sender<<$service as Service>::Reply>)),*
        }

        /// What the shards' mesh carries.
        pub struct ShardWire;

        impl Wire for ShardWire {
            type Msg = ShardMsg;
            type Answer = ShardAnswer;
            type Waiter = Waiter;

            fn complete(waiter: Waiter, answer: ShardAnswer) {
                match (waiter, answer) {
                    // A caller that went away no longer wants its answer.
                    $((Waiter::$variant(tx), ShardAnswer::$variant(reply)) => {
                        let _ = tx.send(reply);
                    })*
                    // Ports pair a waiter with its service's answers; a mismatch drops the
                    // waiter, and its caller reads "unanswered".
                    _ => debug_assert!(false, "an answer of another service"),
                }
            }
        }

        $(impl Carried for $service {
            fn msg(msg: Self::Msg) -> ShardMsg {
                ShardMsg::$variant(msg)
            }

            fn answer(reply: Self::Reply) -> ShardAnswer {
                ShardAnswer::$variant(reply)
            }

            fn waiter(tx: local_sync::oneshot::Sender<Self::Reply>) -> Waiter {
                Waiter::$variant(tx)
            }
        })*

        /// A shard's services.
        struct Services {
            $($field: Rc<$service>),*
        }

        impl Services {
            /// Hands a message from another shard to its service.
            fn route(&self, msg: ShardMsg, to: ReplyTo) {
                match msg {
                    $(ShardMsg::$variant(msg) => {
                        let service = &self.$field;
                        let _ = service.handle(msg, service.peers().reply_to(to));
                    })*
                }
            }

            fn start(&self) {
                $(self.$field.start();)*
            }

            fn reconfigure(&self, config: &Config) {
                $(self.$field.reconfigure(config);)*
            }

            fn drain(&self) {
                $(self.$field.drain();)*
            }
        }
    };
}

services! {
    Kv(kv): KvService,
    Seckill(seckill): SeckillService,
    Mqtt(mqtt): Broker,
    Wallet(wallet): WalletService,
    Resp(resp): RespFront,
    Admin(admin): AdminService,
}

/// One service's typed end of the shard's mesh.
struct MeshPort<S> {
    mesh: Rc<Mesh<ShardWire>>,
    service: PhantomData<fn() -> S>,
}

impl<S: Carried> Port<S::Msg, S::Reply> for MeshPort<S> {
    fn call(&self, dst: ShardId, msg: S::Msg) -> Result<local_sync::oneshot::Receiver<S::Reply>, MeshBusy> {
        let (tx, rx) = local_sync::oneshot::channel();
        self.mesh.call(dst, S::msg(msg), S::waiter(tx))?;
        Ok(rx)
    }

    fn notify(&self, dst: ShardId, msg: S::Msg) -> Result<(), MeshBusy> {
        self.mesh.notify(dst, S::msg(msg))
    }

    fn room(&self, dst: ShardId) -> usize {
        self.mesh.room(dst)
    }
}

impl<S: Carried> ReplyPort<S::Reply> for MeshPort<S> {
    fn reply_in_batch(&self, to: ReplyTo, reply: S::Reply) {
        self.mesh.reply_in_batch(to, S::answer(reply));
    }

    fn reply(&self, to: ReplyTo, reply: S::Reply) {
        self.mesh.reply(to, S::answer(reply));
    }
}

/// Service `S`'s peers over `mesh`; `unanswered` is its reply when an owner cannot answer.
fn peers<S: Carried>(mesh: &Rc<Mesh<ShardWire>>, unanswered: fn() -> S::Reply) -> Peers<S::Msg, S::Reply> {
    let port = Rc::new(MeshPort::<S> {
        mesh: mesh.clone(),
        service: PhantomData,
    });
    Peers::new(mesh.shard(), mesh.shard_count(), port, unanswered)
}

struct Shard {
    ctx: Rc<ShardCtx>,
    mesh: Rc<Mesh<ShardWire>>,
    services: Services,
    resp: Rc<RespFront>,
    http: Rc<HttpFront>,
    /// Cancels the RESP and MQTT accept loops when a drain starts. The HTTP listener stays
    /// open so load balancers keep reading 503 from /readyz until the process exits.
    accept_canceller: RefCell<Option<Canceller>>,
}

impl Shard {
    /// Builds every service, replaying their logs.
    fn assemble(
        ctx: Rc<ShardCtx>,
        mesh: Rc<Mesh<ShardWire>>,
        wallet: Arc<WalletShared>,
        outbox: Option<Arc<[OutboxMark]>>,
    ) -> Result<Shard, ShardStartError> {
        let kv = Rc::new(KvService::new(ctx.clone(), peers::<KvService>(&mesh, || None)));
        let seckill = {
            let peers = peers::<SeckillService>(&mesh, || crate::seckill::message::SeckillReply::Unavailable);
            let (seckill, recovery) =
                SeckillService::open(ctx.clone(), peers, outbox).map_err(ShardStartError::Seckill)?;
            log_seckill_replay(&seckill, &recovery);
            Rc::new(seckill)
        };
        let mqtt = Rc::new(Broker::open(
            ctx.clone(),
            peers::<Broker>(&mesh, || crate::mqtt::message::MqttReply::Unavailable),
        )?);
        let wallet = Rc::new(
            WalletService::open(
                ctx.clone(),
                peers::<WalletService>(&mesh, crate::wallet::owner::unanswered),
                wallet,
            )
            .map_err(ShardStartError::Wallet)?,
        );
        let admin = Rc::new(AdminService::new(
            ctx.clone(),
            peers::<AdminService>(&mesh, || crate::admin::AdminReply::Unavailable),
        ));
        let resp = Rc::new(RespFront::new(
            ctx.clone(),
            peers::<RespFront>(&mesh, || crate::resp::front::RespReply::Unavailable),
            kv.clone(),
            seckill.clone(),
            admin.clone(),
        ));
        let http = Rc::new(HttpFront {
            ctx: ctx.clone(),
            admin: admin.clone(),
            broker: mqtt.clone(),
            wallet: wallet.clone(),
            requests: Default::default(),
        });
        // `/metrics` lists the families in this order.
        let registry = &ctx.metrics;
        registry.register(&ctx);
        registry.register(&resp);
        registry.register(&kv);
        registry.register(&http);
        registry.register(&wallet);
        registry.register(&seckill);
        registry.register(&mqtt);
        let services = Services {
            kv,
            seckill,
            mqtt,
            wallet,
            resp: resp.clone(),
            admin,
        };
        Ok(Shard {
            ctx,
            mesh,
            services,
            resp,
            http,
            accept_canceller: RefCell::new(Some(Canceller::new())),
        })
    }

    /// Accepts on every listener, each connection going to its protocol's driver.
    fn listen(self: &Rc<Self>, l: Listeners<TcpListener>, tls: Arc<TlsListeners>) {
        // RESP and MQTT stop accepting when a drain starts; HTTP keeps answering /readyz.
        let drain = self.accept_canceller.borrow().as_ref().expect("set at start").handle();
        let resp_on = |name, listener, tls| {
            let front = self.resp.clone();
            self.accept_on(name, listener, Some(drain.clone()), tls, move |stream, peer, config| {
                crate::resp::conn::serve(front.clone(), stream, peer, config)
            });
        };
        resp_on("resp", l.resp, None);
        if let Some(resps) = l.resps {
            resp_on("resps", resps, Some(tls.clone()));
        }
        let http_on = |name, listener, tls| {
            let front = self.http.clone();
            self.accept_on(name, listener, None, tls, move |stream, _, config| {
                crate::http::conn::serve(front.clone(), stream, config)
            });
        };
        http_on("http", l.http, None);
        if let Some(https) = l.https {
            http_on("https", https, Some(tls.clone()));
        }
        let mqtt_on = |name, listener, tls| {
            let broker = self.services.mqtt.clone();
            self.accept_on(name, listener, Some(drain.clone()), tls, move |stream, _, config| {
                crate::mqtt::conn::serve(broker.clone(), stream, config)
            });
        };
        mqtt_on("mqtt", l.mqtt, None);
        if let Some(mqtts) = l.mqtts {
            mqtt_on("mqtts", mqtts, Some(tls));
        }
    }

    /// Accepts on the listener `name`: each connection, after its PROXY header when
    /// `[proxy.<name>]` asks for one, goes to `serve` with the client's address and, on a
    /// TLS listener, the TLS configuration at accept time (a reload serves the next one).
    fn accept_on<F, Fut>(
        &self,
        name: &'static str,
        listener: TcpListener,
        cancel: Option<CancelHandle>,
        tls: Option<Arc<TlsListeners>>,
        serve: F,
    ) where
        F: Fn(TcpStream, SocketAddr, Option<Arc<ServerConfig>>) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let policy = ProxyPolicy::of(self.ctx.config().proxy.listener(name)).map(Rc::new);
        let serve = Rc::new(serve);
        monoio::spawn(accept_loop(self.ctx.clone(), listener, cancel, move |stream, peer| {
            let config = match &tls {
                None => None,
                // Always there while the listener is: a TLS listener never serves plain text.
                Some(tls) => match tls.current(name) {
                    Some(config) => Some(config),
                    None => return,
                },
            };
            let (policy, serve) = (policy.clone(), serve.clone());
            monoio::spawn(async move {
                let client = match &policy {
                    None => peer,
                    Some(policy) => match proxy_header::read(&stream, peer, policy).await {
                        Ok(client) => client,
                        Err(e) => {
                            tracing::debug!(listener = name, %peer, error = %e, "connection closed: PROXY header");
                            return;
                        }
                    },
                };
                serve(stream, client, config).await;
            });
        }));
    }

    /// Periodic shard chores: taking a reloaded config, noticing a drain.
    async fn housekeeping(self: Rc<Self>) {
        loop {
            monoio::time::sleep(HOUSEKEEPING_INTERVAL).await;
            if let Some(config) = self.ctx.take_reload() {
                self.services.reconfigure(&config);
            }
            if self.ctx.shared.lifecycle.is_draining() {
                if let Some(canceller) = self.accept_canceller.borrow_mut().take() {
                    tracing::info!(shard = self.ctx.id, "draining: RESP and MQTT listeners closed");
                    canceller.cancel();
                    self.services.drain();
                }
            }
        }
    }
}

fn log_seckill_replay(seckill: &SeckillService, recovery: &crate::storage::Recovery) {
    let inventory = seckill.owner.inventory.borrow();
    tracing::info!(
        shard = seckill.ctx().id,
        snapshot = recovery.snapshot.is_some(),
        records = recovery.records,
        torn_bytes = recovery.torn_bytes,
        skus = inventory.skus_len(),
        orders = inventory.orders_len(),
        reserved_orders = inventory.reserved_orders_len(),
        "seckill log replayed"
    );
}

/// The body of a shard's thread: build the runtime, report, serve until the process exits.
pub fn run(start: ShardStart, started: SyncSender<StartReport>) {
    let id = start.id;
    if let Some(cpu) = start.cpu {
        if !core_affinity::set_for_current(cpu) {
            tracing::warn!(shard = id, cpu = cpu.id, "could not pin shard to its CPU");
        }
    }
    let entries = start.shared.config.load().server.uring_entries;
    let (mut runtime, driver) = match crate::runtime::executor::build(entries) {
        Ok(built) => built,
        Err(e) => {
            let _ = started.send(Err((id, ShardStartError::Runtime(e))));
            return;
        }
    };
    runtime.block_on(async move {
        let cpu = start.cpu.map(|c| c.id);
        let spin = Duration::from_micros(start.shared.config.load().mesh.spin_us);
        let shard = match open(start, driver) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = started.send(Err((id, e)));
                return;
            }
        };
        tracing::info!(shard = id, driver, cpu, "shard started");
        shard.services.start();
        monoio::spawn(shard.clone().housekeeping());
        let _ = started.send(Ok((id, driver)));
        let router = shard.clone();
        shard
            .mesh
            .run(spin, move |msg, to| router.services.route(msg, to))
            .await;
    });
}

/// Takes over the listeners and assembles the shard.
fn open(start: ShardStart, driver: &'static str) -> Result<Rc<Shard>, ShardStartError> {
    let listeners = start
        .listeners
        .try_map(|l| TcpListener::from_std(l).map_err(ShardStartError::Listener))?;
    let pending_max = start.shared.config.load().limits.pending_mesh_requests_max;
    let mesh = Rc::new(Mesh::new(start.endpoint, pending_max));
    let ctx = Rc::new(ShardCtx::new(
        start.id,
        start.shared,
        driver,
        start.sidecar,
        mesh.clone(),
    ));
    let shard = Rc::new(Shard::assemble(ctx, mesh, start.wallet, start.outbox)?);
    shard.listen(listeners, start.tls);
    Ok(shard)
}
