//! One compilation, many threads: executors on several threads share one `Compiled` and give
//! the outputs that one executor gives alone, including records that copy constant lists and
//! maps (whose values the threads share).

use std::path::Path;

use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, Output};

const RULES: &str = r#"
use "app.proto";
use quiet.v1.Click;

source clicks: Click as json;
sink tagged: Click as json;

const TAGS = ["red", "green", "blue"];

rule tag on clicks when event != "" {
  emit tagged { event: event, tags: TAGS, device: { id: device.id, country: "DE" } };
}
rule pick on clicks when device.country in TAGS || event in ["view", "buy"] {
  emit tagged { event: lower(event), tags: split(device.id, "-") };
}
"#;

/// Every output's sink and bytes, 50 times over the events.
fn run(exec: &mut Executor, events: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut sent = Vec::new();
    let mut out = Vec::new();
    for _ in 0..50 {
        for e in events {
            out.clear();
            exec.process(SourceId(0), e.as_bytes(), 0, &mut out);
            for o in &out {
                let Output::Record { sink, .. } = o else { panic!("{o:?}") };
                let bytes = exec.payload(SourceId(0), e.as_bytes(), o).expect("a record").into_owned();
                sent.push((exec.program().sinks[sink.0 as usize].name.clone(), bytes));
            }
        }
    }
    sent
}

#[test]
fn compiled_code_serves_many_threads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let mut files = evr_compiler::files::Files::default();
    files.add(dir.join("threads.evr"), "threads.evr", RULES.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let events: Vec<String> = (0..20)
        .map(|i| {
            format!(r#"{{"event":"{}","device":{{"id":"dev-{i}","country":"green"}}}}"#, ["view", "buy", "x"][i % 3])
        })
        .collect();
    let config = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
    let loaded = Loaded::from_analysis(&a, config).expect("compiles");
    let alone = run(&mut Executor::new(loaded.clone()), &events);
    assert_eq!(alone.len(), 50 * 20 * 2);
    // Executors are made on one thread and moved to others.
    let executors: Vec<Executor> = (0..4).map(|_| Executor::new(loaded.clone())).collect();
    let together: Vec<Vec<(String, Vec<u8>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = executors
            .into_iter()
            .map(|mut exec| {
                let events = &events;
                scope.spawn(move || run(&mut exec, events))
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker panicked")).collect()
    });
    for outputs in together {
        assert!(outputs == alone, "a thread's outputs differ from one executor's alone");
    }
}
