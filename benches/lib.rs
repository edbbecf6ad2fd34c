//! Workloads for evr's benchmarks: bundles of generated rules over `workload/schemas/app.proto`.

use std::path::{Path, PathBuf};

/// The directory holding the workload schemas.
pub fn workload_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workload")
}

const HEADER: &str = r#"use "schemas/app.proto";
use bench.v1.{Log, Os, Action, Alert};

source logs: Log as json time event_time;
sink actions: Action as protobuf;
sink alerts: Alert as json;
sink shard: Log as json;

const HIGH_RISK = ["KP", "IR", "SY"];

fn is_test_app(id: int) -> bool = id == 9999 || id == 8888;

drop bots on logs when is_bot(client.user_agent);
drop test_apps on logs when is_test_app(app_id);

score risk on logs {
  40 when client.country in HIGH_RISK;
  30 when window_count(client.device_id, 1m) > 100;
  -10 when client.logged_in;
  25 when (amount ?? 0.0) > 1000.0;
}
"#;

/// A bundle of `n` rules of the four kinds (route, map, filter-and-emit, score), each keyed on
/// its own event name, so that every rule matches a distinct slice of the stream.
pub fn bundle(n: usize) -> String {
    let mut out = String::with_capacity(HEADER.len() + n * 200);
    out.push_str(HEADER);
    for i in 0..n {
        let rule = match i % 4 {
            0 => format!("rule shard_{i} on logs when event == \"ev_{i}\" => route shard;\n"),
            1 => format!(
                "rule map_{i} on logs when event == \"ev_{i}\" && has(params[\"item\"]) {{\n  emit actions {{ user_id: client.user_id, item_id: to_int(params[\"item\"]) ?? 0, kind: lower(event), ts_ms: event_time, value: amount ?? 0.0 }};\n}}\n"
            ),
            2 => format!(
                "rule filter_{i} on logs when event == \"ev_{i}\" && any(products, p => p.price > 100.0) && os != Os.WEB {{\n  let n = count_if(products, p => starts_with(p.category, \"lux\"));\n  if n > 1 {{ emit actions {{ user_id: client.user_id, kind: \"lux\", value: to_float(params[\"v\"] ?? \"0\") ?? 0.0 }}; }}\n}}\n"
            ),
            _ => format!(
                "rule score_{i} on logs when event == \"ev_{i}\" && risk >= 60 {{\n  emit alerts {{ user_id: client.user_id, score: risk, reasons: [client.country, event] }};\n}}\n"
            ),
        };
        out.push_str(&rule);
    }
    out
}
