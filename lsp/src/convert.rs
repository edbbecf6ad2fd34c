//! Between the analysis (byte spans, `FileId`s, diagnostics as data) and the protocol (URIs,
//! UTF-16 positions, protocol types). Nothing else in this crate builds protocol positions.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use evr_compiler::diag::{Diagnostic, Severity};
use evr_compiler::files::Files;
use evr_compiler::ide::{Completion, CompletionKind, Fix, Outline, Signature, TokenKind};
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

pub fn signature(s: &Signature) -> lsp::SignatureHelp {
    let doc =
        s.doc.clone().filter(|d| !d.is_empty()).map(|d| {
            lsp::Documentation::MarkupContent(lsp::MarkupContent { kind: lsp::MarkupKind::Markdown, value: d })
        });
    let parameters = s
        .params
        .iter()
        .map(|p| lsp::ParameterInformation { label: lsp::ParameterLabel::Simple(p.clone()), documentation: None })
        .collect();
    lsp::SignatureHelp {
        signatures: vec![lsp::SignatureInformation {
            label: s.label.clone(),
            documentation: doc,
            parameters: Some(parameters),
            active_parameter: Some(s.active as u32),
        }],
        active_signature: Some(0),
        active_parameter: Some(s.active as u32),
    }
}

pub fn quick_fix(files: &Files, uri: &lsp::Uri, d: &Diagnostic, fix: &Fix) -> lsp::CodeActionOrCommand {
    // The protocol's own map type; its keys are never changed while in it.
    #[allow(clippy::mutable_key_type)]
    let changes = std::collections::HashMap::from([(
        uri.clone(),
        vec![lsp::TextEdit { range: range(files, fix.span), new_text: fix.text.clone() }],
    )]);
    lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
        title: fix.title.clone(),
        kind: Some(lsp::CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic(files, d)]),
        edit: Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }),
        is_preferred: Some(true),
        ..Default::default()
    })
}

/// The kinds [`semantic_tokens`] uses, in the order of [`TokenKind`].
const TOKEN_TYPES: &[(TokenKind, lsp::SemanticTokenType)] = &[
    (TokenKind::Keyword, lsp::SemanticTokenType::KEYWORD),
    (TokenKind::String, lsp::SemanticTokenType::STRING),
    (TokenKind::Number, lsp::SemanticTokenType::NUMBER),
    (TokenKind::Comment, lsp::SemanticTokenType::COMMENT),
    (TokenKind::Function, lsp::SemanticTokenType::FUNCTION),
    (TokenKind::Variable, lsp::SemanticTokenType::VARIABLE),
    (TokenKind::Property, lsp::SemanticTokenType::PROPERTY),
    (TokenKind::EnumMember, lsp::SemanticTokenType::ENUM_MEMBER),
    (TokenKind::Type, lsp::SemanticTokenType::TYPE),
    (TokenKind::Stream, lsp::SemanticTokenType::INTERFACE),
    (TokenKind::Operator, lsp::SemanticTokenType::OPERATOR),
];

pub fn token_legend() -> lsp::SemanticTokensLegend {
    lsp::SemanticTokensLegend {
        token_types: TOKEN_TYPES.iter().map(|(_, t)| t.clone()).collect(),
        token_modifiers: Vec::new(),
    }
}

/// Tokens in the protocol's relative encoding, one line at a time (a block comment over
/// several lines is one token a line).
pub fn semantic_tokens(files: &Files, file: FileId, tokens: &[(Span, TokenKind)]) -> lsp::SemanticTokens {
    let text = &files.get(file).text;
    let (mut data, mut last) = (Vec::new(), (0u32, 0u32));
    for (span, kind) in tokens {
        let ty = TOKEN_TYPES.iter().position(|(k, _)| k == kind).unwrap_or(0) as u32;
        let mut start = span.start;
        for piece in text[span.range()].split_inclusive('\n') {
            let shown = piece.trim_end_matches(['\n', '\r']);
            let (line, col) = files.get(file).utf16_position(start);
            let length = shown.chars().map(char::len_utf16).sum::<usize>() as u32;
            if length > 0 {
                let delta_start = if line == last.0 { col - last.1 } else { col };
                data.push(lsp::SemanticToken {
                    delta_line: line - last.0,
                    delta_start,
                    length,
                    token_type: ty,
                    token_modifiers_bitset: 0,
                });
                last = (line, col);
            }
            start += piece.len() as u32;
        }
    }
    lsp::SemanticTokens { result_id: None, data }
}
