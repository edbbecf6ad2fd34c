//! The parser driver: lexes a file, cuts it at item keywords, parses every piece with the
//! generated parser and collects every error. It never fails as a whole.

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{
    CommentKind, Expr, ExprKind, FileId, Item, ItemKind, MAX_DEPTH, Module, Span, TypeExpr, TypeExprKind,
};
use crate::generated::ItemParser;
use crate::lexer::{self, LexErrorKind, Spanned, Tok};

#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SyntaxErrorKind {
    Lex(LexErrorKind),
    /// A token that no rule of the grammar accepts here.
    /// `reserved` holds the word when the token is a reserved word (often meant as a name).
    Unexpected {
        found: String,
        expected: Vec<String>,
        reserved: Option<String>,
    },
    /// The item ended (the file ended, or the next item began) in the middle of a construct.
    UnexpectedEnd {
        expected: Vec<String>,
    },
    /// Expressions or blocks nested deeper than [`crate::ast::MAX_DEPTH`].
    TooDeep,
    /// A type nested deeper than [`crate::ast::MAX_DEPTH`] (`list<list<...>>`).
    TypeTooDeep,
    /// Tokens after a complete item that start no item (`found` describes the first).
    AfterItem {
        found: String,
    },
}

/// A parsed file and everything that was wrong with it, with its tokens (what parsing it again
/// after an edit starts from).
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub module: Module,
    pub errors: Vec<SyntaxError>,
    pub lexed: lexer::Lexed,
}

pub fn parse(file: FileId, src: &str) -> Parsed {
    parse_with(file, src, lexer::lex(file, src), |_, _| None)
}

/// Parses the tokens `lexed` of `src`, taking the item of a piece from `reuse` (given the
/// piece's byte range) when it has one: an item of the previous parse that the edit did not
/// touch, already at its new place.
pub(crate) fn parse_with(
    file: FileId,
    src: &str,
    lexed: lexer::Lexed,
    mut reuse: impl FnMut(u32, u32) -> Option<Item>,
) -> Parsed {
    let mut errors: Vec<SyntaxError> =
        lexed.errors.iter().map(|e| SyntaxError { kind: SyntaxErrorKind::Lex(e.kind.clone()), span: e.span }).collect();
    // After an unterminated string or comment the rest of its item is noise: report the cause once.
    let runaway: Vec<u32> = errors
        .iter()
        .filter(|e| {
            matches!(e.kind, SyntaxErrorKind::Lex(LexErrorKind::UnterminatedString | LexErrorKind::UnterminatedComment))
        })
        .map(|e| e.span.start)
        .collect();
    let parser = ItemParser::new();
    let mut items = Vec::new();
    for chunk in item_chunks(&lexed.tokens) {
        if let (Some(first), Some(last)) = (chunk.first(), chunk.last())
            && let Some(item) = reuse(first.0, last.2)
        {
            items.push(item);
            continue;
        }
        let mut chunk_errors = Vec::new();
        // Blocks and records nest through braces, which expression depth does not see.
        if let Some(span) = too_deep_braces(file, chunk) {
            errors.push(SyntaxError { kind: SyntaxErrorKind::TooDeep, span });
            let (lo, hi) = (chunk.first().map_or(0, |t| t.0), chunk.last().map_or(0, |t| t.2));
            items.push(Item {
                kind: ItemKind::Error,
                annotations: Vec::new(),
                doc: None,
                span: Span::new(file, lo as usize, hi as usize),
            });
            continue;
        }
        items.push(parse_item(&parser, file, chunk, &mut chunk_errors));
        let (lo, hi) = (chunk.first().map_or(0, |t| t.0), chunk.last().map_or(0, |t| t.2));
        let cut = runaway.iter().copied().filter(|&at| at >= lo && at <= hi).min();
        errors.extend(chunk_errors.into_iter().filter(|e| cut.is_none_or(|at| e.span.start < at)));
    }
    attach_docs(src, &mut items, &lexed.comments);
    errors.sort_by_key(|e| (e.span.start, e.span.end));
    let comments = lexed.comments.clone();
    Parsed { module: Module { file, items, comments }, errors, lexed }
}

