//! The rule index finds exactly the rules whose first conjunct can hold.

use std::path::Path;

use evr_compiler::ir::{SourceId, WireFormat};
use evr_compiler::value::Value;
use evr_runtime::decode;
use evr_runtime::index::RuleIndex;

#[test]
fn candidates_follow_the_first_conjunct() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let rules = r#"use "codec.proto";
use codec.v1.{All, Color};
source s: All as json;
sink out: All as json;
rule r0 on s when s == "a" => route out;
rule r1 on s when s in ["b", "c"] && i32 > 0 => route out;
rule r2 on s when window_count(s, 1m) > 1 && s == "a" => route out;
rule r3 on s => route out;
rule r4 on s when "a" == s || s == "b" => route out;
rule r5 on s when i32 == 7 => route out;
rule r6 on s when s == "" => route out;
rule r7 on s when color == Color.RED => route out;
"#;
    let mut files = evr_compiler::files::Files::default();
    files.add(dir.join("bundle.evr"), "bundle.evr", rules.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    let index = RuleIndex::new(&a.program);
    // `s` pins r0, r1 and r6; r2 (velocity first), r3 (no condition), r4 (a disjunction), r5 and
    // r7 (other fields) are tried on every event.
    assert_eq!(index.indexed(SourceId(0)), 3);
    let ty = a.program.sources[0].message;
    let event = |json: &str| -> Value { decode::decode(&a.schema, ty, WireFormat::Json, json.as_bytes()).unwrap() };
    let mut out = Vec::new();
    let candidates = |json: &str, out: &mut Vec<u32>| {
        let e = event(json);
        index.candidates(SourceId(0), index.probe(SourceId(0), &e), out);
    };
    candidates(r#"{"s":"a"}"#, &mut out);
    assert_eq!(out, vec![0, 2, 3, 4, 5, 7]);
    candidates(r#"{"s":"c","i32":1}"#, &mut out);
    assert_eq!(out, vec![1, 2, 3, 4, 5, 7]);
    // An unset field reads as its default, so `s == ""` is a candidate.
    candidates(r#"{}"#, &mut out);
    assert_eq!(out, vec![2, 3, 4, 5, 6, 7]);
}
