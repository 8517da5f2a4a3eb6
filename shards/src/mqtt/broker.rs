//! One shard's part of the broker: the sessions it holds, their subscriptions (a trie), the
//! interest summaries of the other shards, and what it owns by slot — client ids (who holds
//! each session) and retained topics.
//!
//! Routing a publish: forward the message (one `Arc`, whatever the fan-out) to each other
//! shard whose interest summary matches, then deliver to the local trie's matches. A message
//! its publisher waits to have acknowledged goes out only when every ring it travels has room
//! for it ([`Broker::route_acknowledged`]). Interest changes travel to every shard before the
//! SUBACK that caused them goes out, so a publish that follows a SUBACK is never missed for
//! lack of a hint.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::RandomState;
use bytes::Bytes;
use std::ops::ControlFlow;

use shardhub_core::pubsub::{Interest, Match, SubscriptionTrie, TrieLimits};
use shardhub_core::ShardId;
use shardhub_net::mqtt::session::{Delivery, Message};
use shardhub_net::mqtt::{MqttStr, Packet, QoS};

use super::auth::TokenVerifier;
use super::message::{MqttOp, MqttReply, SessionState, SubOptions};
use super::metrics::MqttMetrics;
use super::retained::{RetainRefusal, RetainedLimits};
use super::session::{Session, EMPTY_LIMITS};
use super::store::MqttStore;
use crate::config::Config;
use crate::metrics::{Collect, Families};
use crate::runtime::{unix_ms, Peers, Replied, Reply, Service, ShardCtx};

pub type SessionRef = Rc<RefCell<Session>>;

/// What installing a session asks of the other shards before its CONNACK.
#[derive(Default)]
pub struct Installed {
    /// Filters new to this shard's interest.
    pub learn: Vec<String>,
    /// Shared subscriptions to join at their owners.
    pub join: Vec<(String, SubOptions)>,
}

/// What removing a session tells the other shards.
#[derive(Default)]
pub struct Removed {
    /// Filters this shard's interest lost.
    pub forget: Vec<String>,
    /// Shared subscriptions to leave at their owners.
    pub leave: Vec<String>,
}

/// How long an acknowledged publish waits for room in the rings it travels before it is
/// refused: a full ring drains in microseconds unless its shard is stalled.
pub const FORWARD_WAIT_MS_MAX: u64 = 500;
/// How often a waiting publish looks again.
const FORWARD_RETRY: Duration = Duration::from_millis(1);

/// Where one message goes from this shard.
struct RoutePlan {
    /// Shards whose interest matches: each gets the message once.
    forwards: Vec<ShardId>,
    /// This shard's matching subscriptions (shared-group members may be elsewhere).
    targets: Vec<(u64, SubOptions)>,
}

impl RoutePlan {
    /// Whether every ring the plan sends on has room for what it sends there.
    fn fits(&self, peers: &Peers<MqttOp, MqttReply>) -> bool {
        peers.others().all(|dst| {
            let forwards = usize::from(self.forwards.contains(&dst));
            let members = self.targets.iter().filter(|(key, _)| shard_of_key(*key) == dst).count();
            forwards + members <= peers.room(dst)
        })
    }
}

pub fn is_shared(filter: &str) -> bool {
    filter.starts_with("$share/")
}

/// The shard a session key was made on (see [`Broker::new_epoch`]).
pub fn shard_of_key(key: u64) -> ShardId {
    ((key >> 48) as ShardId).saturating_sub(1)
}

pub struct Broker {
    ctx: Rc<ShardCtx>,
    peers: Peers<MqttOp, MqttReply>,
    pub verifier: Option<TokenVerifier>,
    sessions: RefCell<HashMap<u64, SessionRef, RandomState>>,
    subs: RefCell<SubscriptionTrie<u64, SubOptions>>,
    interest: RefCell<Interest>,
    /// Each other shard's interest summary (this shard's own slot stays empty).
    peer_interest: RefCell<Vec<Interest>>,
    /// Client ids this shard owns -> (shard, epoch) of the session holding it.
    registry: RefCell<HashMap<MqttStr, (ShardId, u64), RandomState>>,
    /// Epochs evicted before their connection finished installing its session.
    tombstones: RefCell<HashSet<u64, RandomState>>,
    /// Retained messages and shadows this shard owns, with their log.
    pub store: MqttStore,
    next_epoch: Cell<u64>,
    /// Rotates the member a shared subscription's message goes to.
    share_turn: Cell<usize>,
    pub metrics: RefCell<MqttMetrics>,
    /// Connections of this shard with bytes for the flusher.
    pub batch: Rc<super::io::WriteBatch>,
}

