//! The MQTT connection driver: CONNECT, then packets in and out until the connection ends.
//!
//! Reads are readiness-style: the task waits for the socket to become readable with no
//! buffer, then `recv`s into the shard's scratch buffer and copies out only what it got, so an
//! idle connection pins no read buffer. Writes go straight to the socket from whoever
//! produced them (see `io`).

use std::cell::RefCell;
use std::num::{NonZeroU16, NonZeroU32};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::net::TcpStream;
use shardhub_core::key_hash_slot;
use shardhub_core::pubsub::topic::has_wildcard;
use shardhub_net::mqtt::session::{Inbound, Message, Outbound, OutboundLimits};
use shardhub_net::mqtt::{
    decode, peek_connect_version, validate_topic_filter, Ack, ConnAck, Connect, DecodeError, MqttStr, Packet,
    ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

use super::acl::{self, Role};
use super::announce;
use super::auth::AuthRefusal;
use super::broker::{is_shared, SessionRef};
use super::io::{disconnect, recv_some, CloseRequest, ConnIo};
use super::op::{MqttOp, MqttReply, SessionState, SubOptions};
use super::session::{Session, Will};
use super::settings::MqttSettings;
use super::shadow;
use crate::shard::Shard;
use crate::shard_op::{ShardOp, ShardReply};
use crate::shared::unix_ms;

/// Bytes one `recv` may take: enough for many small packets per wake.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    if !shard.admits_connection() {
        return;
    }
    shard.connection_opened();
    run(&shard, &stream).await;
    shard.connection_closed();
}

async fn run(shard: &Rc<Shard>, stream: &TcpStream) {
    let settings = shard.mqtt.settings.get();
    let mut rbuf = BytesMut::new();
    let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
    let first = monoio::time::timeout(
        connect_timeout,
        read_connect(stream, &mut rbuf, settings.max_packet_bytes),
    );
    let connect = match first.await {
        Ok(Ok(connect)) => connect,
        Ok(Err(Some((version, reason)))) => {
            shard.mqtt.metrics.borrow_mut().connects_refused += 1;
            refuse(stream, version, reason);
            return;
        }
        Ok(Err(None)) | Err(_) => return,
    };
    // Boxed, like packet handling below: an async fn's future is as large as its largest
    // state, and the connection's idle state should not carry the set-up's.
    let Some(mut conn) = Box::pin(Connection::open(shard, stream, *connect)).await else {
        return;
    };
    let end = conn.serve(stream, rbuf).await;
    let io = conn.io.clone();
    conn.finish(end);
    // Before the socket closes: a DISCONNECT still pending goes out, and nothing queued
    // later can reach the descriptor.
    io.close();
}

/// Reads until the first packet is a whole CONNECT. Err(Some): answer CONNACK with this
/// reason in this version; Err(None): close silently.
async fn read_connect(
    stream: &TcpStream,
    rbuf: &mut BytesMut,
    max_packet: u32,
) -> Result<Box<Connect>, Option<(ProtocolVersion, ReasonCode)>> {
    loop {
        if stream.readable(false).await.is_err() || !read_available(stream.as_raw_fd(), rbuf) {
            return Err(None);
        }
        let version = match peek_connect_version(rbuf) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            // An unknown level is answered in 3.1.1 terms, which every client can read.
            Err(e @ DecodeError::UnsupportedProtocolVersion(_)) => {
                return Err(Some((ProtocolVersion::V311, e.reason_code())))
            }
            Err(_) => return Err(None),
        };
        match decode(rbuf, version, max_packet) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => return Err(None),
            Ok(None) => continue,
            Err(e) => return Err(Some((version, e.reason_code()))),
        }
    }
}

/// Appends what the socket has to `rbuf`; false at end of stream or on an error.
fn read_available(fd: i32, rbuf: &mut BytesMut) -> bool {
    SCRATCH.with_borrow_mut(|scratch| loop {
        match recv_some(fd, scratch) {
            Ok(Some(0)) | Err(_) => return false,
            Ok(Some(n)) => {
                rbuf.extend_from_slice(&scratch[..n]);
                if n < scratch.len() {
                    return true;
                }
            }
            Ok(None) => return true,
        }
    })
}