fn parse_item(parser: &ItemParser, file: FileId, chunk: &[Spanned], errors: &mut Vec<SyntaxError>) -> Item {
    let first = chunk.first().map_or(0, |t| t.0);
    let last = chunk.last().map_or(first, |t| t.2);
    let mut recovered: Vec<ErrorRecovery<u32, Tok, GrammarError>> = Vec::new();
    let tokens = chunk.iter().cloned().map(Ok::<Spanned, GrammarError>);
    let result = parser.parse(file, &mut recovered, tokens);
    for r in recovered {
        errors.push(syntax_error(file, r.error, last));
    }
    match result {
        Ok(item) => item,
        Err(e) if let Some(item) = complete_prefix(parser, file, chunk, &e, errors) => {
            drop(e);
            item
        }
        Err(e) => {
            errors.push(syntax_error(file, e, last));
            let span = Span::new(file, first as usize, last as usize);
            match header_only(parser, file, chunk) {
                Some(kind_and_annotations) => {
                    let (kind, annotations) = kind_and_annotations;
                    Item { kind, annotations, doc: None, span }
                }
                None => Item { kind: ItemKind::Error, annotations: Vec::new(), doc: None, span },
            }
        }
    }
}

/// The header of an item whose body does not parse (its error is already reported): its
/// annotations, name and source, or a fn's signature, with an error node for a body, so that
/// the item keeps its name for the checker and the editor. Made by parsing the header's own
/// tokens followed by the smallest body the grammar takes, then dropping that body.
fn header_only(
    parser: &ItemParser,
    file: FileId,
    chunk: &[Spanned],
) -> Option<(ItemKind, Vec<crate::ast::Annotation>)> {
    // Past the annotations: `@name` and an argument list.
    let mut i = 0;
    while chunk.get(i).is_some_and(|t| t.1 == Tok::At) {
        i += 2;
        if chunk.get(i).is_some_and(|t| t.1 == Tok::LParen) {
            let close = chunk[i..].iter().position(|t| t.1 == Tok::RParen)?;
            i += close + 1;
        }
    }
    let keyword = &chunk.get(i)?.1;
    let end = chunk.last().map_or(0, |t| t.2);
    let synthetic = |tok: Tok| (end, tok, end);
    let mut tokens: Vec<Spanned> = chunk[..i].to_vec();
    match keyword {
        // `rule NAME on SOURCE`, `drop ...`, `score ...`: four tokens, then a body.
        Tok::Rule | Tok::Drop | Tok::Score => {
            let head = chunk.get(i..i + 4)?;
            if head[2].1 != Tok::On {
                return None;
            }
            tokens.extend(head.iter().cloned());
            match keyword {
                Tok::Drop => tokens.extend([synthetic(Tok::When), synthetic(Tok::True), synthetic(Tok::Semi)]),
                _ => tokens.extend([synthetic(Tok::LBrace), synthetic(Tok::RBrace)]),
            }
        }
        // `const NAME =`, `fn NAME(PARAMS) -> T =`: up to the `=` outside brackets, then a value.
        Tok::Const | Tok::Fn => {
            let mut depth = 0i32;
            let eq = chunk[i..].iter().position(|t| {
                match t.1 {
                    Tok::LParen | Tok::LBracket | Tok::LBrace | Tok::Lt => depth += 1,
                    Tok::RParen | Tok::RBracket | Tok::RBrace | Tok::Gt => depth -= 1,
                    _ => {}
                }
                depth == 0 && t.1 == Tok::Eq
            })?;
            tokens.extend(chunk[i..=i + eq].iter().cloned());
            tokens.extend([synthetic(Tok::True), synthetic(Tok::Semi)]);
        }
        _ => return None,
    }
    let mut recovered = Vec::new();
    let item = parser.parse(file, &mut recovered, tokens.into_iter().map(Ok::<Spanned, GrammarError>)).ok()?;
    if !recovered.is_empty() {
        return None;
    }
    let error = Expr { kind: ExprKind::Error, span: Span::new(file, end as usize, end as usize), depth: 1 };
    let kind = match item.kind {
        ItemKind::Drop { name, source, .. } => ItemKind::Drop { name, source, cond: error },
        ItemKind::Const { name, .. } => ItemKind::Const { name, value: error },
        ItemKind::Fn { name, params, ret, .. } => ItemKind::Fn { name, params, ret, body: error },
        kind @ (ItemKind::Rule { .. } | ItemKind::Score { .. }) => kind,
        _ => return None,
    };
    Some((kind, item.annotations))
}