impl Broker {
    pub fn new(
        ctx: Rc<ShardCtx>,
        peers: Peers<MqttOp, MqttReply>,
        verifier: Option<TokenVerifier>,
        store: MqttStore,
    ) -> Self {
        let shards = ctx.shard_count();
        Self {
            ctx,
            peers,
            verifier,
            sessions: RefCell::default(),
            subs: RefCell::new(SubscriptionTrie::new(TrieLimits::default())),
            interest: RefCell::new(Interest::new(TrieLimits::default())),
            peer_interest: RefCell::new((0..shards).map(|_| Interest::new(TrieLimits::default())).collect()),
            registry: RefCell::default(),
            tombstones: RefCell::default(),
            store,
            next_epoch: Cell::new(0),
            share_turn: Cell::new(0),
            batch: Rc::default(),
            metrics: RefCell::default(),
        }
    }

    /// A process-wide unique connection epoch: the shard in the top bits.
    pub fn new_epoch(&self) -> u64 {
        let n = self.next_epoch.get() + 1;
        self.next_epoch.set(n);
        (u64::from(self.ctx.id) + 1) << 48 | n
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    pub fn session(&self, key: u64) -> Option<SessionRef> {
        self.sessions.borrow().get(&key).cloned()
    }

    pub fn sessions_len(&self) -> usize {
        self.sessions.borrow().len()
    }

    pub fn subscriptions_len(&self) -> usize {
        self.subs.borrow().len()
    }

    pub fn retained_len(&self) -> usize {
        self.store.retained.borrow().len()
    }

    pub fn shadows_len(&self) -> usize {
        self.store.shadows.borrow().len()
    }

    /// Whether `epoch` was evicted while its connection was still setting up.
    pub fn take_tombstone(&self, epoch: u64) -> bool {
        self.tombstones.borrow_mut().remove(&epoch)
    }

    // ---- sessions ----

    /// Adds a session and its subscriptions; returns the filters new to this shard's
    /// interest (announce them before acknowledging).
    pub fn install(&self, session: Session) -> (SessionRef, Installed) {
        let key = session.key;
        let filters: Vec<(String, SubOptions)> = session.subscriptions.iter().map(|(f, o)| (f.clone(), *o)).collect();
        let session = Rc::new(RefCell::new(session));
        self.sessions.borrow_mut().insert(key, session.clone());
        let mut installed = Installed::default();
        for (filter, options) in filters {
            if is_shared(&filter) {
                installed.join.push((filter, options));
            } else if let Some(true) = self.add_subscription(key, &filter, options) {
                installed.learn.push(filter);
            }
        }
        (session, installed)
    }

    /// Takes a session out with its subscriptions; returns it and the filters this shard's
    /// interest lost.
    pub fn remove(&self, key: u64) -> Option<(SessionRef, Removed)> {
        let session = self.sessions.borrow_mut().remove(&key)?;
        let filters: Vec<String> = session.borrow().subscriptions.keys().cloned().collect();
        let mut removed = Removed::default();
        for filter in filters {
            if is_shared(&filter) {
                removed.leave.push(filter);
            } else if self.remove_subscription(key, &filter) == Some(true) {
                removed.forget.push(filter);
            }
        }
        Some((session, removed))
    }

    /// Subscribes; `Some(true)` when the filter is new to this shard's interest, `None` when
    /// the trie refused it.
    pub fn add_subscription(&self, key: u64, filter: &str, options: SubOptions) -> Option<bool> {
        let replaced = self.subs.borrow_mut().insert(filter, key, options).ok()?;
        if replaced.is_some() {
            return Some(false);
        }
        self.interest.borrow_mut().add(filter).ok()
    }

    /// Unsubscribes; `Some(true)` when this shard's interest lost the filter, `None` when
    /// there was no such subscription.
    pub fn remove_subscription(&self, key: u64, filter: &str) -> Option<bool> {
        self.subs.borrow_mut().remove(filter, &key)?;
        Some(self.interest.borrow_mut().remove(filter))
    }

    // ---- routing ----

    /// Delivers `message` here and forwards it to the shards that want it. A forward that
    /// finds its ring full is dropped and counted: for what nobody acknowledges (QoS 0
    /// publishes, wills, the server's own messages).
    pub fn route(&self, message: Arc<Message>) {
        self.metrics.borrow_mut().messages_routed += 1;
        let plan = self.plan(&message);
        self.send(&message, plan);
    }

    /// Routes a message its publisher waits to have acknowledged (QoS 1 and 2): it goes out
    /// only once every ring it travels has room, so no part of it is dropped. Returns false
    /// when the rings stayed full for [`FORWARD_WAIT_MS_MAX`]: the message went nowhere, and the
    /// publisher is told to retry (0x97).
    pub async fn route_acknowledged(&self, message: Arc<Message>) -> bool {
        let deadline = Instant::now() + Duration::from_millis(FORWARD_WAIT_MS_MAX);
        loop {
            let plan = self.plan(&message);
            if plan.fits(&self.peers) {
                self.metrics.borrow_mut().messages_routed += 1;
                self.send(&message, plan);
                return true;
            }
            if Instant::now() >= deadline {
                self.metrics.borrow_mut().forward_refused += 1;
                return false;
            }
            self.metrics.borrow_mut().forward_waits += 1;
            monoio::time::sleep(FORWARD_RETRY).await;
        }
    }

    /// Where `message` goes from here: the shards whose interest matches, and this shard's
    /// matching subscriptions.
    fn plan(&self, message: &Message) -> RoutePlan {
        let forwards = self
            .peer_interest
            .borrow()
            .iter()
            .enumerate()
            .map(|(dst, interest)| (dst as ShardId, interest))
            .filter(|(dst, interest)| *dst != self.ctx.id && interest.matches(message.topic.as_str()))
            .map(|(dst, _)| dst)
            .collect();
        RoutePlan {
            forwards,
            targets: self.targets(message),
        }
    }

    /// This shard's subscriptions matching `message`: one entry per subscription, and one
    /// member per shared group (wherever that member's session is).
    fn targets(&self, message: &Message) -> Vec<(u64, SubOptions)> {
        let mut targets: Vec<(u64, SubOptions)> = Vec::new();
        self.subs.borrow().visit(message.topic.as_str(), |m| {
            match m {
                Match::Direct { key, value } => {
                    if !(value.no_local && *key == message.origin) {
                        targets.push((*key, *value));
                    }
                }
                // One member of the group gets it; the rotation spreads a group's messages
                // over its members on every shard.
                Match::Shared { members, .. } => {
                    let turn = self.share_turn.get();
                    self.share_turn.set(turn.wrapping_add(1));
                    if let Some((key, options)) = members.get(turn % members.len().max(1)) {
                        targets.push((*key, *options));
                    }
                }
            }
            ControlFlow::Continue(())
        });
        targets
    }

    /// Carries out a plan: forwards first, then this shard's deliveries.
    fn send(&self, message: &Arc<Message>, plan: RoutePlan) {
        for dst in plan.forwards {
            if self.peers.notify(dst, MqttOp::Publish(message.clone())).is_err() {
                self.metrics.borrow_mut().forward_dropped += 1;
            }
        }
        self.deliver(message, plan.targets);
    }

    /// Delivers a message forwarded here to this shard's matching sessions.
    pub fn deliver_local(&self, message: &Arc<Message>) {
        let targets = self.targets(message);
        self.deliver(message, targets);
    }

    /// One delivery per session, at the highest matching QoS, carrying every matching
    /// subscription identifier; shared-group members on other shards get theirs over the
    /// mesh.
    fn deliver(&self, message: &Arc<Message>, mut targets: Vec<(u64, SubOptions)>) {
        if targets.is_empty() {
            return;
        }
        targets.retain(|&(key, options)| {
            let dst = shard_of_key(key);
            if dst == self.ctx.id {
                return true;
            }
            let op = MqttOp::Deliver {
                key,
                message: message.clone(),
                options,
            };
            if self.peers.notify(dst, op).is_err() {
                self.metrics.borrow_mut().forward_dropped += 1;
            }
            false
        });
        targets.sort_unstable_by_key(|(key, _)| *key);
        let now = unix_ms();
        let mut packets = Vec::new();
        let mut i = 0;
        while i < targets.len() {
            let key = targets[i].0;
            let mut qos = QoS::AtMostOnce;
            let mut retain = false;
            let mut ids: Vec<NonZeroU32> = Vec::new();
            while i < targets.len() && targets[i].0 == key {
                let o = targets[i].1;
                qos = qos.max(o.qos);
                retain |= o.retain_as_published && message.retain;
                ids.extend(o.id);
                i += 1;
            }
            let delivery = Delivery {
                message: message.clone(),
                qos: qos.min(message.qos),
                retain,
                subscription_ids: ids,
            };
            self.send_to(key, delivery, now, &mut packets);
        }
    }

    /// One shared subscription's message for a session of this shard.
    fn deliver_to(&self, key: u64, message: &Arc<Message>, options: SubOptions) {
        let delivery = Delivery {
            message: message.clone(),
            qos: options.qos.min(message.qos),
            retain: options.retain_as_published && message.retain,
            subscription_ids: options.id.into_iter().collect(),
        };
        self.send_to(key, delivery, unix_ms(), &mut Vec::new());
    }

    fn send_to(&self, key: u64, delivery: Delivery, now: u64, packets: &mut Vec<Packet>) {
        let Some(session) = self.session(key) else { return };
        let mut session = session.borrow_mut();
        packets.clear();
        session.outbound.deliver(delivery, now, packets);
        if let Some(conn) = &session.conn {
            conn.send(packets);
        }
        self.metrics.borrow_mut().messages_delivered += packets.len() as u64;
        self.account(&mut session);
    }

    /// Adds what a session's outbound side dropped to the shard's counters.
    pub fn account(&self, session: &mut Session) {
        let dropped = session.outbound.take_stats();
        let mut m = self.metrics.borrow_mut();
        m.dropped_queue_full += dropped.dropped_queue_full;
        m.dropped_expired += dropped.dropped_expired;
        m.dropped_too_large += dropped.dropped_too_large;
    }

    // ---- retained ----

    /// The shard owning `topic`'s retained message.
    pub fn topic_owner(&self, topic: &str) -> ShardId {
        self.ctx.owner_of_key(topic.as_bytes())
    }

    /// Stores a retained message: the record number to wait for before acknowledging, or
    /// the reason it was not kept.
    fn store_retained(&self, message: Arc<Message>) -> Result<u64, RetainRefusal> {
        // A compact copy: the payload may be a slice of a connection's read buffer.
        let mut copy = (*message).clone();
        copy.topic = MqttStr::from_bytes(Bytes::copy_from_slice(message.topic.as_bytes())).unwrap_or(copy.topic);
        copy.payload = Bytes::copy_from_slice(&message.payload);
        copy.retain = true;
        let m = &self.ctx.config().mqtt;
        let limits = RetainedLimits {
            messages_max: m.retained_per_shard_max,
            bytes_max: m.retained_bytes_per_shard_max,
            prefix_bytes_max: m.retained_bytes_per_prefix_max,
        };
        let stored = self.store.set_retained(Arc::new(copy), limits);
        if stored.is_err() {
            self.metrics.borrow_mut().retained_refused += 1;
        }
        stored
    }

    /// Removes a member from a shared subscription this shard owns.
    pub fn leave_share(&self, filter: &str, key: u64) {
        if self.remove_subscription(key, filter) == Some(true) {
            self.forget(vec![filter.to_string()]);
        }
    }

    fn learn_peer_interest(&self, from: ShardId, filter: &str, added: bool) {
        let mut peers = self.peer_interest.borrow_mut();
        if let Some(interest) = peers.get_mut(usize::from(from)) {
            if added {
                // A filter the trie refuses (too deep) could not have been subscribed to.
                let _ = interest.add(filter);
            } else {
                interest.remove(filter);
            }
        }
    }

    /// Session takeover: close the connection holding `epoch` and hand its session over.
    fn evict(&self, epoch: u64, keep_session: bool) -> Option<Box<SessionState>> {
        let Some((session, removed)) = self.remove(epoch) else {
            // Its connection is still being set up: it will find the tombstone and give up.
            self.tombstones.borrow_mut().insert(epoch);
            return None;
        };
        self.announce_removed(epoch, removed);
        let mut s = session.borrow_mut();
        if let Some(conn) = s.conn.take() {
            conn.request_close(super::io::CloseRequest::TakenOver);
        }
        self.metrics.borrow_mut().sessions_taken_over += 1;
        // A will with no delay goes out as the old connection closes; a delayed one is
        // cancelled by the new connection (MQTT 5.0 3.1.2.5).
        if let Some(will) = s.will.take() {
            if will.delay_secs == 0 {
                self.route(will.message);
            }
        }
        s.offline_spell += 1;
        // A session with no expiry ends with its connection, which closes now: a resuming
        // client gets a new one even if its DISCONNECT is still on the way.
        if !keep_session || s.expiry_secs == 0 {
            return None;
        }
        let version = s.version;
        let outbound = std::mem::replace(
            &mut s.outbound,
            shardhub_net::mqtt::session::Outbound::new(version, EMPTY_LIMITS),
        );
        let inbound = std::mem::take(&mut s.inbound);
        Some(Box::new(SessionState {
            subscriptions: s.subscriptions.drain().collect(),
            outbound,
            inbound,
        }))
    }

    /// Asks every connected client of this shard to go (drain, shutdown).
    pub fn close_connections(&self, why: super::io::CloseRequest) {
        for session in self.sessions.borrow().values() {
            if let Some(conn) = &session.borrow().conn {
                conn.request_close(why);
            }
        }
    }

    pub fn packets_for_retained(
        &self,
        session: &mut Session,
        messages: Vec<Arc<Message>>,
        options: SubOptions,
    ) -> Vec<Packet> {
        let now = unix_ms();
        let mut packets = Vec::new();
        for message in messages {
            let delivery = Delivery {
                qos: options.qos.min(message.qos),
                message,
                retain: true,
                subscription_ids: options.id.into_iter().collect(),
            };
            session.outbound.deliver(delivery, now, &mut packets);
        }
        self.account(session);
        packets
    }
}

impl Service for Broker {
    type Msg = MqttOp;
    type Reply = MqttReply;