/// CONNACK with an error, in the client's version (3.1.1 only has a few codes; without one
/// the connection just closes).
fn refuse(stream: &TcpStream, version: ProtocolVersion, reason: ReasonCode) {
    let io = Rc::new(ConnIo::new(stream.as_raw_fd(), version, None));
    io.send_one(Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: reason,
        properties: Default::default(),
    })));
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// DISCONNECT from the client; `keep_will` for reason 0x04.
    Normal { keep_will: bool },
    /// Network close, keep alive, or a protocol error (answered already): the will goes out.
    Abnormal,
    /// Another connection took the session; nothing of it is ours any more.
    TakenOver,
}

struct Connection {
    shard: Rc<Shard>,
    io: Rc<ConnIo>,
    session: SessionRef,
    key: u64,
    client_id: MqttStr,
    role: Role,
    version: ProtocolVersion,
    keep_alive: Option<Duration>,
    max_packet: u32,
    /// Publish rate: tokens left and when they were counted.
    tokens: f64,
    counted: Instant,
    /// Session Expiry Interval 0 at CONNECT forbids a non-zero one at DISCONNECT.
    expiry_at_connect: u32,
}

impl Connection {
    /// Authenticates, claims the client id, takes over or creates the session, answers
    /// CONNACK and resends what was in flight.
    async fn open(shard: &Rc<Shard>, stream: &TcpStream, connect: Connect) -> Option<Connection> {
        let broker = &shard.mqtt;
        let settings = broker.settings.get();
        let version = connect.protocol_version;
        let v5 = version == ProtocolVersion::V5;
        // Refusals below are sent at once: the connection closes right after them.
        let io = Rc::new(ConnIo::new(stream.as_raw_fd(), version, None));
        let refuse = |reason: ReasonCode| {
            broker.metrics.borrow_mut().connects_refused += 1;
            io.send_one(connack(reason, false, Default::default()));
            None
        };
        if connect.properties.authentication_method.is_some() {
            return refuse(ReasonCode::BAD_AUTHENTICATION_METHOD);
        }
        if broker.metrics.borrow().connections_current as usize >= settings.max_connections_per_shard {
            return refuse(if v5 {
                ReasonCode::QUOTA_EXCEEDED
            } else {
                ReasonCode::SERVER_UNAVAILABLE
            });
        }
        let epoch = broker.new_epoch();
        let mut assigned = None;
        let client_id = if connect.client_id.as_str().is_empty() {
            if !v5 && !connect.clean_start {
                return refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            }
            let id = MqttStr::from_bytes(format!("shardhub-{epoch:x}").into()).expect("ascii");
            assigned = Some(id.clone());
            id
        } else {
            // Its own copy, so the session does not pin the CONNECT's read buffer.
            connect.client_id.to_owned_copy()
        };
        let role = match &broker.verifier {
            None => Role::Service,
            Some(verifier) => {
                if !acl::is_namespace_safe(client_id.as_str()) {
                    return refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
                }
                match verifier.verify(client_id.as_str(), connect.password.as_deref()) {
                    Ok(grant) => grant.role,
                    Err(AuthRefusal::BadCredentials) => return refuse(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
                    Err(AuthRefusal::NotAuthorized) => return refuse(ReasonCode::NOT_AUTHORIZED),
                }
            }
        };
        if let Some(will) = &connect.will {
            if !acl::may_publish(role, client_id.as_str(), will.topic.as_str()) {
                return refuse(ReasonCode::NOT_AUTHORIZED);
            }
        }
        let (keep_alive_secs, server_keep_alive) =
            keep_alive(version, connect.keep_alive, settings.keep_alive_max_secs);
        let asked_expiry = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let expiry_secs = asked_expiry.min(settings.session_expiry_max_secs);

        // Who held this client id before, and their session.
        let owner = shard.shared.slots.owner(key_hash_slot(client_id.as_bytes()));
        let claim = MqttOp::Claim {
            client_id: client_id.clone(),
            shard: shard.id,
            epoch,
        };
        let previous = match call(shard, owner, claim).await {
            Some(MqttReply::Claimed(previous)) => previous,
            _ => return refuse(ReasonCode::SERVER_BUSY),
        };
        let mut restored: Option<Box<SessionState>> = None;
        if let Some((holder, old_epoch)) = previous {
            let evict = MqttOp::Evict {
                epoch: old_epoch,
                keep_session: !connect.clean_start,
            };
            if let Some(MqttReply::Evicted(state)) = call(shard, holder, evict).await {
                restored = state;
            }
        }
        if broker.take_tombstone(epoch) {
            // A newer connection claimed the id while this one was setting up.
            io.send_one(connack(ReasonCode::SESSION_TAKEN_OVER, false, Default::default()));
            return None;
        }

        let limits = outbound_limits(&connect, &settings);
        let session_present = restored.is_some();
        let (outbound, inbound, subscriptions) = match restored {
            Some(state) => {
                let mut inbound = state.inbound;
                inbound.reconnected(settings.receive_maximum, settings.topic_alias_maximum);
                (state.outbound, inbound, state.subscriptions.into_iter().collect())
            }
            None => (
                Outbound::new(version, limits),
                Inbound::new(settings.receive_maximum, settings.topic_alias_maximum),
                Default::default(),
            ),
        };
        let now = unix_ms();
        let will = connect.will.as_ref().map(|w| {
            let mut publish = Publish {
                qos: w.qos,
                retain: w.retain,
                topic: w.topic.to_owned_copy(),
                payload: bytes::Bytes::copy_from_slice(&w.payload),
                ..Publish::default()
            };
            publish.properties.payload_format_indicator = w.properties.payload_format_indicator;
            publish.properties.message_expiry_interval = w.properties.message_expiry_interval;
            // Copies throughout: the will lives as long as the session, the CONNECT's read
            // buffer should not.
            let p = &w.properties;
            publish.properties.content_type = p.content_type.as_ref().map(MqttStr::to_owned_copy);
            publish.properties.response_topic = p.response_topic.as_ref().map(MqttStr::to_owned_copy);
            publish.properties.correlation_data = p.correlation_data.as_deref().map(bytes::Bytes::copy_from_slice);
            publish.properties.user_properties = p
                .user_properties
                .iter()
                .map(|u| shardhub_net::mqtt::UserProperty {
                    name: u.name.to_owned_copy(),
                    value: u.value.to_owned_copy(),
                })
                .collect();
            Will {
                message: Arc::new(Message::from_publish(publish, epoch, now)),
                delay_secs: w.properties.will_delay_interval.unwrap_or(0),
            }
        });
        let session = Session {
            key: epoch,
            client_id: client_id.clone(),
            role,
            version,
            expiry_secs,
            subscriptions,
            outbound,
            inbound,
            conn: Some(io.clone()),
            will,
            offline_spell: 0,
        };
        // From here on packets go through the shard's write batch.
        let io = Rc::new(ConnIo::new(stream.as_raw_fd(), version, Some(broker.batch.clone())));
        let mut session = session;
        session.conn = Some(io.clone());
        let (session, installed) = broker.install(session);
        for refused in announce::installed(shard, epoch, installed).await {
            // A group owner that is full cannot take the member back; the subscription ends.
            session.borrow_mut().subscriptions.remove(&refused);
        }
        if io.close_request().is_some() {
            // Taken over while announcing: the evictor already took the session.
            io.close();
            return None;
        }
        let mut properties = shardhub_net::mqtt::ConnAckProperties::default();
        if v5 {
            properties.receive_maximum = NonZeroU16::new(settings.receive_maximum);
            properties.maximum_packet_size = NonZeroU32::new(settings.max_packet_bytes);
            properties.topic_alias_maximum = Some(settings.topic_alias_maximum);
            properties.assigned_client_identifier = assigned;
            properties.server_keep_alive = server_keep_alive;
            properties.retain_available = Some(true);
            properties.wildcard_subscription_available = Some(true);
            properties.subscription_identifiers_available = Some(true);
            properties.shared_subscription_available = Some(true);
            if expiry_secs != asked_expiry {
                properties.session_expiry_interval = Some(expiry_secs);
            }
        }
        broker.metrics.borrow_mut().connects_accepted += 1;
        broker.metrics.borrow_mut().connections_current += 1;
        io.send_one(connack(ReasonCode::SUCCESS, session_present, properties));
        let mut packets = Vec::new();
        session
            .borrow_mut()
            .outbound
            .reconnected(version, limits, unix_ms(), &mut packets);
        broker.account(&mut session.borrow_mut());
        io.send(&packets);
        Some(Connection {
            shard: shard.clone(),
            io,
            session,
            key: epoch,
            client_id,
            role,
            version,
            keep_alive: (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500)),
            max_packet: settings.max_packet_bytes,
            tokens: f64::from(settings.publishes_per_sec),
            counted: Instant::now(),
            expiry_at_connect: expiry_secs,
        })
    }

