//! evr's data-driven suite.
//! - Each `check/NAME.evr` is checked as a one-file bundle and its diagnostics, rendered for
//!   people without colour, must equal `check/NAME.out`.
//! - Each `run/CASE/` bundle runs over `run/CASE/input.jsonl`; its output lines must equal
//!   `run/CASE/expected.jsonl`.
//! - Every builtin's documented examples hold when evaluated.
//!
//! `UPDATE_EXPECT=1 cargo test -p evr-tests` rewrites the expectations.

use std::path::{Path, PathBuf};

use evr_compiler::diag::{Code, human, json};
use evr_compiler::files::Files;
use evr_compiler::ir::SourceId;
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor};
use evr_runtime::{file_host, rule_tests};
use evr_stdlib::Builtin;
use evr_tests::{expect_file, files_with_ext};

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn analyze_one(path: &Path) -> evr_compiler::Analysis {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let name = path.strip_prefix(here()).unwrap_or(path).display().to_string();
    let mut files = Files::default();
    files.add(path, name, text);
    evr_compiler::analyze(files)
}

fn rendered(a: &evr_compiler::Analysis) -> String {
    let mut out: String = a.diagnostics.iter().map(|d| human::render(&a.files, d, false)).collect();
    if let Some(s) = human::summary(&a.diagnostics) {
        out.push_str(&s);
        out.push('\n');
    }
    out
}

#[test]
fn check_cases() {
    let cases = files_with_ext(&here().join("check"), "evr");
    assert!(cases.len() >= 30, "the check cases are missing");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| expect_file(&case.with_extension("out"), &rendered(&analyze_one(case))).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_cases_have_no_diagnostics() {
    for case in files_with_ext(&here().join("check"), "evr") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid_") {
            let a = analyze_one(&case);
            assert!(a.diagnostics.is_empty(), "{name}:\n{}", rendered(&a));
        }
    }
}

/// Every diagnostic code is produced by some case, so each one is exercised.
#[test]
fn every_code_is_covered() {
    let produced: Vec<Code> = files_with_ext(&here().join("check"), "evr")
        .iter()
        .flat_map(|case| analyze_one(case).diagnostics.into_iter().map(|d| d.code))
        .collect();
    let missing: Vec<&str> = Code::ALL.iter().filter(|c| !produced.contains(c)).map(|c| c.as_str()).collect();
    assert!(missing.is_empty(), "codes without a case in tests/check: {missing:?}");
}

/// Error files report errors; the warning-only file still checks clean.
#[test]
fn error_cases_fail_and_warnings_do_not() {
    for case in files_with_ext(&here().join("check"), "evr") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let a = analyze_one(&case);
        if name.starts_with('e') {
            assert!(a.has_errors(), "{name} reports no error");
        } else if name.starts_with('w') {
            assert!(!a.has_errors() && !a.diagnostics.is_empty(), "{name} should hold warnings only");
        }
    }
}

/// The JSON rendering: one object per diagnostic with code, place and hint.
#[test]
fn json_rendering() {
    let case = here().join("check/e0009_optional.evr");
    let a = analyze_one(&case);
    let lines: String = a.diagnostics.iter().map(|d| format!("{}\n", json::to_json(&a.files, d))).collect();
    expect_file(&here().join("check/e0009_optional.json"), &lines).unwrap();
}

#[test]
fn every_code_has_an_explanation() {
    for c in Code::ALL {
        assert!(c.explanation().lines().count() >= 3, "{} needs a longer explanation", c.as_str());
    }
}

fn run_bundle(dir: &Path, input: &[u8]) -> String {
    run_bundle_with(dir, input, Config::default())
}

