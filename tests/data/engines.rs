//! The JIT against the interpreter: every run case, random events through the bundle that
//! uses every construct, and generated programs. Same outputs, dirty records and order.

use std::path::PathBuf;

use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine};
use proptest::prelude::*;

use crate::{here, rendered, run_bundle, run_bundle_with, try_run_bundle};

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

// ---------------------------------------------------------------- random events

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

/// Strings that events hold and rules name as literals, of lengths around every load width
/// native code compares literals with (1, 2, 4 and 8 bytes; up to 32 inline, longer called),
/// some one byte apart at either end.
const WORDS: &[&str] = &[
    "a",
    "ab",
    "abc",
    "abd",
    "abcdefg",
    "abcdefh",
    "purchase",
    "purchasf",
    "order-placed",
    "checkout-started",
    "checkout-startee",
    "xheckout-started",
    "checkout-started!",
    "checkout-started?",
    "é-unicode-é",
    "a-longer-name-of-thirty-one-byt",
    "a-longer-name-of-thirty-one-byu",
    "a-longer-name-of-thirty-two-byte",
    "a-longer-name-of-thirty-three-by",
    "a-longer-name-of-thirty-three-byt",
];

fn word() -> impl Strategy<Value = String> {
    proptest::sample::select(WORDS).prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        word(),
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
            let blob = if test { r#","blob":"/wAB""# } else { "" };
            // Members of the oneof `via`: none, one, or both (a dirty event).
            let via = match region % 4 {
                0 => "",
                1 => r#","web":"w""#,
                2 => r#","app_build":3"#,
                _ => r#","web":"w","app_build":3"#,
            };
            let coupon = coupon.map_or(String::new(), |c| format!(r#","coupon":{}"#, serde_json_string(&c)));
            format!(
                r#"{{"name":{},"ts":{ts},"device":{{"id":{},"ua":{},"ip":"{ip}"{battery}}},"lines":[{}],"channel":{channel},"region":{region},"test":{test}{blob}{via},"dwell":{dwell},"attrs":{{"order":{},"j":{},"url":{}}},"codes":{{"7":"seven"}},"tags":[{}]{revenue}{coupon}}}"#,
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
    #![proptest_config(crate::cases(40))]

    /// Random events through the bundle that uses every construct: the interpreter never meets
    /// a state the checker should have ruled out (`internal error`), every event is accounted
    /// for, and the JIT at each optimisation level gives exactly the interpreter's outputs.
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
        word().prop_map(|s| format!("{s:?}")),
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
        Just("has(dwell)".to_owned()),
        Just("has(web) || (app_build ?? 0) > 2".to_owned()),
        Just("!has(self.dwell)".to_owned()),
        Just("channel == Channel.WEB".to_owned()),
        Just("name in [\"buy\", \"sell\"]".to_owned()),
        // Past a few constants, `in` is a set lookup.
        Just(
            "name not in [\"a\", \"ab\", \"abc\", \"buy\", \"sell\", \"purchase\", \"order-placed\", \"x\", \"y\"]"
                .to_owned()
        ),
        Just("ts in [0, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9223372036854775807]".to_owned()),
        Just("(revenue ?? 0.0) > 100.0".to_owned()),
        Just("any(tags, t => contains(t, \"a\"))".to_owned()),
        // Lists of messages whose lambdas read only fields (columns under the JIT, unless
        // another rule of the bundle reads the list whole).
        Just("any(lines, l => l.price > 10.0 && l.sku != 3)".to_owned()),
        Just("all(lines, l => l.qty >= 1 || l.price < region)".to_owned()),
        Just("starts_with(name, \"b\")".to_owned()),
    ]
    .boxed()
}

fn bool_expr() -> BoxedStrategy<String> {
    let cmp = (int_expr(), prop_oneof![Just("=="), Just("!="), Just("<"), Just(">=")], int_expr())
        .prop_map(|(a, op, b)| format!("({a} {op} {b})"));
    let str_cmp = (str_expr(), prop_oneof![Just("=="), Just("!="), Just("<")], str_expr())
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
/// nested records with lists, lists of lists, maps and messages with membership over them,
/// velocity).
fn program() -> impl Strategy<Value = String> {
    proptest::collection::vec((bool_expr(), str_expr(), int_expr(), str_expr(), 0..10usize), 1..5).prop_map(|rules| {
        let mut text = String::from(
            "use \"SCHEMAS/events.proto\";\nuse \"SCHEMAS/out.proto\";\nuse track.v1.{Event, Channel};\n\
             use out.v1.{Tally, Signal, Kind};\nsource events: Event as json time ts;\n\
             sink tallies: Tally as json;\nsink signals: Signal as protobuf;\nsink copies: Event as json;\n\
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
                5 => format!(
                    "let grid = [[{n}, len({key})], [1]];\n  emit tallies {{ key: if [{n}, len({key})] in grid && device in [device] && attrs in [attrs, {{ \"j\": {other} }}] {{ {key} }} else {{ {other} }}, \
                     n: len(grid[0] ?? []) + count_if(grid, r => len(r) > 1) }};"
                ),
                6 => format!(
                    "let ls = [lines, lines];\n  emit tallies {{ key: {other}, n: len(ls[0] ?? []) + if lines in ls && [{key}] in [tags, [{other}]] {{ 1 }} else {{ 0 }} }};"
                ),
                // Spreads overridden by empty and null values; keys of bytes.
                8 => format!(
                    "emit copies key blob {{ ..self, name: {key}, tags: [], attrs: {{}}, revenue: null, app_build: {n}, \
                     coupon: if {n} > 0 {{ null }} else {{ coupon }}, device: if {n} > 1 {{ {{ ..device, battery: null }} }} else {{ device }} }};"
                ),
                9 => format!("emit tallies key blob {{ key: {key}, n: {n} }};\n  emit tallies key {n} {{ key: {other} }};"),
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
    #![proptest_config(crate::cases(48))]

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

/// `x in CONST` over 100,000 constants: a set lookup in both engines, compiled in time linear
/// in the list (the JIT used to compare element by element: past 17 GB at this size).
#[test]
fn large_constant_sets() {
    let schemas = here().join("check/schemas").display().to_string();
    let words: Vec<String> = (0..100_000).map(|i| format!("\"w{i}\"")).collect();
    let ints: Vec<String> = (0..100_000).map(|i| (i * 7).to_string()).collect();
    let source = format!(
        "use \"{schemas}/events.proto\";\nuse \"{schemas}/out.proto\";\nuse track.v1.Event;\nuse out.v1.Tally;\n\
         source events: Event as json;\nsink tallies: Tally as json;\n\
         const WORDS = [{}];\nconst INTS = [{}];\n\
         rule words on events when name in WORDS => emit tallies {{ key: name, n: ts }};\n\
         rule ints on events when ts not in INTS => emit tallies {{ key: \"not\", n: ts }};\n",
        words.join(", "),
        ints.join(", ")
    );
    let dir = std::env::temp_dir().join(format!("evr-sets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sets.evr"), &source).unwrap();
    let input = "{\"name\":\"w99999\",\"ts\":7}\n{\"name\":\"w100000\",\"ts\":699993}\n{\"name\":\"w0\",\"ts\":8}\n";
    let expected = "{\"sink\":\"tallies\",\"value\":{\"key\":\"w99999\",\"n\":\"7\"}}\n\
                    {\"sink\":\"tallies\",\"value\":{\"key\":\"w0\",\"n\":\"8\"}}\n\
                    {\"sink\":\"tallies\",\"value\":{\"key\":\"not\",\"n\":\"8\"}}\n";
    let reference = run_bundle(&dir, input.as_bytes());
    let native =
        run_bundle_with(&dir, input.as_bytes(), Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() });
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(reference, expected);
    assert_eq!(native, expected);
}
