//! How long the JIT takes to compile a generated bundle:
//! `cargo run --release -p evr-benches --example jit_compile_time -- 10000`.

use std::time::Instant;

use evr_compiler::files::Files;
use evr_compiler::jit::{self, OptLevel};

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
        let compiled = jit::compile(&a.program, &a.schema, opt).map_err(|e| format!("{e:?}")).expect("compiles");
        println!(
            "{n} rules: JIT at {opt:?} {:.2?} ({} native functions)",
            start.elapsed(),
            compiled.rules.len() + compiled.drops.len() + compiled.scores.len()
        );
    }
}
