//! Shard-local MQTT counters, merged when /metrics is scraped.

use crate::metrics::{Families, Kind};

#[derive(Debug, Default, Clone)]
pub struct MqttMetrics {
    pub connections_current: u64,
    pub connects_accepted: u64,
    pub connects_refused: u64,
    pub packets_received: u64,
    pub messages_received: u64,
    pub messages_routed: u64,
    pub messages_delivered: u64,
    /// Forwards to another shard that found its ring full (what nobody acknowledged).
    pub forward_dropped: u64,
    /// Acknowledged publishes that waited for room in a full ring.
    pub forward_waits: u64,
    /// Acknowledged publishes refused (0x97) after waiting too long for room.
    pub forward_refused: u64,
    pub publishes_denied: u64,
    pub subscribes_denied: u64,
    pub rate_limited: u64,
    pub protocol_errors: u64,
    pub keep_alive_timeouts: u64,
    pub token_expiries: u64,
    pub sessions_taken_over: u64,
    pub sessions_expired: u64,
    pub wills_published: u64,
    pub retained_refused: u64,
    /// Queued messages dropped for newer ones, expired before delivery, or over the
    /// client's Maximum Packet Size (summed at disconnect).
    pub dropped_queue_full: u64,
    pub dropped_expired: u64,
    pub dropped_too_large: u64,
}

/// Per-shard gauges read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct MqttGauges {
    pub sessions: u64,
    pub subscriptions: u64,
    pub retained: u64,
    pub retained_bytes: u64,
    pub shadows: u64,
}

impl MqttMetrics {
    pub fn collect(&self, gauges: &MqttGauges, out: &mut Families) {
        type Field = fn(&MqttMetrics, &MqttGauges) -> u64;
        let families: &[(&'static str, Kind, &'static str, Field)] = &[
            (
                "shardhub_mqtt_connections",
                Kind::Gauge,
                "Open MQTT connections past CONNECT.",
                |m, _| m.connections_current,
            ),
            (
                "shardhub_mqtt_sessions",
                Kind::Gauge,
                "Sessions held, connected or not.",
                |_, g| g.sessions,
            ),
            (
                "shardhub_mqtt_subscriptions",
                Kind::Gauge,
                "Subscriptions held.",
                |_, g| g.subscriptions,
            ),
            (
                "shardhub_mqtt_retained_messages",
                Kind::Gauge,
                "Retained messages owned.",
                |_, g| g.retained,
            ),
            (
                "shardhub_mqtt_retained_bytes",
                Kind::Gauge,
                "Bytes of retained messages owned (topics and payloads).",
                |_, g| g.retained_bytes,
            ),
            ("shardhub_mqtt_shadows", Kind::Gauge, "Device shadows owned.", |_, g| {
                g.shadows
            }),
            (
                "shardhub_mqtt_connects_accepted_total",
                Kind::Counter,
                "CONNECTs answered with success.",
                |m, _| m.connects_accepted,
            ),
            (
                "shardhub_mqtt_connects_refused_total",
                Kind::Counter,
                "CONNECTs refused.",
                |m, _| m.connects_refused,
            ),
            (
                "shardhub_mqtt_messages_received_total",
                Kind::Counter,
                "PUBLISH packets received from clients.",
                |m, _| m.messages_received,
            ),
            (
                "shardhub_mqtt_messages_routed_total",
                Kind::Counter,
                "Messages routed (publishes, wills, server messages).",
                |m, _| m.messages_routed,
            ),
            (
                "shardhub_mqtt_messages_delivered_total",
                Kind::Counter,
                "PUBLISH packets sent to clients.",
                |m, _| m.messages_delivered,
            ),
            (
                "shardhub_mqtt_forward_dropped_total",
                Kind::Counter,
                "Forwards to another shard dropped on a full ring.",
                |m, _| m.forward_dropped,
            ),
            (
                "shardhub_mqtt_forward_waits_total",
                Kind::Counter,
                "Acknowledged publishes that waited for room in a full ring to another shard.",
                |m, _| m.forward_waits,
            ),
            (
                "shardhub_mqtt_forward_refused_total",
                Kind::Counter,
                "Acknowledged publishes refused with 0x97 after the ring to another shard stayed full.",
                |m, _| m.forward_refused,
            ),
            (
                "shardhub_mqtt_publishes_denied_total",
                Kind::Counter,
                "PUBLISHes refused by the ACL (QoS 0 ones dropped).",
                |m, _| m.publishes_denied,
            ),
            (
                "shardhub_mqtt_subscribes_denied_total",
                Kind::Counter,
                "Subscriptions refused by the ACL.",
                |m, _| m.subscribes_denied,
            ),
            (
                "shardhub_mqtt_rate_limited_total",
                Kind::Counter,
                "PUBLISHes over the per-client rate.",
                |m, _| m.rate_limited,
            ),
            (
                "shardhub_mqtt_protocol_errors_total",
                Kind::Counter,
                "Connections closed for a malformed packet or a protocol error.",
                |m, _| m.protocol_errors,
            ),
            (
                "shardhub_mqtt_keep_alive_timeouts_total",
                Kind::Counter,
                "Connections closed for silence past 1.5x keep alive.",
                |m, _| m.keep_alive_timeouts,
            ),
            (
                "shardhub_mqtt_token_expiries_total",
                Kind::Counter,
                "Connections closed when their token expired (mqtt.token_expiry = \"disconnect\").",
                |m, _| m.token_expiries,
            ),
            (
                "shardhub_mqtt_sessions_taken_over_total",
                Kind::Counter,
                "Sessions taken over by a new connection.",
                |m, _| m.sessions_taken_over,
            ),
            (
                "shardhub_mqtt_sessions_expired_total",
                Kind::Counter,
                "Sessions ended by their expiry interval.",
                |m, _| m.sessions_expired,
            ),
            (
                "shardhub_mqtt_wills_published_total",
                Kind::Counter,
                "Will messages published.",
                |m, _| m.wills_published,
            ),
            (
                "shardhub_mqtt_retained_refused_total",
                Kind::Counter,
                "Retained messages not kept (store full).",
                |m, _| m.retained_refused,
            ),
            (
                "shardhub_mqtt_dropped_queue_full_total",
                Kind::Counter,
                "Queued messages dropped for newer ones.",
                |m, _| m.dropped_queue_full,
            ),
            (
                "shardhub_mqtt_dropped_expired_total",
                Kind::Counter,
                "Messages expired before delivery.",
                |m, _| m.dropped_expired,
            ),
            (
                "shardhub_mqtt_dropped_too_large_total",
                Kind::Counter,
                "Messages over the client's Maximum Packet Size.",
                |m, _| m.dropped_too_large,
            ),
        ];
        for (name, kind, help, field) in families {
            out.int(name, *kind, help, field(self, gauges));
        }
    }
}
