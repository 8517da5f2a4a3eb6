//! Server to client: packet identifiers, the in-flight window, the queue behind it,
//! redelivery on reconnect, message expiry, outgoing topic aliases and the client's Maximum
//! Packet Size.
//!
//! Every method appends the packets to send to `out` in the order they must go; a session
//! without a connection sends nothing and queues instead.

use std::collections::{HashMap, VecDeque};
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;

use super::message::Message;
use crate::mqtt::packet::{Ack, Packet, PacketId, ProtocolVersion, Publish, QoS};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::string::MqttStr;

/// The bounds one connection sets: ours combined with what the client's CONNECT asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// QoS 1/2 messages awaiting acknowledgement: min(our max_inflight, client's Receive
    /// Maximum).
    pub inflight_max: u16,
    /// Messages waiting behind the window or while offline; the oldest goes when full.
    pub queue_max: usize,
    /// The client's Maximum Packet Size; larger messages are dropped for this client.
    pub packet_bytes_max: u32,
    /// The client's Topic Alias Maximum: aliases we may assign.
    pub topic_alias_max: u16,
}

/// One message for one subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// The smaller of the message's QoS and the subscription's.
    pub qos: QoS,
    /// The RETAIN flag to send (the subscription's Retain As Published decides).
    pub retain: bool,
    /// Every matching subscription's identifier.
    pub subscription_ids: Vec<NonZeroU32>,
}

/// What happened to messages that never reached the client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutboundStats {
    /// Oldest queued messages dropped for a newer one.
    pub dropped_queue_full: u64,
    /// Messages whose expiry interval ran out before delivery started.
    pub dropped_expired: u64,
    /// Messages over the client's Maximum Packet Size.
    pub dropped_too_large: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// PUBLISH sent: PUBACK (QoS 1) or PUBREC (QoS 2) due.
    Published,
    /// PUBREL sent: PUBCOMP due.
    Released,
}

#[derive(Debug)]
struct InFlight {
    id: PacketId,
    delivery: Delivery,
    stage: Stage,
}

#[derive(Debug)]
pub struct Outbound {
    version: ProtocolVersion,
    limits: OutboundLimits,
    connected: bool,
    last_id: u16,
    inflight: VecDeque<InFlight>,
    queue: VecDeque<Delivery>,
    /// Aliases we assigned on this connection.
    aliases: HashMap<MqttStr, NonZeroU16>,
    stats: OutboundStats,
}

impl Outbound {
    pub fn new(version: ProtocolVersion, limits: OutboundLimits) -> Self {
        Self {
            version,
            limits,
            connected: true,
            last_id: 0,
            inflight: VecDeque::new(),
            queue: VecDeque::new(),
            aliases: HashMap::new(),
            stats: OutboundStats::default(),
        }
    }

    pub fn stats(&self) -> OutboundStats {
        self.stats
    }

    /// The counts since the last call, reset: the caller adds them to its metrics.
    pub fn take_stats(&mut self) -> OutboundStats {
        std::mem::take(&mut self.stats)
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Routes one message to this session: sent now when connected and the window allows,
    /// else queued.
    pub fn deliver(&mut self, delivery: Delivery, now_ms: u64, out: &mut Vec<Packet>) {
        if self.connected && (delivery.qos == QoS::AtMostOnce || self.window_open()) {
            self.send(delivery, now_ms, out);
        } else {
            if self.queue.len() >= self.limits.queue_max {
                self.queue.pop_front();
                self.stats.dropped_queue_full += 1;
            }
            if self.limits.queue_max > 0 {
                self.queue.push_back(delivery);
            }
        }
    }

    /// PUBACK: the QoS 1 exchange is over.
    pub fn on_puback(&mut self, id: PacketId, now_ms: u64, out: &mut Vec<Packet>) {
        // An unknown id is a late duplicate; nothing to do.
        if self.take(id, Stage::Published, QoS::AtLeastOnce).is_some() {
            self.pump(now_ms, out);
        }
    }

    /// PUBREC: answer PUBREL, or end the exchange when the client refused the message.
    pub fn on_pubrec(&mut self, ack: &Ack, now_ms: u64, out: &mut Vec<Packet>) {
        let found = self
            .inflight
            .iter_mut()
            .find(|e| e.id == ack.packet_id && e.delivery.qos == QoS::ExactlyOnce);
        let Some(entry) = found else {
            out.push(Packet::PubRel(Ack {
                reason_code: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                ..Ack::new(ack.packet_id)
            }));
            return;
        };
        if ack.reason_code.is_error() {
            self.take(ack.packet_id, Stage::Published, QoS::ExactlyOnce);
            self.pump(now_ms, out);
            return;
        }
        entry.stage = Stage::Released;
        out.push(Packet::PubRel(Ack::new(ack.packet_id)));
    }

    /// PUBCOMP: the QoS 2 exchange is over.
    pub fn on_pubcomp(&mut self, id: PacketId, now_ms: u64, out: &mut Vec<Packet>) {
        if self.take(id, Stage::Released, QoS::ExactlyOnce).is_some() {
            self.pump(now_ms, out);
        }
    }

    /// The connection closed: keep the window and the queue for the next one; aliases die
    /// with their connection.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.aliases.clear();
    }

