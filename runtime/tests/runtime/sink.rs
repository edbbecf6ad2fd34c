//! Outputs through the sink interface, as bytes: records encoded in their sink's format,
//! routed events as the very input bytes when the formats match, dirty records with their
//! reason, unit and original bytes, and the host's envelope handed back with each.

use std::path::Path;

use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, Loaded};
use evr_runtime::sink::{Envelope, Key, Outputs, SinkRef};

const RULES: &str = r#"
use "app.proto";
use quiet.v1.Click;

source clicks: Click as json;
sink copies: Click as json;
sink binary: Click as protobuf;

rule copy on clicks when event == "copy" => route copies;
rule bin on clicks when event == "bin" => emit binary key device.id { event: event, app_id: 7 };
rule fails on clicks when event == "fail" => emit binary { app_id: 1 / (app_id - app_id) };
"#;

#[derive(Debug, PartialEq)]
enum Got {
    Record { sink: String, key: Option<Vec<u8>>, bytes: Vec<u8>, key_of_event: Option<Vec<u8>> },
    Route { sink: String, same_bytes: bool, time_ms: i64 },
    Dirty { reason: String, unit: Option<String>, input: Vec<u8> },
}

struct Host<'i> {
    input: &'i [u8],
    got: Vec<Got>,
}

impl Outputs for Host<'_> {
    fn record(
        &mut self,
        sink: SinkRef<'_>,
        key: Option<Key<'_>>,
        bytes: &[u8],
        event: &Envelope,
    ) -> std::io::Result<()> {
        self.got.push(Got::Record {
            sink: sink.name.clone(),
            key: key.map(|k| k.as_bytes().to_vec()),
            bytes: bytes.to_vec(),
            key_of_event: event.key.map(<[u8]>::to_vec),
        });
        Ok(())
    }

    fn route(&mut self, sink: SinkRef<'_>, bytes: &[u8], event: &Envelope) -> std::io::Result<()> {
        let same_bytes = std::ptr::eq(bytes.as_ptr(), self.input.as_ptr()) && bytes.len() == self.input.len();
        self.got.push(Got::Route { sink: sink.name.clone(), same_bytes, time_ms: event.time_ms });
        Ok(())
    }

    fn dirty(&mut self, reason: &str, unit: Option<&str>, input: &[u8], _: &Envelope) -> std::io::Result<()> {
        self.got.push(Got::Dirty { reason: reason.to_owned(), unit: unit.map(str::to_owned), input: input.to_vec() });
        Ok(())
    }
}

fn outputs(exec: &mut Executor, input: &[u8]) -> Vec<Got> {
    let envelope = Envelope { key: Some(b"k1"), headers: &[("h", b"v")], time_ms: 42 };
    let mut host = Host { input, got: Vec::new() };
    exec.process_into(SourceId(0), input, &envelope, &mut host).expect("no host error");
    host.got
}

#[test]
fn outputs_are_bytes_for_their_sinks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let mut files = evr_compiler::files::Files::default();
    files.add(dir.join("sink.evr"), "sink.evr", RULES.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    for engine in [Engine::Interpreter, Engine::Jit(OptLevel::Speed)] {
        let mut exec = Executor::new(Loaded::from_analysis(&a, Config { engine, ..Config::default() }).expect("loads"));
        let copy = br#"{"event":"copy","unknown":1}"#;
        assert_eq!(
            outputs(&mut exec, copy),
            vec![Got::Route { sink: "copies".into(), same_bytes: true, time_ms: 42 }],
            "{engine:?}: routed as the input bytes, the envelope handed back"
        );
        let bin = br#"{"event":"bin","device":{"id":"d-9"}}"#;
        // Click { event = "bin" (field 1), app_id = 7 (field 3) } in protobuf binary.
        let want = [0x0a, 3, b'b', b'i', b'n', 0x18, 7].to_vec();
        assert_eq!(
            outputs(&mut exec, bin),
            vec![Got::Record {
                sink: "binary".into(),
                key: Some(b"d-9".to_vec()),
                bytes: want,
                key_of_event: Some(b"k1".to_vec())
            }],
            "{engine:?}"
        );
        let fail = br#"{"event":"fail"}"#;
        let got = outputs(&mut exec, fail);
        assert!(
            matches!(&got[..], [Got::Dirty { unit: Some(u), input, reason }] if u == "fails" && input == fail && reason.contains("rule fails")),
            "{engine:?}: {got:?}"
        );
        let broken = b"{not json";
        let got = outputs(&mut exec, broken);
        assert!(matches!(&got[..], [Got::Dirty { unit: None, input, .. }] if input == broken), "{engine:?}: {got:?}");
    }
}

/// Counts lent to executors add up, by unit name, what each unit did: evaluations, hits and
/// errors by code — under both engines, across executors sharing one count, and across a
/// reload that keeps the unit's name.
#[test]
fn unit_counts_add_up_by_name() {
    use evr_runtime::stats::UnitCounts;
    use evr_stdlib::RuntimeError;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quiet");
    let mut files = evr_compiler::files::Files::default();
    files.add(dir.join("sink.evr"), "sink.evr", RULES.to_owned());
    let a = evr_compiler::analyze(files);
    let events: [&[u8]; 4] =
        [br#"{"event":"copy"}"#, br#"{"event":"fail"}"#, br#"{"event":"fail"}"#, br#"{"event":"other"}"#];
    for engine in [Engine::Interpreter, Engine::Jit(OptLevel::Speed)] {
        let loaded = Loaded::from_analysis(&a, Config { engine, rule_index: false, ..Config::default() }).unwrap();
        let mut counts = UnitCounts::new();
        for _ in 0..2 {
            let mut exec = Executor::new(loaded.clone());
            for e in events {
                exec.counting(&mut counts, |exec| outputs(exec, e));
            }
        }
        let (next, _) = loaded.reload(a.program.clone(), a.schema.clone()).unwrap();
        let mut exec = Executor::new(std::sync::Arc::new(next));
        exec.counting(&mut counts, |exec| outputs(exec, events[0]));
        // Not lent counts: nothing is counted.
        outputs(&mut exec, events[0]);
        let totals = counts.take();
        let of = |name: &str| &totals.by_unit[name];
        // Two executors of 4 events, then one more event on the reloaded version.
        assert_eq!((of("copy").evaluations, of("copy").hits), (9, 3), "{engine:?}");
        assert_eq!((of("fails").evaluations, of("fails").hits), (9, 0), "{engine:?}");
        assert_eq!(of("fails").errors().collect::<Vec<_>>(), vec![(RuntimeError::DivisionByZero, 4)], "{engine:?}");
        assert_eq!(of("bin").errors().count(), 0, "{engine:?}");
        assert!(counts.take().by_unit.is_empty(), "taking starts the counts again");
    }
}
