//! The Kafka host's HTTP endpoints: `GET /metrics` (Prometheus text) and `POST /reload`
//! (bearer token required). They listen on a loopback address unless told otherwise.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use evr_kafka::Counters;
use evr_runtime::live::Live;

use crate::reload::Reloads;

/// What the endpoints report on and act upon.
pub struct State {
    pub counters: Arc<Counters>,
    pub live: Arc<Live>,
    pub reloads: Arc<Reloads>,
    /// The token `POST /reload` must present as `Authorization: Bearer TOKEN`; without one,
    /// reloading over HTTP is off.
    pub token: Option<String>,
}

/// Starts serving on `addr`; `reload` says whether `POST /reload` is served there.
pub fn serve(addr: &str, remote: bool, reload: bool, state: Arc<State>) -> Result<SocketAddr, String> {
    let at: SocketAddr = addr.parse().map_err(|_| format!("`{addr}` is not an address such as 127.0.0.1:9100"))?;
    if !at.ip().is_loopback() && !remote {
        return Err(format!(
            "{addr} is not a loopback address: the endpoint would be reachable from other machines (pass --admin-remote to allow it)"
        ));
    }
    let server = tiny_http::Server::http(at).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = server.server_addr().to_ip().unwrap_or(at);
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let (status, body) = answer(&request, reload, &state);
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
    Ok(bound)
}

fn answer(request: &tiny_http::Request, reload: bool, state: &State) -> (u16, String) {
    match (request.method(), request.url()) {
        (tiny_http::Method::Get, "/metrics") => (200, metrics(state)),
        (tiny_http::Method::Post, "/reload") if reload => {
            let Some(token) = &state.token else {
                return (403, "reloading over HTTP is off: no admin token was given\n".to_owned());
            };
            let presented = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .and_then(|h| h.value.as_str().strip_prefix("Bearer "));
            if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
                return (401, "a bearer token is required\n".to_owned());
            }
            match state.reloads.reload_now() {
                Ok(Some(line)) => (200, format!("{line}\n")),
                Ok(None) => (200, format!("version {} stays live\n", state.live.current().version())),
                Err(why) => (422, format!("reload rejected: {why}\n")),
            }
        }
        _ => (404, "not found\n".to_owned()),
    }
}

/// Compares without leaking, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn metrics(state: &State) -> String {
    let c = &state.counters;
    let mut m = Metrics::default();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    m.one("evr_events_total", "counter", "Messages consumed.", n(&c.events));
    m.one("evr_outputs_total", "counter", "Outputs sent to sink topics.", n(&c.outputs));
    m.one("evr_dirty_total", "counter", "Dirty records sent to dirty topics.", n(&c.dirty));
    m.one("evr_dropped_total", "counter", "Events discarded by a drop.", n(&c.dropped));
    m.one("evr_deliveries_resent_total", "counter", "Deliveries that failed and were sent again.", n(&c.resent));
    m.one("evr_commits_total", "counter", "Offset commits.", n(&c.commits));
    m.one(
        "evr_partition_pauses_total",
        "counter",
        "Times a partition was paused because its worker's queue was full.",
        n(&c.pauses),
    );
    m.one("evr_bundle_version", "gauge", "The live bundle version.", state.live.current().version());
    m.head("evr_reloads_total", "counter", "Reloads by outcome.");
    m.line("evr_reloads_total", &[("result", "live")], state.reloads.accepted());
    m.line("evr_reloads_total", &[("result", "rejected")], state.reloads.rejected());
    let (all, last) = state.reloads.took();
    m.head("evr_reload_seconds", "summary", "From a reload's trigger until its version was live.");
    m.line("evr_reload_seconds_sum", &[], all.as_secs_f64());
    m.line("evr_reload_seconds_count", &[], state.reloads.accepted());
    m.one("evr_reload_last_seconds", "gauge", "How long the last reload took.", last.as_secs_f64());
    m.head("evr_committed_offset", "gauge", "The last committed offset of each partition.");
    for ((topic, partition), offset) in c.committed() {
        m.line("evr_committed_offset", &[("topic", &topic), ("partition", &partition.to_string())], offset);
    }
    m.head("evr_partition_lag", "gauge", "Messages behind the end of each partition, by librdkafka's statistics.");
    for ((topic, partition), lag) in c.lag() {
        m.line("evr_partition_lag", &[("topic", &topic), ("partition", &partition.to_string())], lag);
    }
    let tally = c.tally();
    m.head("evr_sink_outputs_total", "counter", "Outputs sent, by sink.");
    for (sink, count) in &tally.sink_outputs {
        m.line("evr_sink_outputs_total", &[("sink", sink)], count);
    }
    m.head("evr_shadow_outputs_total", "counter", "Outputs @shadow rules would have sent, by sink.");
    for (sink, count) in &tally.shadow_outputs {
        m.line("evr_shadow_outputs_total", &[("sink", sink)], count);
    }
    m.head("evr_dirty_by_reason_total", "counter", "Dirty records by reason.");
    for (reason, count) in &tally.dirty {
        m.line("evr_dirty_by_reason_total", &[("reason", reason)], count);
    }
    units(&mut m, &tally.units);
    m.out
}

/// Per unit: evaluations, hits, errors by code, and the evaluation-time histogram (of the
/// one event in `TIMED_EVERY` whose units are timed).
fn units(m: &mut Metrics, totals: &evr_runtime::stats::UnitTotals) {
    use evr_runtime::stats::TIME_BUCKETS_NS;
    m.head("evr_unit_evaluations_total", "counter", "Evaluations of each drop, score and rule.");
    for (unit, s) in &totals.by_unit {
        m.line("evr_unit_evaluations_total", &[("unit", unit)], s.evaluations);
    }
    m.head("evr_unit_hits_total", "counter", "Drops that held, scores other than 0, rules that asked for outputs.");
    for (unit, s) in &totals.by_unit {
        m.line("evr_unit_hits_total", &[("unit", unit)], s.hits);
    }
    m.head("evr_unit_errors_total", "counter", "Runtime errors of each unit, by code.");
    for (unit, s) in &totals.by_unit {
        for (e, count) in s.errors() {
            m.line("evr_unit_errors_total", &[("unit", unit), ("code", e.name())], count);
        }
    }
    let help = format!("Evaluation time of each unit, measured on one event in {}.", evr_runtime::stats::TIMED_EVERY);
    m.head("evr_unit_eval_seconds", "histogram", &help);
    for (unit, s) in &totals.by_unit {
        let mut below = 0;
        for (bound, count) in TIME_BUCKETS_NS.iter().zip(&s.times) {
            below += count;
            let le = format!("{}", *bound as f64 / 1e9);
            m.line("evr_unit_eval_seconds_bucket", &[("unit", unit), ("le", &le)], below);
        }
        m.line("evr_unit_eval_seconds_bucket", &[("unit", unit), ("le", "+Inf")], s.timed());
        m.line("evr_unit_eval_seconds_sum", &[("unit", unit)], s.time_sum_ns as f64 / 1e9);
        m.line("evr_unit_eval_seconds_count", &[("unit", unit)], s.timed());
    }
}

/// Prometheus text exposition, written as it goes.
#[derive(Default)]
struct Metrics {
    out: String,
}

impl Metrics {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.out, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.head(name, kind, help);
        self.line(name, &[], value);
    }
}

/// A label value as the exposition format wants it: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
