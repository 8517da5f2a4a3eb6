//! The shardhub daemon: thread-per-core shards on monoio, the cross-shard mesh, listeners and
//! connection drivers that feed bytes to `shardhub-net` and commands to `shardhub-core`, the
//! tokio sidecar, configuration, metrics and the process lifecycle.
//!
//! Reading order for a newcomer: [`server`] (start-up and shutdown), [`shard`] (one executor
//! thread and what it owns), [`mesh`] (how shards talk), [`resp_conn`] and [`cmd`] (a RESP
//! request from bytes to reply), then [`seckill_owner`] and [`journal`] (flash sales and
//! their durable log), [`mqtt`] (the IoT gateway) and [`wallet`] (the light wallet).

pub mod clients;
pub mod cmd;
pub mod config;
pub mod data_dir;
pub mod durable_log;
pub mod error;
pub mod http_conn;
pub mod journal;
pub mod lifecycle;
pub mod listener;
pub mod logging;
pub mod mesh;
pub mod metrics;
pub mod mqtt;
pub mod read_buf;
pub mod resp_conn;
pub mod rlimits;
pub mod runtime;
pub mod seckill_front;
pub mod seckill_metrics;
pub mod seckill_owner;
pub mod server;
pub mod shard;
pub mod shard_op;
pub mod shared;
pub mod sidecar;
pub mod signal;
pub mod wallet;
