//! The shardhub daemon: thread-per-core shards on monoio, the services each shard assembles
//! (one per workload), the mesh between shards, the protocol front ends, storage, metrics,
//! configuration and the process lifecycle.
//!
//! Reading order for a newcomer (docs/architecture.md draws it):
//! - [`server`] starts the process and drains it; [`shard`] assembles one shard's services
//!   and routes mesh messages to them.
//! - [`runtime`]: the executor, the mesh, the service trait and the one "now or later"
//!   answer, the shard context, the sidecar. [`storage`]: the logs. [`metrics`]: the one
//!   Prometheus writer. [`config`].
//! - Front ends: [`resp`] (the Redis protocol) and [`http`]; the MQTT driver lives with its
//!   broker.
//! - Services, one per workload, none importing another: [`kv`] (the key space),
//!   [`seckill`] (flash sales), [`mqtt`] (the IoT gateway), [`wallet`] (the light wallet),
//!   and [`admin`] (metrics and health).

pub mod admin;
pub mod config;
pub mod error;
pub mod http;
pub mod kv;
pub mod metrics;
pub mod mqtt;
pub mod pipeline;
pub mod resp;
pub mod runtime;
pub mod seckill;
pub mod server;
pub mod shard;
pub mod sink;
pub mod storage;
pub mod tls;
pub mod wallet;
