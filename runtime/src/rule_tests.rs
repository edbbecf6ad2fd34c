//! `test` blocks: each feeds its `given` events through a fresh executor (empty velocity state)
//! and checks its expectations against the outputs, in order.
//!
//! `expect SINK { ... }` takes the next output on SINK not yet taken and compares only the fields
//! the expectation writes (recursively); `expect nothing SINK` holds when no output on SINK is
//! left untaken; `expect dropped` / `expect dirty` refer to the last `given`. A test stops at its
//! first failed expectation.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use evr_compiler::interp::{self, Prepared};
use evr_compiler::ir::{Expr, ExprKind, Program, SinkId, Test, TestStep};
use evr_compiler::schema::Schema;
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value};

use crate::encode;
use std::sync::Arc;

use crate::executor::{Executor, Loaded, Output, SetupError};

#[derive(Clone, Debug)]
pub struct TestResult {
    pub name: String,
    /// `FILE:LINE:COL` of the test.
    pub location: String,
    /// What went wrong, for a failed test.
    pub failure: Option<String>,
    pub duration: Duration,
}

/// Runs every test of a loaded bundle. `location` renders a span as `FILE:LINE:COL`. Every
/// test gets a fresh executor (and so empty velocity state) on the shared version.
pub fn run_all(loaded: &Arc<Loaded>, location: &dyn Fn(evr_compiler::Span) -> String) -> Vec<TestResult> {
    let (program, schema) = (loaded.program(), loaded.schema());
    program
        .tests
        .iter()
        .map(|t| {
            let start = Instant::now();
            let exec = Executor::new(loaded.clone());
            let failure = run_one(exec, program, schema, t, location).err();
            TestResult { name: t.name.clone(), location: location(t.span), failure, duration: start.elapsed() }
        })
        .collect()
}

/// Every test of a program that cannot be prepared, failed with the reason.
pub fn not_run(tests: &[Test], location: &dyn Fn(evr_compiler::Span) -> String, why: &SetupError) -> Vec<TestResult> {
    let failure = match why {
        SetupError::Unsupported(_) => "not run: the JIT cannot compile the bundle (see the diagnostics)".to_owned(),
        SetupError::Other(why) => format!("not run: {why}"),
    };
    let failed = |t: &Test| TestResult {
        name: t.name.clone(),
        location: location(t.span),
        failure: Some(failure.clone()),
        duration: Duration::ZERO,
    };
    tests.iter().map(failed).collect()
}

struct Seen {
    sink: SinkId,
    record: Value,
    taken: bool,
}

fn run_one(
    mut exec: Executor,
    program: &Program,
    schema: &Schema,
    test: &Test,
    location: &dyn Fn(evr_compiler::Span) -> String,
) -> Result<(), String> {
    let prepared = Prepared::new(program)?;
    let mut seen: Vec<Seen> = Vec::new();
    let mut last: Option<(bool, Vec<String>)> = None; // (dropped, dirty reasons) of the last given
    // Every dirty record so far, so that a failed expectation shows the runtime errors that
    // may explain it.
    let mut dirty_so_far: Vec<String> = Vec::new();
    let sink_name = |s: SinkId| program.sinks[s.0 as usize].name.as_str();
    for step in &test.steps {
        match step {
            TestStep::Given { source, record, .. } => {
                let event = interp::eval_standalone(record, &test.unit, schema, &prepared)
                    .map_err(|e| format!("the given event cannot be built: {e}"))?;
                let src = &program.sources[source.0 as usize];
                let mut bytes = Vec::new();
                encode::encode(schema, src.format, &event, &mut bytes);
                let mut outputs = Vec::new();
                // Tests are replays: an event without a time field is at time 0, every run alike.
                let processed = exec.process(*source, &bytes, 0, &mut outputs);
                let mut dirty = Vec::new();
                for o in outputs {
                    match o {
                        Output::Record { sink, record, .. } => seen.push(Seen { sink, record, taken: false }),
                        Output::Forward { sink } => {
                            let record = exec.decode(*source, &bytes).unwrap_or(Value::Null);
                            seen.push(Seen { sink, record, taken: false });
                        }
                        Output::Dirty { error, .. } => dirty.push(error),
                    }
                }
                dirty_so_far.extend(dirty.iter().cloned());
                last = Some((processed.dropped_by.is_some(), dirty));
            }
            TestStep::Expect { sink, record, span } => {
                let expected = interp::eval_standalone(record, &test.unit, schema, &prepared)
                    .map_err(|e| format!("the expected record cannot be built: {e}"))?;
                let Some(next) = seen.iter_mut().find(|s| s.sink == *sink && !s.taken) else {
                    return Err(format!(
                        "{}: expected an output on `{}`, but there is none left\n  {}",
                        location(*span),
                        sink_name(*sink),
                        outputs_so_far(&seen, &dirty_so_far, schema, program)
                    ));
                };
                next.taken = true;
                let mut diffs = Vec::new();
                compare(schema, record, &expected, &next.record, "", &mut diffs);
                if !diffs.is_empty() {
                    return Err(format!(
                        "{}: the next output on `{}` differs:\n{}\n  output: {}",
                        location(*span),
                        sink_name(*sink),
                        diffs.iter().map(|d| format!("    {d}")).collect::<Vec<_>>().join("\n"),
                        json(schema, &next.record)
                    ));
                }
            }
            TestStep::ExpectNothing { sink, span } => {
                let left: Vec<String> =
                    seen.iter().filter(|s| s.sink == *sink && !s.taken).map(|s| json(schema, &s.record)).collect();
                if !left.is_empty() {
                    return Err(format!(
                        "{}: expected nothing more on `{}`, but found:\n{}",
                        location(*span),
                        sink_name(*sink),
                        left.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                    ));
                }
            }
            TestStep::ExpectDropped { span } => match &last {
                Some((true, _)) => {}
                _ => {
                    return Err(format!(
                        "{}: expected the last given event to be dropped, but no drop held\n  {}",
                        location(*span),
                        outputs_so_far(&seen, &dirty_so_far, schema, program)
                    ));
                }
            },
            TestStep::ExpectDirty { span } => match &last {
                Some((_, reasons)) if !reasons.is_empty() => {}
                _ => {
                    return Err(format!(
                        "{}: expected the last given event to produce a dirty record, but it produced none",
                        location(*span)
                    ));
                }
            },
        }
    }
    Ok(())
}

