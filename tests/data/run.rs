//! Bundles run over events, and rule tests, against blessed outputs.

use std::path::PathBuf;

use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Loaded};
use evr_runtime::rule_tests;
use evr_tests::expect_file;

use crate::{here, rendered, run_bundle, run_bundle_with, run_case_dirs};

#[test]
fn run_cases() {
    let dirs = run_case_dirs();
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
        let interp = Config::default();
        let results = rule_tests::run_all(&Loaded::from_analysis(&a, interp).unwrap(), &location);
        let report = rule_tests::report(&name, &results);
        // The same tests on native code report the same.
        let jit = Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() };
        let native = rule_tests::run_all(&Loaded::from_analysis(&a, jit).unwrap(), &location);
        assert_eq!(rule_tests::report(&name, &native), report, "{name} under the JIT");
        expect_file(&dir.join("report.out"), &report).unwrap();
    }
}