    fn peers(&self) -> &Peers<MqttOp, MqttReply> {
        &self.peers
    }

    /// Runs an op; what must wait for the log (a retained message, a shadow change) is
    /// answered once the change is durable.
    fn handle(self: &Rc<Self>, op: MqttOp, reply: Reply<'_, MqttReply>) -> Replied {
        match op {
            MqttOp::Retain(message) if self.store.failed() => {
                drop(message);
                reply.now(MqttReply::Failed)
            }
            MqttOp::Retain(message) => match self.store_retained(message) {
                Ok(lsn) => {
                    let broker = self.clone();
                    reply.later(async move {
                        if broker.store.durable(lsn).await {
                            MqttReply::Done
                        } else {
                            MqttReply::Failed
                        }
                    })
                }
                Err(_) => reply.now(MqttReply::Refused),
            },
            MqttOp::Shadow {
                action,
                device,
                request,
            } => reply.later(self.clone().run_shadow(action, device, request)),
            MqttOp::Publish(message) => {
                self.deliver_local(&message);
                reply.now(MqttReply::Done)
            }
            MqttOp::ShareJoin { filter, key, options } => match self.add_subscription(key, &filter, options) {
                Some(true) => {
                    let broker = self.clone();
                    reply.later(async move {
                        broker.learn(vec![filter]).await;
                        MqttReply::Done
                    })
                }
                Some(false) => reply.now(MqttReply::Done),
                None => reply.now(MqttReply::Failed),
            },
            MqttOp::ShareLeave { filter, key } => {
                self.leave_share(&filter, key);
                reply.now(MqttReply::Done)
            }
            MqttOp::Deliver { key, message, options } => {
                self.deliver_to(key, &message, options);
                reply.now(MqttReply::Done)
            }
            MqttOp::Interest { from, filter, added } => {
                self.learn_peer_interest(from, &filter, added);
                reply.now(MqttReply::Done)
            }
            MqttOp::Claim {
                client_id,
                shard: holder,
                epoch,
            } => reply.now(MqttReply::Claimed(
                self.registry.borrow_mut().insert(client_id, (holder, epoch)),
            )),
            MqttOp::Release { client_id, epoch } => {
                let mut registry = self.registry.borrow_mut();
                if registry.get(&client_id).is_some_and(|(_, e)| *e == epoch) {
                    registry.remove(&client_id);
                }
                reply.now(MqttReply::Done)
            }
            MqttOp::Evict { epoch, keep_session } => reply.now(MqttReply::Evicted(self.evict(epoch, keep_session))),
            MqttOp::RetainedMatching(filter) => reply.now(MqttReply::Retained(
                self.store.retained.borrow_mut().matching(&filter, unix_ms()),
            )),
        }
    }

    fn start(self: &Rc<Self>) {
        let broker = self.clone();
        monoio::spawn(async move { broker.store.run_flusher(&broker.ctx).await });
        monoio::spawn(super::io::flusher(self.batch.clone()));
    }

    fn reconfigure(&self, config: &Config) {
        self.store.reconfigure(config);
    }

    fn drain(&self) {
        self.close_connections(super::io::CloseRequest::ShuttingDown);
    }
}

impl Collect for Broker {
    fn collect(&self, out: &mut Families) {
        let gauges = super::metrics::MqttGauges {
            sessions: self.sessions_len() as u64,
            subscriptions: self.subscriptions_len() as u64,
            retained: self.retained_len() as u64,
            retained_bytes: self.store.retained.borrow().bytes(),
            shadows: self.shadows_len() as u64,
        };
        self.metrics.borrow().collect(&gauges, out);
    }
}
