//! The `[resp]` and `[http]` sections: the front ends' own connection caps and timeouts, so
//! that one protocol's idle or slow clients cannot take another's connections.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RespConfig {
    /// RESP connections one shard serves; beyond it "-ERR max number of clients reached".
    pub connections_per_shard_max: usize,
    /// A connection that sends nothing for this long is closed (Redis's `timeout`); 0: never.
    pub idle_timeout_secs: u64,
}

impl Default for RespConfig {
    fn default() -> Self {
        Self {
            connections_per_shard_max: 8192,
            idle_timeout_secs: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// HTTP connections one shard serves; beyond it 503, but for the health checks below.
    pub connections_per_shard_max: usize,
    /// Connections beyond `connections_per_shard_max` kept for `/healthz` and `/readyz`, so a
    /// load balancer's check gets through when clients hold every other one. They serve one
    /// health request each; anything else is answered 503.
    pub health_connections_per_shard_max: usize,
    /// A request head must arrive whole this long after its first byte; else 408 and close.
    pub header_timeout_ms: u64,
    /// A request body must arrive whole this long after its head; else 408 and close.
    pub body_timeout_ms: u64,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connections_per_shard_max: 4096,
            health_connections_per_shard_max: 16,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
        }
    }
}

/// Keys of these sections that reload live.
pub const HOT_KEYS: &[&str] = &[
    "resp.connections_per_shard_max",
    "resp.idle_timeout_secs",
    "http.connections_per_shard_max",
    "http.health_connections_per_shard_max",
    "http.header_timeout_ms",
    "http.body_timeout_ms",
    "http.idle_timeout_ms",
];
