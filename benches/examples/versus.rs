//! evr against the hand-written baseline and the serde_json ceiling, measured interleaved: each
//! round times one pass of every contender over the same events, and each contender's best
//! round counts, so that a slow phase of a shared machine hits all of them alike.
//! `cargo run --release -p evr-benches --example versus -- [RULES] [ROUNDS]`

use std::time::{Duration, Instant};

use evr_compiler::files::Files;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 20_000;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let rules = args.next().unwrap_or(32);
    let rounds = args.next().unwrap_or(15);
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(rules));
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors());
    let events = evr_benches::events(EVENTS, rules);
    let jit = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
    let mut native = Executor::new(Loaded::from_analysis(&a, jit).expect("compiles"));
    let mut interp = Executor::new(Loaded::from_analysis(&a, Config::default()).expect("prepares"));
    let mut base = evr_benches::baseline::Baseline::new(rules);
    let mut theirs = Vec::new();
    let evr = |exec: &mut Executor| {
        std::hint::black_box(evr_benches::process_and_encode(exec, &events));
    };
    let mut best = [Duration::MAX; 4];
    let names = ["serde_json skipping the bytes (ceiling)", "hand-written baseline", "evr, JIT", "evr, interpreter"];
    for _ in 0..rounds {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            f();
            start.elapsed()
        };
        let t = [
            time(&mut || events.iter().for_each(|e| assert!(evr_benches::baseline::skip(e.as_bytes())))),
            time(&mut || {
                for e in &events {
                    theirs.clear();
                    base.process(e.as_bytes(), &mut theirs);
                }
            }),
            time(&mut || evr(&mut native)),
            time(&mut || evr(&mut interp)),
        ];
        for (b, t) in best.iter_mut().zip(t) {
            *b = (*b).min(t);
        }
    }
    println!("{rules} rules, {EVENTS} events, best of {rounds} interleaved rounds:");
    for (name, t) in names.iter().zip(best) {
        let per_event = t.as_secs_f64() / EVENTS as f64;
        println!(
            "  {name:<42} {:>7.0}k events/s {:>6.0} ns/event {:>5.2}x the baseline",
            1e-3 / per_event,
            per_event * 1e9,
            best[1].as_secs_f64() / t.as_secs_f64()
        );
    }
}