    /// Reads and answers packets until the connection ends.
    async fn serve(&mut self, stream: &TcpStream, mut rbuf: BytesMut) -> End {
        // The CONNECT may have come with more packets behind it.
        if !rbuf.is_empty() {
            if let Some(end) = Box::pin(self.handle_buffered(&mut rbuf)).await {
                return end;
            }
        }
        if rbuf.is_empty() {
            rbuf = BytesMut::new();
        }
        loop {
            if let Some(end) = self.check_io() {
                return end;
            }
            let woke = self.wait(stream).await;
            match woke {
                Woke::Signal => continue,
                Woke::Writable => {
                    self.io.flush();
                    continue;
                }
                Woke::Silent => {
                    self.shard.mqtt.metrics.borrow_mut().keep_alive_timeouts += 1;
                    self.io
                        .send(disconnect(self.version, ReasonCode::KEEP_ALIVE_TIMEOUT).as_slice());
                    return End::Abnormal;
                }
                Woke::Readable => {}
            }
            if !read_available(stream.as_raw_fd(), &mut rbuf) {
                return End::Abnormal;
            }
            if let Some(end) = Box::pin(self.handle_buffered(&mut rbuf)).await {
                return end;
            }
            if rbuf.is_empty() {
                // Give the read memory back: an idle connection pins no buffer.
                rbuf = BytesMut::new();
            }
        }
    }

