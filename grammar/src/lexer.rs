//! Tokens (logos) and the token stream the parser reads.
//!
//! Lexing never fails as a whole: a bad character or literal becomes a [`LexError`] and the
//! stream goes on, so the parser still sees every well-formed token after it. Comments are
//! trivia: they are kept aside (the formatter and doc hovers need them) and never reach the
//! parser.

use logos::Logos;

use crate::ast::{Comment, CommentKind, Span};

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
pub enum Tok {
    // Reserved words.
    #[token("use")]
    Use,
    #[token("source")]
    Source,
    #[token("sink")]
    Sink,
    #[token("const")]
    Const,
    #[token("fn")]
    Fn,
    #[token("drop")]
    Drop,
    #[token("score")]
    Score,
    #[token("rule")]
    Rule,
    #[token("test")]
    Test,
    #[token("on")]
    On,
    #[token("when")]
    When,
    #[token("emit")]
    Emit,
    #[token("route")]
    Route,
    #[token("let")]
    Let,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("in")]
    In,
    #[token("not")]
    Not,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("null")]
    Null,
    #[token("self")]
    SelfKw,
    #[token("as")]
    As,

    // Contextual words: keywords only where they open a clause, names everywhere else.
    #[token("key")]
    Key,
    #[token("time")]
    Time,
    #[token("json")]
    Json,
    #[token("protobuf")]
    Protobuf,
    #[token("given")]
    Given,
    #[token("expect")]
    Expect,
    #[token("nothing")]
    Nothing,
    #[token("dropped")]
    Dropped,
    #[token("dirty")]
    Dirty,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),

    #[regex(r"[0-9][0-9_]*", |lex| lex.slice().to_owned(), priority = 3)]
    Int(String),
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9]+)?", |lex| lex.slice().to_owned(), priority = 3)]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9]+", |lex| lex.slice().to_owned(), priority = 3)]
    Float(String),
    #[regex(r"[0-9][0-9_]*(ms|s|m|h|d)", |lex| lex.slice().to_owned(), priority = 3)]
    Duration(String),
    /// A number glued to a word that is not a duration unit (`5min`, `3x`): an error token, so
    /// that the message can name the suffix instead of a confusing "unexpected name".
    #[regex(r"[0-9][0-9_]*(\.[0-9]+)?[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned(), priority = 1)]
    BadNumber(String),

    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| lex.slice().to_owned())]
    Str(String),
    #[regex(r#""([^"\\\n]|\\[^\n])*\\?"#, |lex| lex.slice().to_owned())]
    UnterminatedStr(String),

    #[regex(r"//[^\n]*", allow_greedy = true)]
    LineComment,
    #[regex(r"/\*([^*]|\*+[^*/])*\*+/")]
    BlockComment,
    #[regex(r"/\*([^*]|\*+[^*/])*\**", allow_greedy = true)]
    UnterminatedComment,

    #[token("??")]
    QuestionQuestion,
    #[token("?")]
    Question,
    #[token("||")]
    OrOr,
    #[token("&&")]
    AndAnd,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<=")]
    Le,
    #[token(">=")]
    Ge,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("!")]
    Bang,
    #[token("=>")]
    FatArrow,
    #[token("->")]
    Arrow,
    #[token("=")]
    Eq,
    #[token("..")]
    DotDot,
    #[token(".")]
    Dot,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("@")]
    At,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
}

