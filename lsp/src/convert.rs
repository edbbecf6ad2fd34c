//! Between the analysis (byte spans, `FileId`s, diagnostics as data) and the protocol (URIs,
//! UTF-16 positions, protocol types). Nothing else in this crate builds protocol positions.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use evr_compiler::diag::{Diagnostic, Severity};
use evr_compiler::files::Files;
use evr_compiler::ide::{Completion, CompletionKind, Outline};
use evr_compiler::schema::ProtoPlace;
use evr_compiler::{FileId, Span};
use lsp_types as lsp;

/// The path a `file:` URI names.
pub fn path(uri: &lsp::Uri) -> Option<PathBuf> {
    let text = uri.as_str().strip_prefix("file://")?;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) =
                bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok().map(PathBuf::from)
}

/// The `file:` URI of a path.
pub fn uri(path: &Path) -> lsp::Uri {
    let mut text = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            text.push(b as char);
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    lsp::Uri::from_str(&text).expect("a percent-encoded path is a URI")
}

pub fn position(files: &Files, file: FileId, offset: u32) -> lsp::Position {
    let (line, character) = files.get(file).utf16_position(offset);
    lsp::Position { line, character }
}

pub fn offset(files: &Files, file: FileId, p: lsp::Position) -> u32 {
    files.get(file).utf16_offset(p.line, p.character)
}

pub fn range(files: &Files, span: Span) -> lsp::Range {
    lsp::Range { start: position(files, span.file, span.start), end: position(files, span.file, span.end) }
}

pub fn location(files: &Files, span: Span) -> lsp::Location {
    lsp::Location { uri: uri(&files.get(span.file).path), range: range(files, span) }
}

/// A place in a `.proto` file. Protobuf counts columns in bytes; they are converted with the
/// file's text when it can be read.
pub fn proto_location(p: &ProtoPlace) -> lsp::Location {
    let text = std::fs::read_to_string(&p.path).unwrap_or_default();
    let at = |(line, col): (u32, u32)| {
        let character = text
            .lines()
            .nth(line as usize)
            .and_then(|l| l.get(..(col as usize).min(l.len())))
            .map_or(col, |before| before.chars().map(char::len_utf16).sum::<usize>() as u32);
        lsp::Position { line, character }
    };
    lsp::Location { uri: uri(&p.path), range: lsp::Range { start: at(p.start), end: at(p.end) } }
}

pub fn diagnostic(files: &Files, d: &Diagnostic) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() {
        message.push_str(&format!(": {}", d.primary.message));
    }
    if let Some(hint) = &d.hint {
        message.push_str(&format!("\nhint: {hint}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .map(|l| lsp::DiagnosticRelatedInformation { location: location(files, l.span), message: l.message.clone() })
        .collect();
    lsp::Diagnostic {
        range: range(files, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_owned())),
        source: Some("evr".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp::Diagnostic::default()
    }
}

pub fn completion(c: &Completion) -> lsp::CompletionItem {
    use lsp::CompletionItemKind as K;
    let kind = match c.kind {
        CompletionKind::Field => K::FIELD,
        CompletionKind::EnumValue => K::ENUM_MEMBER,
        CompletionKind::Local => K::VARIABLE,
        CompletionKind::Const => K::CONSTANT,
        CompletionKind::Fn => K::FUNCTION,
        CompletionKind::Builtin => K::FUNCTION,
        CompletionKind::Score => K::VALUE,
        CompletionKind::Sink | CompletionKind::Source => K::INTERFACE,
        CompletionKind::Annotation => K::PROPERTY,
        CompletionKind::Keyword => K::KEYWORD,
    };
    lsp::CompletionItem {
        label: c.label.clone(),
        kind: Some(kind),
        detail: c.detail.clone(),
        insert_text: c.snippet.clone(),
        insert_text_format: c.snippet.as_ref().map(|_| lsp::InsertTextFormat::SNIPPET),
        ..lsp::CompletionItem::default()
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be given.
pub fn symbol(files: &Files, o: &Outline) -> lsp::DocumentSymbol {
    use lsp::SymbolKind as K;
    let kind = match o.kind {
        "source" | "sink" => K::INTERFACE,
        "const" => K::CONSTANT,
        "fn" => K::FUNCTION,
        "test" => K::EVENT,
        _ => K::METHOD,
    };
    lsp::DocumentSymbol {
        name: o.name.clone(),
        detail: Some(o.kind.to_owned()),
        kind,
        tags: None,
        deprecated: None,
        range: range(files, o.span),
        selection_range: range(files, o.name_span),
        children: None,
    }
}