    fn check_io(&self) -> Option<End> {
        match self.io.close_request() {
            Some(CloseRequest::TakenOver) => {
                self.io
                    .send(disconnect(self.version, ReasonCode::SESSION_TAKEN_OVER).as_slice());
                return Some(End::TakenOver);
            }
            Some(CloseRequest::ShuttingDown) => {
                self.io
                    .send(disconnect(self.version, ReasonCode::SERVER_SHUTTING_DOWN).as_slice());
                return Some(End::Abnormal);
            }
            None => {}
        }
        self.io.is_broken().then_some(End::Abnormal)
    }

    async fn wait(&self, stream: &TcpStream) -> Woke {
        let readable = async {
            match self.keep_alive {
                Some(limit) => match monoio::time::timeout(limit, stream.readable(false)).await {
                    Ok(_) => Woke::Readable,
                    Err(_) => Woke::Silent,
                },
                None => {
                    let _ = stream.readable(false).await;
                    Woke::Readable
                }
            }
        };
        if self.io.has_pending() {
            monoio::select! {
                woke = readable => woke,
                _ = stream.writable(false) => Woke::Writable,
                _ = self.io.signal.wait() => Woke::Signal,
            }
        } else {
            monoio::select! {
                woke = readable => woke,
                _ = self.io.signal.wait() => Woke::Signal,
            }
        }
    }

    /// Decodes and handles every whole packet in `rbuf`.
    async fn handle_buffered(&mut self, rbuf: &mut BytesMut) -> Option<End> {
        loop {
            let packet = match decode(rbuf, self.version, self.max_packet) {
                Ok(Some(packet)) => packet,
                Ok(None) => return None,
                Err(e) => return Some(self.protocol_error(e.reason_code())),
            };
            self.shard.mqtt.metrics.borrow_mut().packets_received += 1;
            if let Some(end) = self.handle(packet).await {
                return Some(end);
            }
            if let Some(end) = self.check_io() {
                return Some(end);
            }
        }
    }

    fn protocol_error(&self, reason: ReasonCode) -> End {
        self.shard.mqtt.metrics.borrow_mut().protocol_errors += 1;
        self.io.send(disconnect(self.version, reason).as_slice());
        End::Abnormal
    }