/// When an item is complete before the token the parser stopped at (junk after its `;` or
/// `}`: a nested block comment's tail, stray operators), the item as it ends there, and one
/// error for what follows it: the junk must not take the item with it.
fn complete_prefix(
    parser: &ItemParser,
    file: FileId,
    chunk: &[Spanned],
    e: &ParseError<u32, Tok, GrammarError>,
    errors: &mut Vec<SyntaxError>,
) -> Option<Item> {
    let stop = match e {
        ParseError::UnrecognizedToken { token: (l, ..), .. } | ParseError::ExtraToken { token: (l, ..) } => *l,
        _ => return None,
    };
    // Where the item could end: a `;` or a closing `}` outside any bracket, before the stop.
    let mut depth = 0i32;
    let mut ends = Vec::new();
    for (i, (l, tok, _)) in chunk.iter().enumerate() {
        if *l >= stop {
            break;
        }
        match tok {
            Tok::LBrace | Tok::LParen | Tok::LBracket => depth += 1,
            Tok::RBrace | Tok::RParen | Tok::RBracket => {
                depth -= 1;
                if depth == 0 && *tok == Tok::RBrace {
                    ends.push(i);
                }
            }
            Tok::Semi if depth == 0 => ends.push(i),
            _ => {}
        }
    }
    let &end = ends.last()?;
    let mut recovered: Vec<ErrorRecovery<u32, Tok, GrammarError>> = Vec::new();
    let tokens = chunk[..=end].iter().cloned().map(Ok::<Spanned, GrammarError>);
    let item = parser.parse(file, &mut recovered, tokens).ok()?;
    let prefix_end = chunk[end].2;
    errors.extend(recovered.into_iter().map(|r| syntax_error(file, r.error, prefix_end)));
    let junk = &chunk[end + 1..];
    let (lo, hi) = (junk.first().map_or(prefix_end, |t| t.0), junk.last().map_or(prefix_end, |t| t.2));
    errors.push(SyntaxError {
        kind: SyntaxErrorKind::AfterItem { found: junk.first().map_or_else(String::new, |t| t.1.describe()) },
        span: Span::new(file, lo as usize, hi as usize),
    });
    Some(item)
}

fn syntax_error(file: FileId, e: ParseError<u32, Tok, GrammarError>, chunk_end: u32) -> SyntaxError {
    match e {
        ParseError::UnrecognizedToken { token: (l, tok, r), expected } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected {
                found: tok.describe(),
                expected: clean_expected(expected),
                reserved: tok.is_reserved().then(|| tok.text().to_owned()),
            },
            span: Span::new(file, l as usize, r as usize),
        },
        ParseError::UnrecognizedEof { location, expected } => SyntaxError {
            kind: SyntaxErrorKind::UnexpectedEnd { expected: clean_expected(expected) },
            span: Span::new(file, location.max(chunk_end) as usize, location.max(chunk_end) as usize),
        },
        ParseError::ExtraToken { token: (l, tok, r) } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected { found: tok.describe(), expected: Vec::new(), reserved: None },
            span: Span::new(file, l as usize, r as usize),
        },
        // The token stream carries no lexer errors (they are reported before parsing), so this
        // only guards against future changes.
        ParseError::InvalidToken { location } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected {
                found: "an invalid token".into(),
                expected: Vec::new(),
                reserved: None,
            },
            span: Span::new(file, location as usize, location as usize),
        },
        ParseError::User { error: GrammarError::TooDeep(span) } => SyntaxError { kind: SyntaxErrorKind::TooDeep, span },
        ParseError::User { error: GrammarError::TypeTooDeep(span) } => {
            SyntaxError { kind: SyntaxErrorKind::TypeTooDeep, span }
        }
    }
}

