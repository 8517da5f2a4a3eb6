//! A broker's side of one MQTT connection, sans-IO: packets (decoded from the bytes read)
//! and time in, packets to send and steps for the server out.
//!
//! The server reads bytes and hands them to [`Connection::next_packet`]; each packet goes to
//! [`Connection::on_packet`] with the session's protocol state, and what comes back says
//! what to do: send packets, route a message and then acknowledge it, record
//! subscriptions, end the connection. What the protocol decides lives here — keep-alive and
//! session-expiry negotiation ([`terms`]), the rate of PUBLISHes, Subscription Identifiers
//! only from the server, QoS 2 duplicates, the rules of DISCONNECT, the reason code of every
//! refusal. What the server decides (who may use which topic) is asked of a [`Policy`];
//! where messages go is the server's alone.

pub mod rate;
pub mod subscribe;
pub mod terms;

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::mqtt::decode;
use crate::mqtt::packet::{Ack, Disconnect, Packet, PacketId, ProtocolVersion, Publish, QoS};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::session::{Inbound, Outbound};
use rate::PublishRate;
use subscribe::SubscribePlan;
use terms::{ConnectTerms, ServerLimits};

pub use subscribe::{FilterPlan, SubOptions, Verdict};

/// What the server allows one client, asked per PUBLISH and per filter.
pub trait Policy {
    fn may_publish(&self, topic: &str) -> bool;
    fn may_subscribe(&self, filter: &str) -> bool;
}

/// The subscriptions a session holds, as the quota and Retain Handling see them.
pub trait Subscribed {
    fn holds(&self, filter: &str) -> bool;
    fn count(&self) -> usize;
}

impl<V, S: std::hash::BuildHasher> Subscribed for std::collections::HashMap<String, V, S> {
    fn holds(&self, filter: &str) -> bool {
        self.contains_key(filter)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// The session's protocol state a packet may change: it outlives the connection, so the
/// server keeps it and lends it per packet.
pub struct SessionState<'a> {
    pub inbound: &'a mut Inbound,
    pub outbound: &'a mut Outbound,
    pub subscribed: &'a dyn Subscribed,
}

/// What the server does with one packet.
#[derive(Debug)]
pub enum Step {
    /// Send these packets (none: nothing to answer).
    Send(Vec<Packet>),
    /// Route this message, then send [`Acknowledgement::answer`].
    Publish(InboundPublish),
    /// A PUBLISH refused without routing: send `answer` (QoS 1/2), count `why`.
    Refused { answer: Option<Packet>, why: Refusal },
    /// Record the accepted filters, send [`SubscribePlan::suback`], then the retained
    /// messages the plan asks for.
    Subscribe(SubscribePlan),
    /// Answer with [`subscribe::unsubscribe`].
    Unsubscribe(crate::mqtt::packet::Unsubscribe),
    /// The client said goodbye; `session_expiry_secs` replaces the session's expiry when set.
    Disconnect {
        keep_will: bool,
        session_expiry_secs: Option<u32>,
    },
    /// The client broke the protocol: send [`Connection::disconnect`] and close.
    Close(ReasonCode),
}

/// Why a PUBLISH was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the client's PUBLISH rate (0x97).
    RateLimited,
    /// The policy does not let this client publish there (0x87).
    NotAuthorized,
}

/// A PUBLISH accepted for routing; its acknowledgement waits for the outcome.
#[derive(Debug)]
pub struct InboundPublish {
    pub publish: Publish,
}

/// What answers an accepted PUBLISH once it is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledgement {
    qos: QoS,
    packet_id: Option<PacketId>,
}

/// How routing an accepted PUBLISH ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Routed,
    /// Not taken (a full store or queue: 0x97; a failed log: 0x80); the client may retry.
    Refused(ReasonCode),
}

impl InboundPublish {
    /// The message, and what answers it once it is routed.
    pub fn split(self) -> (Publish, Acknowledgement) {
        let ack = Acknowledgement {
            qos: self.publish.qos,
            packet_id: self.publish.packet_id,
        };
        (self.publish, ack)
    }
}

impl Acknowledgement {
    /// The PUBACK or PUBREC for `outcome` (nothing for QoS 0). A refused QoS 2 message ends
    /// its exchange here, so its packet id is free again [MQTT-4.3.3].
    pub fn answer(&self, outcome: Outcome, inbound: &mut Inbound) -> Option<Packet> {
        let id = self.packet_id?;
        let reason = match outcome {
            Outcome::Routed => ReasonCode::SUCCESS,
            Outcome::Refused(reason) => reason,
        };
        let ack = Ack {
            reason_code: reason,
            ..Ack::new(id)
        };
        match self.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(ack)),
            QoS::ExactlyOnce => {
                if reason.is_error() {
                    inbound.release(id);
                }
                Some(Packet::PubRec(ack))
            }
        }
    }
}

/// The refusal of a PUBLISH, in its QoS's acknowledgement (none for QoS 0).
fn refuse(publish: &Publish, reason: ReasonCode) -> Option<Packet> {
    let ack = Ack {
        reason_code: reason,
        ..Ack::new(publish.packet_id?)
    };
    match publish.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Packet::PubAck(ack)),
        QoS::ExactlyOnce => Some(Packet::PubRec(ack)),
    }
}