    async fn handle(&mut self, packet: Packet) -> Option<End> {
        let now = unix_ms();
        let mut out = Vec::new();
        match packet {
            Packet::Publish(publish) => return self.publish(publish).await,
            Packet::PubAck(ack) => self
                .session
                .borrow_mut()
                .outbound
                .on_puback(ack.packet_id, now, &mut out),
            Packet::PubRec(ack) => self.session.borrow_mut().outbound.on_pubrec(&ack, now, &mut out),
            Packet::PubComp(ack) => self
                .session
                .borrow_mut()
                .outbound
                .on_pubcomp(ack.packet_id, now, &mut out),
            Packet::PubRel(ack) => {
                let known = self.session.borrow_mut().inbound.release(ack.packet_id);
                let mut comp = Ack::new(ack.packet_id);
                if !known {
                    comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                out.push(Packet::PubComp(comp));
            }
            Packet::Subscribe(subscribe) => {
                self.subscribe(subscribe).await;
                return None;
            }
            Packet::Unsubscribe(unsubscribe) => out.push(self.unsubscribe(unsubscribe)),
            Packet::PingReq => out.push(Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(expiry) = d.properties.session_expiry_interval {
                    if self.expiry_at_connect == 0 && expiry != 0 {
                        return Some(self.protocol_error(ReasonCode::PROTOCOL_ERROR));
                    }
                    let max = self.shard.mqtt.settings.get().session_expiry_max_secs;
                    self.session.borrow_mut().expiry_secs = expiry.min(max);
                }
                let keep_will = d.reason_code == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE;
                return Some(End::Normal { keep_will });
            }
            // A second CONNECT, AUTH without enhanced authentication, or a server's packet.
            _ => return Some(self.protocol_error(ReasonCode::PROTOCOL_ERROR)),
        }
        self.shard.mqtt.account(&mut self.session.borrow_mut());
        self.io.send(&out);
        None
    }

    async fn publish(&mut self, mut publish: Publish) -> Option<End> {
        let shard = self.shard.clone();
        let broker = &shard.mqtt;
        broker.metrics.borrow_mut().messages_received += 1;
        // Subscription identifiers are the server's to send [MQTT-3.3.4-6].
        if !publish.properties.subscription_identifiers.is_empty() {
            return Some(self.protocol_error(ReasonCode::PROTOCOL_ERROR));
        }
        if let Err(e) = self.session.borrow_mut().inbound.resolve_topic(&mut publish) {
            return Some(self.protocol_error(e.reason_code()));
        }
        let (qos, packet_id) = (publish.qos, publish.packet_id);
        let refuse = move |reason: ReasonCode| match (qos, packet_id) {
            (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(Ack {
                reason_code: reason,
                ..Ack::new(id)
            })),
            (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(Ack {
                reason_code: reason,
                ..Ack::new(id)
            })),
            _ => None,
        };
        if !self.take_token() {
            broker.metrics.borrow_mut().rate_limited += 1;
            self.io.send(refuse(ReasonCode::QUOTA_EXCEEDED).as_slice());
            return None;
        }
        if !acl::may_publish(self.role, self.client_id.as_str(), publish.topic.as_str()) {
            broker.metrics.borrow_mut().publishes_denied += 1;
            self.io.send(refuse(ReasonCode::NOT_AUTHORIZED).as_slice());
            return None;
        }
        let ack = match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => None,
            (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(Ack::new(id))),
            (QoS::ExactlyOnce, Some(id)) => {
                match self.session.borrow_mut().inbound.begin_exactly_once(id) {
                    Ok(true) => {}
                    // A resend of a message we routed already: acknowledge it again only.
                    Ok(false) => {
                        self.io.send_one(Packet::PubRec(Ack::new(id)));
                        return None;
                    }
                    Err(e) => return Some(self.protocol_error(e.reason_code())),
                }
                Some(Packet::PubRec(Ack::new(id)))
            }
            // The codec refuses a QoS 1/2 PUBLISH without an id.
            _ => None,
        };
        if let Some(request) = shadow::request_topic(publish.topic.as_str()) {
            // Requests go to the shadow service, not to subscribers; the reply topics are the
            // server's alone.
            let Ok((device, action)) = request else {
                broker.metrics.borrow_mut().publishes_denied += 1;
                self.io.send(refuse(ReasonCode::NOT_AUTHORIZED).as_slice());
                return None;
            };
            let owner = shard.shared.slots.owner(key_hash_slot(device.as_bytes()));
            let op = MqttOp::Shadow {
                action,
                device: device.to_string(),
                request: publish.payload.clone(),
            };
            let reply = call(&shard, owner, op).await;
            let failed = !matches!(reply, Some(MqttReply::Shadow { .. }));
            self.io.send(ack_or(ack, failed, &refuse).as_slice());
            return None;
        }
        let message = Arc::new(Message::from_publish(publish, self.key, unix_ms()));
        let mut failed = false;
        if message.retain {
            if message.qos == QoS::AtMostOnce {
                retain_unacknowledged(&shard, message.clone());
            } else {
                // Acknowledged only once the retained copy is durable.
                let owner = broker.topic_owner(&shard, message.topic.as_str());
                let op = MqttOp::Retain(message.clone());
                failed = !matches!(call(&shard, owner, op).await, Some(MqttReply::Done));
            }
        }
        broker.route(&shard, message);
        self.io.send(ack_or(ack, failed, &refuse).as_slice());
        None
    }

