//! Workloads for evr's benchmarks: bundles of generated rules over `workload/schemas/app.proto`.

use std::path::{Path, PathBuf};

#[path = "baseline.rs"]
pub mod baseline;

/// evr end to end over `events` of source 0, as a host runs it: decode, evaluate, and every
/// output handed over as bytes, records encoded for their sinks (the bytes are looked at, as a
/// host would send them). The executor reuses its buffers across rounds.
pub fn process_and_encode(exec: &mut evr_runtime::executor::Executor, events: &[String]) -> usize {
    let mut sent = Sent(0);
    let envelope = evr_runtime::sink::Envelope::default();
    for e in events {
        let _ = exec.process_into(evr_compiler::ir::SourceId(0), e.as_bytes(), &envelope, &mut sent);
    }
    sent.0
}

/// A host that sends nothing: it counts the bytes it is given.
struct Sent(usize);

impl evr_runtime::sink::Outputs for Sent {
    fn record(
        &mut self,
        _: evr_runtime::sink::SinkRef<'_>,
        _: Option<evr_runtime::sink::Key<'_>>,
        bytes: &[u8],
        _: &evr_runtime::sink::Envelope,
    ) -> std::io::Result<()> {
        self.0 += std::hint::black_box(bytes).len();
        Ok(())
    }

    fn route(
        &mut self,
        _: evr_runtime::sink::SinkRef<'_>,
        bytes: &[u8],
        _: &evr_runtime::sink::Envelope,
    ) -> std::io::Result<()> {
        self.0 += std::hint::black_box(bytes).len();
        Ok(())
    }

    fn dirty(&mut self, _: &str, _: Option<&str>, _: &[u8], _: &evr_runtime::sink::Envelope) -> std::io::Result<()> {
        Ok(())
    }
}

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

/// [`bundle`] with its two calls into library code that both engines share — the bot-pattern
/// search and the velocity window — replaced by plain comparisons of the same fields: what the
/// realistic rules cost apart from that library work.
pub fn bundle_without_library_calls(n: usize) -> String {
    let out = bundle(n)
        .replace("is_bot(client.user_agent)", "client.user_agent == \"Googlebot/2.1\"")
        .replace("window_count(client.device_id, 1m) > 100", "client.device_id == \"dev-100\"");
    assert!(!out.contains("is_bot(") && !out.contains("window_count("), "every library call replaced");
    out
}

/// `n` JSON events for [`bundle`]'s schema, the same on every run: event names spread over the
/// first `names` rules' names (plus some that no rule matches), with the fields rules read.
pub fn events(n: usize, names: usize) -> Vec<String> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: a fixed, dependency-free sequence.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let countries = ["US", "DE", "KP", "BR", "IR", "JP"];
    let agents =
        ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "Mozilla/5.0 (Linux; Android 14)", "Googlebot/2.1"];
    let categories = ["luxury", "food", "tech", "lux-watch"];
    (0..n)
        .map(|i| {
            let r = next();
            let name = if r % 5 == 0 { format!("other_{}", r % 7) } else { format!("ev_{}", r % names.max(1) as u64) };
            let products: Vec<String> = (0..(r >> 8) % 4)
                .map(|_| {
                    let pr = next();
                    format!(
                        r#"{{"id":{},"price":{}.5,"category":"{}"}}"#,
                        pr % 10_000,
                        pr % 300,
                        categories[(pr >> 16) as usize % categories.len()]
                    )
                })
                .collect();
            format!(
                r#"{{"app_id":{},"event":"{}","event_time":{},"client":{{"user_id":{},"device_id":"dev-{}","ip":"81.2.{}.{}","user_agent":"{}","country":"{}","logged_in":{}}},"params":{{"item":"{}","v":"{}.25"}},"products":[{}],{}"os":"{}"}}"#,
                [1128, 1180, 9999][(r >> 4) as usize % 3],
                name,
                1_700_000_000_000u64 + i as u64 * 10,
                r % 100_000,
                r % 5_000,
                (r >> 20) % 256,
                (r >> 28) % 256,
                agents[(r >> 12) as usize % agents.len()],
                countries[(r >> 24) as usize % countries.len()],
                (r >> 32) % 2 == 0,
                (r >> 36) % 1000,
                (r >> 40) % 100,
                products.join(","),
                if (r >> 44) % 3 == 0 { format!(r#""amount":{}.0,"#, (r >> 48) % 3000) } else { String::new() },
                ["IOS", "ANDROID", "WEB"][(r >> 50) as usize % 3],
            )
        })
        .collect()
}

/// A bundle of `n` rules of plain logic and no builtins, none found by the rule index, so that
/// every event runs all of them: what evaluation costs when nothing but the rules' own logic
/// runs (the interpreter's overhead against native code, with no shared library work).
pub fn plain_logic_bundle(n: usize) -> String {
    let mut out = String::from(
        "use \"schemas/app.proto\";\nuse bench.v1.{Log, Os};\nsource logs: Log as json time event_time;\nsink shard: Log as json;\n",
    );
    for i in 0..n {
        out.push_str(&format!(
            "rule plain_{i} on logs when (app_id * 3 + {i}) % 7 != 0 && client.user_id % 5 > {m} && \
             (amount ?? 0.0) * 1.5 < 1000.0 && (client.country == \"DE\" || os == Os.IOS) && \
             len(event) > {l} && client.logged_in != (event_time % 2 == 0) => route shard;\n",
            m = i % 4,
            l = i % 3,
        ));
    }
    out
}
