//! Help while typing and fixing: the signature of the call around the cursor, the fixes a
//! diagnostic suggests, and what kind of thing each token of a file is (semantic tokens).

use evr_grammar::ast::{FileId, ItemKind, Span};
use evr_grammar::lexer::Tok;
use evr_stdlib::Builtin;

use crate::Analysis;
use crate::diag::Diagnostic;
use crate::symbols::Def;

/// The signature of the call whose arguments the cursor is in.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub label: String,
    pub params: Vec<String>,
    /// The argument the cursor is in.
    pub active: usize,
    pub doc: Option<String>,
}

/// The call around byte `offset`: its callee's signature and which argument is being written.
pub fn signature_at(a: &Analysis, file: FileId, offset: u32) -> Option<Signature> {
    let text = &a.files.get(file).text;
    let before = &text[..(offset as usize).min(text.len())];
    // Back to the `(` that is still open, counting the commas of this call on the way.
    let (mut depth, mut commas, mut open) = (0i32, 0usize, None);
    let mut in_string = false;
    for (i, c) in before.char_indices().rev() {
        match c {
            '"' => in_string = !in_string,
            _ if in_string => {}
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '(' => {
                open = Some(i);
                break;
            }
            '[' | '{' | ';' => return None,
            ',' if depth == 0 => commas += 1,
            _ => {}
        }
    }
    let callee = before[..open?].trim_end();
    let name_start = callee.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
    let name = &callee[name_start..];
    let (label, doc) = if let Some(b) = Builtin::from_name(name) {
        let mut lines = b.doc().lines();
        (lines.next()?.to_owned(), Some(lines.collect::<Vec<_>>().join("\n").trim().to_owned()))
    } else {
        let item = a
            .modules
            .iter()
            .flat_map(|m| &m.items)
            .find(|i| matches!(&i.kind, ItemKind::Fn { name: n, .. } if n.text == name))?;
        let src = &a.files.get(item.span.file).text[item.span.range()];
        let head = src[..src.find(" =").unwrap_or(src.len())].trim_start_matches("fn ").to_owned();
        (head, item.doc.clone())
    };
    let params = split_params(&label);
    Some(Signature { active: commas.min(params.len().saturating_sub(1)), params, label, doc })
}

/// The parameters written between the first `(` of a signature and its matching `)`.
fn split_params(label: &str) -> Vec<String> {
    let Some(open) = label.find('(') else { return Vec::new() };
    let (mut depth, mut start, mut out) = (0i32, open + 1, Vec::new());
    for (i, c) in label.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            '(' | '<' | '[' => depth += 1,
            '>' | ']' => depth -= 1,
            ')' if depth == 0 => {
                let last = label[start..i].trim();
                if !last.is_empty() {
                    out.push(last.to_owned());
                }
                return out;
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(label[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// A change a diagnostic suggests: replace `span` with `text` (an insertion when empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    pub title: String,
    pub span: Span,
    pub text: String,
}

/// The fixes a diagnostic's hint names: each name of a "did you mean `x`?" in place of the
/// name it is about, and a default that the hint writes as `?? value` for the value.
pub fn fixes(a: &Analysis, d: &Diagnostic) -> Vec<Fix> {
    let Some(hint) = &d.hint else { return Vec::new() };
    let span = d.primary.span;
    let written = &a.files.get(span.file).text[span.range()];
    let quoted: Vec<&str> = hint.split('`').skip(1).step_by(2).collect();
    let mut out = Vec::new();
    if hint.contains("did you mean") && !written.is_empty() && written.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        for name in quoted.iter().filter(|q| q.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')) {
            out.push(Fix { title: format!("change `{written}` to `{name}`"), span, text: (*name).to_owned() });
        }
    }
    // In parentheses: `??` binds loosest, and the value may be an operand (`evr fmt` drops
    // them where they are not needed).
    for default in quoted.iter().filter_map(|q| q.strip_prefix("?? ")) {
        let text = format!("({written} ?? {default})");
        out.push(Fix { title: format!("add `?? {default}`"), span, text });
    }
    out
}

/// What a token is, for highlighting by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Keyword,
    String,
    Number,
    Comment,
    Function,
    Variable,
    Property,
    EnumMember,
    Type,
    Stream,
    Operator,
}

/// Every token of a file that has a kind, in order.
pub fn tokens(a: &Analysis, file: FileId) -> Vec<(Span, TokenKind)> {
    let lexed = evr_grammar::lexer::lex(file, &a.files.get(file).text);
    let mut by_ref: std::collections::HashMap<(u32, u32), TokenKind> = std::collections::HashMap::new();
    for r in crate::symbols::all(&a.refs).filter(|r| r.span.file == file) {
        let kind = match r.def {
            Def::Local { .. } | Def::Const(_) | Def::Score(_) => TokenKind::Variable,
            Def::Field { .. } => TokenKind::Property,
            Def::EnumValue { .. } => TokenKind::EnumMember,
            Def::Fn(_) | Def::Builtin(_) => TokenKind::Function,
            Def::Sink(_) | Def::Source(_) => TokenKind::Stream,
            Def::Type(_) => TokenKind::Type,
        };
        by_ref.insert((r.span.start, r.span.end), kind);
    }
    let mut out: Vec<(Span, TokenKind)> = lexed.comments.iter().map(|c| (c.span, TokenKind::Comment)).collect();
    for (start, tok, end) in &lexed.tokens {
        let span = Span { file, start: *start, end: *end };
        let kind = match tok {
            _ if by_ref.contains_key(&(*start, *end)) => by_ref[&(*start, *end)],
            Tok::Str(_) => TokenKind::String,
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) => TokenKind::Number,
            Tok::Ident(name) if name.starts_with(char::is_uppercase) => TokenKind::Type,
            Tok::Ident(_) => continue,
            t if t.is_reserved() || t.is_contextual() => TokenKind::Keyword,
            t if t.text().chars().all(|c| !c.is_alphanumeric()) && !t.text().is_empty() => {
                if matches!(t, Tok::LBrace | Tok::RBrace | Tok::LParen | Tok::RParen | Tok::LBracket | Tok::RBracket)
                    || [";", ",", ".", ":"].contains(&t.text())
                {
                    continue;
                }
                TokenKind::Operator
            }
            _ => continue,
        };
        out.push((span, kind));
    }
    out.sort_by_key(|(s, _)| (s.start, s.end));
    out
}