impl Tok {
    /// How the token reads in "expected ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("name `{s}`"),
            Tok::Int(s) | Tok::Float(s) | Tok::Duration(s) | Tok::BadNumber(s) => {
                format!("number `{s}`")
            }
            Tok::Str(s) | Tok::UnterminatedStr(s) => format!("string {s}"),
            other => format!("`{}`", other.text()),
        }
    }

    /// The fixed spelling of punctuation and keywords.
    pub fn text(&self) -> &'static str {
        match self {
            Tok::Use => "use",
            Tok::Source => "source",
            Tok::Sink => "sink",
            Tok::Const => "const",
            Tok::Fn => "fn",
            Tok::Drop => "drop",
            Tok::Score => "score",
            Tok::Rule => "rule",
            Tok::Test => "test",
            Tok::On => "on",
            Tok::When => "when",
            Tok::Emit => "emit",
            Tok::Route => "route",
            Tok::Let => "let",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::In => "in",
            Tok::Not => "not",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::SelfKw => "self",
            Tok::As => "as",
            Tok::Key => "key",
            Tok::Time => "time",
            Tok::Json => "json",
            Tok::Protobuf => "protobuf",
            Tok::Given => "given",
            Tok::Expect => "expect",
            Tok::Nothing => "nothing",
            Tok::Dropped => "dropped",
            Tok::Dirty => "dirty",
            Tok::QuestionQuestion => "??",
            Tok::Question => "?",
            Tok::OrOr => "||",
            Tok::AndAnd => "&&",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::FatArrow => "=>",
            Tok::Arrow => "->",
            Tok::Eq => "=",
            Tok::DotDot => "..",
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::At => "@",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Ident(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Duration(_)
            | Tok::BadNumber(_)
            | Tok::Str(_)
            | Tok::UnterminatedStr(_)
            | Tok::LineComment
            | Tok::BlockComment
            | Tok::UnterminatedComment => "",
        }
    }

    /// Words that are keywords only where they open a clause, and names elsewhere.
    pub fn is_contextual(&self) -> bool {
        matches!(
            self,
            Tok::Key
                | Tok::Time
                | Tok::Json
                | Tok::Protobuf
                | Tok::Given
                | Tok::Expect
                | Tok::Nothing
                | Tok::Dropped
                | Tok::Dirty
        )
    }

    /// Reserved words: never names, except after `.` and as record keys.
    pub fn is_reserved(&self) -> bool {
        !self.text().is_empty() && self.text().chars().all(|c| c.is_ascii_lowercase()) && !self.is_contextual()
    }

    /// Words that open an item: the places where a broken file is cut apart so that one
    /// malformed item cannot swallow the next.
    pub fn opens_item(&self) -> bool {
        matches!(
            self,
            Tok::Use
                | Tok::Source
                | Tok::Sink
                | Tok::Const
                | Tok::Fn
                | Tok::Drop
                | Tok::Score
                | Tok::Rule
                | Tok::Test
                | Tok::At
        )
    }
}

/// What the lexer could not make a token of.
#[derive(Clone, Debug, PartialEq)]
pub enum LexErrorKind {
    InvalidCharacter(char),
    UnterminatedString,
    UnterminatedComment,
    BadEscape(String),
    BadNumber(String),
    NumberTooLarge(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
}

/// One token with its byte range.
pub type Spanned = (u32, Tok, u32);

/// The whole file as tokens, with the comments and errors found on the way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lexed {
    pub tokens: Vec<Spanned>,
    pub comments: Vec<Comment>,
    pub errors: Vec<LexError>,
}

pub fn lex(file: crate::ast::FileId, src: &str) -> Lexed {
    lex_from(file, src, 0, |_| false).0
}

