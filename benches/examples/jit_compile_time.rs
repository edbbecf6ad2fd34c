//! How long the JIT takes to compile a generated bundle:
//! `cargo run --release -p evr-benches --example jit_compile_time -- 10000`.

use std::time::Instant;

use evr_compiler::files::Files;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Loaded};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(n));
    let start = Instant::now();
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors());
    println!("{n} rules: parse and check {:.2?}", start.elapsed());
    for opt in [OptLevel::None, OptLevel::Speed] {
        let start = Instant::now();
        let config = Config { engine: Engine::Jit(opt), ..Config::default() };
        let loaded = Loaded::from_analysis(&a, config).map_err(|e| e.to_string()).expect("compiles");
        println!(
            "{n} rules: load and JIT at {opt:?} {:.2?} ({} native functions)",
            start.elapsed(),
            loaded.units().len()
        );
    }
}
