//! The MQTT connection driver: socket IO and routing for one connection, from CONNECT to the
//! end. What the protocol decides (the terms of a CONNECT, what each packet means, every
//! refusal's reason code) is `net::mqtt::connection`'s; this file reads bytes, hands packets
//! to it, and carries out its steps with the broker.
//!
//! Reads are readiness-style: the task waits for the socket to become readable with no
//! buffer, then `recv`s into the shard's scratch buffer and copies out only what it got, so an
//! idle connection pins no read buffer. Writes go straight to the socket from whoever
//! produced them (see `io`).

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::net::TcpStream;
use rustls::ServerConfig;
use shardhub_core::pubsub::topic::has_wildcard;
use shardhub_net::mqtt::connection::subscribe::{unsubscribe, SubscribePlan};
use shardhub_net::mqtt::connection::terms::{self, ConnectTerms, ServerLimits};
use shardhub_net::mqtt::connection::{
    Connection as Protocol, InboundPublish, Outcome, Policy, Refusal, SessionState as ProtocolState, Step, Verdict,
};
use shardhub_net::mqtt::session::{Inbound, Message, Outbound};
use shardhub_net::mqtt::{Connect, MqttStr, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Unsubscribe};

use super::acl::{self, Role};
use super::auth::AuthRefusal;
use super::broker::{is_shared, Broker, SessionRef};
use super::io::{send_some, CloseRequest, ConnIo, WriteBatch};
use super::message::{MqttOp, MqttReply, SessionState, ShadowAction};
use super::session::{Session, Will};
use super::shadow;
use crate::config::{MqttConfig, TokenExpiry};
use crate::runtime::context::{Admission, Listener};
use crate::runtime::read_buf::recv_some;
use crate::runtime::{unix_ms, Service};
use crate::tls::{TlsSession, TlsStream, HANDSHAKE_TIMEOUT};

/// How long, and how many bytes, a closing connection's late input is read and dropped
/// (see `linger`).
const CLOSE_LINGER: Duration = Duration::from_secs(2);
const CLOSE_LINGER_BYTES_MAX: usize = 1024 * 1024;
/// Bytes one `recv` may take: enough for many small packets per wake.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// Serves one MQTT connection; over TLS (`listen.mqtts`) when `tls` is given.
pub async fn serve(broker: Rc<Broker>, stream: TcpStream, tls: Option<Arc<ServerConfig>>) {
    let ctx = broker.ctx().clone();
    let admission = ctx.admit(Listener::Mqtt);
    if admission == Admission::Refuse {
        return;
    }
    let opened = match tls {
        None => Some((stream, None, BytesMut::new())),
        Some(config) => match monoio::time::timeout(HANDSHAKE_TIMEOUT, TlsStream::accept(stream, config)).await {
            Ok(Ok(tls)) => {
                let (stream, session, early) = tls.into_parts();
                Some((stream, Some(Rc::new(session)), early))
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "mqtt tls handshake failed");
                None
            }
            Err(_) => None,
        },
    };
    if let Some((stream, tls, early)) = opened {
        let link = Link { stream, tls };
        run(&broker, &link, early, admission == Admission::Limited).await;
    }
    ctx.connection_closed(Listener::Mqtt, admission);
}

/// A connection's socket and, on `listen.mqtts`, its TLS session.
struct Link {
    stream: TcpStream,
    tls: Option<Rc<TlsSession>>,
}

impl Link {
    fn io(&self, version: ProtocolVersion, batch: Option<Rc<WriteBatch>>) -> Rc<ConnIo> {
        Rc::new(ConnIo::new(self.stream.as_raw_fd(), version, batch, self.tls.clone()))
    }
}

