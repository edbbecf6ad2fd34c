//! The hand-written baseline: the same logic as `bundle(n)`, in plain Rust over serde_json
//! derive, the way a team would write it without a rule engine. Benchmarks measure evr against
//! it (and against serde_json merely skipping the bytes) in the same run.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Log {
    app_id: i32,
    event: String,
    event_time: i64,
    client: Client,
    params: HashMap<String, String>,
    products: Vec<Product>,
    amount: Option<f64>,
    os: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Client {
    user_id: i64,
    device_id: String,
    // Deserialized as a hand-written consumer would, though no rule reads it.
    #[allow(dead_code)]
    ip: String,
    user_agent: String,
    country: String,
    logged_in: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Product {
    // Deserialized as a hand-written consumer would, though no rule reads it.
    #[allow(dead_code)]
    id: i64,
    price: f64,
    category: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Action {
    #[prost(int64, tag = "1")]
    user_id: i64,
    #[prost(int64, tag = "2")]
    item_id: i64,
    #[prost(string, tag = "3")]
    kind: String,
    #[prost(int64, tag = "4")]
    ts_ms: i64,
    #[prost(double, tag = "5")]
    value: f64,
}

#[derive(serde::Serialize)]
struct Alert<'a> {
    user_id: String,
    score: String,
    reasons: [&'a str; 2],
}

const HIGH_RISK: [&str; 3] = ["KP", "IR", "SY"];

/// One output: the sink's name and its bytes.
pub type Out = (&'static str, Vec<u8>);

pub struct Baseline {
    rules: usize,
    /// Event times per device in the last minute (an exact sliding window).
    windows: HashMap<String, VecDeque<i64>>,
}

impl Baseline {
    pub fn new(rules: usize) -> Baseline {
        Baseline { rules, windows: HashMap::new() }
    }

    /// Processes one JSON event; false when it does not parse (a dirty record).
    pub fn process(&mut self, line: &[u8], out: &mut Vec<Out>) -> bool {
        let Ok(log) = serde_json::from_slice::<Log>(line) else { return false };
        if evr_stdlib::web::is_bot(&log.client.user_agent) || log.app_id == 9999 || log.app_id == 8888 {
            return true;
        }
        let window = self.windows.entry(log.client.device_id.clone()).or_default();
        window.push_back(log.event_time);
        while window.front().is_some_and(|&t| log.event_time - t >= 60_000) {
            window.pop_front();
        }
        let mut risk = 0i64;
        if HIGH_RISK.contains(&log.client.country.as_str()) {
            risk += 40;
        }
        if window.len() > 100 {
            risk += 30;
        }
        if log.client.logged_in {
            risk -= 10;
        }
        if log.amount.unwrap_or(0.0) > 1000.0 {
            risk += 25;
        }
        let Some(i) = log.event.strip_prefix("ev_").and_then(|n| n.parse::<usize>().ok()).filter(|&i| i < self.rules)
        else {
            return true;
        };
        match i % 4 {
            0 => out.push(("shard", line.to_vec())),
            1 => {
                if let Some(item) = log.params.get("item") {
                    let action = Action {
                        user_id: log.client.user_id,
                        item_id: item.trim().parse().unwrap_or(0),
                        kind: log.event.to_lowercase(),
                        ts_ms: log.event_time,
                        value: log.amount.unwrap_or(0.0),
                    };
                    out.push(("actions", prost::Message::encode_to_vec(&action)));
                }
            }
            2 => {
                if log.products.iter().any(|p| p.price > 100.0) && log.os != "WEB" {
                    let n = log.products.iter().filter(|p| p.category.starts_with("lux")).count();
                    if n > 1 {
                        let value = log.params.get("v").map_or("0", String::as_str).trim().parse().unwrap_or(0.0);
                        let action =
                            Action { user_id: log.client.user_id, kind: "lux".into(), value, ..Action::default() };
                        out.push(("actions", prost::Message::encode_to_vec(&action)));
                    }
                }
            }
            _ => {
                if risk >= 60 {
                    let alert = Alert {
                        user_id: log.client.user_id.to_string(),
                        score: risk.to_string(),
                        reasons: [&log.client.country, &log.event],
                    };
                    out.push(("alerts", serde_json::to_vec(&alert).unwrap_or_default()));
                }
            }
        }
        true
    }
}

/// What serde_json pays merely to read through an event: the ceiling to chase.
pub fn skip(line: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

#[cfg(test)]
mod tests {
    use evr_compiler::files::Files;
    use evr_compiler::ir::SourceId;
    use evr_runtime::executor::{Config, Executor, Loaded, Output};

    /// The baseline computes what the bundle computes, byte for byte, or the comparison is void.
    #[test]
    fn baseline_matches_evr() {
        const RULES: usize = 32;
        let mut files = Files::default();
        files.add(crate::workload_dir().join("rules.evr"), "rules.evr", crate::bundle(RULES));
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors());
        let mut exec = Executor::new(Loaded::from_analysis(&a, Config::default()).unwrap());
        let mut base = super::Baseline::new(RULES);
        let (mut ours, mut theirs, mut total) = (Vec::new(), Vec::new(), 0);
        for e in crate::events(3_000, RULES) {
            ours.clear();
            theirs.clear();
            assert!(exec.process(SourceId(0), e.as_bytes(), 0, &mut ours).decoded);
            assert!(base.process(e.as_bytes(), &mut theirs));
            let ours: Vec<(&str, Vec<u8>)> = ours
                .iter()
                .map(|o| {
                    let sink = match o {
                        Output::Record { sink, .. } | Output::Forward { sink } => {
                            a.program.sinks[sink.0 as usize].name.as_str()
                        }
                        Output::Dirty { error, .. } => panic!("dirty: {error}"),
                    };
                    (sink, exec.payload(SourceId(0), e.as_bytes(), o).unwrap().into_owned())
                })
                .collect();
            let theirs: Vec<(&str, Vec<u8>)> = theirs.iter().map(|(s, b)| (*s, b.clone())).collect();
            assert_eq!(ours, theirs, "{e}");
            total += ours.len();
        }
        assert!(total > 300, "the workload produces outputs ({total})");
    }
}
