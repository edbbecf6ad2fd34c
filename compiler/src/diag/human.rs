//! Diagnostics for people, rendered with ariadne: `FILE:LINE:COL`, the source excerpt, labels
//! and the hint. Colour is the caller's choice (a terminal without `NO_COLOR`).

use ariadne::{Color, Config, IndexType, Label as ALabel, Report, ReportKind};

use super::{Diagnostic, Severity};
use crate::files::Files;

pub fn render(files: &Files, diagnostic: &Diagnostic, color: bool) -> String {
    let (kind, paint) = match diagnostic.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    let id = |span: evr_grammar::ast::Span| files.get(span.file).name.clone();
    let primary = &diagnostic.primary;
    let mut report = Report::build(kind, (id(primary.span), primary.span.range()))
        .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
        .with_code(diagnostic.code.as_str())
        .with_message(&diagnostic.message)
        .with_label(
            ALabel::new((id(primary.span), primary.span.range()))
                .with_message(&primary.message)
                .with_color(paint)
                .with_order(0),
        );
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        report = report.with_label(
            ALabel::new((id(label.span), label.span.range()))
                .with_message(&label.message)
                .with_color(Color::Blue)
                .with_order(i as i32 + 1),
        );
    }
    if let Some(hint) = &diagnostic.hint {
        report = report.with_help(hint);
    }
    let mut sources: Vec<(String, &str)> = Vec::new();
    for span in std::iter::once(primary.span).chain(diagnostic.secondary.iter().map(|l| l.span)) {
        let f = files.get(span.file);
        if !sources.iter().any(|(n, _)| *n == f.name) {
            sources.push((f.name.clone(), f.text.as_str()));
        }
    }
    // ariadne's header names the primary span's place as FILE:LINE:COL.
    let mut out = Vec::new();
    if report.finish().write(ariadne::sources(sources), &mut out).is_err() {
        // Writing into a Vec does not fail; if ariadne ever does, the first line still stands.
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `N errors, M warnings` (or nothing when clean).
pub fn summary(diagnostics: &[Diagnostic]) -> Option<String> {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => None,
        (e, 0) => Some(plural(e, "error")),
        (0, w) => Some(plural(w, "warning")),
        (e, w) => Some(format!("{}, {}", plural(e, "error"), plural(w, "warning"))),
    }
}
