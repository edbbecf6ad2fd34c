//! Diagnostics: every code has a case, renderings match, explanations exist.

use evr_compiler::diag::{Code, json};
use evr_tests::{expect_file, files_with_ext};

use crate::{analyze_one, here, rendered};

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
    // E0029 comes from preparing a checked bundle for the JIT, not from checking: see
    // `unsupported_constructs_are_diagnostics`.
    let missing: Vec<&str> =
        Code::ALL.iter().filter(|c| !produced.contains(c) && **c != Code::E0029).map(|c| c.as_str()).collect();
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

/// What the JIT cannot compile is a diagnostic at its place, with the unit's name and a hint.
#[test]
fn unsupported_constructs_are_diagnostics() {
    let case = here().join("check/valid_everything.evr");
    let a = analyze_one(&case);
    let rule = &a.program.rules[0];
    let span = rule.cond.as_ref().map_or(rule.span, |c| c.span);
    let missing = evr_compiler::jit::Missing {
        unit: rule.name.clone(),
        unsupported: evr_compiler::jit::Unsupported { what: "this construct".into(), span },
    };
    let d = missing.diagnostic();
    assert_eq!(d.code, Code::E0029);
    let text = evr_compiler::diag::human::render(&a.files, &d, false);
    let loc = a.files.location(span);
    assert!(text.contains(&loc) && text.contains(&rule.name) && text.contains("--engine interp"), "{text}");
}
