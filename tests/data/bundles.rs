//! Built bundles: building and loading one runs exactly as its sources run, under both
//! engines; units' content hashes follow meaning only; damaged bundles are refused, never a
//! panic.

use evr_compiler::evrb;
use evr_compiler::files::Files;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine};
use proptest::prelude::*;

use crate::{cases, here, rendered, run_analysis, run_case_dirs};

fn loaded_back(a: &evr_compiler::Analysis) -> evr_compiler::Analysis {
    let bytes = evrb::build(a);
    let body = evrb::read(&bytes).expect("a bundle just built reads back");
    let back = evrb::analyze(&body).expect("and checks");
    assert!(!back.has_errors(), "{}", rendered(&back));
    back
}

#[test]
fn built_bundles_run_as_their_sources() {
    for dir in run_case_dirs() {
        let a = evr_compiler::analyze(evr_compiler::bundle::load(&dir).expect("loads"));
        let back = loaded_back(&a);
        let input = std::fs::read(dir.join("input.jsonl")).expect("input.jsonl");
        for engine in [Engine::Interpreter, Engine::Jit(OptLevel::Speed)] {
            let config = Config { engine, ..Config::default() };
            let (from_sources, from_bundle) = (run_analysis(&a, &input, config), run_analysis(&back, &input, config));
            assert_eq!(from_sources, from_bundle, "{} under {engine:?}", dir.display());
        }
    }
}

fn hashes(text: &str) -> Vec<(String, u64)> {
    let mut files = Files::default();
    files.add(here().join("run/velocity/rules.evr"), "rules.evr", text.to_owned());
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{}", rendered(&a));
    let mut units: Vec<(String, u64)> = evrb::units(&a).into_iter().map(|u| (u.name, u.hash)).collect();
    units.sort();
    units
}

const BASE: &str = r#"use "../../check/schemas/events.proto";
use "../../check/schemas/out.proto";
use track.v1.{Event};
use out.v1.{Tally};

source events: Event as json time ts;
sink tallies: Tally as json;
sink copies: Event as json;

const LIMIT = 100.0;
fn large(x: float) -> bool = x > LIMIT;

rule flag on events when large(revenue ?? 0.0) { emit tallies { key: name, n: 1 }; }
rule burst on events when window_count(device.id, 1m) > 3 { route copies; }
"#;

#[test]
fn hashes_follow_meaning_only() {
    let base = hashes(BASE);
    assert_eq!(base.len(), 2);
    // Formatting, comments, and the order of unrelated items mean nothing.
    let reformatted = BASE
        .replace(
            "rule flag on events when large(revenue ?? 0.0) {",
            "/// Flags large orders.\nrule flag\n  on events\n  when large( revenue ?? 0.0 ) {\n  // big\n ",
        )
        .replace(
            "sink tallies: Tally as json;\nsink copies: Event as json;",
            "sink copies: Event as json;\nsink tallies: Tally as json;",
        );
    assert_eq!(hashes(&reformatted), base);
    let (flag, burst) = (
        "rule flag on events when large(revenue ?? 0.0) { emit tallies { key: name, n: 1 }; }",
        "rule burst on events when window_count(device.id, 1m) > 3 { route copies; }",
    );
    let reordered = BASE.replace(&format!("{flag}\n{burst}"), &format!("{burst}\n{flag}"));
    assert_ne!(reordered, BASE);
    assert_eq!(hashes(&reordered), base);
    // Any change of meaning changes the unit's hash, and only that unit's.
    for (from, to, unit) in [
        ("const LIMIT = 100.0;", "const LIMIT = 101.0;", "flag"),
        ("x > LIMIT", "x >= LIMIT", "flag"),
        ("{ key: name, n: 1 }", "{ key: name, n: 2 }", "flag"),
        ("{ key: name, n: 1 }", "{ key: name }", "flag"),
        ("window_count(device.id, 1m)", "window_count(device.id, 2m)", "burst"),
        ("window_count(device.id, 1m)", "window_count(name, 1m)", "burst"),
        ("{ route copies; }", "{ emit tallies { key: name }; }", "burst"),
    ] {
        let changed = hashes(&BASE.replace(from, to));
        for ((name, before), (_, after)) in base.iter().zip(&changed) {
            assert_eq!(before != after, name == unit, "{from} -> {to}: unit {name}");
        }
    }
}

fn a_bundle() -> Vec<u8> {
    let dir = here().join("run/velocity");
    let a = evr_compiler::analyze(evr_compiler::bundle::load(&dir).expect("loads"));
    evrb::build(&a)
}

#[test]
fn truncated_bundles_are_refused() {
    let bytes = a_bundle();
    for len in 0..bytes.len() {
        assert!(evrb::read(&bytes[..len]).is_err(), "truncated to {len} of {} bytes", bytes.len());
    }
    assert!(evrb::read(&bytes).is_ok());
}

#[test]
fn bundles_of_another_compiler_are_refused() {
    use prost::Message as _;
    let bytes = a_bundle();
    let envelope = evrb::Envelope::decode(&bytes[evrb::MAGIC.len()..]).expect("an envelope");
    let mut body = evrb::Body::decode(envelope.body.as_slice()).expect("a body");
    body.compiler = "evr 0.0.1".into();
    let body = body.encode_to_vec();
    let hash = xxhash_rust::xxh3::xxh3_64(&body);
    let mut other = evrb::MAGIC.to_vec();
    evrb::Envelope { body, hash }.encode(&mut other).expect("encodes");
    let why = evrb::read(&other).expect_err("refused").to_string();
    assert!(why.contains("built by evr 0.0.1"), "{why}");
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn damaged_bundles_are_refused(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let mut bytes = a_bundle();
        let len = bytes.len();
        for (at, bit) in &flips {
            bytes[at.index(len)] ^= 1 << bit;
        }
        // An even number of flips of one bit restores it.
        prop_assume!(bytes != a_bundle());
        prop_assert!(evrb::read(&bytes).is_err());
    }
}
