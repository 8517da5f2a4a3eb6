//! The MQTT broker through raw sockets speaking the protocol with `shardhub-net`'s codec:
//! both protocol versions, delivery across shards, retained messages, session takeover and
//! resumption, and answers to malformed packets. (The full feature suite runs with paho-mqtt
//! and the mosquitto clients: tests/mqtt.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::Server;
use shardhub_net::mqtt::{
    decode, Ack, Connect, Disconnect, MqttStr, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe,
    Subscription, SubscriptionOptions,
};

struct Client {
    stream: TcpStream,
    version: ProtocolVersion,
    buf: BytesMut,
}

impl Client {
    fn open(port: u16, version: ProtocolVersion, client_id: &str, clean_start: bool) -> (Client, Packet) {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = Client {
            stream,
            version,
            buf: BytesMut::new(),
        };
        let mut connect = Connect {
            protocol_version: version,
            clean_start,
            keep_alive: 30,
            client_id: MqttStr::from_bytes(client_id.to_string().into()).unwrap(),
            ..Connect::default()
        };
        if version == ProtocolVersion::V5 && !clean_start {
            connect.properties.session_expiry_interval = Some(60);
        }
        c.send(Packet::Connect(Box::new(connect)));
        let connack = c.recv().expect("CONNACK");
        (c, connack)
    }

    fn connect(port: u16, version: ProtocolVersion, client_id: &str) -> Client {
        let (c, connack) = Client::open(port, version, client_id, true);
        assert!(
            matches!(connack, Packet::ConnAck(ref a) if a.reason_code == ReasonCode::SUCCESS),
            "{connack:?}"
        );
        c
    }

    fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(self.version, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// The next packet, or None when the server closed the connection (or said nothing).
    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = decode(&mut self.buf, self.version, u32::MAX).unwrap() {
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: NonZeroU16::new(1).unwrap(),
            properties: Default::default(),
            filters: vec![Subscription {
                filter: MqttStr::from_bytes(filter.to_string().into()).unwrap(),
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            }],
        }));
        match self.recv() {
            Some(Packet::SubAck(ack)) => assert!(!ack.reason_codes[0].is_error(), "{ack:?}"),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool, id: u16) {
        self.send(Packet::Publish(Publish {
            qos,
            retain,
            topic: MqttStr::from_bytes(topic.to_string().into()).unwrap(),
            packet_id: (qos != QoS::AtMostOnce).then(|| NonZeroU16::new(id).unwrap()),
            payload: payload.to_string().into(),
            ..Publish::default()
        }));
    }

    fn expect_publish(&mut self) -> Publish {
        match self.recv() {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

fn text(p: &Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}

#[test]
fn both_versions_exchange_messages_across_shards() {
    let server = Server::start(2);
    // Enough connections that both shards accept some (SO_REUSEPORT spreads them).
    let mut subscribers: Vec<Client> = (0..6)
        .map(|i| {
            let version = if i % 2 == 0 {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            };
            let mut c = Client::connect(server.mqtt_port, version, &format!("sub-{i}"));
            c.subscribe("room/+/temp", QoS::AtLeastOnce);
            c
        })
        .collect();
    let mut publisher = Client::connect(server.mqtt_port, ProtocolVersion::V5, "pub");
    publisher.publish("room/1/temp", "21.5", QoS::AtLeastOnce, false, 7);
    assert!(matches!(publisher.recv(), Some(Packet::PubAck(a)) if a.packet_id.get() == 7));
    publisher.publish("room/1/humidity", "40", QoS::AtMostOnce, false, 0);
    publisher.publish("room/2/temp", "19", QoS::AtMostOnce, false, 0);
    for c in &mut subscribers {
        let first = c.expect_publish();
        assert_eq!(
            (first.topic.as_str(), text(&first).as_str(), first.qos),
            ("room/1/temp", "21.5", QoS::AtLeastOnce)
        );
        c.send(Packet::PubAck(Ack::new(first.packet_id.unwrap())));
        let second = c.expect_publish();
        assert_eq!((second.topic.as_str(), second.qos), ("room/2/temp", QoS::AtMostOnce));
    }
    let metrics = server.http_get("/metrics").1;
    let shards_with_sessions = metrics
        .lines()
        .filter(|l| l.starts_with("shardhub_mqtt_sessions{") && !l.ends_with(" 0"))
        .count();
    assert_eq!(shards_with_sessions, 2, "connections landed on both shards:\n{metrics}");
}

#[test]
fn retained_messages_reach_later_subscribers_until_cleared() {
    let server = Server::start(2);
    let mut publisher = Client::connect(server.mqtt_port, ProtocolVersion::V5, "pub");
    for i in 0..8 {
        publisher.publish(
            &format!("status/{i}"),
            &format!("up-{i}"),
            QoS::AtLeastOnce,
            true,
            i + 1,
        );
        assert!(matches!(publisher.recv(), Some(Packet::PubAck(_))));
    }
    let mut late = Client::connect(server.mqtt_port, ProtocolVersion::V311, "late");
    late.subscribe("status/#", QoS::AtMostOnce);
    let mut got: Vec<String> = (0..8).map(|_| text(&late.expect_publish())).collect();
    got.sort();
    assert_eq!(got, (0..8).map(|i| format!("up-{i}")).collect::<Vec<_>>());
    publisher.publish("status/3", "", QoS::AtLeastOnce, true, 99);
    assert!(matches!(publisher.recv(), Some(Packet::PubAck(_))));
    let mut later = Client::connect(server.mqtt_port, ProtocolVersion::V5, "later");
    later.subscribe("status/3", QoS::AtMostOnce);
    later.subscribe("status/4", QoS::AtMostOnce);
    let p = later.expect_publish();
    assert_eq!((p.topic.as_str(), p.retain), ("status/4", true), "status/3 was cleared");
}

#[test]
fn a_second_connection_takes_over_and_resumes_the_session() {
    let server = Server::start(2);
    let (mut first, _) = Client::open(server.mqtt_port, ProtocolVersion::V5, "device-7", false);
    first.subscribe("cmd/device-7", QoS::AtLeastOnce);
    let mut sender = Client::connect(server.mqtt_port, ProtocolVersion::V5, "sender");
    sender.publish("cmd/device-7", "reboot", QoS::AtLeastOnce, false, 1);
    let unacked = first.expect_publish();
    assert_eq!(text(&unacked), "reboot");
    // Not acknowledged: the next connection must get it again, marked DUP.
    let (mut second, connack) = Client::open(server.mqtt_port, ProtocolVersion::V5, "device-7", false);
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.session_present),
        "{connack:?}"
    );
    match first.recv() {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::SESSION_TAKEN_OVER),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    let again = second.expect_publish();
    assert_eq!(
        (text(&again).as_str(), again.dup, again.packet_id),
        ("reboot", true, unacked.packet_id)
    );
    second.send(Packet::PubAck(Ack::new(again.packet_id.unwrap())));
    sender.publish("cmd/device-7", "update", QoS::AtLeastOnce, false, 2);
    assert_eq!(
        text(&second.expect_publish()),
        "update",
        "the subscription moved with the session"
    );
}

