//! Metrics: each service counts into plain fields on its own shard and reports them as
//! [`Families`] when asked ([`Collect`]); a scrape gathers every shard's families over the
//! mesh and [`exposition::render`] writes them, the one Prometheus writer of the daemon.

pub mod exposition;
pub mod family;
pub mod registry;

pub use family::{histogram, Families, Family, Kind, Sample, Scope, Unit, Value};
pub use registry::{Collect, Registry};