    /// A new connection resumes the session: resend what was in flight (PUBLISH with DUP,
    /// or PUBREL), in the original order, then send from the queue.
    pub fn reconnected(
        &mut self,
        version: ProtocolVersion,
        limits: OutboundLimits,
        now_ms: u64,
        out: &mut Vec<Packet>,
    ) {
        self.version = version;
        self.limits = limits;
        self.connected = true;
        self.aliases.clear();
        for i in 0..self.inflight.len() {
            let (id, stage) = (self.inflight[i].id, self.inflight[i].stage);
            match stage {
                Stage::Released => out.push(Packet::PubRel(Ack::new(id))),
                Stage::Published => {
                    let delivery = self.inflight[i].delivery.clone();
                    // Delivery had started: it goes on even if the message has expired since.
                    let publish = self.publish(&delivery, Some(id), true, now_ms);
                    out.push(Packet::Publish(publish));
                }
            }
        }
        self.pump(now_ms, out);
    }

    fn window_open(&self) -> bool {
        self.inflight.len() < usize::from(self.limits.inflight_max)
    }

    /// Sends from the queue while the window allows.
    fn pump(&mut self, now_ms: u64, out: &mut Vec<Packet>) {
        while self.connected {
            let Some(front) = self.queue.front() else { break };
            if front.qos != QoS::AtMostOnce && !self.window_open() {
                break;
            }
            let delivery = self.queue.pop_front().expect("front exists");
            self.send(delivery, now_ms, out);
        }
    }

    fn send(&mut self, delivery: Delivery, now_ms: u64, out: &mut Vec<Packet>) {
        if delivery.message.is_expired(now_ms) {
            self.stats.dropped_expired += 1;
            return;
        }
        let id = match delivery.qos {
            QoS::AtMostOnce => None,
            _ => Some(self.next_id()),
        };
        let publish = self.publish(&delivery, id, false, now_ms);
        let packet = Packet::Publish(publish);
        let len = packet.encoded_len(self.version).ok();
        if len.is_none_or(|len| len > self.limits.packet_bytes_max as usize) {
            // The specification's rule: discard it as if it had been delivered.
            self.stats.dropped_too_large += 1;
            return;
        }
        if let Some(id) = id {
            self.inflight.push_back(InFlight {
                id,
                delivery,
                stage: Stage::Published,
            });
        }
        out.push(packet);
    }

    fn publish(&mut self, delivery: &Delivery, id: Option<PacketId>, dup: bool, now_ms: u64) -> Publish {
        let message = &delivery.message;
        let mut properties = message.properties.clone();
        let mut topic = message.topic.clone();
        if self.version == ProtocolVersion::V5 {
            properties.message_expiry_interval = message.remaining_expiry_secs(now_ms);
            properties.subscription_identifiers = delivery.subscription_ids.clone();
            properties.topic_alias = self.alias_for(&message.topic, &mut topic);
        }
        Publish {
            dup,
            qos: delivery.qos,
            retain: delivery.retain,
            topic,
            packet_id: id,
            properties,
            payload: message.payload.clone(),
        }
    }

    /// The alias to send with `name`: an existing one (then the topic goes out empty), a new
    /// one while the client allows more, or none.
    fn alias_for(&mut self, name: &MqttStr, topic: &mut MqttStr) -> Option<NonZeroU16> {
        if let Some(&alias) = self.aliases.get(name) {
            *topic = MqttStr::EMPTY;
            return Some(alias);
        }
        let next = u16::try_from(self.aliases.len() + 1).ok()?;
        if next > self.limits.topic_alias_max {
            return None;
        }
        let alias = NonZeroU16::new(next)?;
        self.aliases.insert(name.clone(), alias);
        Some(alias)
    }

