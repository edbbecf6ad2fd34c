//! Interpreter throughput: decode + drops + scores + rules (+ encoding of the outputs) per
//! event, for a generated 32-rule bundle over generated JSON events.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evr_compiler::files::Files;
use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::encode;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, Output};

/// The allocator the `evr` binary ships with; the baseline runs on it too, so the comparison is
/// of code, not of allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RULES: usize = 32;
const EVENTS: usize = 2_000;

fn interp(c: &mut Criterion) {
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(RULES));
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors());
    let events = evr_benches::events(EVENTS, RULES);
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(EVENTS as u64));
    // Each engine end to end: decode, evaluate, encode every emitted record for its sink.
    for (name, engine) in [
        ("32_rules_json_end_to_end_jit", Engine::Jit(OptLevel::Speed)),
        ("32_rules_json_end_to_end", Engine::Interpreter),
    ] {
        group.bench_function(name, |b| {
            let mut exec = Executor::new(Loaded::from_analysis(&a, Config { engine, ..Config::default() }).unwrap());
            b.iter(|| evr_benches::process_and_encode(&mut exec, &events))
        });
    }
    // The file host's own loop, as `evr run` and `evr bench` run it: events cut from the input,
    // processed, every output written as a JSON line (here, thrown away).
    group.bench_function("32_rules_file_host_jit", |b| {
        let jit = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
        let loaded = Loaded::from_analysis(&a, jit).unwrap();
        let input: Vec<u8> = events.iter().flat_map(|e| e.bytes().chain(std::iter::once(b'\n'))).collect();
        let source = a.program.sources[0].name.clone();
        let mut exec = Executor::new(loaded);
        b.iter(|| {
            let input = std::io::Cursor::new(input.clone());
            let format = evr_runtime::file_host::InputFormat::JsonLines;
            evr_runtime::file_host::run(&mut exec, &source, format, input, &mut std::io::sink(), &mut ()).unwrap()
        })
    });
    group.bench_function("baseline_serde_derive_plain_rust", |b| {
        let mut base = evr_benches::baseline::Baseline::new(RULES);
        let mut outputs = Vec::new();
        b.iter(|| {
            for e in &events {
                outputs.clear();
                base.process(e.as_bytes(), &mut outputs);
            }
        })
    });
    group.bench_function("serde_json_ignored_any", |b| {
        b.iter(|| {
            for e in &events {
                std::hint::black_box(evr_benches::baseline::skip(e.as_bytes()));
            }
        })
    });
    group.bench_function("decode_only", |b| {
        let src = &a.program.sources[0];
        b.iter(|| {
            for e in &events {
                let _ = evr_runtime::decode::decode(&a.schema, src.message, src.format, e.as_bytes());
            }
        })
    });
    group.bench_function("decode_only_into_frames", |b| {
        let config = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
        let exec = Executor::new(Loaded::from_analysis(&a, config).unwrap());
        b.iter(|| {
            for e in &events {
                let _ = std::hint::black_box(exec.decode_frame(SourceId(0), e.as_bytes()));
            }
        })
    });
    // Encoding alone: every record the events emit, in its sink's format.
    let records: Vec<(usize, evr_compiler::value::Value)> = {
        let mut exec = Executor::new(Loaded::from_analysis(&a, Config::default()).unwrap());
        let mut outputs = Vec::new();
        for e in &events {
            exec.process(SourceId(0), e.as_bytes(), 0, &mut outputs);
        }
        outputs
            .into_iter()
            .filter_map(|o| match o {
                Output::Record { sink, record, .. } => Some((sink.0 as usize, record)),
                _ => None,
            })
            .collect()
    };
    group.bench_function("encode_only", |b| {
        let mut bytes = Vec::new();
        b.iter(|| {
            for (sink, record) in &records {
                bytes.clear();
                encode::encode(&a.schema, a.program.sinks[*sink].format, record, &mut bytes);
            }
        })
    });
    group.finish();

    // Evaluation alone, over events decoded beforehand: drops, the score and the rules.
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let src = &a.program.sources[0];
    let decoded: Vec<_> = events
        .iter()
        .filter_map(|e| evr_runtime::decode::decode(&a.schema, src.message, src.format, e.as_bytes()).ok())
        .collect();
    for (name, engine) in [("interpreter", Engine::Interpreter), ("jit_from_values", Engine::Jit(OptLevel::Speed))] {
        group.bench_function(name, |b| {
            let mut exec = Executor::new(Loaded::from_analysis(&a, Config { engine, ..Config::default() }).unwrap());
            let mut outputs = Vec::new();
            b.iter(|| {
                for e in &decoded {
                    outputs.clear();
                    exec.run(SourceId(0), e, 0, &mut outputs);
                }
            })
        });
    }
    // The JIT over events decoded into frames beforehand: what native code costs by itself.
    group.bench_function("jit", |b| jit_over_frames(b, &a, &events));
    group.finish();

    // Plain logic, no builtins, every rule run on every event: the engines' own overhead.
    let mut group = c.benchmark_group("evaluate_plain_logic");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::plain_logic_bundle(RULES));
    let plain = evr_compiler::analyze(files);
    assert!(!plain.has_errors());
    let psrc = &plain.program.sources[0];
    let trees: Vec<_> = events
        .iter()
        .filter_map(|e| evr_runtime::decode::decode(&plain.schema, psrc.message, psrc.format, e.as_bytes()).ok())
        .collect();
    group.bench_function("interpreter", |b| {
        let mut exec = Executor::new(Loaded::from_analysis(&plain, Config::default()).unwrap());
        let mut outputs = Vec::new();
        b.iter(|| {
            for e in &trees {
                outputs.clear();
                exec.run(SourceId(0), e, 0, &mut outputs);
            }
        })
    });
    group.bench_function("jit", |b| jit_over_frames(b, &plain, &events));
    group.finish();

    // The rule index: the same events (names of the first 10 rules) against 10 and 10,000 rules.
    let mut group = c.benchmark_group("rule_index");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let events = evr_benches::events(EVENTS, 10);
    for n in [10usize, 10_000] {
        let mut files = Files::default();
        files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(n));
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors());
        for (name, engine) in [("interpreter", Engine::Interpreter), ("jit", Engine::Jit(OptLevel::Speed))] {
            group.bench_function(format!("{name}_{n}_rules"), |b| {
                let mut exec =
                    Executor::new(Loaded::from_analysis(&a, Config { engine, ..Config::default() }).unwrap());
                let mut outputs = Vec::new();
                b.iter(|| {
                    for e in &events {
                        outputs.clear();
                        exec.process(SourceId(0), e.as_bytes(), 0, &mut outputs);
                    }
                })
            });
        }
    }
    group.finish();
}

/// Native code alone: the events are decoded into frames beforehand, then evaluated.
fn jit_over_frames(b: &mut criterion::Bencher, a: &evr_compiler::Analysis, events: &[String]) {
    let config = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
    let mut exec = Executor::new(Loaded::from_analysis(a, config).unwrap());
    let frames: Vec<_> = events
        .iter()
        .filter_map(|e| exec.decode_frame(SourceId(0), e.as_bytes()).expect("events decode into frames").ok())
        .collect();
    let mut outputs = Vec::new();
    b.iter(|| {
        for f in &frames {
            outputs.clear();
            exec.run_frame(f, 0, &mut outputs);
        }
    })
}

criterion_group!(benches, interp);
criterion_main!(benches);
