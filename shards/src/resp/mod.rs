//! The Redis protocol front end: a connection driver, the dispatcher that hands each command
//! to the service it belongs to, and the connection and server commands that belong to no
//! workload (PING, HELLO, CLIENT, INFO, COMMAND, CONFIG GET, CLUSTER KEYSLOT, MESH PING).
//!
//! - [`conn`]: bytes in, replies out, pipelined commands answered in order.
//! - [`dispatch`]: name and arity against the command table, then the command.
//! - [`front`]: the per-shard [`front::RespFront`] service (its connections, its counters).
//! - [`connection`], [`server`], [`client`], [`cluster`], [`mesh_ping`]: the commands.
//! - [`session`]: what a connection's commands change; [`clients`]: the connections CLIENT
//!   LIST shows; [`metrics`]: commandstats.

pub mod client;
pub mod clients;
pub mod cluster;
pub mod conn;
pub mod connection;
pub mod dispatch;
pub mod front;
pub mod mesh_ping;
pub mod metrics;
pub mod server;
pub mod session;

pub use front::RespFront;