    fn take_token(&mut self) -> bool {
        let rate = f64::from(self.shard.mqtt.settings.get().publishes_per_sec);
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.counted).as_secs_f64() * rate).min(rate);
        self.counted = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn subscribe(&mut self, subscribe: Subscribe) {
        let shard = self.shard.clone();
        let broker = &shard.mqtt;
        let max = broker.settings.get().max_subscriptions_per_client;
        let mut reason_codes = Vec::with_capacity(subscribe.filters.len());
        let mut added = Vec::new();
        let mut retained_wanted = Vec::new();
        for sub in &subscribe.filters {
            let filter = sub.filter.as_str();
            let options = SubOptions {
                qos: sub.options.qos,
                no_local: sub.options.no_local,
                retain_as_published: sub.options.retain_as_published,
                id: subscribe.properties.subscription_identifier,
            };
            let existed = self.session.borrow().subscriptions.contains_key(filter);
            let count = self.session.borrow().subscriptions.len();
            let refusal = if validate_topic_filter(filter).is_err() {
                Some(ReasonCode::TOPIC_FILTER_INVALID)
            } else if !acl::may_subscribe(self.role, self.client_id.as_str(), filter) {
                broker.metrics.borrow_mut().subscribes_denied += 1;
                Some(ReasonCode::NOT_AUTHORIZED)
            } else if !existed && count >= max {
                Some(ReasonCode::QUOTA_EXCEEDED)
            } else {
                None
            };
            if let Some(reason) = refusal {
                reason_codes.push(reason);
                continue;
            }
            let accepted = if is_shared(filter) {
                // Members are listed at the group's owner; retained messages are not sent to
                // shared subscriptions (MQTT 5.0 4.8.2).
                announce::join(&shard, self.key, filter, options).await
            } else {
                match broker.add_subscription(self.key, filter, options) {
                    None => false,
                    Some(new_interest) => {
                        if new_interest {
                            added.push(filter.to_string());
                        }
                        let wants = match sub.options.retain_handling {
                            RetainHandling::OnSubscribe => true,
                            RetainHandling::OnNewSubscribe => !existed,
                            RetainHandling::Never => false,
                        };
                        if wants {
                            retained_wanted.push((filter.to_string(), options));
                        }
                        true
                    }
                }
            };
            if accepted {
                self.session
                    .borrow_mut()
                    .subscriptions
                    .insert(filter.to_string(), options);
                reason_codes.push(granted(sub.options.qos));
            } else {
                reason_codes.push(ReasonCode::QUOTA_EXCEEDED);
            }
        }
        announce::learn(&shard, added).await;
        self.io.send_one(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            properties: Default::default(),
            reason_codes,
        }));
        for (filter, options) in retained_wanted {
            let messages = self.retained_matching(&filter).await;
            if messages.is_empty() || self.io.close_request().is_some() {
                continue;
            }
            let packets = {
                let mut session = self.session.borrow_mut();
                shard.mqtt.packets_for_retained(&mut session, messages, options)
            };
            self.io.send(&packets);
        }
    }

    /// Retained messages matching `filter`, from every shard that may own one.
    async fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let shard = &self.shard;
        let owners: Vec<u16> = if has_wildcard(filter) {
            (0..shard.shared.shard_count as u16).collect()
        } else {
            vec![shard.mqtt.topic_owner(shard, filter)]
        };
        let mut found = Vec::new();
        for owner in owners {
            if let Some(MqttReply::Retained(messages)) =
                call(shard, owner, MqttOp::RetainedMatching(filter.into())).await
            {
                found.extend(messages);
            }
        }
        found
    }

    fn unsubscribe(&mut self, unsubscribe: Unsubscribe) -> Packet {
        let broker = &self.shard.mqtt;
        let mut lost = Vec::new();
        let mut reason_codes = Vec::with_capacity(unsubscribe.filters.len());
        for filter in &unsubscribe.filters {
            let filter = filter.as_str();
            if validate_topic_filter(filter).is_err() {
                reason_codes.push(ReasonCode::TOPIC_FILTER_INVALID);
                continue;
            }
            let removed = self.session.borrow_mut().subscriptions.remove(filter).is_some();
            if removed {
                if is_shared(filter) {
                    announce::leave(&self.shard, self.key, filter.to_string());
                } else if broker.remove_subscription(self.key, filter) == Some(true) {
                    lost.push(filter.to_string());
                }
                reason_codes.push(ReasonCode::SUCCESS);
            } else {
                reason_codes.push(ReasonCode::NO_SUBSCRIPTION_EXISTED);
            }
        }
        announce::forget(&self.shard, lost);
        Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            properties: Default::default(),
            reason_codes,
        })
    }

    /// After the connection: keep the session for its expiry or end it, and publish the
    /// will when it is due.
    fn finish(self, end: End) {
        let broker = &self.shard.mqtt;
        broker.metrics.borrow_mut().connections_current -= 1;
        if end == End::TakenOver {
            return;
        }
        let (expiry_secs, spell, will) = {
            let mut s = self.session.borrow_mut();
            s.conn = None;
            s.outbound.disconnected();
            s.offline_spell += 1;
            let will = match end {
                End::Normal { keep_will: false } => {
                    s.will = None;
                    None
                }
                _ => s.will.take(),
            };
            (s.expiry_secs, s.offline_spell, will)
        };
        if let Some(will) = will {
            if will.delay_secs == 0 || expiry_secs == 0 {
                publish_will(&self.shard, will.message);
            } else {
                self.session.borrow_mut().will = Some(will);
                let delay = Duration::from_secs(u64::from(will_delay(&self.session)));
                monoio::spawn(will_timer(self.shard.clone(), self.key, spell, delay));
            }
        }
        if expiry_secs == 0 {
            end_session(&self.shard, self.key);
        } else if expiry_secs != u32::MAX {
            let after = Duration::from_secs(u64::from(expiry_secs));
            monoio::spawn(expiry_timer(self.shard.clone(), self.key, spell, after));
        }
    }
}

