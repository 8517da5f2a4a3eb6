use std::collections::HashMap;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};

use super::subscribe::unsubscribe;
use super::terms::{negotiate, take_connect, ConnectTerms, ServerLimits};
use super::*;
use crate::mqtt::packet::{
    Connect, PacketId, RetainHandling, Subscribe, Subscription, SubscriptionOptions, Unsubscribe,
};
use crate::mqtt::properties::ConnAckProperties;
use crate::mqtt::session::OutboundLimits;
use crate::mqtt::string::MqttStr;

const LIMITS: ServerLimits = ServerLimits {
    receive_maximum: 2,
    packet_bytes_max: 1024,
    topic_alias_max: 4,
    keep_alive_secs_max: 60,
    session_expiry_secs_max: 3600,
    inflight_max: 8,
    queue_max: 16,
    publishes_per_sec: 3,
    subscriptions_max: 2,
};

fn text(s: &str) -> MqttStr {
    MqttStr::from_bytes(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

fn id(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

fn connect(version: ProtocolVersion, client_id: &str, clean_start: bool, keep_alive: u16) -> Connect {
    Connect {
        protocol_version: version,
        clean_start,
        keep_alive,
        client_id: text(client_id),
        ..Connect::default()
    }
}

/// A device may only use `devices/me/...`.
struct OwnTopics;

impl Policy for OwnTopics {
    fn may_publish(&self, topic: &str) -> bool {
        topic.starts_with("devices/me/")
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        filter.starts_with("devices/me/")
    }
}

/// A connection with its session's state, as a broker keeps them.
struct Fixture {
    conn: Connection,
    inbound: Inbound,
    outbound: Outbound,
    held: HashMap<String, ()>,
    now: Instant,
}

impl Fixture {
    fn open(version: ProtocolVersion, expiry: u32) -> Fixture {
        let mut c = connect(version, "me", true, 30);
        c.properties.session_expiry_interval = Some(expiry);
        let terms = negotiate(&c, &LIMITS, false).unwrap();
        let now = Instant::now();
        Fixture {
            conn: Connection::new(&terms, now),
            inbound: Inbound::new(LIMITS.receive_maximum, LIMITS.topic_alias_max),
            outbound: Outbound::new(version, terms.outbound),
            held: HashMap::new(),
            now,
        }
    }

    fn step(&mut self, packet: Packet) -> Step {
        let session = SessionState {
            inbound: &mut self.inbound,
            outbound: &mut self.outbound,
            subscribed: &self.held,
        };
        self.conn.on_packet(packet, self.now, 0, session, &LIMITS, &OwnTopics)
    }
}

fn publish(topic: &str, qos: QoS, packet_id: u16) -> Packet {
    Packet::Publish(Publish {
        qos,
        topic: text(topic),
        packet_id: (qos != QoS::AtMostOnce).then(|| id(packet_id)),
        payload: Bytes::from_static(b"x"),
        ..Publish::default()
    })
}

#[test]
fn keep_alive_is_capped_and_announced_only_to_5_0_clients() {
    let terms = |version, asked| negotiate(&connect(version, "c", true, asked), &LIMITS, false).unwrap();
    let t = terms(ProtocolVersion::V5, 0);
    assert_eq!((t.keep_alive_secs, t.server_keep_alive), (60, Some(60)));
    let t = terms(ProtocolVersion::V5, 600);
    assert_eq!((t.keep_alive_secs, t.server_keep_alive), (60, Some(60)));
    let t = terms(ProtocolVersion::V5, 20);
    assert_eq!((t.keep_alive_secs, t.server_keep_alive), (20, None));
    assert_eq!(t.silence_max(), Some(Duration::from_secs(30)));
    let t = terms(ProtocolVersion::V311, 600);
    assert_eq!((t.keep_alive_secs, t.server_keep_alive), (600, None));
    assert_eq!(terms(ProtocolVersion::V311, 0).silence_max(), None);
}

#[test]
fn session_expiry_is_what_was_asked_within_the_servers_cap() {
    let mut c = connect(ProtocolVersion::V5, "c", false, 10);
    c.properties.session_expiry_interval = Some(7200);
    let t = negotiate(&c, &LIMITS, false).unwrap();
    assert_eq!((t.session_expiry_asked, t.session_expiry_secs), (7200, 3600));
    let Packet::ConnAck(ack) = t.connack(true, None) else {
        panic!("a CONNACK")
    };
    assert!(ack.session_present);
    assert_eq!(ack.properties.session_expiry_interval, Some(3600), "the client is told");
    assert_eq!(ack.properties.receive_maximum, NonZeroU16::new(2));
    assert_eq!(ack.properties.maximum_packet_size, NonZeroU32::new(1024));
    // 3.1.1: a clean session ends with its connection; a persistent one lasts (capped).
    let t = negotiate(&connect(ProtocolVersion::V311, "c", true, 10), &LIMITS, false).unwrap();
    assert_eq!(t.session_expiry_secs, 0);
    let t = negotiate(&connect(ProtocolVersion::V311, "c", false, 10), &LIMITS, false).unwrap();
    assert_eq!((t.session_expiry_asked, t.session_expiry_secs), (u32::MAX, 3600));
    let Packet::ConnAck(ack) = t.connack(false, None) else {
        panic!("a CONNACK")
    };
    assert_eq!(ack.properties, ConnAckProperties::default(), "3.1.1 has no properties");
}

#[test]
fn the_client_limits_lower_ours_in_the_outbound_direction() {
    let mut c = connect(ProtocolVersion::V5, "c", true, 10);
    c.properties.receive_maximum = NonZeroU16::new(3);
    c.properties.maximum_packet_size = NonZeroU32::new(500);
    c.properties.topic_alias_maximum = Some(7);
    let t: ConnectTerms = negotiate(&c, &LIMITS, false).unwrap();
    assert_eq!(
        t.outbound,
        OutboundLimits {
            inflight_max: 3,
            queue_max: 16,
            packet_bytes_max: 500,
            topic_alias_max: 7
        }
    );
}

#[test]
fn refusals_use_the_code_each_version_has() {
    let mut c = connect(ProtocolVersion::V5, "c", true, 10);
    c.properties.authentication_method = Some(text("SCRAM-SHA-1"));
    assert_eq!(
        negotiate(&c, &LIMITS, false),
        Err(ReasonCode::BAD_AUTHENTICATION_METHOD)
    );
    let v5 = connect(ProtocolVersion::V5, "c", true, 10);
    assert_eq!(negotiate(&v5, &LIMITS, true), Err(ReasonCode::QUOTA_EXCEEDED));
    let v311 = connect(ProtocolVersion::V311, "c", true, 10);
    assert_eq!(negotiate(&v311, &LIMITS, true), Err(ReasonCode::SERVER_UNAVAILABLE));
    // An empty client id: assigned in 5.0, refused in 3.1.1 without a clean session.
    assert!(
        negotiate(&connect(ProtocolVersion::V5, "", false, 10), &LIMITS, false)
            .unwrap()
            .assigns_client_id
    );
    assert_eq!(
        negotiate(&connect(ProtocolVersion::V311, "", false, 10), &LIMITS, false),
        Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID)
    );
}

#[test]
fn the_first_packet_must_be_a_whole_connect() {
    let mut bytes = BytesMut::new();
    Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c", true, 10)))
        .encode(ProtocolVersion::V5, &mut bytes)
        .unwrap();
    let mut partial = BytesMut::from(&bytes[..bytes.len() - 1]);
    assert!(matches!(take_connect(&mut partial, 1024), Ok(None)));
    let mut whole = bytes.clone();
    assert!(matches!(take_connect(&mut whole, 1024), Ok(Some(c)) if c.client_id.as_str() == "c"));
    // Protocol level 9: answered in 3.1.1's terms.
    let mut unknown = BytesMut::from(&[0x10, 0x0a, 0, 4, b'M', b'Q', b'T', b'T', 9, 0x02, 0, 10, 0, 0][..]);
    assert_eq!(
        take_connect(&mut unknown, 1024).unwrap_err(),
        Some((ProtocolVersion::V311, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION))
    );
    let mut ping = BytesMut::from(&[0xc0, 0x00][..]);
    assert!(matches!(take_connect(&mut ping, 1024), Err(None)));
}

#[test]
fn a_publish_is_checked_for_identifiers_rate_and_policy_in_that_order() {
    let mut f = Fixture::open(ProtocolVersion::V5, 0);
    let mut with_id = Publish {
        qos: QoS::AtLeastOnce,
        topic: text("elsewhere"),
        packet_id: Some(id(1)),
        ..Publish::default()
    };
    with_id.properties.subscription_identifiers = vec![NonZeroU32::new(1).unwrap()];
    assert!(matches!(
        f.step(Packet::Publish(with_id)),
        Step::Close(ReasonCode::PROTOCOL_ERROR)
    ));
    match f.step(publish("elsewhere", QoS::AtLeastOnce, 2)) {
        Step::Refused {
            answer: Some(Packet::PubAck(ack)),
            why: Refusal::NotAuthorized,
        } => assert_eq!(ack.reason_code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.step(publish("devices/me/t", QoS::AtMostOnce, 0)),
        Step::Publish(_)
    ));
    assert!(matches!(
        f.step(publish("devices/me/t", QoS::AtMostOnce, 0)),
        Step::Publish(_)
    ));
    // Three a second: the refused one above took a token too.
    match f.step(publish("devices/me/t", QoS::AtLeastOnce, 3)) {
        Step::Refused {
            answer: Some(Packet::PubAck(ack)),
            why: Refusal::RateLimited,
        } => assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED),
        other => panic!("{other:?}"),
    }
    f.now += Duration::from_secs(1);
    let Step::Publish(accepted) = f.step(publish("devices/me/t", QoS::AtLeastOnce, 4)) else {
        panic!("accepted after a second")
    };
    assert_eq!(
        accepted.split().1.answer(Outcome::Routed, &mut f.inbound),
        Some(Packet::PubAck(Ack::new(id(4))))
    );
}

#[test]
fn exactly_once_resends_are_acknowledged_again_and_refusals_free_the_id() {
    let mut f = Fixture::open(ProtocolVersion::V5, 0);
    let Step::Publish(first) = f.step(publish("devices/me/t", QoS::ExactlyOnce, 7)) else {
        panic!("accepted")
    };
    assert_eq!(
        first.split().1.answer(Outcome::Routed, &mut f.inbound),
        Some(Packet::PubRec(Ack::new(id(7))))
    );
    match f.step(publish("devices/me/t", QoS::ExactlyOnce, 7)) {
        Step::Send(packets) => assert_eq!(packets, vec![Packet::PubRec(Ack::new(id(7)))]),
        other => panic!("a resend is not routed again: {other:?}"),
    }
    f.now += Duration::from_secs(1);
    let Step::Publish(second) = f.step(publish("devices/me/t", QoS::ExactlyOnce, 8)) else {
        panic!("accepted")
    };
    let refused = second
        .split()
        .1
        .answer(Outcome::Refused(ReasonCode::QUOTA_EXCEEDED), &mut f.inbound);
    assert!(matches!(refused, Some(Packet::PubRec(a)) if a.reason_code == ReasonCode::QUOTA_EXCEEDED));
    assert_eq!(f.inbound.awaiting_release(), 1, "only 7 still awaits its PUBREL");
    match f.step(Packet::PubRel(Ack::new(id(8)))) {
        Step::Send(packets) => {
            assert!(
                matches!(&packets[..], [Packet::PubComp(a)] if a.reason_code == ReasonCode::PACKET_IDENTIFIER_NOT_FOUND)
            )
        }
        other => panic!("{other:?}"),
    }
    match f.step(Packet::PubRel(Ack::new(id(7)))) {
        Step::Send(packets) => assert_eq!(packets, vec![Packet::PubComp(Ack::new(id(7)))]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disconnect_may_not_revive_a_session_that_ends_with_its_connection() {
    let with_expiry = |expiry, reason| {
        let mut d = Disconnect {
            reason_code: reason,
            ..Disconnect::default()
        };
        d.properties.session_expiry_interval = Some(expiry);
        Packet::Disconnect(d)
    };
    let mut ends = Fixture::open(ProtocolVersion::V5, 0);
    assert!(matches!(
        ends.step(with_expiry(10, ReasonCode::SUCCESS)),
        Step::Close(ReasonCode::PROTOCOL_ERROR)
    ));
    let mut lasts = Fixture::open(ProtocolVersion::V5, 60);
    assert!(matches!(
        lasts.step(with_expiry(99_999, ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)),
        Step::Disconnect {
            keep_will: true,
            session_expiry_secs: Some(3600)
        }
    ));
    assert!(matches!(
        lasts.step(Packet::Disconnect(Disconnect::default())),
        Step::Disconnect {
            keep_will: false,
            session_expiry_secs: None
        }
    ));
}

#[test]
fn only_what_a_client_may_send_after_connect_is_accepted() {
    let mut f = Fixture::open(ProtocolVersion::V311, 0);
    assert!(matches!(f.step(Packet::PingReq), Step::Send(p) if p == vec![Packet::PingResp]));
    let again = Packet::Connect(Box::new(connect(ProtocolVersion::V311, "me", true, 10)));
    assert!(matches!(f.step(again), Step::Close(ReasonCode::PROTOCOL_ERROR)));
    assert!(matches!(
        f.step(Packet::PingResp),
        Step::Close(ReasonCode::PROTOCOL_ERROR)
    ));
    assert_eq!(
        f.conn.disconnect(ReasonCode::PROTOCOL_ERROR),
        None,
        "3.1.1 has no DISCONNECT"
    );
}

fn subscribe(filters: &[(&str, RetainHandling)]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: id(9),
        properties: Default::default(),
        filters: filters
            .iter()
            .map(|(f, retain_handling)| Subscription {
                filter: text(f),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    retain_handling: *retain_handling,
                    ..SubscriptionOptions::default()
                },
            })
            .collect(),
    })
}

#[test]
fn each_filter_is_decided_with_the_quota_counting_this_packet() {
    let mut f = Fixture::open(ProtocolVersion::V5, 0);
    f.held.insert("devices/me/a".into(), ());
    let Step::Subscribe(plan) = f.step(subscribe(&[
        ("devices/me/a", RetainHandling::OnNewSubscribe),
        ("devices/me/#/x", RetainHandling::OnSubscribe),
        ("devices/other/#", RetainHandling::OnSubscribe),
        ("devices/me/b", RetainHandling::OnSubscribe),
        ("devices/me/b", RetainHandling::OnNewSubscribe),
        ("devices/me/c", RetainHandling::Never),
    ])) else {
        panic!("a plan")
    };
    let verdicts: Vec<Verdict> = plan.filters.iter().map(|p| p.verdict).collect();
    assert_eq!(
        verdicts,
        vec![
            // Held already: replaced, and "new subscriptions only" sends nothing.
            Verdict::Accept { wants_retained: false },
            Verdict::Refuse(ReasonCode::TOPIC_FILTER_INVALID),
            Verdict::Refuse(ReasonCode::NOT_AUTHORIZED),
            Verdict::Accept { wants_retained: true },
            // The same filter again in one packet is no longer new.
            Verdict::Accept { wants_retained: false },
            // Two held: the quota is reached.
            Verdict::Refuse(ReasonCode::QUOTA_EXCEEDED),
        ]
    );
    let Packet::SubAck(ack) = plan.suback(&[true, false, false, false, true, false]) else {
        panic!("a SUBACK")
    };
    assert_eq!(
        ack.reason_codes,
        vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::TOPIC_FILTER_INVALID,
            ReasonCode::NOT_AUTHORIZED,
            // Accepted by the protocol, but the server could not record it.
            ReasonCode::QUOTA_EXCEEDED,
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::QUOTA_EXCEEDED,
        ]
    );
}

#[test]
fn unsubscribe_answers_per_filter() {
    let packet = Unsubscribe {
        packet_id: id(3),
        properties: Default::default(),
        filters: vec![text("a/#/b"), text("held"), text("not-held")],
    };
    let mut removed = Vec::new();
    let Packet::UnsubAck(ack) = unsubscribe(&packet, |f| {
        removed.push(f.to_string());
        f == "held"
    }) else {
        panic!("an UNSUBACK")
    };
    assert_eq!(
        ack.reason_codes,
        vec![
            ReasonCode::TOPIC_FILTER_INVALID,
            ReasonCode::SUCCESS,
            ReasonCode::NO_SUBSCRIPTION_EXISTED
        ]
    );
    assert_eq!(removed, vec!["held", "not-held"], "a bad filter removes nothing");
}
