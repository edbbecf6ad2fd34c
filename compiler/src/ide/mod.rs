//! What an editor asks of an analysis — what is at a place, where it is defined, where it is
//! used, what may be written there — answered from the analysis alone, in byte offsets and
//! spans. No protocol types: the language server converts (`evr-lsp`), and offsets convert to
//! UTF-16 positions with [`SourceFile::utf16_position`](crate::files::SourceFile::utf16_position).

mod assist;
mod complete;

use evr_grammar::ast::{FileId, Item, ItemKind, Span};
use evr_stdlib::Builtin;

use crate::Analysis;
use crate::ir::{Expr, UnitView};
use crate::schema::{ProtoItem, ProtoPlace, TypeRef};
use crate::symbols::{Def, Ref};
use crate::types::Type;

pub use assist::{Fix, Signature, TokenKind, fixes, signature_at, tokens};
pub use complete::{Completion, CompletionKind, completions};

/// What a name at a place is: a use the checker resolved, or the name of a declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    /// The name as written there.
    pub span: Span,
    pub target: Target,
    /// The type of its value there, when it has one.
    pub ty: Option<Type>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Def(Def),
    Rule(String),
    Drop(String),
}

/// What [`outline`] lists: a named item.
#[derive(Clone, Debug, PartialEq)]
pub struct Outline {
    pub name: String,
    pub kind: &'static str,
    /// The whole item.
    pub span: Span,
    /// Its name.
    pub name_span: Span,
}

fn refs(a: &Analysis) -> impl Iterator<Item = &Ref> {
    crate::symbols::all(&a.refs)
}

fn items(a: &Analysis) -> impl Iterator<Item = &Item> {
    a.modules.iter().flat_map(|m| &m.items)
}

/// The declaration a target names, as a [`Target`] of its own kind.
fn declared(item: &Item) -> Option<(Span, Target)> {
    let name = item.kind.name()?;
    let text = name.text.clone();
    let target = match &item.kind {
        ItemKind::Const { .. } => Target::Def(Def::Const(text)),
        ItemKind::Fn { .. } => Target::Def(Def::Fn(text)),
        ItemKind::Score { .. } => Target::Def(Def::Score(text)),
        ItemKind::Sink { .. } => Target::Def(Def::Sink(text)),
        ItemKind::Source { .. } => Target::Def(Def::Source(text)),
        ItemKind::Rule { .. } => Target::Rule(text),
        ItemKind::Drop { .. } => Target::Drop(text),
        _ => return None,
    };
    Some((name.span, target))
}

/// The symbol at byte `offset` of `file` (a cursor right after a name is on it).
pub fn symbol_at(a: &Analysis, file: FileId, offset: u32) -> Option<Symbol> {
    let used = refs(a)
        .filter(|r| r.span.file == file && r.span.contains(offset))
        .min_by_key(|r| r.span.end - r.span.start)
        .map(|r| Symbol { span: r.span, target: Target::Def(r.def.clone()), ty: Some(r.ty.clone()) });
    used.or_else(|| {
        let module = a.modules.iter().find(|m| m.file == file)?;
        module.items.iter().find_map(|item| {
            let (span, target) = declared(item)?;
            span.contains(offset).then(|| Symbol { ty: declared_type(a, &target), span, target })
        })
    })
}

/// The type a declaration's name has where it is used.
fn declared_type(a: &Analysis, target: &Target) -> Option<Type> {
    refs(a).find(|r| Target::Def(r.def.clone()) == *target).map(|r| r.ty.clone())
}

/// Where a target is defined in the bundle's `.evr` files (fields, enum values and builtins
/// are not).
pub fn definition(a: &Analysis, target: &Target) -> Option<Span> {
    if let Target::Def(Def::Local { binding }) = target {
        return Some(*binding);
    }
    items(a).find_map(|item| declared(item).filter(|(_, t)| t == target).map(|(span, _)| span))
}

/// Where a field or an enum value is defined in its `.proto` file.
pub fn schema_definition(a: &Analysis, target: &Target) -> Option<ProtoPlace> {
    match target {
        Target::Def(Def::Field { message, index }) => a.schema.place(ProtoItem::Field(*message, *index)),
        Target::Def(Def::EnumValue { id, value }) => a.schema.place(ProtoItem::EnumValue(*id, *value)),
        Target::Def(Def::Type(TypeRef::Message(m))) => a.schema.place(ProtoItem::Message(*m)),
        Target::Def(Def::Type(TypeRef::Enum(e))) => a.schema.place(ProtoItem::Enum(*e)),
        _ => None,
    }
}

