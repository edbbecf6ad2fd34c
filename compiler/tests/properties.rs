//! Lexing, parsing and checking never panic: on arbitrary bytes, on token soup, and on a valid
//! bundle mutated at random.

use std::path::{Path, PathBuf};

use evr_compiler::files::Files;
use proptest::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn seed() -> String {
    std::fs::read_to_string(data().join("seed.evr")).expect("seed bundle")
}

/// Analyzes `text` as if it were `tests/data/seed.evr`, so its `use "shop.proto"` resolves.
fn analyze(text: String) -> evr_compiler::Analysis {
    let mut files = Files::default();
    files.add(data().join("seed.evr"), "seed.evr", text);
    let a = evr_compiler::analyze(files);
    // Rendering must not panic either, whatever the spans.
    for d in &a.diagnostics {
        let _ = evr_compiler::diag::human::render(&a.files, d, false);
        let _ = evr_compiler::diag::json::to_json(&a.files, d);
    }
    a
}

const VOCABULARY: &[&str] = &[
    "use",
    "source",
    "sink",
    "const",
    "fn",
    "drop",
    "score",
    "rule",
    "test",
    "on",
    "when",
    "emit",
    "route",
    "let",
    "if",
    "else",
    "in",
    "not",
    "true",
    "false",
    "null",
    "self",
    "as",
    "key",
    "time",
    "json",
    "given",
    "expect",
    "nothing",
    "dropped",
    "dirty",
    "orders",
    "flags",
    "paid",
    "items",
    "buyer",
    "total",
    "Status",
    "Status.PAID",
    "i",
    "x",
    "=>",
    "->",
    "??",
    "?",
    "||",
    "&&",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    ".",
    "..",
    ",",
    ";",
    ":",
    "=",
    "@",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "0",
    "42",
    "-7",
    "3.5",
    "1e3",
    "5m",
    "250ms",
    "\"s\"",
    "\"",
    "\"\\u{",
    "/*",
    "//",
    "#",
    "len",
    "any",
    "has",
    "matches",
    "\"([\"",
    "window_count",
    "\u{1F600}",
    "9223372036854775808",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..VOCABULARY.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1..80usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, m: &Mutation) -> String {
    match *m {
        Mutation::Delete { at, len } => {
            let a = boundary(&s, at);
            let b = boundary(&s, (a + len).min(s.len()));
            s.replace_range(a..b.max(a), "");
        }
        Mutation::Insert { at, token } => {
            let a = boundary(&s, at);
            s.insert_str(a, &format!(" {} ", VOCABULARY[token]));
        }
        Mutation::Duplicate { at, len } => {
            let a = boundary(&s, at);
            let b = boundary(&s, (a + len).min(s.len())).max(a);
            let piece = s[a..b].to_owned();
            s.insert_str(b, &piece);
        }
        Mutation::Truncate { at } => {
            let a = boundary(&s, at);
            s.truncate(a);
        }
    }
    s
}

#[test]
fn the_seed_bundle_is_clean() {
    let a = analyze(seed());
    let rendered: Vec<String> =
        a.diagnostics.iter().map(|d| evr_compiler::diag::human::render(&a.files, d, false)).collect();
    assert!(a.diagnostics.is_empty(), "{}", rendered.join("\n"));
    assert_eq!(a.program.rules.len(), 2);
}

proptest! {
    #![proptest_config(cases(384))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        evr_grammar::parse(0, &text);
        analyze(text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        analyze(text);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0..VOCABULARY.len(), 0..120)) {
        let text: Vec<&str> = tokens.iter().map(|&t| VOCABULARY[t]).collect();
        analyze(text.join(" "));
    }

    #[test]
    fn mutated_bundles_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let text = mutations.iter().fold(seed(), apply);
        let a = analyze(text);
        // A checker that keeps going still sees the items the mutations did not touch.
        prop_assert!(a.modules.len() == 1);
    }
}

/// A proptest configuration of `default` cases, or of `PROPTEST_CASES` when it is set (for
/// longer runs; `ProptestConfig::with_cases` alone would ignore the variable).
fn cases(default: u32) -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    proptest::prelude::ProptestConfig::with_cases(cases)
}

/// Reusing the parses of unchanged files gives the analysis a fresh one gives: on random
/// edits of one file of a two-file bundle, whatever they break.
fn two_files(first: &str, second: &str, parses: &mut evr_compiler::Parses) -> evr_compiler::Analysis {
    let mut files = Files::default();
    files.add(data().join("seed.evr"), "seed.evr", first.to_owned());
    files.add(data().join("more.evr"), "more.evr", second.to_owned());
    evr_compiler::analyze_reusing(files, None, parses)
}

fn rendered(a: &evr_compiler::Analysis) -> String {
    let diags: String = a.diagnostics.iter().map(|d| evr_compiler::diag::human::render(&a.files, d, false)).collect();
    format!("{diags}\n{:?}\n{:?}", a.program.settled(), a.modules)
}