#[test]
fn malformed_packets_get_their_reason_code_and_spare_other_connections() {
    let server = Server::start(2);
    let mut healthy = Client::connect(server.mqtt_port, ProtocolVersion::V5, "healthy");
    healthy.subscribe("t", QoS::AtMostOnce);
    let mut bad = Client::connect(server.mqtt_port, ProtocolVersion::V5, "bad");
    // PUBLISH QoS 0 to "a/+": wildcards are not allowed in topic names.
    bad.stream.write_all(b"\x30\x06\x00\x03a/+\x00").unwrap();
    match bad.recv() {
        Some(Packet::Disconnect(Disconnect { reason_code, .. })) => {
            assert_eq!(reason_code, ReasonCode::TOPIC_NAME_INVALID)
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert!(bad.recv().is_none(), "closed after the DISCONNECT");
    let mut bad311 = Client::connect(server.mqtt_port, ProtocolVersion::V311, "bad311");
    bad311.stream.write_all(b"\x82\x06\x00\x01\x00\x01t\x03").unwrap(); // SUBSCRIBE QoS 3
    assert!(
        bad311.recv().is_none(),
        "3.1.1 has no DISCONNECT from the server: closed"
    );
    let mut publisher = Client::connect(server.mqtt_port, ProtocolVersion::V311, "pub");
    publisher.publish("t", "still here", QoS::AtMostOnce, false, 0);
    assert_eq!(text(&healthy.expect_publish()), "still here");
}

#[test]
fn connects_that_cannot_be_served_are_refused_in_their_own_terms() {
    let server = Server::start(1);
    let mut raw = TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"\x10\x0f\x00\x04MQTT\x03\x02\x00\x3c\x00\x03dev")
        .unwrap(); // level 3
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, [0x20, 0x02, 0x00, 0x01], "unacceptable protocol version");
    let mut connect = Connect {
        protocol_version: ProtocolVersion::V5,
        client_id: MqttStr::from_static("enhanced"),
        ..Connect::default()
    };
    connect.properties.authentication_method = Some(MqttStr::from_static("SCRAM-SHA-1"));
    let stream = TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = Client {
        stream,
        version: ProtocolVersion::V5,
        buf: BytesMut::new(),
    };
    c.send(Packet::Connect(Box::new(connect)));
    assert!(matches!(c.recv(), Some(Packet::ConnAck(a)) if a.reason_code == ReasonCode::BAD_AUTHENTICATION_METHOD));
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    silent.write_all(b"PING\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = silent.read_to_end(&mut reply);
    assert!(
        reply.is_empty() && started.elapsed() < Duration::from_secs(4),
        "not MQTT: closed at once"
    );
}

#[test]
fn a_shared_subscription_gives_each_message_to_one_member_on_any_shard() {
    let server = Server::start(2);
    let mut members: Vec<Client> = (0..4)
        .map(|i| {
            let mut c = Client::connect(server.mqtt_port, ProtocolVersion::V5, &format!("worker-{i}"));
            c.subscribe("$share/workers/jobs/+", QoS::AtMostOnce);
            c
        })
        .collect();
    let mut publisher = Client::connect(server.mqtt_port, ProtocolVersion::V5, "dispatcher");
    for i in 0..40 {
        publisher.publish(&format!("jobs/{i}"), &i.to_string(), QoS::AtLeastOnce, false, i + 1);
        assert!(matches!(publisher.recv(), Some(Packet::PubAck(_))));
    }
    let mut seen = Vec::new();
    for m in &mut members {
        m.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut mine = 0;
        while let Some(Packet::Publish(p)) = m.recv() {
            seen.push(text(&p).parse::<u16>().unwrap());
            mine += 1;
        }
        assert!(mine > 0, "every member gets a share");
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..40).collect::<Vec<u16>>(), "each message exactly once");
}

/// The open MQTT connections per shard, as `/metrics` counts them.
fn mqtt_connections(server: &Server) -> Vec<f64> {
    (0..2)
        .map(|shard| {
            common::metric_sum(
                &server.http_get("/metrics").1,
                "shardhub_mqtt_connections",
                &[&format!("shard=\"{shard}\"")],
            )
        })
        .collect()
}

/// Connects `client_id` and says which shard took the connection.
fn connect_on_some_shard(server: &Server, client_id: &str) -> (Client, usize) {
    let before = mqtt_connections(server);
    let client = Client::connect(server.mqtt_port, ProtocolVersion::V5, client_id);
    let after = mqtt_connections(server);
    let shard = (0..2).find(|&s| after[s] > before[s]).expect("a shard counted it");
    (client, shard)
}