/// `over_cap`: the shard already serves `mqtt.connections_per_shard_max` connections, and
/// this one only gets its CONNECT answered with 0x97.
async fn run(broker: &Rc<Broker>, link: &Link, mut rbuf: BytesMut, over_cap: bool) {
    let (connect_timeout_ms, packet_bytes_max) = {
        let c = broker.ctx().config();
        (c.mqtt.connect_timeout_ms, c.mqtt.packet_bytes_max)
    };
    let first = monoio::time::timeout(
        Duration::from_millis(connect_timeout_ms),
        read_connect(link, &mut rbuf, packet_bytes_max),
    );
    let connect = match first.await {
        Ok(Ok(connect)) => connect,
        Ok(Err(Some((version, reason)))) => {
            broker.metrics.borrow_mut().connects_refused += 1;
            link.io(version, None).send_one(terms::refusal(reason));
            return;
        }
        Ok(Err(None)) | Err(_) => return,
    };
    // Boxed, like packet handling below: an async fn's future is as large as its largest
    // state, and the connection's idle state should not carry the set-up's.
    let Some(mut conn) = Box::pin(Connection::open(broker, link, *connect, over_cap)).await else {
        return;
    };
    let end = conn.serve(&link.stream, rbuf).await;
    let io = conn.io.clone();
    conn.finish(end);
    linger(&link.stream, &io).await;
}

/// Closes a connection the way a client can read: what is pending (a DISCONNECT with its
/// reason) goes out, then the write side is shut, then whatever the client still sends (the
/// PUBRELs it had in flight behind the packet that got it disconnected) is read and dropped
/// until it closes, for at most `CLOSE_LINGER` and `CLOSE_LINGER_BYTES_MAX`. Closing with
/// unread bytes instead would answer them with a reset, and the client would see a broken
/// pipe instead of the reason.
async fn linger(stream: &TcpStream, io: &ConnIo) {
    let deadline = Instant::now() + CLOSE_LINGER;
    let left = || deadline.saturating_duration_since(Instant::now());
    while io.has_pending() && !io.is_broken() && !left().is_zero() {
        if monoio::time::timeout(left(), stream.writable(false)).await.is_err() {
            break;
        }
        io.flush();
    }
    // Nothing queued later can reach the descriptor.
    io.close();
    let fd = stream.as_raw_fd();
    // SAFETY: `fd` is this connection's open socket.
    if unsafe { libc::shutdown(fd, libc::SHUT_WR) } != 0 {
        return;
    }
    let mut dropped = 0;
    while dropped < CLOSE_LINGER_BYTES_MAX {
        match monoio::time::timeout(left(), stream.readable(false)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        let got = SCRATCH.with_borrow_mut(|scratch| recv_some(fd, scratch));
        match got {
            Ok(Some(0)) | Err(_) => return,
            Ok(Some(n)) => dropped += n,
            Ok(None) => {}
        }
    }
}

/// Reads until the first packet is a whole CONNECT. Err(Some): answer CONNACK with this
/// reason in this version; Err(None): close silently.
async fn read_connect(
    link: &Link,
    rbuf: &mut BytesMut,
    packet_bytes_max: u32,
) -> Result<Box<Connect>, Option<(ProtocolVersion, ReasonCode)>> {
    let fd = link.stream.as_raw_fd();
    loop {
        // A TLS client's CONNECT may have come with its handshake.
        if !rbuf.is_empty() {
            if let Some(connect) = terms::take_connect(rbuf, packet_bytes_max)? {
                return Ok(connect);
            }
        }
        // Before the connection has its writer, TLS answers (alerts) go straight out.
        let send = |records: &[u8]| {
            let _ = send_some(fd, records);
        };
        if link.stream.readable(false).await.is_err() || !read_available(fd, link.tls.as_deref(), rbuf, send) {
            return Err(None);
        }
    }
}

/// Appends what the socket has to `rbuf`, decrypted on a TLS connection (whose answers go to
/// `send_records`); false at end of stream or on an error.
fn read_available(fd: i32, tls: Option<&TlsSession>, rbuf: &mut BytesMut, mut send_records: impl FnMut(&[u8])) -> bool {
    SCRATCH.with_borrow_mut(|scratch| loop {
        match recv_some(fd, scratch) {
            Ok(Some(0)) | Err(_) => return false,
            Ok(Some(n)) => {
                match tls {
                    None => rbuf.extend_from_slice(&scratch[..n]),
                    Some(tls) => {
                        let mut records = BytesMut::new();
                        let opened = tls.open(&scratch[..n], rbuf, &mut records);
                        send_records(&records);
                        match opened {
                            // The peer's close_notify with nothing before it: done.
                            Ok(o) if o.closed && o.plaintext == 0 => return false,
                            Ok(_) => {}
                            Err(_) => return false,
                        }
                    }
                }
                if n < scratch.len() {
                    return true;
                }
            }
            Ok(None) => return true,
        }
    })
}

/// The broker's bounds as the protocol negotiates with them.
fn server_limits(m: &MqttConfig) -> ServerLimits {
    ServerLimits {
        receive_maximum: m.receive_maximum,
        packet_bytes_max: m.packet_bytes_max,
        topic_alias_max: m.topic_alias_maximum,
        keep_alive_secs_max: m.keep_alive_secs_max,
        session_expiry_secs_max: m.session_expiry_secs_max,
        inflight_max: m.inflight_max,
        queue_max: m.queued_messages_max,
        publishes_per_sec: m.publishes_per_sec,
        subscriptions_max: m.subscriptions_per_client_max,
    }
}

/// The ACL of one client, as the protocol asks it.
struct Acl<'a> {
    role: Role,
    client_id: &'a str,
}

