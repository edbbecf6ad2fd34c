//! Per-rule reload under load, and executors at scale:
//! `cargo run --release -p evr-benches --example reload -- 10 10000` (`10000/100`: only the
//! bundle in files of 100; `--reloads-only`: no executor and loading figures).
//!
//! For each bundle size, one thread streams events through an executor that follows reloads
//! while this one changes one rule 100 times (each time to a text of another length). A reload
//! is timed from its trigger (the moment the changed file is there, as a file event would
//! report it: reading that file — the others are the texts of the last analysis, as the host
//! reads again only the files an event names — checking, compiling the changed rule and
//! publishing all count) to the first event the new version evaluates. Throughput
//! while reloading is set against the same stream's steady state, measured in the same run.
//! Then: 10,000 executors of a 1,000-rule bundle, how long they take to make and how much
//! memory they hold; and how long 10,000 rules take to load and compile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use evr_compiler::Parses;
use evr_compiler::files::Files;
use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded};
use evr_runtime::live::Live;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RELOADS: usize = 100;

fn analyze(text: String) -> evr_compiler::Analysis {
    analyze_files(&[("rules.evr".to_owned(), text.into())], &mut Parses::default())
}

/// A bundle of several files, parsing only those `parses` does not hold unchanged. Texts are
/// shared as the host shares them: a reload reads again only the files an event named.
fn analyze_files(texts: &[(String, Arc<str>)], parses: &mut Parses) -> evr_compiler::Analysis {
    let mut files = Files::default();
    for (name, text) in texts {
        files.add_shared(evr_benches::workload_dir().join(name), name.clone(), Arc::clone(text));
    }
    let a = evr_compiler::analyze_reusing(files, None, parses);
    assert!(!a.has_errors(), "the workload checks");
    a
}

/// The workload as files: its declarations, then its rules `per_file` to a file.
fn split(text: &str, per_file: usize) -> Vec<(String, Arc<str>)> {
    let mut pieces = text.split("\nrule ");
    let mut files = vec![("a_header.evr".to_owned(), format!("{}\n", pieces.next().unwrap_or_default()).into())];
    let rules: Vec<String> = pieces.map(|r| format!("rule {r}\n")).collect();
    for (i, chunk) in rules.chunks(per_file.max(1)).enumerate() {
        files.push((format!("rules_{i:05}.evr"), chunk.concat().into()));
    }
    files
}