/// A publisher on one shard floods QoS 1 messages at subscribers on the other through a
/// 16-slot ring, faster than that shard can deliver them. Whatever the broker acknowledges
/// with success reaches every subscriber: a forward waits for room in the ring, or the
/// publish is refused with 0x97 so the publisher retries. (It used to be counted as
/// `forward_dropped` and acknowledged all the same.)
#[test]
fn acknowledged_publishes_are_never_dropped_on_a_full_ring() {
    const MESSAGES: u16 = 3000;
    const SUBSCRIBERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardhub.toml");
    common::write_config(
        &config,
        "[mesh]\nring_capacity = 16\n[mqtt]\npublishes_per_sec = 1000000\nmax_inflight = 65535\nmax_queued_messages = 100000\n",
    );
    let server = Server::start_with(2, Some(&config), &[]);
    // Subscribers on one shard, the publisher on the other.
    let mut on_shard: [Vec<Client>; 2] = [Vec::new(), Vec::new()];
    let mut n = 0;
    while on_shard.iter().all(|s| s.len() < SUBSCRIBERS) || on_shard.iter().any(Vec::is_empty) {
        let (client, shard) = connect_on_some_shard(&server, &format!("c-{n}"));
        on_shard[shard].push(client);
        n += 1;
        assert!(n < 200, "SO_REUSEPORT spreads connections over both shards");
    }
    let far = if on_shard[0].len() >= SUBSCRIBERS { 0 } else { 1 };
    let mut publisher = on_shard[1 - far].pop().unwrap();
    let subscribers: Vec<_> = on_shard[far]
        .drain(..SUBSCRIBERS)
        .map(|mut c| {
            c.subscribe("flood/#", QoS::AtLeastOnce);
            std::thread::spawn(move || {
                // Acknowledges and keeps every payload until the stream goes quiet.
                c.stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut got = std::collections::HashSet::new();
                while let Some(Packet::Publish(p)) = c.recv() {
                    c.send(Packet::PubAck(Ack::new(p.packet_id.unwrap())));
                    got.insert(text(&p));
                }
                got
            })
        })
        .collect();
    let mut burst = BytesMut::new();
    for id in 1..=MESSAGES {
        Packet::Publish(Publish {
            qos: QoS::AtLeastOnce,
            topic: MqttStr::from_static("flood/t"),
            packet_id: NonZeroU16::new(id),
            payload: id.to_string().into(),
            ..Publish::default()
        })
        .encode(ProtocolVersion::V5, &mut burst)
        .unwrap();
    }
    publisher.stream.write_all(&burst).unwrap();
    let mut acknowledged = std::collections::HashSet::new();
    let mut refused = 0;
    for _ in 0..MESSAGES {
        match publisher.recv() {
            Some(Packet::PubAck(ack)) if ack.reason_code == ReasonCode::SUCCESS => {
                acknowledged.insert(ack.packet_id.get().to_string());
            }
            Some(Packet::PubAck(ack)) => {
                assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED, "a refusal to retry");
                refused += 1;
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    assert!(!acknowledged.is_empty());
    for subscriber in subscribers {
        let got = subscriber.join().unwrap();
        let lost: Vec<_> = acknowledged.difference(&got).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged messages never arrived ({refused} refused)",
            lost.len()
        );
    }
    let metrics = server.http_get("/metrics").1;
    assert_eq!(
        common::metric_sum(&metrics, "shardhub_mqtt_forward_dropped_total", &[]),
        0.0
    );
}

/// Retained messages are bounded by bytes, per topic prefix and per shard: a QoS 1 retained
/// PUBLISH past either is answered 0x97 and stored nowhere (it used to get 0x00 and be
/// dropped silently); replacing or clearing a message gives its bytes back.
#[test]
fn retained_bytes_are_bounded_and_a_refusal_reaches_the_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardhub.toml");
    common::write_config(
        &config,
        "[mqtt]\nretained_bytes_per_prefix_max = 3000\nretained_bytes_per_shard_max = 5000\n",
    );
    let server = Server::start_with(1, Some(&config), &[]);
    let mut publisher = Client::connect(server.mqtt_port, ProtocolVersion::V5, "hoarder");
    let kib = "x".repeat(1000);
    let mut id = 0;
    let mut retain = |c: &mut Client, topic: &str, payload: &str| {
        id += 1;
        c.publish(topic, payload, QoS::AtLeastOnce, true, id);
        match c.recv() {
            Some(Packet::PubAck(ack)) => ack.reason_code,
            other => panic!("expected PUBACK, got {other:?}"),
        }
    };
    assert_eq!(retain(&mut publisher, "devices/a/1", &kib), ReasonCode::SUCCESS);
    assert_eq!(retain(&mut publisher, "devices/a/2", &kib), ReasonCode::SUCCESS);
    assert_eq!(
        retain(&mut publisher, "devices/a/3", &kib),
        ReasonCode::QUOTA_EXCEEDED,
        "the prefix devices/a holds about 2 KB"
    );
    assert_eq!(
        retain(&mut publisher, "devices/a/2", "small"),
        ReasonCode::SUCCESS,
        "a replacement fits"
    );
    assert_eq!(retain(&mut publisher, "devices/a/3", &kib), ReasonCode::SUCCESS);
    for device in ["b", "c"] {
        assert_eq!(
            retain(&mut publisher, &format!("devices/{device}/1"), &kib),
            ReasonCode::SUCCESS
        );
    }
    assert_eq!(
        retain(&mut publisher, "devices/d/1", &kib),
        ReasonCode::QUOTA_EXCEEDED,
        "the shard holds about 4 KB of 5"
    );
    assert_eq!(
        retain(&mut publisher, "devices/b/1", ""),
        ReasonCode::SUCCESS,
        "clearing frees it"
    );
    assert_eq!(retain(&mut publisher, "devices/d/1", &kib), ReasonCode::SUCCESS);
    // What was refused is nowhere: a subscriber gets the kept messages only.
    let mut reader = Client::connect(server.mqtt_port, ProtocolVersion::V5, "reader");
    reader.subscribe("devices/#", QoS::AtMostOnce);
    reader
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut topics = Vec::new();
    while let Some(Packet::Publish(p)) = reader.recv() {
        topics.push(p.topic.as_str().to_string());
    }
    topics.sort();
    assert_eq!(
        topics,
        [
            "devices/a/1",
            "devices/a/2",
            "devices/a/3",
            "devices/c/1",
            "devices/d/1"
        ]
    );
    let metrics = server.http_get("/metrics").1;
    assert_eq!(
        common::metric_sum(&metrics, "shardhub_mqtt_retained_refused_total", &[]),
        2.0
    );
}