/// A reused analysis skips the bundle-wide pass over names while no file's names changed:
/// names that come to clash after an edit, stay clashing, or stop, are reported as a fresh
/// analysis reports them.
#[test]
fn clashing_names_are_found_again_after_edits() {
    let also = "rule also on orders when true => route paid;\n";
    let clash = "rule forward on orders when true => route paid;\n";
    let clash_edited = "rule forward on orders when false => route paid;\n";
    let seed = seed();
    let mut parses = evr_compiler::Parses::default();
    for (second, clashes) in [(also, false), (clash, true), (clash_edited, true), (also, false), (also, false)] {
        let reused = two_files(&seed, second, &mut parses);
        let fresh = two_files(&seed, second, &mut evr_compiler::Parses::default());
        assert_eq!(rendered(&reused), rendered(&fresh), "after editing to {second:?}");
        let found = reused.diagnostics.iter().any(|d| d.message.contains("duplicate name `forward`"));
        assert_eq!(found, clashes, "after editing to {second:?}");
        parses.keep(&reused.files, reused.modules);
    }
}

/// A file whose text did not change gives its units as they were, without its items being
/// read again; its other items are checked again all the same: its tests are in the program,
/// an annotation on a declaration is reported, a failing test step too — as a fresh analysis
/// gives them, whichever file changed.
#[test]
fn unchanged_files_keep_their_tests_and_declarations() {
    let more = "@shadow\nconst LIMIT = 5;\nrule also on orders when true => route paid;\n\
                test \"also routes\" { given orders { }; expect nowhere { }; }\n";
    let seed = seed();
    let edited = seed.replacen("1000.0", "2000.0", 1);
    let mut parses = evr_compiler::Parses::default();
    for first in [&seed, &seed, &edited, &edited] {
        let reused = two_files(first, more, &mut parses);
        let fresh = two_files(first, more, &mut evr_compiler::Parses::default());
        assert_eq!(rendered(&reused), rendered(&fresh));
        assert!(reused.diagnostics.iter().any(|d| d.message.contains("`@shadow` cannot stand here")));
        assert!(reused.diagnostics.iter().any(|d| d.message.contains("nowhere")), "{:?}", reused.diagnostics);
        assert_eq!(reused.program.tests.len(), 2, "the seed's test and this file's");
        parses.keep(&reused.files, reused.modules);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reused_parses_analyze_as_fresh_ones(at in any::<prop::sample::Index>(), junk in "[a-z ;{}=\"/\n]{0,6}") {
        let seed = seed();
        let second = "rule also on orders when true => route paid;\n".to_owned();
        let mut parses = evr_compiler::Parses::default();
        let first = two_files(&seed, &second, &mut parses);
        parses.keep(&first.files, first.modules);
        let mut edited = seed.clone();
        let mut cut = at.index(edited.len() + 1);
        while !edited.is_char_boundary(cut) {
            cut -= 1;
        }
        edited.insert_str(cut, &junk);
        for (a, b) in [(&edited, &second), (&edited, &second), (&seed, &second), (&seed, &edited)] {
            let reused = two_files(a, b, &mut parses);
            let fresh = two_files(a, b, &mut evr_compiler::Parses::default());
            prop_assert_eq!(rendered(&reused), rendered(&fresh));
            parses.keep(&reused.files, reused.modules);
        }
    }
}

proptest! {
    #![proptest_config(cases(200))]

    /// The edit between two texts is the span between their longest common prefix and suffix
    /// (texts long enough to be compared in chunks, and edits anywhere in them).
    #[test]
    fn shift_is_the_one_edit(base in "[ab]{0,900}", at in any::<prop::sample::Index>(), cut in 0usize..40, insert in "[ab]{0,40}") {
        let start = at.index(base.len() + 1);
        let end = (start + cut).min(base.len());
        let mut next = base.clone();
        next.replace_range(start..end, &insert);
        let (a, b) = (base.as_bytes(), next.as_bytes());
        let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let most = a.len().min(b.len()) - prefix;
        let suffix = a.iter().rev().zip(b.iter().rev()).take(most).take_while(|(x, y)| x == y).count();
        let shift = evr_grammar::Shift::between(0, &base, &next);
        prop_assert_eq!((shift.edit as usize, shift.from as usize), (prefix, a.len() - suffix));
        prop_assert_eq!(shift.delta, b.len() as i64 - a.len() as i64);
    }

    /// Parsing again after an edit — lexing only around it, taking untouched items as they
    /// were — gives exactly what parsing the new text from scratch gives: tokens, comments,
    /// errors, items and every span.
    #[test]
    fn reparse_is_parse(edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, "[a-z ;{}=\"/*\n.é]{0,6}"), 1..6)) {
        let mut text = seed();
        let mut parsed = evr_grammar::parse(0, &text);
        for (at, cut, insert) in edits {
            let mut start = at.index(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let mut next = text.clone();
            next.replace_range(start..end, &insert);
            let again = evr_grammar::reparse(0, &text, parsed, &next).parsed;
            let fresh = evr_grammar::parse(0, &next);
            prop_assert_eq!(&again.lexed, &fresh.lexed, "tokens after editing to:\n{}", next);
            prop_assert_eq!(&again.module, &fresh.module, "items after editing to:\n{}", next);
            prop_assert_eq!(&again.errors, &fresh.errors, "errors after editing to:\n{}", next);
            text = next;
            parsed = again;
        }
    }
}