enum Woke {
    Readable,
    Writable,
    Signal,
    /// Nothing for 1.5x the keep alive.
    Silent,
}

fn will_delay(session: &SessionRef) -> u32 {
    let s = session.borrow();
    s.will.as_ref().map_or(0, |w| w.delay_secs.min(s.expiry_secs))
}

fn publish_will(shard: &Rc<Shard>, message: Arc<Message>) {
    shard.mqtt.metrics.borrow_mut().wills_published += 1;
    if message.retain {
        retain_unacknowledged(shard, message.clone());
    }
    shard.mqtt.route(shard, message);
}

/// Hands a retained message to its topic's owner without waiting for the log: for what
/// nobody acknowledges (QoS 0, wills).
fn retain_unacknowledged(shard: &Rc<Shard>, message: Arc<Message>) {
    let owner = shard.mqtt.topic_owner(shard, message.topic.as_str());
    let op = MqttOp::Retain(message);
    if owner == shard.id {
        // Its durability future is dropped: the record is written all the same.
        let _ = shard.mqtt.handle(shard, op);
    } else {
        let _ = shard.mesh.notify(owner, ShardOp::Mqtt(op));
    }
}

/// Publishes a delayed will unless the client came back (or the session moved) first.
async fn will_timer(shard: Rc<Shard>, key: u64, spell: u64, delay: Duration) {
    monoio::time::sleep(delay).await;
    if let Some(Some(will)) = still_offline(&shard, key, spell) {
        publish_will(&shard, will.message);
    }
}