impl Policy for Acl<'_> {
    fn may_publish(&self, topic: &str) -> bool {
        acl::may_publish(self.role, self.client_id, topic)
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        acl::may_subscribe(self.role, self.client_id, filter)
    }
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
    broker: Rc<Broker>,
    io: Rc<ConnIo>,
    session: SessionRef,
    key: u64,
    client_id: MqttStr,
    role: Role,
    protocol: Protocol,
    /// When the client's token expires and the connection ends (`mqtt.token_expiry`).
    token_deadline: Option<Instant>,
}

impl Connection {
    /// Negotiates the terms, authenticates, claims the client id, takes over or creates the
    /// session, answers CONNACK and resends what was in flight.
    async fn open(broker: &Rc<Broker>, link: &Link, connect: Connect, over_cap: bool) -> Option<Connection> {
        let limits = server_limits(&broker.ctx().config().mqtt);
        // Refusals below are sent at once: the connection closes right after them.
        let io = link.io(connect.protocol_version, None);
        let refuse = |reason: ReasonCode| {
            broker.metrics.borrow_mut().connects_refused += 1;
            io.send_one(terms::refusal(reason));
            None
        };
        let full = over_cap
            || broker.metrics.borrow().connections_current as usize
                >= broker.ctx().config().mqtt.connections_per_shard_max;
        let terms = match terms::negotiate(&connect, &limits, full) {
            Ok(terms) => terms,
            Err(reason) => return refuse(reason),
        };
        let epoch = broker.new_epoch();
        let assigned = terms
            .assigns_client_id
            .then(|| MqttStr::from_bytes(format!("shardhub-{epoch:x}").into()).expect("ascii"));
        // Its own copy, so the session does not pin the CONNECT's read buffer.
        let client_id = assigned.clone().unwrap_or_else(|| connect.client_id.to_owned_copy());
        let (role, token_deadline) = match authenticate(broker, &connect, &client_id) {
            Ok((role, expires_at)) => (role, token_deadline(&broker.ctx().config().mqtt, expires_at)),
            Err(reason) => return refuse(reason),
        };
        let restored = match take_over(broker, &client_id, epoch, terms.clean_start).await {
            Ok(restored) => restored,
            Err(reason) => return refuse(reason),
        };
        if broker.take_tombstone(epoch) {
            // A newer connection claimed the id while this one was setting up.
            io.send_one(terms::refusal(ReasonCode::SESSION_TAKEN_OVER));
            return None;
        }
        let session_present = restored.is_some();
        let session = new_session(&terms, &connect, epoch, client_id.clone(), role, restored);
        // From here on packets go through the shard's write batch.
        let io = link.io(terms.version, Some(broker.batch.clone()));
        let session = install(broker, session, io.clone()).await?;
        broker.metrics.borrow_mut().connects_accepted += 1;
        broker.metrics.borrow_mut().connections_current += 1;
        io.send_one(terms.connack(session_present, assigned));
        let mut packets = Vec::new();
        session
            .borrow_mut()
            .outbound
            .reconnected(terms.version, terms.outbound, unix_ms(), &mut packets);
        broker.account(&mut session.borrow_mut());
        io.send(&packets);
        Some(Connection {
            broker: broker.clone(),
            io,
            session,
            key: epoch,
            client_id,
            role,
            protocol: Protocol::new(&terms, Instant::now()),
            token_deadline,
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
            // Also checked here: a client that keeps the socket busy would keep `wait` from
            // ever choosing the timer.
            let woke = match self.token_deadline {
                Some(at) if Instant::now() >= at => Woke::TokenExpired,
                _ => self.wait(stream).await,
            };
            match woke {
                Woke::Signal => continue,
                Woke::Writable => {
                    self.io.flush();
                    continue;
                }
                Woke::TokenExpired => {
                    self.broker.metrics.borrow_mut().token_expiries += 1;
                    self.io
                        .send(self.protocol.disconnect(ReasonCode::NOT_AUTHORIZED).as_slice());
                    return End::Abnormal;
                }
                Woke::Silent => {
                    self.broker.metrics.borrow_mut().keep_alive_timeouts += 1;
                    self.io
                        .send(self.protocol.disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT).as_slice());
                    return End::Abnormal;
                }
                Woke::Readable => {}
            }
            let io = &self.io;
            if !read_available(stream.as_raw_fd(), io.tls(), &mut rbuf, |r| io.send_records(r)) {
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
        let (reason, end) = match self.io.close_request() {
            Some(CloseRequest::TakenOver) => (ReasonCode::SESSION_TAKEN_OVER, End::TakenOver),
            Some(CloseRequest::ShuttingDown) => (ReasonCode::SERVER_SHUTTING_DOWN, End::Abnormal),
            None => return self.io.is_broken().then_some(End::Abnormal),
        };
        self.io.send(self.protocol.disconnect(reason).as_slice());
        Some(end)
    }

    async fn wait(&self, stream: &TcpStream) -> Woke {
        let readable = async {
            match self.protocol.silence_max() {
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
        let expiry = async {
            match self.token_deadline {
                Some(at) => monoio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        if self.io.has_pending() {
            monoio::select! {
                woke = readable => woke,
                _ = stream.writable(false) => Woke::Writable,
                _ = self.io.signal.wait() => Woke::Signal,
                _ = expiry => Woke::TokenExpired,
            }
        } else {
            monoio::select! {
                woke = readable => woke,
                _ = self.io.signal.wait() => Woke::Signal,
                _ = expiry => Woke::TokenExpired,
            }
        }
    }

    /// Decodes and handles every whole packet in `rbuf`.
    async fn handle_buffered(&mut self, rbuf: &mut BytesMut) -> Option<End> {
        loop {
            let packet = match self.protocol.next_packet(rbuf) {
                Ok(Some(packet)) => packet,
                Ok(None) => return None,
                Err(reason) => return Some(self.protocol_error(reason)),
            };
            self.broker.metrics.borrow_mut().packets_received += 1;
            if let Some(end) = self.handle(packet).await {
                return Some(end);
            }
            if let Some(end) = self.check_io() {
                return Some(end);
            }
        }
    }

    fn protocol_error(&self, reason: ReasonCode) -> End {
        self.broker.metrics.borrow_mut().protocol_errors += 1;
        self.io.send(self.protocol.disconnect(reason).as_slice());
        End::Abnormal
    }

    /// Hands one packet to the protocol and carries out what it says.
    async fn handle(&mut self, packet: Packet) -> Option<End> {
        if matches!(packet, Packet::Publish(_)) {
            self.broker.metrics.borrow_mut().messages_received += 1;
        }
        let step = {
            let limits = server_limits(&self.broker.ctx().config().mqtt);
            let policy = Acl {
                role: self.role,
                client_id: self.client_id.as_str(),
            };
            let mut session = self.session.borrow_mut();
            let s = &mut *session;
            let state = ProtocolState {
                inbound: &mut s.inbound,
                outbound: &mut s.outbound,
                subscribed: &s.subscriptions,
            };
            self.protocol
                .on_packet(packet, Instant::now(), unix_ms(), state, &limits, &policy)
        };
        match step {
            Step::Send(packets) => {
                self.broker.account(&mut self.session.borrow_mut());
                self.io.send(&packets);
            }
            Step::Publish(accepted) => self.publish(accepted).await,
            Step::Refused { answer, why } => {
                let mut m = self.broker.metrics.borrow_mut();
                match why {
                    Refusal::RateLimited => m.rate_limited += 1,
                    Refusal::NotAuthorized => m.publishes_denied += 1,
                }
                self.io.send(answer.as_slice());
            }
            Step::Subscribe(plan) => self.subscribe(plan).await,
            Step::Unsubscribe(packet) => {
                let unsuback = self.unsubscribe(&packet);
                self.io.send_one(unsuback);
            }
            Step::Disconnect {
                keep_will,
                session_expiry_secs,
            } => {
                if let Some(expiry) = session_expiry_secs {
                    self.session.borrow_mut().expiry_secs = expiry;
                }
                return Some(End::Normal { keep_will });
            }
            Step::Close(reason) => return Some(self.protocol_error(reason)),
        }
        None
    }

    /// Routes an accepted PUBLISH (or hands a shadow request to its device's owner), then
    /// acknowledges it as the outcome says.
    async fn publish(&mut self, accepted: InboundPublish) {
        let broker = self.broker.clone();
        let (publish, ack) = accepted.split();
        let outcome = match shadow::request_topic(publish.topic.as_str()) {
            Some(request) => self.shadow(request, &publish).await,
            None => route(&broker, Arc::new(Message::from_publish(publish, self.key, unix_ms()))).await,
        };
        let answer = ack.answer(outcome, &mut self.session.borrow_mut().inbound);
        self.io.send(answer.as_slice());
    }

    /// A PUBLISH on `$shadow/...`: requests go to the shadow service, not to subscribers;
    /// the reply topics are the server's alone.
    async fn shadow(&self, request: Result<(&str, ShadowAction), ()>, publish: &Publish) -> Outcome {
        let Ok((device, action)) = request else {
            self.broker.metrics.borrow_mut().publishes_denied += 1;
            return Outcome::Refused(ReasonCode::NOT_AUTHORIZED);
        };
        let op = MqttOp::Shadow {
            action,
            device: device.to_string(),
            request: publish.payload.clone(),
        };
        let owner = self.broker.ctx().owner_of_key(device.as_bytes());
        match ask(&self.broker, owner, op).await {
            MqttReply::Shadow { .. } => Outcome::Routed,
            _ => Outcome::Refused(ReasonCode::UNSPECIFIED_ERROR),
        }
    }

    /// Records the filters the protocol accepted, answers SUBACK, then sends the retained
    /// messages the plan asks for.
    async fn subscribe(&mut self, plan: SubscribePlan) {
        let broker = self.broker.clone();
        let mut recorded = Vec::with_capacity(plan.filters.len());
        let mut learned = Vec::new();
        let mut retained_wanted = Vec::new();
        for item in &plan.filters {
            let Verdict::Accept { wants_retained } = item.verdict else {
                if item.verdict == Verdict::Refuse(ReasonCode::NOT_AUTHORIZED) {
                    broker.metrics.borrow_mut().subscribes_denied += 1;
                }
                recorded.push(false);
                continue;
            };
            let filter = item.filter.as_str();
            let options = item.options;
            let ok = if is_shared(filter) {
                // Members are listed at the group's owner; retained messages are not sent to
                // shared subscriptions (MQTT 5.0 4.8.2).
                broker.join(self.key, filter, options).await
            } else {
                match broker.add_subscription(self.key, filter, options) {
                    None => false,
                    Some(new_interest) => {
                        if new_interest {
                            learned.push(filter.to_string());
                        }
                        if wants_retained {
                            retained_wanted.push((filter.to_string(), options));
                        }
                        true
                    }
                }
            };
            if ok {
                self.session
                    .borrow_mut()
                    .subscriptions
                    .insert(filter.to_string(), options);
            }
            recorded.push(ok);
        }
        broker.learn(learned).await;
        self.io.send_one(plan.suback(&recorded));
        for (filter, options) in retained_wanted {
            let messages = self.retained_matching(&filter).await;
            if messages.is_empty() || self.io.close_request().is_some() {
                continue;
            }
            let packets = {
                let mut session = self.session.borrow_mut();
                broker.packets_for_retained(&mut session, messages, options)
            };
            self.io.send(&packets);
        }
    }

    /// Retained messages matching `filter`, from every shard that may own one.
    async fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let broker = &self.broker;
        let owners: Vec<u16> = if has_wildcard(filter) {
            (0..broker.ctx().shard_count() as u16).collect()
        } else {
            vec![broker.topic_owner(filter)]
        };
        let mut found = Vec::new();
        for owner in owners {
            if let MqttReply::Retained(messages) = ask(broker, owner, MqttOp::RetainedMatching(filter.into())).await {
                found.extend(messages);
            }
        }
        found
    }

    fn unsubscribe(&mut self, packet: &Unsubscribe) -> Packet {
        let broker = self.broker.clone();
        let mut lost = Vec::new();
        let unsuback = unsubscribe(packet, |filter| {
            if self.session.borrow_mut().subscriptions.remove(filter).is_none() {
                return false;
            }
            if is_shared(filter) {
                broker.leave(self.key, filter.to_string());
            } else if broker.remove_subscription(self.key, filter) == Some(true) {
                lost.push(filter.to_string());
            }
            true
        });
        broker.forget(lost);
        unsuback
    }

    /// After the connection: keep the session for its expiry or end it, and publish the
    /// will when it is due.
    fn finish(self, end: End) {
        let broker = &self.broker;
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
                publish_will(broker, will.message);
            } else {
                self.session.borrow_mut().will = Some(will);
                let delay = Duration::from_secs(u64::from(will_delay(&self.session)));
                monoio::spawn(will_timer(broker.clone(), self.key, spell, delay));
            }
        }
        if expiry_secs == 0 {
            end_session(broker, self.key);
        } else if expiry_secs != u32::MAX {
            let after = Duration::from_secs(u64::from(expiry_secs));
            monoio::spawn(expiry_timer(broker.clone(), self.key, spell, after));
        }
    }
}

enum Woke {
    Readable,
    Writable,
    Signal,
    /// Nothing for 1.5x the keep alive.
    Silent,
    /// The client's token expired (`mqtt.token_expiry = "disconnect"`).
    TokenExpired,
}

/// Who the client is: anonymous clients (loopback listeners only) are services; a token
/// names the role. A will must be one the client may publish.
fn authenticate(broker: &Broker, connect: &Connect, client_id: &MqttStr) -> Result<(Role, Option<u64>), ReasonCode> {
    let (role, expires_at) = match &broker.verifier {
        None => (Role::Service, None),
        Some(verifier) => {
            if !acl::is_namespace_safe(client_id.as_str()) {
                return Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            }
            match verifier.verify(client_id.as_str(), connect.password.as_deref()) {
                Ok(grant) => (grant.role, Some(grant.expires_at)),
                Err(AuthRefusal::BadCredentials) => return Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
                Err(AuthRefusal::NotAuthorized) => return Err(ReasonCode::NOT_AUTHORIZED),
            }
        }
    };
    if let Some(will) = &connect.will {
        if !acl::may_publish(role, client_id.as_str(), will.topic.as_str()) {
            return Err(ReasonCode::NOT_AUTHORIZED);
        }
    }
    Ok((role, expires_at))
}

/// When a connection whose token expires at `expires_at` (unix seconds) is closed: at that
/// second plus the leeway CONNECT allowed, under `mqtt.token_expiry = "disconnect"`.
fn token_deadline(m: &MqttConfig, expires_at: Option<u64>) -> Option<Instant> {
    let expires_at = expires_at.filter(|_| m.token_expiry == TokenExpiry::Disconnect)?;
    let end_ms = expires_at.saturating_add(m.token_leeway_secs).saturating_mul(1000);
    // A far-future `exp` (any u64 is a valid claim) must not overflow the clock: never.
    Instant::now().checked_add(Duration::from_millis(end_ms.saturating_sub(unix_ms())))
}

/// Claims the client id at its owner and closes whoever held it before; returns that holder's
/// session when it is handed over (not a clean start).
async fn take_over(
    broker: &Rc<Broker>,
    client_id: &MqttStr,
    epoch: u64,
    clean_start: bool,
) -> Result<Option<Box<SessionState>>, ReasonCode> {
    let claim = MqttOp::Claim {
        client_id: client_id.clone(),
        shard: broker.ctx().id,
        epoch,
    };
    let owner = broker.ctx().owner_of_key(client_id.as_bytes());
    let MqttReply::Claimed(previous) = ask(broker, owner, claim).await else {
        return Err(ReasonCode::SERVER_BUSY);
    };
    let Some((holder, old_epoch)) = previous else {
        return Ok(None);
    };
    let evict = MqttOp::Evict {
        epoch: old_epoch,
        keep_session: !clean_start,
    };
    Ok(match ask(broker, holder, evict).await {
        MqttReply::Evicted(state) => state,
        _ => None,
    })
}

/// The session a CONNECT opens: the handed-over one's state with this connection's limits,
/// or a new one.
fn new_session(
    terms: &ConnectTerms,
    connect: &Connect,
    epoch: u64,
    client_id: MqttStr,
    role: Role,
    restored: Option<Box<SessionState>>,
) -> Session {
    let l = &terms.limits;
    let (outbound, inbound, subscriptions) = match restored {
        Some(state) => {
            let mut inbound = state.inbound;
            inbound.reconnected(l.receive_maximum, l.topic_alias_max);
            (state.outbound, inbound, state.subscriptions.into_iter().collect())
        }
        None => (
            Outbound::new(terms.version, terms.outbound),
            Inbound::new(l.receive_maximum, l.topic_alias_max),
            Default::default(),
        ),
    };
    let will = connect.will.as_ref().map(|w| {
        let (publish, delay_secs) = terms::will_publish(w);
        Will {
            message: Arc::new(Message::from_publish(publish, epoch, unix_ms())),
            delay_secs,
        }
    });
    Session {
        key: epoch,
        client_id,
        role,
        version: terms.version,
        expiry_secs: terms.session_expiry_secs,
        subscriptions,
        outbound,
        inbound,
        conn: None,
        will,
        offline_spell: 0,
    }
}

/// Installs the session on this shard and tells the other shards of its subscriptions;
/// `None` when it was taken over meanwhile.
async fn install(broker: &Rc<Broker>, mut session: Session, io: Rc<ConnIo>) -> Option<SessionRef> {
    let key = session.key;
    session.conn = Some(io.clone());
    let (session, installed) = broker.install(session);
    for refused in broker.announce_installed(key, installed).await {
        // A group owner that is full cannot take the member back; the subscription ends.
        session.borrow_mut().subscriptions.remove(&refused);
    }
    if io.close_request().is_some() {
        // Taken over while announcing: the evictor already took the session.
        io.close();
        return None;
    }
    Some(session)
}

/// Routes a client's message: QoS 0 goes out or is dropped; QoS 1 and 2 are acknowledged only
/// once nothing of them can be dropped, and only once a retained copy is durable.
async fn route(broker: &Rc<Broker>, message: Arc<Message>) -> Outcome {
    if message.qos == QoS::AtMostOnce {
        if message.retain {
            retain_unacknowledged(broker, message.clone());
        }
        broker.route(message);
        return Outcome::Routed;
    }
    if message.retain {
        let owner = broker.topic_owner(message.topic.as_str());
        match ask(broker, owner, MqttOp::Retain(message.clone())).await {
            MqttReply::Done => {}
            // Over a retained bound: refused as a whole, to be retried.
            MqttReply::Refused => return Outcome::Refused(ReasonCode::QUOTA_EXCEEDED),
            _ => {
                broker.route(message);
                return Outcome::Refused(ReasonCode::UNSPECIFIED_ERROR);
            }
        }
    }
    if broker.route_acknowledged(message).await {
        Outcome::Routed
    } else {
        Outcome::Refused(ReasonCode::QUOTA_EXCEEDED)
    }
}

/// Runs an op on `owner` and waits for its answer; a full mesh answers `Unavailable`.
async fn ask(broker: &Rc<Broker>, owner: u16, op: MqttOp) -> MqttReply {
    match broker.on_owner(owner, op) {
        Ok(answer) => answer.get().await,
        Err(_) => MqttReply::Unavailable,
    }
}

fn will_delay(session: &SessionRef) -> u32 {
    let s = session.borrow();
    s.will.as_ref().map_or(0, |w| w.delay_secs.min(s.expiry_secs))
}

fn publish_will(broker: &Rc<Broker>, message: Arc<Message>) {
    broker.metrics.borrow_mut().wills_published += 1;
    if message.retain {
        retain_unacknowledged(broker, message.clone());
    }
    broker.route(message);
}

/// Hands a retained message to its topic's owner without waiting for the log: for what
/// nobody acknowledges (QoS 0, wills). The record is written all the same.
fn retain_unacknowledged(broker: &Rc<Broker>, message: Arc<Message>) {
    let owner = broker.topic_owner(message.topic.as_str());
    let _ = broker.tell(owner, MqttOp::Retain(message));
}

/// Publishes a delayed will unless the client came back (or the session moved) first.
async fn will_timer(broker: Rc<Broker>, key: u64, spell: u64, delay: Duration) {
    monoio::time::sleep(delay).await;
    if let Some(Some(will)) = still_offline(&broker, key, spell) {
        publish_will(&broker, will.message);
    }
}

/// Ends a session whose client stayed away for its whole expiry interval.
async fn expiry_timer(broker: Rc<Broker>, key: u64, spell: u64, after: Duration) {
    monoio::time::sleep(after).await;
    let Some(will) = still_offline(&broker, key, spell) else {
        return;
    };
    // A will still waiting for its delay goes out when the session ends.
    if let Some(will) = will {
        publish_will(&broker, will.message);
    }
    broker.metrics.borrow_mut().sessions_expired += 1;
    end_session(&broker, key);
}

/// If session `key` is still in the offline spell a timer was started for: its pending will
/// (taken), if any. None when the client came back or the session ended or moved.
fn still_offline(broker: &Broker, key: u64, spell: u64) -> Option<Option<Will>> {
    let session = broker.session(key)?;
    let mut s = session.borrow_mut();
    if s.conn.is_some() || s.offline_spell != spell {
        return None;
    }
    Some(s.will.take())
}

/// Removes a session from this shard and frees its client id at the id's owner.
fn end_session(broker: &Rc<Broker>, key: u64) {
    let Some((session, removed)) = broker.remove(key) else {
        return;
    };
    broker.announce_removed(key, removed);
    let client_id = session.borrow().client_id.clone();
    let owner = broker.ctx().owner_of_key(client_id.as_bytes());
    let _ = broker.tell(owner, MqttOp::Release { client_id, epoch: key });
}
