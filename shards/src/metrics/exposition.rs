//! The one Prometheus writer: every shard's families, merged on the scraping shard and
//! written in the text exposition format 0.0.4.
//!
//! A family appears once (HELP and TYPE first, in the order the collectors wrote them), then
//! its samples shard by shard. Summaries write the quantiles of [`QUANTILES`], `_sum` and
//! `_count`, and are left out while their histogram is empty.

use std::fmt::Write;

use hdrhistogram::Histogram;
use shardhub_core::ShardId;

use super::family::{Families, Family, Sample, Scope, Unit, Value, QUANTILES};

/// Writes every shard's families; `process` are the families of the whole server.
pub fn render(shards: &[(ShardId, Families)], process: &Families) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let mut names: Vec<&'static str> = Vec::new();
    for family in shards.iter().flat_map(|(_, f)| &f.0).chain(&process.0) {
        if !names.contains(&family.name) {
            names.push(family.name);
        }
    }
    for name in names {
        let of_shards: Vec<(ShardId, &Family)> = shards
            .iter()
            .flat_map(|(shard, f)| f.0.iter().filter(|f| f.name == name).map(move |f| (*shard, f)))
            .chain(process.0.iter().filter(|f| f.name == name).map(|f| (0, f)))
            .collect();
        let Some((_, first)) = of_shards.first() else {
            continue;
        };
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} {}",
            first.help,
            first.kind.as_str()
        );
        match first.scope {
            Scope::PerShard => {
                for (shard, family) in &of_shards {
                    for sample in &family.samples {
                        write_sample(&mut out, name, Some(*shard), sample);
                    }
                }
            }
            Scope::Merged => {
                for sample in merge(&of_shards) {
                    write_sample(&mut out, name, None, &sample);
                }
            }
            Scope::Process => {
                for sample in &first.samples {
                    write_sample(&mut out, name, None, sample);
                }
            }
        }
        debug_assert!(
            of_shards
                .iter()
                .all(|(_, f)| f.kind == first.kind && f.scope == first.scope),
            "{name}: one kind and scope on every shard"
        );
    }
    out
}

/// Samples with the same labels on several shards, added up.
fn merge(of_shards: &[(ShardId, &Family)]) -> Vec<Sample> {
    let mut merged: Vec<Sample> = Vec::new();
    for sample in of_shards.iter().flat_map(|(_, f)| &f.samples) {
        let Some(into) = merged.iter_mut().find(|m| m.labels == sample.labels) else {
            merged.push(sample.clone());
            continue;
        };
        match (&mut into.value, &sample.value) {
            (Value::Int(total), Value::Int(n)) => *total += n,
            (Value::Histogram(total, _), Value::Histogram(h, _)) => {
                // Same bounds on every shard: the collectors build them alike.
                let _ = total.add(h);
            }
            _ => debug_assert!(false, "one value type per family"),
        }
    }
    merged
}

fn write_sample(out: &mut String, name: &str, shard: Option<ShardId>, sample: &Sample) {
    match &sample.value {
        Value::Int(v) => {
            write_name(out, name, "", shard, &sample.labels, None);
            let _ = writeln!(out, " {v}");
        }
        Value::Histogram(h, unit) => write_summary(out, name, shard, &sample.labels, h, *unit),
    }
}

fn write_summary(
    out: &mut String,
    name: &str,
    shard: Option<ShardId>,
    labels: &[(&'static str, String)],
    h: &Histogram<u64>,
    unit: Unit,
) {
    if h.is_empty() {
        return;
    }
    for q in QUANTILES {
        write_name(out, name, "", shard, labels, Some(q));
        let v = h.value_at_quantile(q);
        let _ = match unit {
            Unit::Raw => writeln!(out, " {v}"),
            Unit::MicrosAsSeconds => writeln!(out, " {}", v as f64 / 1e6),
        };
    }
    let sum = h.mean() * h.len() as f64;
    write_name(out, name, "_sum", shard, labels, None);
    let _ = match unit {
        Unit::Raw => writeln!(out, " {}", sum.round() as u64),
        Unit::MicrosAsSeconds => writeln!(out, " {}", sum / 1e6),
    };
    write_name(out, name, "_count", shard, labels, None);
    let _ = writeln!(out, " {}", h.len());
}

/// `name{shard="0",label="value",quantile="0.5"}`, or the bare name without labels.
fn write_name(
    out: &mut String,
    name: &str,
    suffix: &str,
    shard: Option<ShardId>,
    labels: &[(&'static str, String)],
    quantile: Option<f64>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if shard.is_none() && labels.is_empty() && quantile.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    if let Some(shard) = shard {
        sep(out);
        let _ = write!(out, "shard=\"{shard}\"");
    }
    for (label, value) in labels {
        sep(out);
        let _ = write!(out, "{label}=\"");
        escape_label(out, value);
        out.push('"');
    }
    if let Some(q) = quantile {
        sep(out);
        let _ = write!(out, "quantile=\"{q}\"");
    }
    out.push('}');
}

/// A label value as the exposition format wants it: `\`, `"` and newlines escaped.
fn escape_label(out: &mut String, value: &str) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::family::{histogram, Kind, LATENCY_US_MAX};
    use super::*;

    fn shard(counter: u64, latency_us: &[u64]) -> Families {
        let mut f = Families::default();
        f.counter("t_requests_total", "Requests.", counter);
        let samples = f.push("t_by_name_total", Kind::Counter, "Per name.", Scope::PerShard);
        samples.push(Sample::int(vec![("name", "a\"b".into())], counter));
        let mut h = histogram(LATENCY_US_MAX);
        for &us in latency_us {
            h.record(us).unwrap();
        }
        f.push("t_latency_seconds", Kind::Summary, "Latency.", Scope::Merged)
            .push(Sample {
                labels: vec![("command", "get".into())],
                value: Value::Histogram(h, Unit::MicrosAsSeconds),
            });
        f
    }

    #[test]
    fn families_are_written_once_with_every_shard_and_merged_summaries() {
        let mut process = Families::default();
        process
            .push("t_ready", Kind::Gauge, "Ready.", Scope::Process)
            .push(Sample::int(Vec::new(), 1));
        let text = render(&[(0, shard(3, &[100])), (1, shard(4, &[300]))], &process);
        let expected = "\
# HELP t_requests_total Requests.
# TYPE t_requests_total counter
t_requests_total{shard=\"0\"} 3
t_requests_total{shard=\"1\"} 4
# HELP t_by_name_total Per name.
# TYPE t_by_name_total counter
t_by_name_total{shard=\"0\",name=\"a\\\"b\"} 3
t_by_name_total{shard=\"1\",name=\"a\\\"b\"} 4
# HELP t_latency_seconds Latency.
# TYPE t_latency_seconds summary
t_latency_seconds{command=\"get\",quantile=\"0.5\"} 0.0001
t_latency_seconds{command=\"get\",quantile=\"0.9\"} 0.000301
t_latency_seconds{command=\"get\",quantile=\"0.99\"} 0.000301
t_latency_seconds{command=\"get\",quantile=\"0.999\"} 0.000301
t_latency_seconds_sum{command=\"get\"} 0.000401
t_latency_seconds_count{command=\"get\"} 2
# HELP t_ready Ready.
# TYPE t_ready gauge
t_ready 1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn an_empty_summary_keeps_its_help_but_writes_no_sample() {
        let text = render(&[(0, shard(0, &[]))], &Families::default());
        assert!(text.contains("# TYPE t_latency_seconds summary\n"), "{text}");
        assert!(!text.contains("t_latency_seconds{"), "{text}");
    }
}