/// Ends a session whose client stayed away for its whole expiry interval.
async fn expiry_timer(shard: Rc<Shard>, key: u64, spell: u64, after: Duration) {
    monoio::time::sleep(after).await;
    let Some(will) = still_offline(&shard, key, spell) else {
        return;
    };
    // A will still waiting for its delay goes out when the session ends.
    if let Some(will) = will {
        publish_will(&shard, will.message);
    }
    shard.mqtt.metrics.borrow_mut().sessions_expired += 1;
    end_session(&shard, key);
}

/// If session `key` is still in the offline spell a timer was started for: its pending will
/// (taken), if any. None when the client came back or the session ended or moved.
fn still_offline(shard: &Shard, key: u64, spell: u64) -> Option<Option<Will>> {
    let session = shard.mqtt.session(key)?;
    let mut s = session.borrow_mut();
    if s.conn.is_some() || s.offline_spell != spell {
        return None;
    }
    Some(s.will.take())
}

/// Removes a session from this shard and frees its client id at the id's owner.
fn end_session(shard: &Rc<Shard>, key: u64) {
    let Some((session, removed)) = shard.mqtt.remove(key) else {
        return;
    };
    announce::removed(shard, key, removed);
    let client_id = session.borrow().client_id.clone();
    let owner = shard.shared.slots.owner(key_hash_slot(client_id.as_bytes()));
    let op = MqttOp::Release { client_id, epoch: key };
    if owner == shard.id {
        let _ = shard.mqtt.handle(shard, op);
    } else {
        let _ = shard.mesh.notify(owner, ShardOp::Mqtt(op));
    }
}

/// Runs an op on `owner`: here, or over the mesh.
pub async fn call(shard: &Rc<Shard>, owner: u16, op: MqttOp) -> Option<MqttReply> {
    if owner == shard.id {
        return Some(shard.mqtt.handle(shard, op).get().await);
    }
    let reply = shard.mesh.call(owner, ShardOp::Mqtt(op)).ok()?.await;
    match reply {
        ShardReply::Mqtt(reply) => Some(reply),
        _ => None,
    }
}

/// The success acknowledgement, or (when what it acknowledges could not be made durable) an
/// "unspecified error" one.
fn ack_or(ack: Option<Packet>, failed: bool, refuse: &dyn Fn(ReasonCode) -> Option<Packet>) -> Option<Packet> {
    if failed && ack.is_some() {
        refuse(ReasonCode::UNSPECIFIED_ERROR)
    } else {
        ack
    }
}

fn connack(reason: ReasonCode, session_present: bool, properties: shardhub_net::mqtt::ConnAckProperties) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present,
        reason_code: reason,
        properties,
    }))
}

/// The keep alive to enforce, and the Server Keep Alive to announce (5.0 only): a 5.0 client
/// asking for more than the cap, or for none, gets the cap. A 3.1.1 client cannot be told,
/// so its own value stands.
fn keep_alive(version: ProtocolVersion, asked: u16, max: u16) -> (u16, Option<u16>) {
    if version == ProtocolVersion::V5 && (asked == 0 || asked > max) {
        (max, Some(max))
    } else {
        (asked, None)
    }
}

fn outbound_limits(connect: &Connect, settings: &MqttSettings) -> OutboundLimits {
    let p = &connect.properties;
    OutboundLimits {
        inflight_max: p
            .receive_maximum
            .map_or(settings.max_inflight, |r| r.get().min(settings.max_inflight)),
        queue_max: settings.max_queued_messages,
        // No Maximum Packet Size means the protocol's own limit.
        packet_bytes_max: p.maximum_packet_size.map_or(u32::MAX, |m| m.get()),
        topic_alias_max: p.topic_alias_maximum.unwrap_or(0),
    }
}

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
        QoS::AtLeastOnce => ReasonCode::GRANTED_QOS_1,
        QoS::ExactlyOnce => ReasonCode::GRANTED_QOS_2,
    }
}
