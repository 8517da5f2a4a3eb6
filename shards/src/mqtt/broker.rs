//! One shard's part of the broker: the sessions it holds, their subscriptions (a trie), the
//! interest summaries of the other shards, and what it owns by slot — client ids (who holds
//! each session) and retained topics.
//!
//! Routing a publish: deliver to the local trie's matches, then forward the message (one
//! `Arc`, whatever the fan-out) to each other shard whose interest summary matches. Interest
//! changes travel to every shard before the SUBACK that caused them goes out, so a publish
//! that follows a SUBACK is never missed for lack of a hint.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;

use ahash::RandomState;
use bytes::Bytes;
use std::ops::ControlFlow;

use shardhub_core::pubsub::{Interest, Match, SubscriptionTrie, TrieLimits};
use shardhub_core::{key_hash_slot, ShardId};
use shardhub_net::mqtt::session::{Delivery, Message};
use shardhub_net::mqtt::{MqttStr, Packet, QoS};

use super::auth::TokenVerifier;
use super::metrics::MqttMetrics;
use super::op::{MqttOp, MqttReply, SessionState, SubOptions};
use super::session::Session;
use super::settings::MqttSettings;
use super::store::MqttStore;
use crate::shard::Shard;
use crate::shard_op::ShardOp;
use crate::shared::unix_ms;

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

pub fn is_shared(filter: &str) -> bool {
    filter.starts_with("$share/")
}

/// The shard a session key was made on (see [`Broker::new_epoch`]).
pub fn shard_of_key(key: u64) -> ShardId {
    ((key >> 48) as ShardId).saturating_sub(1)
}

/// An op's answer: now, or once what it changed is durable.
pub enum Handled {
    Now(MqttReply),
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = MqttReply>>>),
}

impl Handled {
    pub async fn get(self) -> MqttReply {
        match self {
            Handled::Now(reply) => reply,
            Handled::Later(future) => future.await,
        }
    }
}

