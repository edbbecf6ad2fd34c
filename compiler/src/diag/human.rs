//! Diagnostics for people, rendered with ariadne: `FILE:LINE:COL`, the source excerpt, labels
//! and the hint. Colour is the caller's choice (a terminal without `NO_COLOR`).

use ariadne::{Color, Config, IndexType, Label as ALabel, Report, ReportKind};

use evr_grammar::ast::{FileId, Span};

use super::{Diagnostic, Severity};
use crate::files::Files;

pub fn render(files: &Files, diagnostic: &Diagnostic, color: bool) -> String {
    let (kind, paint) = match diagnostic.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    let spans: Vec<Span> =
        std::iter::once(diagnostic.primary.span).chain(diagnostic.secondary.iter().map(|l| l.span)).collect();
    // Each file as shown: long lines cut around the spans on them.
    let mut shown: Vec<(FileId, Excerpt)> = Vec::new();
    for span in &spans {
        if !shown.iter().any(|(f, _)| *f == span.file) {
            let on_file: Vec<Span> = spans.iter().copied().filter(|s| s.file == span.file).collect();
            shown.push((span.file, Excerpt::new(&files.get(span.file).text, &on_file)));
        }
    }
    let excerpt = |file: FileId| &shown.iter().find(|(f, _)| *f == file).expect("every span's file is shown").1;
    let place = |span: Span| {
        let e = excerpt(span.file);
        (files.get(span.file).name.clone(), e.map(span.start as usize)..e.map(span.end as usize))
    };
    let primary = &diagnostic.primary;
    let mut report = Report::build(kind, place(primary.span))
        .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
        .with_code(diagnostic.code.as_str())
        .with_message(&diagnostic.message)
        .with_label(ALabel::new(place(primary.span)).with_message(&primary.message).with_color(paint).with_order(0));
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        report = report.with_label(
            ALabel::new(place(label.span))
                .with_message(&label.message)
                .with_color(Color::Blue)
                .with_order(i as i32 + 1),
        );
    }
    if let Some(hint) = &diagnostic.hint {
        report = report.with_help(hint);
    }
    let sources: Vec<(String, &str)> =
        shown.iter().map(|(f, e)| (files.get(*f).name.clone(), e.text.as_str())).collect();
    let mut out = Vec::new();
    if report.finish().write(ariadne::sources(sources), &mut out).is_err() {
        // Writing into a Vec does not fail; if ariadne ever does, the first line still stands.
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    // ariadne's header names the primary span's place as FILE:LINE:COL, counted in the text it
    // was shown; a cut line shifts the column, so the header gets the place in the file.
    if excerpt(primary.span.file).cut {
        let shown_place = {
            let e = excerpt(primary.span.file);
            let at = e.map(primary.span.start as usize);
            let line_start = e.text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line = e.text[..at].matches('\n').count() + 1;
            format!("{}:{line}:{}", files.get(primary.span.file).name, e.text[line_start..at].chars().count() + 1)
        };
        text = text.replacen(&shown_place, &files.location(primary.span), 1);
    }
    text
}

/// Lines longer than this are shown cut around the spans on them.
const LONG_LINE: usize = 160;
/// How much of a long line is kept on either side of its spans.
const CONTEXT: usize = 40;

/// A file's text as a diagnostic shows it: lines longer than [`LONG_LINE`] that hold a span are
/// cut to the part around their spans, with `…` for what is left out; offsets into the file map
/// to offsets into this text.
struct Excerpt {
    text: String,
    /// (start, end, replacement length) of each cut, in file offsets, in order.
    cuts: Vec<(usize, usize, usize)>,
    cut: bool,
}

impl Excerpt {
    fn new(file: &str, spans: &[Span]) -> Excerpt {
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        let mut lines: Vec<(usize, usize)> = Vec::new();
        for s in spans {
            let (start, end) = (s.start as usize, (s.end as usize).max(s.start as usize));
            let line_start = file[..start.min(file.len())].rfind('\n').map_or(0, |i| i + 1);
            let line_end = file[line_start..].find('\n').map_or(file.len(), |i| line_start + i);
            if line_end - line_start <= LONG_LINE || lines.iter().any(|(l, _)| *l == line_start) {
                continue;
            }
            lines.push((line_start, line_end));
            // The window: the spans of this line and some context, at most LONG_LINE past
            // the first span.
            let on_line = spans.iter().filter(|s| (line_start..=line_end).contains(&(s.start as usize)));
            let lo = on_line.clone().map(|s| s.start as usize).min().unwrap_or(start);
            let hi = on_line.map(|s| s.end as usize).max().unwrap_or(end).min(lo + LONG_LINE).min(line_end);
            let keep_from = floor_char(file, lo.saturating_sub(CONTEXT).max(line_start));
            let keep_to = ceil_char(file, (hi + CONTEXT).min(line_end));
            if keep_from > line_start {
                cuts.push((line_start, keep_from));
            }
            if keep_to < line_end {
                cuts.push((keep_to, line_end));
            }
        }
        cuts.sort_unstable();
        let mut text = String::with_capacity(file.len().min(1 << 16));
        let mut at = 0;
        let mut out_cuts = Vec::new();
        for &(from, to) in &cuts {
            text.push_str(&file[at..from]);
            text.push('…');
            out_cuts.push((from, to, '…'.len_utf8()));
            at = to;
        }
        text.push_str(&file[at..]);
        Excerpt { cut: !cuts.is_empty(), text, cuts: out_cuts }
    }

    /// Where a file offset is in the shown text (inside a cut: at its `…`).
    fn map(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for &(from, to, len) in &self.cuts {
            if offset >= to {
                shift += len as isize - (to - from) as isize;
            } else if offset > from {
                return (from as isize + shift) as usize;
            }
        }
        (offset as isize + shift) as usize
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
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
