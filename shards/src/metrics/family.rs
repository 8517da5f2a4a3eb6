//! A metric family as one shard reports it: name, help, type and samples. Plain data, so a
//! shard's families travel to the scraping shard over the mesh, which merges every shard's
//! and writes them as text ([`super::exposition`]).

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds up to this (a minute); longer ones saturate.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Two significant figures: 1% resolution, and a histogram small enough to clone on scrape.
pub const LATENCY_SIGFIG: u8 = 2;
/// The quantiles every summary reports.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// A histogram of `1..=max`, as the summaries keep them.
pub fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, LATENCY_SIGFIG).expect("valid histogram bounds")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Summary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        }
    }
}

/// How a family's samples from several shards are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One sample per shard, labelled `shard="i"`.
    PerShard,
    /// Shards' samples with the same labels merged into one, with no shard label (a
    /// latency over the whole server).
    Merged,
    /// One value for the process (the first shard's).
    Process,
}

/// The unit a summary's histogram counts in, and how its values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Written as recorded, as integers.
    Raw,
    /// Recorded in microseconds, written in seconds.
    MicrosAsSeconds,
}

#[derive(Clone, Debug)]
pub enum Value {
    Int(u64),
    Histogram(Histogram<u64>, Unit),
}

/// One sample: its labels (the shard label is added when it is written) and value.
#[derive(Clone, Debug)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    pub samples: Vec<Sample>,
}

/// What a shard's services write their families into.
#[derive(Default, Debug)]
pub struct Families(pub Vec<Family>);

impl Families {
    /// A family with one per-shard integer sample and no labels of its own.
    pub fn int(&mut self, name: &'static str, kind: Kind, help: &'static str, value: u64) {
        self.push(name, kind, help, Scope::PerShard).push(Sample {
            labels: Vec::new(),
            value: Value::Int(value),
        });
    }

    /// A counter with one per-shard sample.
    pub fn counter(&mut self, name: &'static str, help: &'static str, value: u64) {
        self.int(name, Kind::Counter, help, value);
    }

    /// A gauge with one per-shard sample.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: u64) {
        self.int(name, Kind::Gauge, help, value);
    }

    /// An empty family; samples go into what it returns.
    pub fn push(&mut self, name: &'static str, kind: Kind, help: &'static str, scope: Scope) -> &mut Vec<Sample> {
        self.0.push(Family {
            name,
            help,
            kind,
            scope,
            samples: Vec::new(),
        });
        &mut self.0.last_mut().expect("just pushed").samples
    }
}

impl Sample {
    pub fn int(labels: Vec<(&'static str, String)>, value: u64) -> Self {
        Sample {
            labels,
            value: Value::Int(value),
        }
    }
}
