//! The docs hold: builtin examples evaluate to true under every engine; the README tour works.

use evr_compiler::ir::{Expr, ExprKind};
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Loaded};
use evr_runtime::rule_tests;
use evr_stdlib::Builtin;

use crate::{here, rendered, try_run_bundle};

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
    // Every overload the catalog implements is called by an example, so every body of the
    // catalog runs under every engine.
    let a = evr_compiler::analyze(evr_compiler::bundle::load(&bundle).unwrap());
    assert!(a.diagnostics.is_empty(), "{}", rendered(&a));
    let mut called = std::collections::BTreeSet::new();
    fn calls(e: &Expr, called: &mut std::collections::BTreeSet<(Builtin, u16)>) {
        if let ExprKind::Call { builtin, overload, .. } = &e.kind {
            called.insert((*builtin, *overload));
        }
        e.for_each_child(|c| calls(c, called));
    }
    for r in &a.program.rules {
        r.for_each_expr(&mut |e| calls(e, &mut called));
    }
    let unexercised: Vec<String> = Builtin::ALL
        .iter()
        .flat_map(|b| b.overloads().iter().enumerate().map(move |(i, o)| (*b, i as u16, o)))
        .filter(|(b, i, o)| o.native && !called.contains(&(*b, *i)))
        .map(|(b, i, o)| (b, i, o.params))
        .map(|(b, _, params)| format!("`{}` {params:?}", b.name()))
        .collect();
    assert!(unexercised.is_empty(), "overloads no example calls: {unexercised:?}");
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
    std::fs::remove_dir_all(&dir).ok();
    assert!(a.diagnostics.is_empty(), "{}", rendered(&a));
    let results = rule_tests::run_all(&Loaded::from_analysis(&a, Config::default()).unwrap(), &location);
    assert!(!results.is_empty() && results.iter().all(|r| r.failure.is_none()), "{results:?}");
}
