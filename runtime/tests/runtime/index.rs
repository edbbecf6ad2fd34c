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

/// An index updated for a few changed rules finds the candidates a fresh index finds; when the
/// change makes another field the most pinned, it declines and the index is built afresh.
#[test]
fn updated_indexes_agree_with_fresh_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let version = |r1: &str, r3: &str| {
        let rules = format!(
            r#"use "codec.proto";
use codec.v1.{{All, Color}};
source s: All as json;
sink out: All as json;
rule r0 on s when s == "a" => route out;
rule r1 on s when {r1} => route out;
rule r2 on s when s in ["b", "c"] => route out;
rule r3 on s when {r3} => route out;
rule r4 on s => route out;
"#
        );
        let mut files = evr_compiler::files::Files::default();
        files.add(dir.join("bundle.evr"), "bundle.evr", rules);
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors(), "{:?}", a.diagnostics);
        a
    };
    let base = version(r#"s == "x""#, "i32 > 0");
    let index = RuleIndex::new(&base.program);
    let events = [r#"{"s":"a"}"#, r#"{"s":"x"}"#, r#"{"s":"b"}"#, r#"{"s":"y","i32":3}"#, r#"{}"#];
    let ty = base.program.sources[0].message;
    let candidates = |index: &RuleIndex, a: &evr_compiler::Analysis| -> Vec<Vec<u32>> {
        events
            .iter()
            .map(|json| {
                let e = decode::decode(&a.schema, ty, WireFormat::Json, json.as_bytes()).unwrap();
                let mut out = Vec::new();
                index.candidates(SourceId(0), index.probe(SourceId(0), &e), &mut out);
                out
            })
            .collect()
    };
    for (r1, r3) in [
        (r#"s == "y""#, "i32 > 0"),
        (r#"s in ["a", "y"]"#, "i32 > 0"),
        ("i32 > 1", "i32 > 0"),
        (r#"s == "x""#, r#"s == "a""#),
        ("i32 > 1", r#"s == "b" && i32 > 0"#),
    ] {
        let next = version(r1, r3);
        let updated = index.updated(&base.program, &next.program, &[1, 3]).expect("the same field stays indexed");
        let fresh = RuleIndex::new(&next.program);
        assert_eq!(candidates(&updated, &next), candidates(&fresh, &next), "{r1} / {r3}");
    }
    // Three rules pinning `i32` outnumber the two left pinning `s`.
    let flipped = version("i32 == 1", "i32 == 2");
    let flipped = {
        let mut p = flipped.program.clone();
        let mut extra = (*p.rules[0]).clone();
        extra.name = "r5".into();
        p.rules.push(evr_compiler::ir::Placed::new(std::sync::Arc::new(extra)));
        p
    };
    assert!(index.updated(&base.program, &flipped, &[1, 3]).is_none(), "rules added: built afresh");
    let two_i32 = version("i32 == 1", "i32 == 2 && s == \"q\"");
    let r0_too = {
        let mut p = two_i32.program.clone();
        let second = p.rules[1].clone();
        p.rules.set(0, second);
        p
    };
    assert!(index.updated(&base.program, &r0_too, &[0, 1, 3]).is_none(), "another field most pinned: built afresh");
}

/// An index updated again and again — each version from the last, as reloads make them, the
/// lists of changed keys held apart and now and then folded into the shared map — finds what
/// a fresh index finds at every step, for keys joined, left and never seen.
#[test]
fn chained_updates_agree_with_fresh_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let version = |k: usize| {
        let rules = format!(
            r#"use "codec.proto";
use codec.v1.All;
source s: All as json;
sink out: All as json;
rule r0 on s when s == "a" => route out;
rule r1 on s when s == "k{k}" => route out;
rule r2 on s when s in ["k{}", "a"] => route out;
rule r3 on s => route out;
"#,
            k / 2
        );
        let mut files = evr_compiler::files::Files::default();
        files.add(dir.join("bundle.evr"), "bundle.evr", rules);
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors(), "{:?}", a.diagnostics);
        a
    };
    let mut last = version(0);
    let mut index = RuleIndex::new(&last.program);
    let ty = last.program.sources[0].message;
    for k in 1..60 {
        let next = version(k);
        index = index.updated(&last.program, &next.program, &[1, 2]).expect("`s` stays indexed");
        let fresh = RuleIndex::new(&next.program);
        for probe in ["a".to_owned(), format!("k{k}"), format!("k{}", k - 1), format!("k{}", k / 2), "z".to_owned()] {
            let json = format!(r#"{{"s":"{probe}"}}"#);
            let e = decode::decode(&next.schema, ty, WireFormat::Json, json.as_bytes()).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            index.candidates(SourceId(0), index.probe(SourceId(0), &e), &mut a);
            fresh.candidates(SourceId(0), fresh.probe(SourceId(0), &e), &mut b);
            assert_eq!(a, b, "version {k}, s = {probe}");
        }
        assert_eq!(index.indexed(SourceId(0)), fresh.indexed(SourceId(0)), "version {k}");
        last = next;
    }
}