fn run_bundle_with(dir: &Path, input: &[u8], config: Config) -> String {
    try_run_bundle(dir, input, config).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Runs a bundle over JSON lines; `Err` when the executor cannot be set up (for the JIT: a
/// construct it does not compile yet).
fn try_run_bundle(dir: &Path, input: &[u8], config: Config) -> Result<String, String> {
    let files = evr_compiler::bundle::load(dir).expect("bundle loads");
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{}:\n{}", dir.display(), rendered(&a));
    let mut exec = Executor::new(&a.program, &a.schema, config).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    file_host::run(&mut exec, SourceId(0), file_host::InputFormat::JsonLines, input, &mut out, &mut ()).expect("runs");
    Ok(String::from_utf8(out).expect("output is UTF-8"))
}

#[test]
fn run_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(here().join("run"))
        .expect("tests/run exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 6, "the run cases are missing");
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            let input = std::fs::read(dir.join("input.jsonl")).expect("input.jsonl");
            let indexed = run_bundle(dir, &input);
            // The rule index only skips rules whose first conjunct is false: same outputs.
            let every_rule = run_bundle_with(dir, &input, Config { rule_index: false, ..Config::default() });
            if indexed != every_rule {
                return Some(format!("{}: the rule index changed the outputs", dir.display()));
            }
            expect_file(&dir.join("expected.jsonl"), &indexed).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every run case under the JIT, at each optimisation level: the same outputs, dirty records and
/// order as the interpreter. Cases the JIT cannot compile yet are listed, and the list may only
/// shrink: `JIT_PENDING` names them.
#[test]
fn jit_agrees_with_the_interpreter() {
    const JIT_PENDING: &[&str] = &[];
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(here().join("run")).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let mut pending = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(dir.join("input.jsonl")).unwrap();
        let reference = run_bundle(dir, &input);
        for opt in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
            let config = Config { engine: Engine::Jit(opt), ..Config::default() };
            match try_run_bundle(dir, &input, config) {
                Ok(native) => {
                    assert!(native == reference, "{name} at {opt:?}:\n{}", evr_tests::line_diff(&reference, &native))
                }
                Err(why) => {
                    assert!(why.contains("cannot compile"), "{name}: {why}");
                    if opt == OptLevel::None {
                        pending.push(name.clone());
                    }
                }
            }
        }
    }
    assert_eq!(pending, JIT_PENDING, "update JIT_PENDING: these cases do not compile yet");
}

/// Each `rule_tests/BUNDLE/` runs its `test` blocks; the report must equal `report.out`.
#[test]
fn rule_test_reports() {
    let root = here().join("rule_tests");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let files = evr_compiler::bundle::load(&dir).unwrap();
        let a = evr_compiler::analyze(files);
        assert!(!a.has_errors(), "{}", rendered(&a));
        let location = |span: evr_compiler::Span| {
            let loc = a.files.location(span);
            loc.strip_prefix(&format!("{}/", here().display())).unwrap_or(&loc).to_owned()
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let results = rule_tests::run_all(&a.program, &a.schema, Engine::Interpreter, &location).unwrap();
        let report = rule_tests::report(&name, &results);
        // The same tests on native code report the same.
        let native = rule_tests::run_all(&a.program, &a.schema, Engine::Jit(OptLevel::Speed), &location).unwrap();
        assert_eq!(rule_tests::report(&name, &native), report, "{name} under the JIT");
        expect_file(&dir.join("report.out"), &report).unwrap();
    }
}

/// Every example in the builtins' docs is a condition that must hold: one rule per example
/// routes the event to `failed` when its condition does not hold.
#[test]
fn builtin_examples_hold() {
    let mut rules = String::from(
        "use \"../tests/check/schemas/events.proto\";\nuse track.v1.Event;\nsource events: Event as json;\nsink failed: Event as json;\n",
    );
    let mut examples = Vec::new();
    for b in Builtin::ALL {
        assert!(!b.examples().is_empty(), "`{}` has no example", b.name());
        for e in b.examples() {
            rules.push_str(&format!("rule example_{} on events when !({e}) => route failed;\n", examples.len()));
            examples.push((b.name(), *e));
        }
    }
    let dir = std::env::temp_dir().join(format!("evr-examples-{}", std::process::id()));
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    // The bundle lives in a temp dir; its schema path points back here.
    let rules = rules.replace(
        "../tests/check/schemas/events.proto",
        &here().join("check/schemas/events.proto").display().to_string(),
    );
    std::fs::write(bundle.join("examples.evr"), rules).unwrap();
    let engines = [Engine::Interpreter, Engine::Jit(OptLevel::None), Engine::Jit(OptLevel::Speed)];
    let outs: Vec<Result<String, String>> = engines
        .iter()
        .map(|&engine| try_run_bundle(&bundle, b"{\"name\":\"x\"}\n", Config { engine, ..Config::default() }))
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    for (engine, out) in engines.iter().zip(outs) {
        let out = out.unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        assert!(
            out.is_empty(),
            "{engine:?}: examples that do not hold (rule example_N is the Nth):\n{out}\n{examples:#?}"
        );
    }
}

/// Random events through the bundle that uses every construct: the interpreter never meets a
/// state the checker should have ruled out (`internal error`), and every event is accounted for.
mod random_events {
    use proptest::prelude::*;

    use super::*;

    fn int() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("0".to_owned()),
            Just("-1".to_owned()),
            Just("9223372036854775807".to_owned()),
            Just("-9223372036854775808".to_owned()),
            any::<i32>().prop_map(|i| i.to_string()),
            any::<i64>().prop_map(|i| format!("\"{i}\"")),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("buy".to_owned()),
            Just("sell".to_owned()),
            Just("ord-12".to_owned()),
            Just("{\\\"a\\\":{\\\"b\\\":[\\\"x\\\"]},\\\"n\\\":3}".to_owned()),
            Just("https://x.io/?q=1".to_owned()),
            Just("curl/8".to_owned()),
            "[a-zé ,.0-9]{0,8}",
        ]
    }

    fn event() -> impl Strategy<Value = String> {
        let line = (
            int(),
            prop_oneof![Just("0.5"), Just("150.25"), Just("-3"), Just("1e300")],
            prop_oneof![Just("1"), Just("3"), Just("-2147483648")],
        )
            .prop_map(|(sku, price, qty)| format!(r#"{{"sku":{sku},"price":{price},"qty":{qty}}}"#));
        (
            text(),
            int(),
            (text(), text(), prop_oneof![Just("10.1.2.3"), Just("fd00::1"), Just("8.8.8.8")], proptest::option::of(any::<i32>())),
            proptest::collection::vec(line, 0..4),
            (proptest::option::of(prop_oneof![Just("0.0"), Just("5000.5"), Just("-1")]), prop_oneof![Just("\"APP\""), Just("\"WEB\""), Just("3")]),
            (any::<u32>(), any::<bool>(), prop_oneof![Just("\"1.5s\""), Just("\"-30s\""), Just("null")]),
            (proptest::option::of(text()), text(), proptest::collection::vec(text(), 0..3)),
        )
            .prop_map(|(name, ts, (id, ua, ip, battery), lines, (revenue, channel), (region, test, dwell), (coupon, attr, tags))| {
                let battery = battery.map_or(String::new(), |b| format!(r#","battery":{b}"#));
                let revenue = revenue.map_or(String::new(), |r| format!(r#","revenue":{r}"#));
                let coupon = coupon.map_or(String::new(), |c| format!(r#","coupon":{}"#, serde_json_string(&c)));
                format!(
                    r#"{{"name":{},"ts":{ts},"device":{{"id":{},"ua":{},"ip":"{ip}"{battery}}},"lines":[{}],"channel":{channel},"region":{region},"test":{test},"dwell":{dwell},"attrs":{{"order":{},"j":{},"url":{}}},"codes":{{"7":"seven"}},"tags":[{}]{revenue}{coupon}}}"#,
                    serde_json_string(&name),
                    serde_json_string(&id),
                    serde_json_string(&ua),
                    lines.join(","),
                    serde_json_string(&attr),
                    serde_json_string(&attr),
                    serde_json_string(&attr),
                    tags.iter().map(|t| serde_json_string(t)).collect::<Vec<_>>().join(","),
                )
            })
    }

    fn serde_json_string(s: &str) -> String {
        serde_json::to_string(s).expect("a string serializes")
    }

    proptest! {
        // Each case compiles the bundle three times; PROPTEST_CASES=1000 for a longer run.
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// ... and the JIT, at each optimisation level, gives exactly the interpreter's outputs.
        #[test]
        fn every_construct_survives_random_events(events in proptest::collection::vec(event(), 1..8)) {
            let input: String = events.iter().map(|e| format!("{e}\n")).collect();
            let bundle = here().join("check/valid_everything.evr");
            let out = run_bundle(&bundle, input.as_bytes());
            prop_assert!(!out.contains("internal error"), "{out}");
            let all_lines_are_outputs = out.lines().all(|l| l.starts_with(r#"{"sink":"#));
            prop_assert!(all_lines_are_outputs, "{out}");
            for opt in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
                let native = run_bundle_with(&bundle, input.as_bytes(), Config { engine: Engine::Jit(opt), ..Config::default() });
                prop_assert!(native == out, "{opt:?}:\n{}", evr_tests::line_diff(&out, &native));
            }
        }
    }

    // ---------------------------------------------------------------- generated programs

    /// Well-typed expressions over `track.v1.Event`, built as source text.
    fn int_expr() -> BoxedStrategy<String> {
        let leaf = prop_oneof![
            prop_oneof![Just(0i64), Just(1), Just(-1), Just(7), Just(i64::MAX), Just(i64::MIN + 1)]
                .prop_map(|v| v.to_string()),
            Just("ts".to_owned()),
            Just("region".to_owned()),
            Just("(device.battery ?? 0)".to_owned()),
            Just("(lines[0].sku ?? -1)".to_owned()),
            Just("len(tags)".to_owned()),
            Just("count_if(lines, l => l.qty > 1)".to_owned()),
        ];
        leaf.prop_recursive(3, 24, 3, |inner| {
            prop_oneof![
                (inner.clone(), prop_oneof![Just("+"), Just("-"), Just("*"), Just("/"), Just("%")], inner.clone())
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("abs({a})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("max({a}, {b})")),
                (bool_leaf(), inner.clone(), inner.clone())
                    .prop_map(|(c, a, b)| format!("(if {c} {{ {a} }} else {{ {b} }})")),
                str_leaf().prop_map(|s| format!("(to_int({s}) ?? 3)")),
                str_leaf().prop_map(|s| format!("len({s})")),
                inner.prop_map(|a| format!("round(to_float(to_string({a})) ?? 0.5)")),
            ]
        })
        .boxed()
    }

    fn str_leaf() -> BoxedStrategy<String> {
        prop_oneof![
            Just("name".to_owned()),
            Just("device.id".to_owned()),
            Just("(attrs[\"order\"] ?? \"-\")".to_owned()),
            Just("(coupon ?? \"none\")".to_owned()),
            "[a-z0-9 ]{0,4}".prop_map(|s| format!("{s:?}")),
        ]
        .boxed()
    }

    fn str_expr() -> BoxedStrategy<String> {
        str_leaf()
            .prop_recursive(2, 12, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
                    inner.clone().prop_map(|a| format!("lower({a})")),
                    inner.clone().prop_map(|a| format!("trim({a})")),
                    inner.prop_map(|a| format!("substr({a}, 1, 2)")),
                ]
            })
            .boxed()
    }

    fn bool_leaf() -> BoxedStrategy<String> {
        prop_oneof![
            Just("self.test".to_owned()),
            Just("has(revenue)".to_owned()),
            Just("has(device.battery)".to_owned()),
            Just("channel == Channel.WEB".to_owned()),
            Just("name in [\"buy\", \"sell\"]".to_owned()),
            Just("(revenue ?? 0.0) > 100.0".to_owned()),
            Just("any(tags, t => contains(t, \"a\"))".to_owned()),
            Just("starts_with(name, \"b\")".to_owned()),
        ]
        .boxed()
    }

    fn bool_expr() -> BoxedStrategy<String> {
        let cmp = (int_expr(), prop_oneof![Just("=="), Just("!="), Just("<"), Just(">=")], int_expr())
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"));
        let str_cmp = (str_expr(), prop_oneof![Just("=="), Just("<")], str_expr())
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"));
        prop_oneof![bool_leaf(), cmp, str_cmp]
            .prop_recursive(2, 8, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
                    inner.prop_map(|a| format!("!({a})")),
                ]
            })
            .boxed()
    }

    /// A bundle of generated rules; each emits what its expressions compute, through one of
    /// several statement shapes (plain records, spreads of fn results, list and map values,
    /// nested records with lists, velocity).
    fn program() -> impl Strategy<Value = String> {
        proptest::collection::vec((bool_expr(), str_expr(), int_expr(), str_expr(), 0..6usize), 1..5).prop_map(|rules| {
            let mut text = String::from(
                "use \"SCHEMAS/events.proto\";\nuse \"SCHEMAS/out.proto\";\nuse track.v1.{Event, Channel};\n\
                 use out.v1.{Tally, Signal, Kind};\nsource events: Event as json time ts;\n\
                 sink tallies: Tally as json;\nsink signals: Signal as protobuf;\n\
                 fn mk(k: string, n: int) -> Tally = { key: k, n: n };\n",
            );
            for (i, (cond, key, n, other, shape)) in rules.iter().enumerate() {
                let body = match shape {
                    0 => format!("emit tallies {{ key: {key}, n: {n} }};"),
                    1 => format!("emit tallies {{ ..mk({key}, {n}), key: {other} }};"),
                    2 => format!("let xs = [{key}, {other}];\n  emit tallies {{ key: xs[1] ?? \"none\", n: len(xs) + count_if(xs, x => len(x) > 1) }};"),
                    3 => format!("let m = {{ \"a\": {n}, \"b\": len({key}) }};\n  emit tallies {{ key: \"m\", n: (m[\"a\"] ?? 0) + len(m) }};"),
                    4 => format!(
                        "emit signals {{ score: {n}, why: [{key}, {other}], kind: Kind.FRAUD, amount: revenue, \
                         nested: {{ label: {other}, ids: [{n}, len({key})] }} }};"
                    ),
                    _ => format!(
                        "emit tallies {{ key: {key}, n: round(window_sum({key}, revenue ?? 1.5, 1m)) + window_distinct({key}, {other}, 10m) + if seen({other}, 30s) {{ 1 }} else {{ 0 }} }};"
                    ),
                };
                text.push_str(&format!(
                    "rule g{i} on events when {cond} {{\n  {body}\n  \
                     emit tallies {{ key: \"seen\", n: window_count({key}, 1m) }};\n}}\n"
                ));
            }
            text
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Generated programs over random events: the JIT at each optimisation level gives the
        /// interpreter's outputs, dirty records and order.
        #[test]
        fn generated_programs_agree(source in program(), events in proptest::collection::vec(event(), 1..6)) {
            let schemas = here().join("check/schemas").display().to_string();
            let source = source.replace("SCHEMAS", &schemas);
            let dir = std::env::temp_dir().join(format!("evr-gen-{}-{}", std::process::id(), hash_of(&source)));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("gen.evr"), &source).unwrap();
            let input: String = events.iter().map(|e| format!("{e}\n")).collect();
            let files = evr_compiler::bundle::load(&dir).unwrap();
            let a = evr_compiler::analyze(files);
            prop_assert!(!a.has_errors(), "the generator wrote an ill-typed program:\n{source}\n{}", rendered(&a));
            let reference = run_bundle(&dir, input.as_bytes());
            for opt in [OptLevel::None, OptLevel::Speed] {
                let native = run_bundle_with(&dir, input.as_bytes(), Config { engine: Engine::Jit(opt), ..Config::default() });
                prop_assert!(native == reference, "{opt:?}\n{source}\n{}", evr_tests::line_diff(&reference, &native));
            }
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    fn hash_of(s: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }
}

/// The README's tour is a real bundle: it checks against the example's schemas and its test
/// passes, so the first code a reader sees cannot drift from the language.
#[test]
fn readme_tour_checks_and_passes() {
    let readme = std::fs::read_to_string(here().join("../README.md")).expect("README.md");
    let start = readme.find("```evr\n").expect("an evr block") + "```evr\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let dir = std::env::temp_dir().join(format!("evr-tour-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    for proto in ["feed.proto", "rec.proto"] {
        std::fs::copy(here().join("../examples/feed/schemas").join(proto), dir.join("schemas").join(proto)).unwrap();
    }
    std::fs::write(dir.join("tour.evr"), &readme[start..end]).unwrap();
    let a = evr_compiler::analyze(evr_compiler::bundle::load(&dir).unwrap());
    let location = |span: evr_compiler::Span| a.files.location(span);
    let results = rule_tests::run_all(&a.program, &a.schema, Engine::Interpreter, &location);
    std::fs::remove_dir_all(&dir).ok();
    assert!(a.diagnostics.is_empty(), "{}", rendered(&a));
    let results = results.unwrap();
    assert!(!results.is_empty() && results.iter().all(|r| r.failure.is_none()), "{results:?}");
}