    /// The next packet id not in flight.
    fn next_id(&mut self) -> PacketId {
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            let Some(id) = NonZeroU16::new(self.last_id) else {
                continue;
            };
            if !self.inflight.iter().any(|e| e.id == id) {
                return id;
            }
        }
    }

    fn take(&mut self, id: PacketId, stage: Stage, qos: QoS) -> Option<Delivery> {
        let at = self
            .inflight
            .iter()
            .position(|e| e.id == id && e.stage == stage && e.delivery.qos == qos)?;
        self.inflight.remove(at).map(|e| e.delivery)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const LIMITS: OutboundLimits = OutboundLimits {
        inflight_max: 2,
        queue_max: 3,
        packet_bytes_max: 1024,
        topic_alias_max: 0,
    };

    fn delivery(topic: &'static str, qos: QoS, payload: &'static [u8]) -> Delivery {
        Delivery {
            message: Arc::new(Message {
                topic: MqttStr::from_static(topic),
                payload: Bytes::from_static(payload),
                qos,
                retain: false,
                properties: Default::default(),
                expires_at_ms: None,
                origin: 0,
            }),
            qos,
            retain: false,
            subscription_ids: Vec::new(),
        }
    }

    fn publishes(out: &[Packet]) -> Vec<(Option<u16>, bool, &[u8])> {
        out.iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some((p.packet_id.map(|id| id.get()), p.dup, &p.payload[..])),
                _ => None,
            })
            .collect()
    }

    fn id(n: u16) -> PacketId {
        NonZeroU16::new(n).unwrap()
    }

    #[test]
    fn the_window_holds_back_qos1_but_not_qos0() {
        let mut o = Outbound::new(ProtocolVersion::V5, LIMITS);
        let mut out = Vec::new();
        for p in [b"1", b"2", b"3"] {
            o.deliver(delivery("t", QoS::AtLeastOnce, p), 0, &mut out);
        }
        o.deliver(delivery("t", QoS::AtMostOnce, b"q0"), 0, &mut out);
        assert_eq!(
            publishes(&out),
            [
                (Some(1), false, &b"1"[..]),
                (Some(2), false, b"2"),
                (None, false, b"q0")
            ]
        );
        assert_eq!((o.inflight_len(), o.queued_len()), (2, 1));
        out.clear();
        o.on_puback(id(1), 0, &mut out);
        assert_eq!(publishes(&out), [(Some(3), false, &b"3"[..])]);
    }

    #[test]
    fn a_reconnect_resends_in_flight_with_dup_then_the_queue() {
        let mut o = Outbound::new(ProtocolVersion::V5, LIMITS);
        let mut out = Vec::new();
        o.deliver(delivery("t", QoS::ExactlyOnce, b"a"), 0, &mut out);
        o.deliver(delivery("t", QoS::AtLeastOnce, b"b"), 0, &mut out);
        let rec = Ack::new(id(1));
        out.clear();
        o.on_pubrec(&rec, 0, &mut out);
        assert!(matches!(out[..], [Packet::PubRel(ref a)] if a.packet_id == id(1)));
        o.disconnected();
        out.clear();
        o.deliver(delivery("t", QoS::AtLeastOnce, b"c"), 0, &mut out);
        assert!(out.is_empty(), "offline: queued");
        o.reconnected(ProtocolVersion::V5, LIMITS, 0, &mut out);
        assert!(matches!(out[0], Packet::PubRel(ref a) if a.packet_id == id(1)));
        assert_eq!(publishes(&out), [(Some(2), true, &b"b"[..])]);
        out.clear();
        o.on_pubcomp(id(1), 0, &mut out);
        assert_eq!(publishes(&out), [(Some(3), false, &b"c"[..])], "ids keep counting");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_expired_messages_are_not_sent() {
        let mut o = Outbound::new(ProtocolVersion::V5, LIMITS);
        o.disconnected();
        let mut out = Vec::new();
        for p in [b"1", b"2", b"3"] {
            o.deliver(delivery("t", QoS::AtLeastOnce, p), 0, &mut out);
        }
        let mut expiring = delivery("t", QoS::AtMostOnce, b"x");
        Arc::get_mut(&mut expiring.message).unwrap().expires_at_ms = Some(500);
        o.deliver(expiring, 0, &mut out);
        assert_eq!(o.stats().dropped_queue_full, 1, "1 made room for x");
        o.reconnected(ProtocolVersion::V5, LIMITS, 1_000, &mut out);
        let sent: Vec<&[u8]> = publishes(&out).into_iter().map(|(_, _, p)| p).collect();
        assert_eq!(sent, [&b"2"[..], b"3"], "x expired at 500");
        assert_eq!(o.stats().dropped_expired, 1);
    }

    #[test]
    fn aliases_are_assigned_while_the_client_allows_and_messages_too_large_are_dropped() {
        let limits = OutboundLimits {
            topic_alias_max: 1,
            packet_bytes_max: 64,
            ..LIMITS
        };
        let mut o = Outbound::new(ProtocolVersion::V5, limits);
        let mut out = Vec::new();
        o.deliver(delivery("a/b", QoS::AtMostOnce, b"1"), 0, &mut out);
        o.deliver(delivery("a/b", QoS::AtMostOnce, b"2"), 0, &mut out);
        o.deliver(delivery("c/d", QoS::AtMostOnce, b"3"), 0, &mut out);
        o.deliver(delivery("c/d", QoS::AtMostOnce, &[b'x'; 100]), 0, &mut out);
        let sent: Vec<(&str, Option<u16>)> = out
            .iter()
            .map(|p| match p {
                Packet::Publish(p) => (p.topic.as_str(), p.properties.topic_alias.map(|a| a.get())),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(sent, [("a/b", Some(1)), ("", Some(1)), ("c/d", None)]);
        assert_eq!(o.stats().dropped_too_large, 1);
    }
}