fn json(schema: &Schema, v: &Value) -> String {
    let mut out = Vec::new();
    encode::json::encode(schema, v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn outputs_so_far(seen: &[Seen], dirty: &[String], schema: &Schema, program: &Program) -> String {
    let mut text = if seen.is_empty() { "(no outputs so far)".to_owned() } else { String::from("outputs so far:") };
    for s in seen {
        let _ = write!(
            text,
            "\n    {}{}: {}",
            program.sinks[s.sink.0 as usize].name,
            if s.taken { " (taken)" } else { "" },
            json(schema, &s.record)
        );
    }
    if !dirty.is_empty() {
        text.push_str("\n  dirty records so far:");
        for d in dirty {
            let _ = write!(text, "\n    {d}");
        }
    }
    text
}

/// Compares the fields an expectation writes; collects `path: expected X, got Y` lines.
fn compare(schema: &Schema, expr: &Expr, expected: &Value, actual: &Value, path: &str, diffs: &mut Vec<String>) {
    let (ExprKind::Record { message, fields, .. }, Value::Message(exp)) = (&expr.kind, expected) else {
        if !same(expected, actual, &expr.ty) {
            diffs.push(format!(
                "{}: expected {}, got {}",
                display_path(path),
                show(schema, expected, &expr.ty),
                show(schema, actual, &expr.ty)
            ));
        }
        return;
    };
    let msg = schema.message(*message);
    let empty = Message::empty(schema, *message);
    let act: &Message = match actual {
        Value::Message(m) => m,
        _ => &empty,
    };
    for (index, field_expr) in fields {
        let i = *index as usize;
        let field = &msg.fields[i];
        let sub = if path.is_empty() { field.name.clone() } else { format!("{path}.{}", field.name) };
        let read =
            |v: &Value| if v.is_null() && !field.ty.is_optional() { Value::default_of(&field.ty) } else { v.clone() };
        compare(schema, field_expr, &read(&exp.fields[i]), &read(&act.fields[i]), &sub, diffs);
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "the record" } else { path }
}

fn same(a: &Value, b: &Value, ty: &Type) -> bool {
    match (a, b) {
        (Value::Null, v) | (v, Value::Null) if !ty.is_optional() => *v == Value::default_of(ty),
        _ => a == b,
    }
}

fn show(schema: &Schema, v: &Value, ty: &Type) -> String {
    match (v, ty.strip_optional()) {
        (Value::Null, _) => "null".to_owned(),
        (Value::Str(s), _) => format!("{s:?}"),
        (Value::Message(_), _) => json(schema, v),
        (Value::List(items), Type::List(elem)) => {
            format!("[{}]", items.iter().map(|i| show(schema, i, elem)).collect::<Vec<_>>().join(", "))
        }
        (other, t) => interp::to_text(other, t, schema).unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// The readable report of one bundle's tests: a line per test, then each failure in full.
pub fn report(bundle: &str, results: &[TestResult]) -> String {
    let mut out = String::new();
    for r in results {
        let _ = writeln!(out, "test {} ... {}", r.name, if r.failure.is_some() { "FAILED" } else { "ok" });
    }
    let failures: Vec<&TestResult> = results.iter().filter(|r| r.failure.is_some()).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures in {bundle}:");
        for r in failures {
            let _ = writeln!(out, "\n---- {} ({})\n{}", r.name, r.location, r.failure.as_deref().unwrap_or(""));
        }
        out.push('\n');
    }
    out
}

/// JUnit XML for CI: one suite per bundle.
pub fn junit(suites: &[(String, Vec<TestResult>)]) -> String {
    let total: usize = suites.iter().map(|(_, r)| r.len()).sum();
    let failed: usize = suites.iter().map(|(_, r)| r.iter().filter(|t| t.failure.is_some()).count()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<testsuites name=\"evr\" tests=\"{total}\" failures=\"{failed}\">");
    for (name, results) in suites {
        let fails = results.iter().filter(|t| t.failure.is_some()).count();
        let time: f64 = results.iter().map(|t| t.duration.as_secs_f64()).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\" time=\"{time:.6}\">",
            escape(name),
            results.len()
        );
        for t in results {
            let file = t.location.split(':').next().unwrap_or("");
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.6}\"",
                escape(&t.name),
                escape(file),
                escape(file),
                t.duration.as_secs_f64()
            );
            match &t.failure {
                None => x.push_str("/>\n"),
                Some(f) => {
                    let first = f.lines().next().unwrap_or("");
                    let _ = write!(
                        x,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        escape(first),
                        escape(f)
                    );
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
