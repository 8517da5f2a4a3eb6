//! RESP loads: `resp` (redis-benchmark-style load of one command template), `mesh` (the
//! server's cross-shard round trip through `MESH PING`), and `tokio-ping-server` (the
//! reference ping server shardhub's runtime is measured against).

pub mod command_template;
pub mod load;
pub mod mesh_probe;
pub mod ping_server;
pub mod request_scan;
