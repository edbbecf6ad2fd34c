//! `evr fmt`: each `fmt/NAME.evr` formats to `fmt/NAME.expect` (or, with syntax errors, is
//! refused), and formatting what it gave changes nothing. Every bundle of the suite and the
//! examples formats to a program with the same meaning (unit hashes, diagnostics), and its
//! layout depends only on its tokens and comments: laid out at random, it formats the same.

use std::path::{Path, PathBuf};

use evr_compiler::files::Files;
use evr_compiler::meaning;
use proptest::prelude::*;

use crate::here;

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(here().join("fmt"))
        .expect("tests/fmt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "evr"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn formats_as_expected() {
    let mut failures = Vec::new();
    for case in cases() {
        let text = std::fs::read_to_string(&case).expect("case");
        let got = match evr_grammar::format(&text) {
            Some(formatted) => {
                assert_eq!(
                    evr_grammar::format(&formatted).as_deref(),
                    Some(formatted.as_str()),
                    "{}: formatting again changes it",
                    case.display()
                );
                formatted
            }
            None => "(not formatted: syntax errors)\n".to_owned(),
        };
        if let Err(diff) = evr_tests::expect_file(&case.with_extension("expect"), &got) {
            failures.push(diff);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every `.evr` file of the suite's valid checks, run cases and the examples.
fn bundles() -> Vec<PathBuf> {
    let root = here().parent().expect("repository").to_path_buf();
    let mut out = Vec::new();
    let mut add = |dir: &Path| {
        let files = evr_compiler::bundle::load(dir).expect("readable");
        out.extend(files.iter().map(|(_, f)| f.path.clone()));
    };
    add(&root.join("examples"));
    add(&here().join("run"));
    add(&here().join("rule_tests"));
    for entry in std::fs::read_dir(here().join("check")).expect("tests/check") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "evr") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// What a one-file bundle means: each unit's name and content hash, and its diagnostics' codes.
fn meaning_of(path: &Path, text: String) -> (Vec<(String, String)>, Vec<String>) {
    let mut files = Files::default();
    files.add(path, path.display().to_string(), text);
    let a = evr_compiler::analyze(files);
    let units = a
        .program
        .units()
        .map(|r| {
            let name = a.program.unit(r).name.to_owned();
            (name, format!("{:?}", meaning::unit_hash(&a.program, &a.schema, r)))
        })
        .collect();
    (units, a.diagnostics.iter().map(|d| d.code.as_str().to_owned()).collect())
}

#[test]
fn formatting_keeps_meaning_and_is_idempotent() {
    let mut formatted_some = 0;
    for path in bundles() {
        let text = std::fs::read_to_string(&path).expect("bundle");
        let Some(formatted) = evr_grammar::format(&text) else { continue };
        formatted_some += 1;
        assert_eq!(evr_grammar::format(&formatted).as_deref(), Some(formatted.as_str()), "{}", path.display());
        assert_eq!(
            meaning_of(&path, text),
            meaning_of(&path, formatted),
            "{}: formatting changed its meaning",
            path.display()
        );
    }
    assert!(formatted_some > 30, "only {formatted_some} bundles were formatted");
}

/// `text` with every run of whitespace between two tokens (outside strings and comments) that
/// holds no blank line replaced by another that holds none, chosen by `picks` (blank lines, and
/// whether a comment starts a line, are what the formatter keeps of a layout).
fn relaid(text: &str, picks: &[usize]) -> String {
    const LAYOUTS: &[&str] = &[" ", "\n", "  \n\t ", "   ", "\t"];
    let lexed = evr_grammar::lexer::lex(0, text);
    let mut bounds: Vec<(usize, usize)> = lexed.tokens.iter().map(|t| (t.0 as usize, t.2 as usize)).collect();
    bounds.extend(lexed.comments.iter().map(|c| (c.span.start as usize, c.span.end as usize)));
    bounds.sort();
    let mut out = String::new();
    let mut at = 0;
    for (n, (start, end)) in bounds.iter().enumerate() {
        let gap = &text[at..*start];
        // A line comment needs its line break; a gap after one keeps it.
        let after_comment = n > 0
            && text[..at].ends_with(|c: char| c != '/')
            && lexed.comments.iter().any(|c| c.span.end as usize == at);
        let blank = gap.split('\n').count() > 2;
        // Whether a comment starts its own line or ends another is kept too.
        let before_comment = lexed.comments.iter().any(|c| c.span.start as usize == *start);
        if !gap.is_empty() && gap.trim().is_empty() && !after_comment && !blank && !before_comment {
            out.push_str(LAYOUTS[picks[n % picks.len()] % LAYOUTS.len()]);
        } else {
            out.push_str(gap);
        }
        out.push_str(&text[*start..*end]);
        at = *end;
    }
    out.push_str(&text[at..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn layout_does_not_change_the_format(picks in proptest::collection::vec(0usize..5, 1..40), which in any::<prop::sample::Index>()) {
        let all = bundles();
        let path = which.get(&all);
        let text = std::fs::read_to_string(path).expect("bundle");
        let Some(want) = evr_grammar::format(&text) else { return Ok(()) };
        let moved = relaid(&text, &picks);
        prop_assert_eq!(evr_grammar::format(&moved), Some(want), "{} laid out as:\n{}", path.display(), moved);
    }
}