/// lalrpop names terminals as they appear in the grammar (`"\";\""`, `IDENT`); turn them into
/// what a rule author reads (`;`, a name) and fold the many starts of an expression into one.
fn clean_expected(expected: Vec<String>) -> Vec<String> {
    const EXPR_STARTS: &[&str] = &["INT", "FLOAT", "STR", "DURATION", "\"(\"", "\"[\"", "\"!\"", "\"-\"", "\"null\""];
    let expr = EXPR_STARTS.iter().filter(|s| expected.iter().any(|e| e == *s)).count() >= 4;
    let mut out: Vec<String> = Vec::new();
    if expr {
        out.push("an expression".to_owned());
    }
    for e in expected {
        let pretty = match e.as_str() {
            "IDENT" if !expr => "a name".to_owned(),
            "IDENT" | "\"{\"" if expr => continue,
            "INT" | "FLOAT" | "DURATION" | "STR" | "\"(\"" | "\"[\"" | "\"!\"" | "\"-\"" | "\"null\"" | "\"true\""
            | "\"false\"" | "\"self\"" | "\"if\""
                if expr =>
            {
                continue;
            }
            "INT" => "an integer".to_owned(),
            "FLOAT" => "a number".to_owned(),
            "DURATION" => "a duration".to_owned(),
            "STR" => "a string".to_owned(),
            other => {
                let word = other.trim_matches('"');
                // Contextual words are also names; listing each of them is noise.
                if matches!(
                    word,
                    "key" | "time" | "json" | "protobuf" | "given" | "nothing" | "dropped" | "dirty" | "expect"
                ) && (expr || out.iter().any(|o| o == "a name"))
                {
                    continue;
                }
                format!("`{word}`")
            }
        };
        if !out.contains(&pretty) {
            out.push(pretty);
        }
    }
    // What usually ends or separates a construct is the likelier fix than another operator.
    const STRUCTURAL: &[&str] = &["`,`", "`;`", "`}`", "`)`", "`]`", "`{`", "`=>`", "`:`", "`=`", "`when`"];
    out.sort_by_key(|o| !STRUCTURAL.contains(&o.as_str()));
    if out.iter().any(|o| o == "a name") {
        out.retain(|o| {
            !matches!(
                o.as_str(),
                "`key`"
                    | "`time`"
                    | "`json`"
                    | "`protobuf`"
                    | "`given`"
                    | "`nothing`"
                    | "`dropped`"
                    | "`dirty`"
                    | "`expect`"
            )
        });
    }
    out
}

/// Splits the token stream before every word that opens an item (and before the annotations
/// in front of it). A reserved word after `.` or before `:` is a field name, not an item start.
fn item_chunks(tokens: &[Spanned]) -> Vec<&[Spanned]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut seen_keyword = false;
    for (i, (_, tok, _)) in tokens.iter().enumerate() {
        if !tok.opens_item() {
            continue;
        }
        let after_dot = i > 0 && tokens[i - 1].1 == Tok::Dot;
        let next = tokens.get(i + 1).map(|t| &t.1);
        // An item keyword is followed by a name (or a string: `use "x.proto"`, `test "name"`);
        // anything else is the keyword misused inside an expression, which the parser reports.
        // A reserved word there is a name misspelt as one (`source in: ...`): the item's own
        // error, not a reason to glue the item to the one before.
        let opens = matches!(next, Some(Tok::Ident(_) | Tok::Str(_)))
            || next.is_some_and(|t| t.is_contextual() || (t.is_reserved() && !t.opens_item()));
        if after_dot || !opens {
            continue;
        }
        let is_annotation = *tok == Tok::At;
        if seen_keyword && i > start {
            chunks.push(&tokens[start..i]);
            start = i;
            seen_keyword = false;
        }
        if !is_annotation {
            seen_keyword = true;
        }
    }
    if start < tokens.len() {
        chunks.push(&tokens[start..]);
    }
    chunks
}