/// Lexes `src` from byte `from` (where a token starts) until `stop` says yes at the start of a
/// token (comments aside), which is then not taken: the tokens, and where it stopped. Lexing
/// from a token start depends on nothing before it, which is what lets an edit be lexed alone.
pub fn lex_from(
    file: crate::ast::FileId,
    src: &str,
    from: u32,
    mut stop: impl FnMut(u32) -> bool,
) -> (Lexed, Option<u32>) {
    let mut out = Lexed { tokens: Vec::new(), comments: Vec::new(), errors: Vec::new() };
    let mut lexer = Tok::lexer(&src[from as usize..]);
    let base = from as usize;
    while let Some(res) = lexer.next() {
        let range = lexer.span();
        let span = Span::new(file, base + range.start, base + range.end);
        let (start, end) = (span.start, span.end);
        let trivia = matches!(res, Ok(Tok::LineComment | Tok::BlockComment | Tok::UnterminatedComment));
        if !trivia && stop(start) {
            return (out, Some(start));
        }
        match res {
            Ok(Tok::LineComment) => {
                let text = lexer.slice();
                let kind = if text.starts_with("///") && !text.starts_with("////") {
                    CommentKind::Doc
                } else {
                    CommentKind::Line
                };
                out.comments.push(Comment { kind, span });
            }
            Ok(Tok::BlockComment) => out.comments.push(Comment { kind: CommentKind::Block, span }),
            Ok(Tok::UnterminatedComment) => {
                out.comments.push(Comment { kind: CommentKind::Block, span });
                out.errors.push(LexError { kind: LexErrorKind::UnterminatedComment, span });
            }
            Ok(Tok::Str(raw)) => {
                let text = unescape(&raw[1..raw.len() - 1], start + 1, file, &mut out.errors);
                out.tokens.push((start, Tok::Str(text), end));
            }
            Ok(Tok::UnterminatedStr(raw)) => {
                // Keep the text as a string token so that the parser does not pile a second,
                // confusing error on top of this one.
                out.errors.push(LexError { kind: LexErrorKind::UnterminatedString, span });
                let body = raw[1..].trim_end_matches('\\');
                let text = unescape(body, start + 1, file, &mut out.errors);
                out.tokens.push((start, Tok::Str(text), end));
            }
            Ok(Tok::BadNumber(raw)) => {
                out.errors.push(LexError { kind: LexErrorKind::BadNumber(raw.clone()), span });
                out.tokens.push((start, Tok::Int("0".into()), end));
            }
            Ok(Tok::Int(raw)) => {
                let fits = raw.chars().filter(|&c| c != '_').collect::<String>().parse::<u64>().is_ok();
                let tok = if fits { Tok::Int(raw) } else { too_large(&mut out.errors, raw, span, "0") };
                out.tokens.push((start, tok, end));
            }
            Ok(Tok::Duration(raw)) => {
                let fits = crate::parse::duration_value(&raw).is_some();
                let tok = if fits { Tok::Duration(raw) } else { too_large(&mut out.errors, raw, span, "0ms") };
                out.tokens.push((start, tok, end));
            }
            Ok(tok) => out.tokens.push((start, tok, end)),
            Err(()) => {
                let c = lexer.slice().chars().next().unwrap_or('\u{fffd}');
                out.errors.push(LexError { kind: LexErrorKind::InvalidCharacter(c), span });
            }
        }
    }
    (out, None)
}

/// Reports a literal that does not fit in 64 bits and stands in a zero for it.
fn too_large(errors: &mut Vec<LexError>, raw: String, span: Span, zero: &str) -> Tok {
    errors.push(LexError { kind: LexErrorKind::NumberTooLarge(raw.clone()), span });
    if raw.chars().last().is_some_and(|c| c.is_ascii_alphabetic()) {
        Tok::Duration(zero.to_owned())
    } else {
        Tok::Int(zero.to_owned())
    }
}

/// Decodes the escapes of a string literal's body. `offset` is where the body starts in the file.
fn unescape(body: &str, offset: u32, file: crate::ast::FileId, errors: &mut Vec<LexError>) -> String {
    if !body.contains('\\') {
        return body.to_owned();
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let at = offset + i as u32;
        let bad = |errors: &mut Vec<LexError>, len: usize, text: &str| {
            errors.push(LexError {
                kind: LexErrorKind::BadEscape(text.to_owned()),
                span: Span::new(file, at as usize, at as usize + len),
            })
        };
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, '0')) => out.push('\0'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, '"')) => out.push('"'),
            Some((_, 'u')) => {
                let rest = &body[i + 2..];
                let parsed = rest
                    .strip_prefix('{')
                    .and_then(|r| r.find('}').map(|end| &r[..end]))
                    .filter(|hex| !hex.is_empty() && hex.len() <= 6);
                match parsed.and_then(|hex| u32::from_str_radix(hex, 16).ok().map(|v| (hex, v))) {
                    Some((hex, v)) => {
                        match char::from_u32(v) {
                            Some(ch) => out.push(ch),
                            None => bad(errors, hex.len() + 4, &format!("\\u{{{hex}}}")),
                        }
                        for _ in 0..hex.len() + 2 {
                            chars.next();
                        }
                    }
                    None => bad(errors, 2, "\\u"),
                }
            }
            Some((_, other)) => bad(errors, 1 + other.len_utf8(), &format!("\\{other}")),
            None => bad(errors, 1, "\\"),
        }
    }
    out
}