/// A client pushed past Receive Maximum (65 QoS 2 PUBLISHes, none released) gets DISCONNECT
/// 0x93 while it is still writing its PUBRELs: every write of the next 100 ms goes through
/// (the server reads and drops them instead of answering with a reset), and the client then
/// reads the DISCONNECT with its reason.
#[test]
fn a_client_disconnected_mid_write_still_reads_the_reason() {
    let server = Server::start(1);
    let mut c = Client::connect(server.mqtt_port, ProtocolVersion::V5, "eager");
    for id in 1..=65 {
        c.publish("flood/qos2", "x", QoS::ExactlyOnce, false, id);
    }
    let mut releases = BytesMut::new();
    for id in 1..=65u16 {
        Packet::PubRel(Ack::new(NonZeroU16::new(id).unwrap()))
            .encode(ProtocolVersion::V5, &mut releases)
            .unwrap();
    }
    let started = Instant::now();
    let mut writes = 0;
    while started.elapsed() < Duration::from_millis(100) {
        if let Err(e) = c.stream.write_all(&releases) {
            panic!("write {writes} failed after {:?}: {e}", started.elapsed());
        }
        writes += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(writes > 10, "{writes} writes");
    let disconnect = loop {
        match c.recv() {
            Some(Packet::Disconnect(d)) => break d,
            Some(_) => continue,
            None => panic!("the connection ended without a DISCONNECT"),
        }
    };
    assert_eq!(disconnect.reason_code, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
    assert_eq!(c.recv(), None, "then the server closes");
}
