//! Reloads while events stream: 50 versions published from another thread while one executor
//! processes events. Every event is evaluated wholly by one version (its outputs say which),
//! no output is lost or duplicated, the velocity state of an unchanged site carries over and
//! that of a changed site starts afresh; only changed and added units are compiled.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, Output};
use evr_runtime::live::Live;

const VERSIONS: u64 = 50;
const EXTRAS: u64 = 5;

/// Version `k` of the bundle: `all` never changes; `fresh` counts under a key that changes
/// with every version; `tag` writes the version through a const and a fn that change; rule
/// `extra_j` exists in the versions where `(k + j) % 3 != 0`.
fn source(k: u64) -> String {
    let mut text = format!(
        r#"
use "app.proto";
use quiet.v1.Click;

source clicks: Click as json time event_time;
sink out: Click as json;

const V = {k};
fn bump(x: int) -> int = x + {b};

rule all on clicks {{ emit out {{ event: "all", app_id: window_count(device.id, 1h) }}; }}
rule fresh on clicks {{ emit out {{ event: "fresh", app_id: window_count(device.id + "-{k}", 1h) }}; }}
rule tag on clicks {{ emit out {{ event: "tag", app_id: bump(V) - {b} }}; }}
"#,
        b = k % 3
    );
    for j in (0..EXTRAS).filter(|j| extra_in(k, *j)) {
        text.push_str(&format!("rule extra_{j} on clicks {{ emit out {{ event: \"extra\", app_id: {j} }}; }}\n"));
    }
    text
}

fn extra_in(k: u64, j: u64) -> bool {
    !(k + j).is_multiple_of(3)
}

fn analyze(k: u64) -> evr_compiler::Analysis {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let mut files = evr_compiler::files::Files::default();
    files.add(dir.join("reload.evr"), "reload.evr", source(k));
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    a
}

/// What one output says: its `event` and `app_id`.
fn said(exec: &Executor, o: &Output) -> (String, i64) {
    let bytes = exec.payload(SourceId(0), b"", o).expect("a record");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    let n = match v.get("appId").or_else(|| v.get("app_id")).unwrap_or(&serde_json::Value::Null) {
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(-1),
        _ => 0,
    };
    (v["event"].as_str().unwrap_or("").to_owned(), n)
}

fn reloads_while_streaming(engine: Engine) {
    let config = Config { engine, ..Config::default() };
    let first = analyze(1);
    let live = Live::new(Loaded::from_analysis(&first, config).expect("loads"));
    let mut exec = Executor::following(live.clone());
    let done = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (live, done) = (live.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reports = Vec::new();
            for k in 2..=VERSIONS {
                let a = analyze(k);
                reports.push(live.reload(a.program, a.schema).expect("reloads"));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            done.store(true, Ordering::SeqCst);
            reports
        })
    };
    let event = br#"{"event":"view","event_time":"1000","device":{"id":"d1"}}"#;
    let (mut outputs, mut events, mut after_last) = (Vec::new(), 0i64, 0);
    let (mut version, mut in_version) = (0u64, 0i64);
    let mut seen_versions = Vec::new();
    while after_last < 20 {
        if done.load(Ordering::SeqCst) && version == VERSIONS {
            after_last += 1;
        }
        exec.refresh();
        outputs.clear();
        let processed = exec.process(SourceId(0), event, 0, &mut outputs);
        events += 1;
        if processed.version != version {
            assert!(processed.version > version, "versions only go forward");
            (version, in_version) = (processed.version, 0);
            seen_versions.push(version);
        }
        in_version += 1;
        let mut got: Vec<(String, i64)> = outputs.iter().map(|o| said(&exec, o)).collect();
        got.sort();
        let mut want =
            vec![("all".to_owned(), events), ("fresh".to_owned(), in_version), ("tag".to_owned(), version as i64)];
        want.extend((0..EXTRAS).filter(|j| extra_in(version, *j)).map(|j| ("extra".to_owned(), j as i64)));
        want.sort();
        assert_eq!(got, want, "event {events}, evaluated by version {version}");
    }
    let reports = reloader.join().expect("the reloader");
    assert_eq!(exec.loaded().version(), VERSIONS);
    assert!(seen_versions.len() >= 2, "events met several versions: {seen_versions:?}");
    for r in &reports {
        assert!(!r.changed.contains(&"all".to_owned()), "{r:?}");
        assert!(r.changed.contains(&"tag".to_owned()) && r.changed.contains(&"fresh".to_owned()), "{r:?}");
        // Only what changed is compiled.
        assert!(r.recompiled.is_empty(), "{r:?}");
    }
    let k = 3;
    let r = &reports[k - 2];
    let added: Vec<String> = (0..EXTRAS)
        .filter(|j| extra_in(k as u64, *j) && !extra_in(k as u64 - 1, *j))
        .map(|j| format!("extra_{j}"))
        .collect();
    assert_eq!(r.added, added, "{r:?}");
}

#[test]
fn reloads_while_streaming_interpreted() {
    reloads_while_streaming(Engine::Interpreter);
}

