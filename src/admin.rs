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
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    counter("evr_events_total", "Messages consumed.", n(&c.events));
    counter("evr_outputs_total", "Outputs sent to sink topics.", n(&c.outputs));
    counter("evr_dirty_total", "Dirty records sent to dirty topics.", n(&c.dirty));
    counter("evr_dropped_total", "Events discarded by a drop.", n(&c.dropped));
    counter("evr_deliveries_resent_total", "Deliveries that failed and were sent again.", n(&c.resent));
    counter("evr_commits_total", "Offset commits.", n(&c.commits));
    let _ = writeln!(
        out,
        "# HELP evr_bundle_version The live bundle version.\n# TYPE evr_bundle_version gauge\nevr_bundle_version {}",
        state.live.current().version()
    );
    let _ = writeln!(
        out,
        "# HELP evr_reloads_total Reloads by outcome.\n# TYPE evr_reloads_total counter\nevr_reloads_total{{result=\"live\"}} {}\nevr_reloads_total{{result=\"rejected\"}} {}",
        state.reloads.accepted(),
        state.reloads.rejected()
    );
    let _ = writeln!(
        out,
        "# HELP evr_committed_offset The last committed offset of each partition.\n# TYPE evr_committed_offset gauge"
    );
    for ((topic, partition), offset) in c.committed() {
        let _ = writeln!(out, "evr_committed_offset{{topic={topic:?},partition=\"{partition}\"}} {offset}");
    }
    out
}
