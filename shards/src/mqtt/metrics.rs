//! Shard-local MQTT counters, merged when /metrics is scraped.

use std::fmt::Write;

#[derive(Debug, Default, Clone)]
pub struct MqttMetrics {
    pub connections_current: u64,
    pub connects_accepted: u64,
    pub connects_refused: u64,
    pub packets_received: u64,
    pub messages_received: u64,
    pub messages_routed: u64,
    pub messages_delivered: u64,
    /// Forwards to another shard that found its ring full.
    pub forward_dropped: u64,
    pub publishes_denied: u64,
    pub subscribes_denied: u64,
    pub rate_limited: u64,
    pub protocol_errors: u64,
    pub keep_alive_timeouts: u64,
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
    pub shadows: u64,
}

pub fn render(shards: &[(u16, &MqttMetrics, MqttGauges)], out: &mut String) {
    type Field = fn(&MqttMetrics, &MqttGauges) -> u64;
    let families: &[(&str, &str, &str, Field)] = &[
        (
            "shardhub_mqtt_connections",
            "gauge",
            "Open MQTT connections past CONNECT.",
            |m, _| m.connections_current,
        ),
        (
            "shardhub_mqtt_sessions",
            "gauge",
            "Sessions held, connected or not.",
            |_, g| g.sessions,
        ),
        ("shardhub_mqtt_subscriptions", "gauge", "Subscriptions held.", |_, g| {
            g.subscriptions
        }),
        (
            "shardhub_mqtt_retained_messages",
            "gauge",
            "Retained messages owned.",
            |_, g| g.retained,
        ),
        ("shardhub_mqtt_shadows", "gauge", "Device shadows owned.", |_, g| {
            g.shadows
        }),
        (
            "shardhub_mqtt_connects_accepted_total",
            "counter",
            "CONNECTs answered with success.",
            |m, _| m.connects_accepted,
        ),
        (
            "shardhub_mqtt_connects_refused_total",
            "counter",
            "CONNECTs refused.",
            |m, _| m.connects_refused,
        ),
        (
            "shardhub_mqtt_messages_received_total",
            "counter",
            "PUBLISH packets received from clients.",
            |m, _| m.messages_received,
        ),
        (
            "shardhub_mqtt_messages_routed_total",
            "counter",
            "Messages routed (publishes, wills, server messages).",
            |m, _| m.messages_routed,
        ),
        (
            "shardhub_mqtt_messages_delivered_total",
            "counter",
            "PUBLISH packets sent to clients.",
            |m, _| m.messages_delivered,
        ),
        (
            "shardhub_mqtt_forward_dropped_total",
            "counter",
            "Forwards to another shard dropped on a full ring.",
            |m, _| m.forward_dropped,
        ),
        (
            "shardhub_mqtt_publishes_denied_total",
            "counter",
            "PUBLISHes refused by the ACL (QoS 0 ones dropped).",
            |m, _| m.publishes_denied,
        ),
        (
            "shardhub_mqtt_subscribes_denied_total",
            "counter",
            "Subscriptions refused by the ACL.",
            |m, _| m.subscribes_denied,
        ),
        (
            "shardhub_mqtt_rate_limited_total",
            "counter",
            "PUBLISHes over the per-client rate.",
            |m, _| m.rate_limited,
        ),
        (
            "shardhub_mqtt_protocol_errors_total",
            "counter",
            "Connections closed for a malformed packet or a protocol error.",
            |m, _| m.protocol_errors,
        ),
        (
            "shardhub_mqtt_keep_alive_timeouts_total",
            "counter",
            "Connections closed for silence past 1.5x keep alive.",
            |m, _| m.keep_alive_timeouts,
        ),
        (
            "shardhub_mqtt_sessions_taken_over_total",
            "counter",
            "Sessions taken over by a new connection.",
            |m, _| m.sessions_taken_over,
        ),
        (
            "shardhub_mqtt_sessions_expired_total",
            "counter",
            "Sessions ended by their expiry interval.",
            |m, _| m.sessions_expired,
        ),
        (
            "shardhub_mqtt_wills_published_total",
            "counter",
            "Will messages published.",
            |m, _| m.wills_published,
        ),
        (
            "shardhub_mqtt_retained_refused_total",
            "counter",
            "Retained messages not kept (store full).",
            |m, _| m.retained_refused,
        ),
        (
            "shardhub_mqtt_dropped_queue_full_total",
            "counter",
            "Queued messages dropped for newer ones.",
            |m, _| m.dropped_queue_full,
        ),
        (
            "shardhub_mqtt_dropped_expired_total",
            "counter",
            "Messages expired before delivery.",
            |m, _| m.dropped_expired,
        ),
        (
            "shardhub_mqtt_dropped_too_large_total",
            "counter",
            "Messages over the client's Maximum Packet Size.",
            |m, _| m.dropped_too_large,
        ),
    ];
    for (name, kind, help, field) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (shard, m, g) in shards {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", field(m, g));
        }
    }
}
