//! evr's data-driven suite, one test binary:
//! - `check`: each `check/NAME.evr` is checked as a one-file bundle and its diagnostics, rendered
//!   for people without colour, must equal `check/NAME.out`;
//! - `run`: each `run/CASE/` bundle runs over `run/CASE/input.jsonl` and its output lines must
//!   equal `run/CASE/expected.jsonl`; each `rule_tests/BUNDLE/` report must equal `report.out`;
//! - `engines`: the JIT agrees with the interpreter on every case, on random events and on
//!   generated programs;
//! - `bundles`: built bundles run as their sources do, hash meaning only, refuse damage;
//! - `docs`: every builtin's documented examples hold, and the README's tour checks and passes;
//! - `fmt`: `fmt/NAME.evr` formats to `fmt/NAME.expect`; formatting keeps meaning, is
//!   idempotent and blind to layout.
//!
//! `UPDATE_EXPECT=1 cargo test -p evr-tests` rewrites the expectations.

mod bundles;
mod check;
mod docs;
mod engines;
mod fmt;
mod run;

use std::path::{Path, PathBuf};

use evr_compiler::diag::human;
use evr_compiler::files::Files;
use evr_runtime::executor::{Config, Executor, Loaded};
use evr_runtime::file_host;

pub fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every `run/CASE/` directory, in order.
pub fn run_case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(here().join("run"))
        .expect("tests/run exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

pub fn analyze_one(path: &Path) -> evr_compiler::Analysis {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let name = path.strip_prefix(here()).unwrap_or(path).display().to_string();
    let mut files = Files::default();
    files.add(path, name, text);
    evr_compiler::analyze(files)
}

pub fn rendered(a: &evr_compiler::Analysis) -> String {
    let mut out: String = a.diagnostics.iter().map(|d| human::render(&a.files, d, false)).collect();
    if let Some(s) = human::summary(&a.diagnostics) {
        out.push_str(&s);
        out.push('\n');
    }
    out
}

pub fn run_bundle(dir: &Path, input: &[u8]) -> String {
    run_bundle_with(dir, input, Config::default())
}

pub fn run_bundle_with(dir: &Path, input: &[u8], config: Config) -> String {
    try_run_bundle(dir, input, config).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Runs a bundle over JSON lines; `Err` when the executor cannot be set up (for the JIT: a
/// construct it does not compile yet).
pub fn try_run_bundle(dir: &Path, input: &[u8], config: Config) -> Result<String, String> {
    let files = evr_compiler::bundle::load(dir).expect("bundle loads");
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{}:\n{}", dir.display(), rendered(&a));
    run_analysis(&a, input, config)
}

/// Runs a checked bundle over JSON lines of its first source.
pub fn run_analysis(a: &evr_compiler::Analysis, input: &[u8], config: Config) -> Result<String, String> {
    let mut exec = Executor::new(Loaded::from_analysis(a, config).map_err(|e| e.to_string())?);
    let mut out = Vec::new();
    let source = a.program.sources[0].name.clone();
    file_host::run(
        &mut exec,
        &source,
        file_host::InputFormat::JsonLines,
        std::io::Cursor::new(input.to_vec()),
        &mut out,
        &mut (),
    )
    .expect("runs");
    Ok(String::from_utf8(out).expect("output is UTF-8"))
}

/// A proptest configuration of `default` cases, or of `PROPTEST_CASES` when it is set (for
/// longer runs; `ProptestConfig::with_cases` alone would ignore the variable).
pub fn cases(default: u32) -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    proptest::prelude::ProptestConfig::with_cases(cases)
}