pub struct Broker {
    me: ShardId,
    pub settings: Cell<MqttSettings>,
    pub verifier: Option<TokenVerifier>,
    sessions: RefCell<HashMap<u64, SessionRef, RandomState>>,
    subs: RefCell<SubscriptionTrie<u64, SubOptions>>,
    interest: RefCell<Interest>,
    /// Each other shard's interest summary (this shard's own slot stays empty).
    peers: RefCell<Vec<Interest>>,
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
        me: ShardId,
        shards: usize,
        settings: MqttSettings,
        verifier: Option<TokenVerifier>,
        store: MqttStore,
    ) -> Self {
        Self {
            me,
            settings: Cell::new(settings),
            verifier,
            sessions: RefCell::default(),
            subs: RefCell::new(SubscriptionTrie::new(TrieLimits::default())),
            interest: RefCell::new(Interest::new(TrieLimits::default())),
            peers: RefCell::new((0..shards).map(|_| Interest::new(TrieLimits::default())).collect()),
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
        (u64::from(self.me) + 1) << 48 | n
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

    /// Delivers `message` here and forwards it to the shards that want it.
    pub fn route(&self, shard: &Shard, message: Arc<Message>) {
        self.metrics.borrow_mut().messages_routed += 1;
        let peers = self.peers.borrow();
        for (dst, interest) in peers.iter().enumerate() {
            let dst = dst as ShardId;
            if dst == self.me || !interest.matches(message.topic.as_str()) {
                continue;
            }
            let op = ShardOp::Mqtt(MqttOp::Publish(message.clone()));
            if shard.mesh.notify(dst, op).is_err() {
                self.metrics.borrow_mut().forward_dropped += 1;
            }
        }
        drop(peers);
        self.deliver_local(shard, &message);
    }

    /// Delivers to this shard's matching sessions: one delivery per session, at the highest
    /// matching QoS, carrying every matching subscription identifier.
    pub fn deliver_local(&self, shard: &Shard, message: &Arc<Message>) {
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
        if targets.is_empty() {
            return;
        }
        // Members on other shards get theirs over the mesh.
        targets.retain(|&(key, options)| {
            let dst = shard_of_key(key);
            if dst == self.me {
                return true;
            }
            let op = ShardOp::Mqtt(MqttOp::Deliver {
                key,
                message: message.clone(),
                options,
            });
            if shard.mesh.notify(dst, op).is_err() {
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
    pub fn topic_owner(&self, shard: &Shard, topic: &str) -> ShardId {
        shard.shared.slots.owner(key_hash_slot(topic.as_bytes()))
    }

    /// Stores a retained message; the record number to wait for before acknowledging.
    fn store_retained(&self, message: Arc<Message>) -> Option<u64> {
        if self.store.failed() {
            return None;
        }
        // A compact copy: the payload may be a slice of a connection's read buffer.
        let mut copy = (*message).clone();
        copy.topic = MqttStr::from_bytes(Bytes::copy_from_slice(message.topic.as_bytes())).unwrap_or(copy.topic);
        copy.payload = Bytes::copy_from_slice(&message.payload);
        copy.retain = true;
        let max = self.settings.get().max_retained_per_shard;
        let lsn = self.store.set_retained(Arc::new(copy), max);
        if lsn.is_none() {
            self.metrics.borrow_mut().retained_refused += 1;
        }
        lsn
    }

    // ---- requests from other shards (and from this one) ----

    /// Runs an op; what must wait for the log (a retained message, a shadow change) comes
    /// back as a future that resolves once the change is durable.
    pub fn handle(&self, shard: &Rc<Shard>, op: MqttOp) -> Handled {
        match op {
            MqttOp::Retain(message) => match self.store_retained(message) {
                Some(lsn) => {
                    let shard = shard.clone();
                    Handled::Later(Box::pin(async move {
                        if shard.mqtt.store.durable(lsn).await {
                            MqttReply::Done
                        } else {
                            MqttReply::Failed
                        }
                    }))
                }
                None => Handled::Now(MqttReply::Done),
            },
            MqttOp::Shadow {
                action,
                device,
                request,
            } => Handled::Later(Box::pin(super::shadow::run(shard.clone(), action, device, request))),
            MqttOp::Publish(message) => {
                self.deliver_local(shard, &message);
                Handled::Now(MqttReply::Done)
            }
            MqttOp::ShareJoin { filter, key, options } => match self.add_subscription(key, &filter, options) {
                Some(true) => {
                    let shard = shard.clone();
                    Handled::Later(Box::pin(async move {
                        super::announce::learn(&shard, vec![filter]).await;
                        MqttReply::Done
                    }))
                }
                Some(false) => Handled::Now(MqttReply::Done),
                None => Handled::Now(MqttReply::Failed),
            },
            MqttOp::ShareLeave { filter, key } => {
                self.leave_share(shard, &filter, key);
                Handled::Now(MqttReply::Done)
            }
            MqttOp::Deliver { key, message, options } => {
                self.deliver_to(key, &message, options);
                Handled::Now(MqttReply::Done)
            }
            MqttOp::Interest { from, filter, added } => {
                self.peer_interest(from, &filter, added);
                Handled::Now(MqttReply::Done)
            }
            MqttOp::Claim {
                client_id,
                shard: holder,
                epoch,
            } => Handled::Now(MqttReply::Claimed(
                self.registry.borrow_mut().insert(client_id, (holder, epoch)),
            )),
            MqttOp::Release { client_id, epoch } => {
                let mut registry = self.registry.borrow_mut();
                if registry.get(&client_id).is_some_and(|(_, e)| *e == epoch) {
                    registry.remove(&client_id);
                }
                Handled::Now(MqttReply::Done)
            }
            MqttOp::Evict { epoch, keep_session } => {
                Handled::Now(MqttReply::Evicted(self.evict(shard, epoch, keep_session)))
            }
            MqttOp::RetainedMatching(filter) => Handled::Now(MqttReply::Retained(
                self.store.retained.borrow_mut().matching(&filter, unix_ms()),
            )),
        }
    }

    /// Removes a member from a shared subscription this shard owns.
    pub fn leave_share(&self, shard: &Shard, filter: &str, key: u64) {
        if self.remove_subscription(key, filter) == Some(true) {
            super::announce::forget(shard, vec![filter.to_string()]);
        }
    }

    fn peer_interest(&self, from: ShardId, filter: &str, added: bool) {
        let mut peers = self.peers.borrow_mut();
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
    fn evict(&self, shard: &Shard, epoch: u64, keep_session: bool) -> Option<Box<SessionState>> {
        let Some((session, removed)) = self.remove(epoch) else {
            // Its connection is still being set up: it will find the tombstone and give up.
            self.tombstones.borrow_mut().insert(epoch);
            return None;
        };
        super::announce::removed(shard, epoch, removed);
        let mut s = session.borrow_mut();
        if let Some(conn) = s.conn.take() {
            conn.request_close(super::io::CloseRequest::TakenOver);
        }
        self.metrics.borrow_mut().sessions_taken_over += 1;
        // A will with no delay goes out as the old connection closes; a delayed one is
        // cancelled by the new connection (MQTT 5.0 3.1.2.5).
        if let Some(will) = s.will.take() {
            if will.delay_secs == 0 {
                self.route(shard, will.message);
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
            shardhub_net::mqtt::session::Outbound::new(version, super::settings::EMPTY_LIMITS),
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