fn jit() -> Config {
    Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() }
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// `per_file`: rules per file (`usize::MAX`: one file).
fn reloads(n: usize, per_file: usize) {
    let base = split(&evr_benches::bundle(n), per_file);
    let mut parses = Parses::default();
    let first = analyze_files(&base, &mut parses);
    let live = Live::new(Loaded::from_analysis(&first, jit()).expect("compiles"));
    parses.keep(&first.files, first.modules);
    let events = evr_benches::events(20_000, n);
    let stop = Arc::new(AtomicBool::new(false));
    // When each version was first seen by the stream (ns since `epoch`), and events processed.
    let epoch = Instant::now();
    let first_seen: Arc<Vec<AtomicU64>> = Arc::new((0..=RELOADS + 1).map(|_| AtomicU64::new(0)).collect());
    let processed = Arc::new(AtomicU64::new(0));
    let streamer = {
        let (live, stop, first_seen, processed) = (live.clone(), stop.clone(), first_seen.clone(), processed.clone());
        std::thread::spawn(move || {
            let mut exec = Executor::following(live);
            let mut out = Vec::new();
            'run: loop {
                for e in &events {
                    if stop.load(Ordering::Relaxed) {
                        break 'run;
                    }
                    exec.refresh();
                    out.clear();
                    let p = exec.process(SourceId(0), e.as_bytes(), 0, &mut out);
                    let slot = &first_seen[p.version as usize];
                    if slot.load(Ordering::Relaxed) == 0 {
                        slot.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    processed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let rate = |over: Duration| {
        let before = processed.load(Ordering::Relaxed);
        std::thread::sleep(over);
        (processed.load(Ordering::Relaxed) - before) as f64 / over.as_secs_f64()
    };
    // Warm up (allocator, caches, the rule index's first lookups), then the steady state.
    std::thread::sleep(Duration::from_secs(1));
    let steady = rate(Duration::from_secs(2));
    let mut latencies = Vec::with_capacity(RELOADS);
    let (mut compile, mut checks, mut total_reload) = (Vec::new(), Vec::new(), Duration::ZERO);
    let before = processed.load(Ordering::Relaxed);
    let reload_start = Instant::now();
    for k in 1..=RELOADS {
        // One rule changed: the first route rule's event name, to a name whose length differs
        // from the last one's, so that everything after it in its file moves.
        let mut texts = base.clone();
        let name = format!("ev_0_{}", "x".repeat(1 + k % 2));
        let edited = texts[1].1.replacen("when event == \"ev_0\"", &format!("when event == \"{name}\""), 1);
        let trigger = epoch.elapsed().as_nanos() as u64;
        let t = Instant::now();
        // The changed file is read (copied into the text the analysis holds); the others are
        // the texts of the last analysis.
        texts[1].1 = edited.into();
        let a = analyze_files(&texts, &mut parses);
        checks.push(t.elapsed());
        let evr_compiler::Analysis { files, modules, program, schema, .. } = a;
        parses.keep(&files, modules);
        let report = live.reload(program, schema).expect("reloads");
        total_reload += t.elapsed();
        compile.push(report.took);
        assert_eq!(report.changed, vec!["shard_0".to_owned()], "{report:?}");
        assert!(report.recompiled.is_empty(), "{report:?}");
        let version = report.version as usize;
        while first_seen[version].load(Ordering::Relaxed) == 0 {
            std::hint::spin_loop();
        }
        latencies.push(Duration::from_nanos(first_seen[version].load(Ordering::Relaxed) - trigger));
        // Reloads come 10 ms apart, so the stream runs between them.
        std::thread::sleep(Duration::from_millis(10));
    }
    let during = (processed.load(Ordering::Relaxed) - before) as f64 / reload_start.elapsed().as_secs_f64();
    let after = rate(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    streamer.join().expect("the stream");
    latencies.sort();
    compile.sort();
    checks.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    let layout = if per_file >= n { "one file".to_owned() } else { format!("{per_file} rules a file") };
    println!(
        "{n} rules ({layout}): trigger -> first event on the new version p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         (of which checking the bundle p50 {:.1} ms, diff + compile + publish p50 {:.1} ms); \
         throughput steady {:.0}/s, during reloads {:.0}/s ({:.0}% of steady), after {:.0}/s",
        pct(&latencies, 0.5).as_secs_f64() * 1e3,
        pct(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        pct(&checks, 0.5).as_secs_f64() * 1e3,
        pct(&compile, 0.5).as_secs_f64() * 1e3,
        steady,
        during,
        100.0 * during / steady,
        after,
    );
}

fn executors() {
    let loaded = Loaded::from_analysis(&analyze(evr_benches::bundle(1_000)), jit()).expect("compiles");
    let before = rss();
    let start = Instant::now();
    let executors: Vec<Executor> = (0..10_000).map(|_| Executor::new(loaded.clone())).collect();
    let took = start.elapsed();
    let held = rss().saturating_sub(before);
    println!(
        "10000 executors of a 1000-rule bundle: made in {:.1} ms, {:.1} MB resident ({:.1} KB each)",
        took.as_secs_f64() * 1e3,
        held as f64 / 1e6,
        held as f64 / 1e3 / executors.len() as f64
    );
}

fn load_10k() {
    let text = evr_benches::bundle(10_000);
    let start = Instant::now();
    let a = analyze(text);
    let checked = start.elapsed();
    let loaded = Loaded::from_analysis(&a, jit()).expect("compiles");
    println!(
        "10000 rules: check {:.2} s, then load and compile {:.2} s ({} units)",
        checked.as_secs_f64(),
        (start.elapsed() - checked).as_secs_f64(),
        loaded.units().len()
    );
}

fn main() {
    // `N` measures N rules in one file and, past 100 rules, in files of 100; `N/K` only files
    // of K; `--reloads-only` skips the executor and loading figures.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with("--")) {
        match a.split_once('/') {
            Some((n, k)) => runs.extend(n.parse().ok().zip(k.parse().ok())),
            None => {
                let Ok(n) = a.parse::<usize>() else { continue };
                runs.push((n, usize::MAX));
                if n > 100 {
                    runs.push((n, 100));
                }
            }
        }
    }
    if runs.is_empty() {
        runs = vec![(10, usize::MAX), (10_000, usize::MAX), (10_000, 100)];
    }
    let all = !args.iter().any(|a| a == "--reloads-only");
    // First, while the heap is fresh: what executors hold is read off the resident size.
    if all {
        executors();
    }
    for (n, per_file) in runs {
        reloads(n, per_file);
    }
    if all {
        load_10k();
    }
}
