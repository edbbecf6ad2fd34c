//! Heap allocations per event, by engine, on the benchmark workload (after one warm-up pass).
//! `cargo run --release -p evr-benches --example allocs -- [RULES]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use evr_compiler::files::Files;
use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, Output};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let rules = std::env::args().nth(1).map_or(32, |a| a.parse().expect("a number of rules"));
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(rules));
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors());
    let events = evr_benches::events(20_000, rules);
    for (name, engine) in [("JIT", Engine::Jit(OptLevel::Speed)), ("interpreter", Engine::Interpreter)] {
        let mut exec = Executor::new(Loaded::from_analysis(&a, Config { engine, ..Config::default() }).unwrap());
        let mut outputs = Vec::new();
        let mut pass = |exec: &mut Executor| {
            let mut records = 0;
            for e in &events {
                outputs.clear();
                exec.process(SourceId(0), e.as_bytes(), 0, &mut outputs);
                records += outputs.iter().filter(|o| matches!(o, Output::Record { .. })).count();
            }
            records
        };
        pass(&mut exec);
        let before = ALLOCS.load(Ordering::Relaxed);
        let records = pass(&mut exec);
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        println!(
            "{name:<12} {:.2} allocations per event ({records} records emitted by {} events)",
            n as f64 / events.len() as f64,
            events.len()
        );
    }
}
