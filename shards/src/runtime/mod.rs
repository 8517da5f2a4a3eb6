//! The runtime: what every workload runs on and none of them is.
//!
//! - [`executor`]: a shard's monoio runtime (io_uring, COOP_TASKRUN, SINGLE_ISSUER).
//! - [`mesh`]: the cross-shard transport; [`service`]: a workload's per-shard service, its
//!   peers and the one way to run an operation on the owner shard; [`answer`]: the one
//!   "now or later" type.
//! - [`context`]: what a service gets of its shard; [`shared`]: what every thread sees.
//! - [`accept`], [`listener`], [`read_buf`]: connections in.
//! - [`sidecar`]: the tokio thread for what must not run on a shard; [`signal`]: a one-task
//!   wake-up; [`lifecycle`]: starting, serving, draining; [`clock`]; [`logging`];
//!   [`rlimits`].

pub mod accept;
pub mod allocator;
pub mod answer;
pub mod clock;
pub mod context;
pub mod executor;
pub mod lifecycle;
pub mod listener;
pub mod logging;
pub mod mesh;
pub mod proxy_header;
pub mod read_buf;
pub mod rlimits;
pub mod service;
pub mod shared;
pub mod sidecar;
pub mod signal;

pub use answer::{Answer, Later};
pub use clock::unix_ms;
pub use context::ShardCtx;
pub use mesh::{MeshBusy, ReplyTo};
pub use service::{Peers, Promise, Replied, Reply, Service};