/// One open connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    version: ProtocolVersion,
    /// Largest packet the client may send, as announced at CONNECT.
    packet_bytes_max: u32,
    silence_max: Option<Duration>,
    /// Session Expiry Interval 0 at CONNECT forbids a non-zero one at DISCONNECT.
    expiry_at_connect: u32,
    rate: PublishRate,
}

impl Connection {
    /// The connection a CONNECT opened on `terms`.
    pub fn new(terms: &ConnectTerms, now: Instant) -> Self {
        Self {
            version: terms.version,
            packet_bytes_max: terms.limits.packet_bytes_max,
            silence_max: terms.silence_max(),
            expiry_at_connect: terms.session_expiry_secs,
            rate: PublishRate::new(terms.limits.publishes_per_sec, now),
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// How long the client may stay silent before it is disconnected (keep alive x 1.5).
    pub fn silence_max(&self) -> Option<Duration> {
        self.silence_max
    }

    /// The next whole packet of `rbuf`; `Ok(None)` wants more bytes; an error is the reason
    /// to close with.
    pub fn next_packet(&self, rbuf: &mut BytesMut) -> Result<Option<Packet>, ReasonCode> {
        decode(rbuf, self.version, self.packet_bytes_max).map_err(|e| e.reason_code())
    }

    /// The DISCONNECT a 5.0 client gets before the server closes; 3.1.1 has none.
    pub fn disconnect(&self, reason: ReasonCode) -> Option<Packet> {
        (self.version == ProtocolVersion::V5).then(|| {
            Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties: Default::default(),
            })
        })
    }

    /// Decides what one packet means. `limits` are the server's bounds now (they reload);
    /// `now_ms` is the wall clock that message expiry runs on.
    pub fn on_packet(
        &mut self,
        packet: Packet,
        now: Instant,
        now_ms: u64,
        session: SessionState<'_>,
        limits: &ServerLimits,
        policy: &dyn Policy,
    ) -> Step {
        let mut out = Vec::new();
        match packet {
            Packet::Publish(publish) => return self.on_publish(publish, now, session.inbound, limits, policy),
            Packet::PubAck(ack) => session.outbound.on_puback(ack.packet_id, now_ms, &mut out),
            Packet::PubRec(ack) => session.outbound.on_pubrec(&ack, now_ms, &mut out),
            Packet::PubComp(ack) => session.outbound.on_pubcomp(ack.packet_id, now_ms, &mut out),
            Packet::PubRel(ack) => {
                let mut comp = Ack::new(ack.packet_id);
                if !session.inbound.release(ack.packet_id) {
                    comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                out.push(Packet::PubComp(comp));
            }
            Packet::Subscribe(subscribe) => {
                let plan = SubscribePlan::new(subscribe, session.subscribed, limits.subscriptions_max, policy);
                return Step::Subscribe(plan);
            }
            Packet::Unsubscribe(unsubscribe) => return Step::Unsubscribe(unsubscribe),
            Packet::PingReq => out.push(Packet::PingResp),
            Packet::Disconnect(d) => return self.on_disconnect(&d, limits),
            // A second CONNECT, AUTH without enhanced authentication, or a server's packet.
            _ => return Step::Close(ReasonCode::PROTOCOL_ERROR),
        }
        Step::Send(out)
    }

    fn on_publish(
        &mut self,
        mut publish: Publish,
        now: Instant,
        inbound: &mut Inbound,
        limits: &ServerLimits,
        policy: &dyn Policy,
    ) -> Step {
        // Subscription identifiers are the server's to send [MQTT-3.3.4-6].
        if !publish.properties.subscription_identifiers.is_empty() {
            return Step::Close(ReasonCode::PROTOCOL_ERROR);
        }
        if let Err(e) = inbound.resolve_topic(&mut publish) {
            return Step::Close(e.reason_code());
        }
        if !self.rate.take(limits.publishes_per_sec, now) {
            return Step::Refused {
                answer: refuse(&publish, ReasonCode::QUOTA_EXCEEDED),
                why: Refusal::RateLimited,
            };
        }
        if !policy.may_publish(publish.topic.as_str()) {
            return Step::Refused {
                answer: refuse(&publish, ReasonCode::NOT_AUTHORIZED),
                why: Refusal::NotAuthorized,
            };
        }
        if let (QoS::ExactlyOnce, Some(id)) = (publish.qos, publish.packet_id) {
            match inbound.begin_exactly_once(id) {
                Ok(true) => {}
                // A resend of a message routed already: acknowledge it again, only.
                Ok(false) => return Step::Send(vec![Packet::PubRec(Ack::new(id))]),
                Err(e) => return Step::Close(e.reason_code()),
            }
        }
        // The codec refuses a QoS 1/2 PUBLISH without an id.
        Step::Publish(InboundPublish { publish })
    }

    fn on_disconnect(&self, d: &Disconnect, limits: &ServerLimits) -> Step {
        let mut session_expiry_secs = None;
        if let Some(expiry) = d.properties.session_expiry_interval {
            if self.expiry_at_connect == 0 && expiry != 0 {
                return Step::Close(ReasonCode::PROTOCOL_ERROR);
            }
            session_expiry_secs = Some(expiry.min(limits.session_expiry_secs_max));
        }
        Step::Disconnect {
            keep_will: d.reason_code == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
            session_expiry_secs,
        }
    }
}

#[cfg(test)]
mod tests;
