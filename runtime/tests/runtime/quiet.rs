//! The hot path allocates nothing: once warm, decoding events into frames and running drops,
//! a score with a velocity function, filters and routes (reading maps by key and list
//! elements' fields) under the JIT makes no heap allocation,
//! for JSON and protobuf events alike. A counting allocator (in `main.rs`) counts this thread's
//! allocations.

use std::path::Path;

use evr_compiler::ir::{SourceId, WireFormat};
use evr_compiler::jit::OptLevel;
use evr_compiler::value::Value;
use evr_runtime::encode;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, Output};

use crate::allocations;

fn events() -> Vec<String> {
    let mut events = Vec::new();
    for i in 0..40 {
        let event = ["view", "buy", "other"][i % 3];
        let kind = ["VIEW", "BUY", "KIND_UNSPECIFIED"][i % 3];
        let agent = if i % 7 == 0 { "Googlebot/2.1" } else { "Mozilla/5.0 (X11; Linux x86_64)" };
        let ip = if i % 11 == 0 { "10.1.2.3" } else { "81.2.3.4" };
        let country = ["DE", "IR", "FR", "KP"][i % 4];
        let page = ["home", "cart"][i % 2];
        let amount = if i % 2 == 0 { format!(r#","amount":{}.5"#, i * 40) } else { String::new() };
        events.push(format!(
            r#"{{"event":"{event}","eventTime":{},"app_id":{},"device":{{"id":"dev-{}","user_agent":"{agent}","country":"{country}","ip":"{ip}"}},"kind":"{kind}","tags":["a","b"],"params":{{"item":"sku-{}","page":"{page}","ref":"x"}},"counts":{{"n":{},"m":1}},"items":[{{"sku":"sku-1","price":{}.5,"qty":2}},{{"sku":"sku-2","qty":1}}],"unknown":{{"x":[1,2]}}{amount}}}"#,
            1_700_000_000_000i64 + i as i64 * 1000,
            i % 5,
            i % 6,
            i % 4,
            i % 3,
            i * 10,
        ));
    }
    events
}

#[test]
fn warm_hot_path_allocates_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let files = evr_compiler::bundle::load(&dir).expect("bundle loads");
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let config = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
    let mut exec = Executor::new(Loaded::from_analysis(&a, config).expect("compiles"));
    let json: Vec<String> = events();
    let protobuf: Vec<Vec<u8>> = json
        .iter()
        .map(|e| {
            let tree: Value = exec.decode(SourceId(0), e.as_bytes()).expect("a valid event");
            let mut bytes = Vec::new();
            encode::encode(&a.schema, WireFormat::Protobuf, &tree, &mut bytes);
            bytes
        })
        .collect();
    let mut out: Vec<Output> = Vec::with_capacity(64);
    let pass = |exec: &mut Executor, out: &mut Vec<Output>| {
        let mut produced = 0;
        for (e, p) in json.iter().zip(&protobuf) {
            out.clear();
            exec.process(SourceId(0), e.as_bytes(), 0, out);
            exec.process(SourceId(1), p, 0, out);
            assert!(out.iter().all(|o| matches!(o, Output::Forward { .. })), "{out:?}");
            produced += out.len();
        }
        produced
    };
    // Warm-up: velocity keys, the regex cache and buffers reach their size.
    pass(&mut exec, &mut out);
    let before = allocations();
    let produced = pass(&mut exec, &mut out);
    let made = allocations() - before;
    assert!(produced >= 20, "the workload routes events ({produced} outputs)");
    assert_eq!(made, 0, "allocations while processing {} warm events", json.len() * 2);
}