/// Every place a target is named: its definition (when in the bundle) and every use, in order.
pub fn references(a: &Analysis, target: &Target) -> Vec<Span> {
    let mut out: Vec<Span> = definition(a, target).into_iter().collect();
    out.extend(refs(a).filter(|r| Target::Def(r.def.clone()) == *target).map(|r| r.span));
    out.sort();
    out.dedup();
    out
}

/// What renaming the symbol at a place would change, or why it cannot be renamed.
pub fn rename(a: &Analysis, file: FileId, offset: u32, new_name: &str) -> Result<Vec<Span>, String> {
    let symbol = prepare_rename(a, file, offset)?;
    let word = evr_grammar::lexer::lex(file, new_name);
    let is_name = word.errors.is_empty()
        && matches!(word.tokens.as_slice(), [(_, evr_grammar::lexer::Tok::Ident(_), _)])
        && word.comments.is_empty();
    if !is_name {
        return Err(format!("`{new_name}` is not a name (or is a reserved word)"));
    }
    Ok(references(a, &symbol.target))
}

/// The symbol at a place, if it can be renamed.
pub fn prepare_rename(a: &Analysis, file: FileId, offset: u32) -> Result<Symbol, String> {
    let symbol = symbol_at(a, file, offset).ok_or("nothing to rename here")?;
    match &symbol.target {
        Target::Def(Def::Field { .. } | Def::EnumValue { .. } | Def::Type(_)) => {
            Err("fields, enum values and types are named by the schema: rename them in the .proto file".into())
        }
        Target::Def(Def::Builtin(_)) => Err("builtins cannot be renamed".into()),
        _ => Ok(symbol),
    }
}

/// The named items of a file, in order.
pub fn outline(a: &Analysis, file: FileId) -> Vec<Outline> {
    let Some(module) = a.modules.iter().find(|m| m.file == file) else { return Vec::new() };
    module
        .items
        .iter()
        .filter_map(|item| {
            let kind = item.kind.keyword()?;
            let (name, name_span) = match &item.kind {
                ItemKind::Test { name, name_span, .. } => (name.clone(), *name_span),
                k => k.name().map(|n| (n.text.clone(), n.span))?,
            };
            Some(Outline { name, kind, span: item.span, name_span })
        })
        .collect()
}

/// Markdown describing what is at a place: the symbol with its type and docs, or else the
/// type of the smallest expression there.
pub fn hover(a: &Analysis, file: FileId, offset: u32) -> Option<(Span, String)> {
    if let Some(symbol) = symbol_at(a, file, offset) {
        return Some((symbol.span, describe(a, &symbol)));
    }
    let (span, ty) = expression_at(a, file, offset)?;
    Some((span, code(&ty.display(&a.schema).to_string())))
}

fn code(text: &str) -> String {
    format!("```evr\n{text}\n```")
}

/// The header of a declaration as written (up to its body), and its doc comment.
fn header(a: &Analysis, target: &Target) -> Option<(String, Option<String>)> {
    let item = items(a).find(|item| declared(item).is_some_and(|(_, t)| t == *target))?;
    let text = &a.files.get(item.span.file).text[item.span.range()];
    let cut = match item.kind {
        ItemKind::Fn { .. } | ItemKind::Const { .. } => text.find(" =").unwrap_or(text.len()),
        ItemKind::Rule { .. } | ItemKind::Score { .. } => {
            [" when", "{", "=>"].iter().filter_map(|w| text.find(w)).min().unwrap_or(text.len())
        }
        ItemKind::Drop { .. } => text.find(" when").unwrap_or(text.len()),
        _ => text.find(';').unwrap_or(text.len()),
    };
    let first: String = text[..cut].split_whitespace().collect::<Vec<_>>().join(" ");
    Some((first, item.doc.clone()))
}