#[test]
fn reloads_while_streaming_native() {
    reloads_while_streaming(Engine::Jit(OptLevel::Speed));
}

/// Removed units are reported and their velocity state freed: a unit added again starts afresh.
#[test]
fn removed_units_lose_their_state() {
    let live = Live::new(Loaded::from_analysis(&analyze(1), Config::default()).expect("loads"));
    let mut exec = Executor::following(live.clone());
    let event = br#"{"event":"view","event_time":"1000","device":{"id":"d1"}}"#;
    let count_all = |exec: &mut Executor| {
        let mut out = Vec::new();
        exec.refresh();
        exec.process(SourceId(0), event, 0, &mut out);
        out.iter().map(|o| said(exec, o)).find(|(e, _)| e == "all").map(|(_, n)| n)
    };
    assert_eq!(count_all(&mut exec), Some(1));
    assert_eq!(count_all(&mut exec), Some(2));
    let mut none = analyze(1);
    none.program.rules.clear();
    let report = live.reload(none.program, none.schema).expect("reloads");
    assert_eq!(report.removed.len(), 3 + (0..EXTRAS).filter(|j| extra_in(1, *j)).count());
    assert_eq!(count_all(&mut exec), None);
    let again = analyze(1);
    live.reload(again.program, again.schema).expect("reloads");
    assert_eq!(count_all(&mut exec), Some(1), "a unit added again starts with empty state");
}

/// Units added by a reload read fields no unit read before: the frame layout grows and the
/// unchanged units keep their native code, reading their slots where they were; a list read
/// through columns and then whole cannot grow so, and everything is compiled anew. Either way
/// the outputs are those of the version loaded from scratch.
#[test]
fn grown_layouts_keep_unchanged_code_right() {
    let head = r#"
use "app.proto";
use quiet.v1.Click;
source clicks: Click as json;
sink out: Click as json;
rule a on clicks when device.id != "" => emit out { event: "a:" + device.id };
"#;
    let versions = [
        String::new(),
        r#"rule b on clicks when params["item"] == "x" || any(items, i => i.price > 1.0) => emit out { event: "b:" + event };"#.to_owned(),
        r#"rule b on clicks when params["item"] == "x" || any(items, i => i.price > 1.0) => emit out { event: "b:" + event };
rule c on clicks when len(items) > 1 => emit out { event: "c", app_id: len(items) };"#
            .to_owned(),
    ];
    let events: Vec<&[u8]> = vec![
        br#"{"event":"e1","device":{"id":"d1"},"params":{"item":"x"}}"#,
        br#"{"event":"e2","device":{"id":"d2"},"items":[{"price":2.5},{"price":0.5}]}"#,
        br#"{"event":"e3","items":[{"price":0.5}]}"#,
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let analyze = |extra: &str| {
        let mut files = evr_compiler::files::Files::default();
        files.add(dir.join("grow.evr"), "grow.evr", format!("{head}{extra}\n"));
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors(), "{:?}", a.diagnostics);
        a
    };
    let run = |exec: &mut Executor| -> Vec<(String, i64)> {
        let mut all = Vec::new();
        for e in &events {
            let mut out = Vec::new();
            exec.refresh();
            exec.process(SourceId(0), e, 0, &mut out);
            all.extend(out.iter().map(|o| said(exec, o)));
        }
        all
    };
    let jit = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
    let live = Live::new(Loaded::from_analysis(&analyze(&versions[0]), jit).expect("loads"));
    let mut exec = Executor::following(live.clone());
    for (k, extra) in versions.iter().enumerate() {
        if k > 0 {
            let a = analyze(extra);
            let report = live.reload(a.program, a.schema).expect("reloads");
            // Version 2 adds `b` and keeps `a`'s code; version 3 reads `items` whole, which
            // `b` read through columns: the layout starts afresh and `a` and `b` are compiled again.
            let expect_recompiled: &[&str] = if k == 2 { &["a", "b"] } else { &[] };
            assert_eq!(report.recompiled, expect_recompiled, "version {}: {report:?}", k + 1);
        }
        let fresh = Loaded::from_analysis(&analyze(extra), Config::default()).expect("loads");
        assert_eq!(run(&mut exec), run(&mut Executor::new(fresh)), "version {}", k + 1);
    }
}

/// A replaced version is kept until no executor runs it, then freed by a reload (on the
/// reloading thread, not between an executor's events).
#[test]
fn replaced_versions_are_freed_once_unused() {
    let config = Config { engine: Engine::Interpreter, ..Config::default() };
    let live = Live::new(Loaded::from_analysis(&analyze(0), config).expect("loads"));
    let mut exec = Executor::following(live.clone());
    let first = Arc::downgrade(&live.current());
    live.reload(analyze(1).program, analyze(1).schema).expect("reloads");
    // The executor has not moved yet: version 0 is still held.
    assert_eq!(live.collect(), 1);
    assert!(first.upgrade().is_some());
    exec.refresh();
    assert_eq!(live.collect(), 0, "no executor runs version 0 any more");
    assert!(first.upgrade().is_none(), "version 0 is freed");
    drop(exec);
}