fn too_deep_braces(file: FileId, chunk: &[Spanned]) -> Option<Span> {
    let mut depth = 0u32;
    for (l, tok, r) in chunk {
        match tok {
            Tok::LBrace | Tok::LParen | Tok::LBracket => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(Span::new(file, *l as usize, *r as usize));
                }
            }
            Tok::RBrace | Tok::RParen | Tok::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Attaches each run of `///` comments to the item right after it.
fn attach_docs(src: &str, items: &mut [Item], comments: &[crate::ast::Comment]) {
    let docs: Vec<_> = comments.iter().filter(|c| c.kind == CommentKind::Doc).collect();
    let mut next_doc = 0;
    let mut prev_end = 0;
    for item in items.iter_mut() {
        let mut lines = Vec::new();
        while next_doc < docs.len() && docs[next_doc].span.end <= item.span.start {
            let c = docs[next_doc];
            if c.span.start >= prev_end {
                let text = &src[c.span.range()];
                let text = text.trim_start_matches("///");
                lines.push(text.strip_prefix(' ').unwrap_or(text).trim_end().to_owned());
            }
            next_doc += 1;
        }
        item.doc = (!lines.is_empty()).then(|| lines.join("\n"));
        prev_end = item.span.end;
    }
}

/// What grammar actions report besides syntax errors.
#[derive(Clone, Debug, PartialEq)]
pub enum GrammarError {
    TooDeep(Span),
    TypeTooDeep(Span),
}

type Recovered = Vec<ErrorRecovery<u32, Tok, GrammarError>>;

/// The depth of a node whose deepest child has depth `child`, or `None` past the bound. The error
/// is reported where the bound is first crossed; nodes above it stay silent errors.
fn bounded(child: u32, error: GrammarError, errors: &mut Recovered) -> Option<u32> {
    if child < MAX_DEPTH {
        return Some(child + 1);
    }
    if child == MAX_DEPTH {
        errors.push(ErrorRecovery { error: ParseError::User { error }, dropped_tokens: Vec::new() });
    }
    None
}

/// Builds an expression node, or an error node once nesting passes the bound.
pub(crate) fn node(kind: ExprKind, span: Span, errors: &mut Recovered) -> Expr {
    match bounded(kind.child_depth(), GrammarError::TooDeep(span), errors) {
        Some(depth) => Expr { kind, span, depth },
        None => Expr { kind: ExprKind::Error, span, depth: MAX_DEPTH + 1 },
    }
}

/// Builds a type node, or an empty (error) type once nesting passes the bound.
pub(crate) fn type_node(kind: TypeExprKind, span: Span, errors: &mut Recovered) -> TypeExpr {
    let child = match &kind {
        TypeExprKind::Named(_) => 0,
        TypeExprKind::Optional(t) => t.depth,
        TypeExprKind::Generic(_, args) => args.iter().map(|a| a.depth).max().unwrap_or(0),
    };
    match bounded(child, GrammarError::TypeTooDeep(span), errors) {
        Some(depth) => TypeExpr { kind, span, depth },
        None => TypeExpr { kind: TypeExprKind::Named(Vec::new()), span, depth: MAX_DEPTH + 1 },
    }
}

pub(crate) fn int_value(text: &str) -> u64 {
    digits(text).parse().unwrap_or(0)
}

pub(crate) fn float_value(text: &str) -> f64 {
    digits(text).parse().unwrap_or(0.0)
}

pub(crate) fn duration_ms(text: &str) -> i64 {
    duration_value(text).unwrap_or(0)
}

/// Milliseconds of a duration literal, or `None` when it does not fit in 64 bits.
pub fn duration_value(text: &str) -> Option<i64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = text.split_at(split);
    let n: i64 = digits(num).parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn digits(text: &str) -> String {
    text.chars().filter(|&c| c != '_').collect()
}
