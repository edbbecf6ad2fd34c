//! Diagnostics for machines: one JSON object per diagnostic, one per line.

use serde_json::{Value, json};

use super::{Diagnostic, Label, Severity};
use crate::files::Files;

pub fn to_json(files: &Files, d: &Diagnostic) -> Value {
    json!({
        "code": d.code.as_str(),
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": d.message,
        "file": files.get(d.primary.span.file).name,
        "primary": label(files, &d.primary),
        "secondary": d.secondary.iter().map(|l| label(files, l)).collect::<Vec<_>>(),
        "hint": d.hint,
    })
}

fn label(files: &Files, l: &Label) -> Value {
    let f = files.get(l.span.file);
    let (line, column) = f.line_col(l.span.start);
    let (end_line, end_column) = f.line_col(l.span.end);
    json!({
        "file": f.name,
        "start": l.span.start,
        "end": l.span.end,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "message": l.message,
    })
}