fn describe(a: &Analysis, symbol: &Symbol) -> String {
    let ty = symbol.ty.as_ref().filter(|t| !t.is_error()).map(|t| t.display(&a.schema).to_string());
    let with_doc = |head: String, doc: Option<String>| match doc {
        Some(doc) => format!("{}\n\n{doc}", code(&head)),
        None => code(&head),
    };
    match &symbol.target {
        Target::Def(Def::Local { .. }) => {
            let name = &a.files.get(symbol.span.file).text[symbol.span.range()];
            code(&format!("let {name}: {}", ty.unwrap_or_else(|| "?".into())))
        }
        Target::Def(Def::Field { message, index }) => {
            let m = a.schema.message(*message);
            let f = &m.fields[*index as usize];
            let head = format!("{}.{}: {} = {}", m.name, f.name, f.ty.display(&a.schema), f.number);
            with_doc(head, a.schema.place(ProtoItem::Field(*message, *index)).and_then(|p| p.comment))
        }
        Target::Def(Def::EnumValue { id, value }) => {
            let e = a.schema.enum_(*id);
            let name = e.values.iter().find(|(_, v)| v == value).map_or("?", |(n, _)| n.as_str());
            let head = format!("{}.{name} = {value}", e.name);
            with_doc(head, a.schema.place(ProtoItem::EnumValue(*id, *value)).and_then(|p| p.comment))
        }
        Target::Def(Def::Builtin(b)) => builtin_doc(*b),
        Target::Def(Def::Type(t)) => {
            let (head, item) = match t {
                TypeRef::Message(m) => (format!("message {}", a.schema.message(*m).full_name), ProtoItem::Message(*m)),
                TypeRef::Enum(e) => {
                    let e_ = a.schema.enum_(*e);
                    let values: Vec<&str> = e_.values.iter().map(|(n, _)| n.as_str()).collect();
                    (format!("enum {} {{ {} }}", e_.full_name, values.join(", ")), ProtoItem::Enum(*e))
                }
            };
            with_doc(head, a.schema.place(item).and_then(|p| p.comment))
        }
        Target::Def(Def::Const(_)) => {
            let (head, doc) = header(a, &symbol.target).unwrap_or_default();
            let head = match ty {
                Some(t) if !head.contains(':') => format!("{head}: {t}"),
                _ => head,
            };
            with_doc(head, doc)
        }
        target => {
            let (head, doc) = header(a, target).unwrap_or_default();
            with_doc(head, doc)
        }
    }
}

/// A builtin's documentation with its examples, as markdown.
pub fn builtin_doc(b: Builtin) -> String {
    let mut lines = b.doc().lines();
    let signature = lines.next().unwrap_or(b.name());
    let rest: Vec<&str> = lines.collect();
    let mut out = code(signature);
    let rest = rest.join("\n");
    if !rest.trim().is_empty() {
        out.push_str("\n\n");
        out.push_str(rest.trim());
    }
    if !b.examples().is_empty() {
        out.push_str("\n\nExamples:\n");
        out.push_str(&code(&b.examples().join("\n")));
    }
    out
}

/// The span and type of the smallest checked expression of the file that holds `offset`.
pub fn expression_at(a: &Analysis, file: FileId, offset: u32) -> Option<(Span, Type)> {
    fn walk(unit: &UnitView, e: &Expr, file: FileId, offset: u32, best: &mut Option<(Span, Type)>) {
        let span = unit.place(e.span);
        if span.file != file || !span.contains(offset) {
            return;
        }
        if best.as_ref().is_none_or(|(b, _)| span.end - span.start <= b.end - b.start) {
            *best = Some((span, e.ty.clone()));
        }
        e.for_each_child(|c| walk(unit, c, file, offset, best));
    }
    let mut best = None;
    for r in a.program.units() {
        let unit = a.program.unit(r);
        let at = unit.place(unit.span);
        if at.file == file && at.contains(offset) {
            unit.for_each_expr(&mut |e| walk(&unit, e, file, offset, &mut best));
        }
    }
    best
}

/// Every `let` of a file, with the type it binds: where an editor shows inlay hints.
pub fn let_types(a: &Analysis, file: FileId) -> Vec<(Span, String)> {
    let text = &a.files.get(file).text;
    let mut out: Vec<(Span, String)> = refs(a)
        .filter(|r| matches!(r.def, Def::Local { binding } if binding == r.span) && r.span.file == file)
        .filter(|r| {
            // A let's name is followed by `=` (a lambda parameter by `=>`, a fn's by `:`).
            let after = text[r.span.end as usize..].trim_start();
            after.starts_with('=') && !after.starts_with("=>")
        })
        .map(|r| (r.span, r.ty.display(&a.schema).to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}
