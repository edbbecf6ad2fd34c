//! Evaluation alone, the interpreter over value trees against native code over frames, measured
//! interleaved (each round times one pass of both over the same events decoded beforehand; each
//! engine's best round counts). For the realistic workload and for plain logic.
//! `cargo run --release -p evr-benches --example evaluate -- [RULES] [ROUNDS] [only-jit] [realistic|unindexed|no-library|plain]`
//! (`only-jit` runs native code alone, for a profiler; the last word picks one workload.)

use std::time::{Duration, Instant};

use evr_compiler::files::Files;
use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 20_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rules = args.first().map_or(32, |a| a.parse().expect("a number of rules"));
    let rounds = args.get(1).map_or(15, |a| a.parse().expect("a number of rounds"));
    let only_jit = args.get(2).is_some_and(|a| a == "only-jit");
    let workload = args.get(3).map(String::as_str);
    let events = evr_benches::events(EVENTS, rules);
    // `unindexed`: the realistic bundle with the rule index off, so every rule's condition runs;
    // `no-library`: the realistic bundle without its bot search and velocity window.
    let workloads = [
        ("realistic", evr_benches::bundle(rules), true),
        ("unindexed", evr_benches::bundle(rules), false),
        ("no-library", evr_benches::bundle_without_library_calls(rules), true),
        ("plain", evr_benches::plain_logic_bundle(rules), true),
    ];
    for (name, source, rule_index) in workloads {
        if workload.is_some_and(|w| w != name) {
            continue;
        }
        let mut files = Files::default();
        files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", source);
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors());
        let src = &a.program.sources[0];
        let trees: Vec<_> = events
            .iter()
            .filter_map(|e| evr_runtime::decode::decode(&a.schema, src.message, src.format, e.as_bytes()).ok())
            .collect();
        let interp = Config { rule_index, ..Config::default() };
        let jit = Config { engine: Engine::Jit(OptLevel::Speed), ..interp };
        let mut native = Executor::new(Loaded::from_analysis(&a, jit).expect("compiles"));
        let frames: Vec<_> = events
            .iter()
            .filter_map(|e| native.decode_frame(SourceId(0), e.as_bytes()).expect("events decode into frames").ok())
            .collect();
        let mut interp = Executor::new(Loaded::from_analysis(&a, interp).expect("prepares"));
        let mut outputs = Vec::new();
        let mut best = [Duration::MAX; 2];
        for _ in 0..rounds {
            let start = Instant::now();
            for f in &frames {
                outputs.clear();
                native.run_frame(f, 0, &mut outputs);
            }
            best[0] = best[0].min(start.elapsed());
            if only_jit {
                continue;
            }
            let start = Instant::now();
            for e in &trees {
                outputs.clear();
                interp.run(SourceId(0), e, 0, &mut outputs);
            }
            best[1] = best[1].min(start.elapsed());
        }
        let ns = |t: Duration| t.as_secs_f64() * 1e9 / EVENTS as f64;
        print!("{name:<12} {rules} rules, best of {rounds}: JIT {:>6.0} ns/event", ns(best[0]));
        if only_jit {
            println!();
        } else {
            println!(
                ", interpreter {:>6.0} ns/event: JIT {:.1}x the interpreter",
                ns(best[1]),
                best[1].as_secs_f64() / best[0].as_secs_f64()
            );
        }
    }
}
