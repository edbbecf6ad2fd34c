//! What may be written at a place. The text being typed rarely checks, so the context is read
//! from the text before the cursor (the word, what precedes it) and the names from the last
//! analysis: the item around the cursor, its source's fields, its lets, the bundle's
//! declarations, the builtins and the schema.

use evr_grammar::ast::{FileId, Item, ItemKind, UseName};
use evr_stdlib::Builtin;

use crate::Analysis;
use crate::schema::TypeRef;
use crate::symbols::Def;
use crate::types::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Field,
    EnumValue,
    Local,
    Const,
    Fn,
    Builtin,
    Score,
    Sink,
    Source,
    Annotation,
    Keyword,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A type or signature.
    pub detail: Option<String>,
    /// A snippet (`$1` placeholders) to insert instead of the label.
    pub snippet: Option<String>,
}

impl Completion {
    fn new(label: impl Into<String>, kind: CompletionKind, detail: Option<String>) -> Completion {
        Completion { label: label.into(), kind, detail, snippet: None }
    }
}

const KEYWORDS: &[&str] =
    &["let", "emit", "route", "if", "else", "when", "key", "in", "not", "true", "false", "null", "self", "has"];

/// Completions at byte `offset` of `file`, for the word being typed there (the editor filters
/// them by that word).
pub fn completions(a: &Analysis, file: FileId, offset: u32) -> Vec<Completion> {
    let text = &a.files.get(file).text;
    let offset = (offset as usize).min(text.len());
    let before = &text[..offset];
    let word_start = before.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
    let lead = &before[..word_start];
    let item = enclosing(a, file, offset as u32);
    if let Some(chain) = lead.strip_suffix('.') {
        return members(a, item, chain, &dotted_tail(chain));
    }
    let previous = lead.trim_end().rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
    let streams = |sinks: bool| {
        let (kind, list) = if sinks {
            (CompletionKind::Sink, a.program.sinks.iter().map(|s| (&s.name, s.message)).collect::<Vec<_>>())
        } else {
            (CompletionKind::Source, a.program.sources.iter().map(|s| (&s.name, s.message)).collect())
        };
        list.into_iter()
            .map(|(name, m)| Completion::new(name.clone(), kind, Some(a.schema.message(m).name.clone())))
            .collect()
    };
    if lead.ends_with('@') {
        return crate::check::ANNOTATIONS
            .iter()
            .map(|n| Completion::new(*n, CompletionKind::Annotation, None))
            .collect();
    }
    match previous {
        "route" | "emit" | "nothing" if lead.ends_with(char::is_whitespace) => return streams(true),
        "on" | "given" if lead.ends_with(char::is_whitespace) => return streams(false),
        _ => {}
    }
    if let Some(fields) = emitted_record(a, item, lead) {
        return fields;
    }
    in_scope(a, item, offset as u32)
}

/// The last item of the file that starts before `offset`: the one being written.
fn enclosing(a: &Analysis, file: FileId, offset: u32) -> Option<&Item> {
    let module = a.modules.iter().find(|m| m.file == file)?;
    module.items.iter().take_while(|i| i.span.start <= offset).last()
}

/// One step of a chain being completed: a name, or an index (`[...]`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step<'a> {
    Name(&'a str),
    Index,
}

/// `a.b[0].c` at the end of `text`: its steps, first to last.
fn dotted_tail(text: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut end = text.len();
    loop {
        let rest = &text[..end];
        if rest.ends_with(']') {
            // Back to the matching `[`.
            let mut depth = 0;
            let open = rest.char_indices().rev().find(|&(_, c)| {
                depth += match c {
                    ']' => 1,
                    '[' => -1,
                    _ => 0,
                };
                depth == 0
            });
            let Some((open, _)) = open else { break };
            steps.push(Step::Index);
            end = open;
            continue;
        }
        let start = rest.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
        if start == end {
            break;
        }
        steps.push(Step::Name(&text[start..end]));
        end = start;
        if text[..end].ends_with('.') {
            end -= 1;
        } else if !text[..end].ends_with(']') {
            break;
        }
    }
    steps.reverse();
    steps
}

/// The type after a chain of steps from a value of type `ty`.
fn follow(a: &Analysis, mut ty: Option<Type>, steps: &[Step<'_>]) -> Option<Type> {
    for step in steps {
        ty = match (ty.map(strip_optional)?, step) {
            (Type::Message(m), Step::Name(name)) => a.schema.message(m).field(name).map(|(_, f)| f.ty.clone()),
            (Type::List(elem), Step::Index) => Some(*elem),
            (Type::Map(_, value), Step::Index) => Some(*value),
            _ => None,
        };
    }
    ty
}

/// The element type of the list a lambda parameter `name` ranges over, for a lambda still being
/// written (`any(items, p => p.`), which does not check yet: read from the text before.
fn lambda_param(a: &Analysis, item: Option<&Item>, lead: &str, name: &str) -> Option<Type> {
    let arrow = lead
        .rmatch_indices("=>")
        .find(|(at, _)| {
            let before = lead[..*at].trim_end();
            before.ends_with(name)
                && !before[..before.len() - name.len()].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })?
        .0;
    let param_start = lead[..arrow].trim_end().len() - name.len();
    let before = lead[..param_start].trim_end().strip_suffix(',')?;
    let (first, rest) = match dotted_tail(before).split_first() {
        Some((Step::Name(first), rest)) => (*first, rest.to_vec()),
        _ => return None,
    };
    match follow(a, first_segment(a, item, before, first), &rest).map(strip_optional)? {
        Type::List(elem) => Some(*elem),
        _ => None,
    }
}

/// The message the event of an item's source is.
fn source_type(a: &Analysis, item: Option<&Item>) -> Option<Type> {
    let item = item?;
    let name = match &item.kind {
        ItemKind::Rule { source, .. } | ItemKind::Drop { source, .. } | ItemKind::Score { source, .. } => {
            source.text.clone()
        }
        // A unit whose body does not parse yet: its header as written (`rule NAME on SOURCE`).
        ItemKind::Error => {
            let text = &a.files.get(item.span.file).text[item.span.range()];
            let words: Vec<&str> = text.split_whitespace().take(4).collect();
            match words.as_slice() {
                ["rule" | "drop" | "score", _, "on", source, ..] => {
                    source.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_')).to_owned()
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    let s = a.program.sources.iter().find(|s| s.name == name)?;
    Some(Type::Message(s.message))
}

/// The lets and parameters bound in an item before `offset`, with their types.
fn locals(a: &Analysis, item: Option<&Item>, offset: u32) -> Vec<(String, Type)> {
    let Some(item) = item else { return Vec::new() };
    let mut out: Vec<(String, Type)> = Vec::new();
    for r in crate::symbols::all(&a.refs) {
        if let Def::Local { binding } = r.def
            && r.span == binding
            && binding.file == item.span.file
            && item.span.contains(binding.start)
            && binding.end <= offset
        {
            let name = a.files.get(binding.file).text[binding.range()].to_owned();
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, r.ty.clone()));
            }
        }
    }
    out
}

/// What `name` is at the start of a dotted chain: a local, a lambda parameter, a field of the
/// event, or a type brought in with `use` (for enum values).
fn first_segment(a: &Analysis, item: Option<&Item>, lead: &str, name: &str) -> Option<Type> {
    if let Some((_, ty)) = locals(a, item, u32::MAX).into_iter().find(|(n, _)| n == name) {
        return Some(ty);
    }
    if name == "self" {
        return source_type(a, item);
    }
    if let Some(Type::Message(m)) = source_type(a, item)
        && let Some((_, f)) = a.schema.message(m).field(name)
    {
        return Some(f.ty.clone());
    }
    if let Some(elem) = lambda_param(a, item, lead, name) {
        return Some(elem);
    }
    let full = use_alias(a, name).unwrap_or_else(|| name.to_owned());
    match a.schema.lookup(&full)? {
        TypeRef::Enum(id) => Some(Type::Enum(id)),
        TypeRef::Message(_) => None,
    }
}

/// The full name a `use a.b.{C as D}` gives to `D`.
fn use_alias(a: &Analysis, name: &str) -> Option<String> {
    a.modules.iter().flat_map(|m| &m.items).find_map(|item| {
        let ItemKind::UseTypes { prefix, names } = &item.kind else { return None };
        let UseName { name: n, .. } = names.iter().find(|u| u.alias.as_ref().unwrap_or(&u.name).text == name)?;
        let prefix: Vec<&str> = prefix.iter().map(|p| p.text.as_str()).collect();
        Some(format!("{}.{}", prefix.join("."), n.text))
    })
}

/// The fields (or enum values) after `chain.`; `lead` is the text before the chain's end.
fn members(a: &Analysis, item: Option<&Item>, lead: &str, chain: &[Step<'_>]) -> Vec<Completion> {
    let Some((Step::Name(first), rest)) = chain.split_first() else { return Vec::new() };
    let ty = follow(a, first_segment(a, item, lead, first), rest);
    match ty.map(strip_optional) {
        Some(Type::Message(m)) => fields_of(a, m),
        Some(Type::Enum(id)) if chain.len() == 1 => a
            .schema
            .enum_(id)
            .values
            .iter()
            .map(|(n, v)| Completion::new(n.clone(), CompletionKind::EnumValue, Some(format!("= {v}"))))
            .collect(),
        _ => Vec::new(),
    }
}

fn strip_optional(t: Type) -> Type {
    match t {
        Type::Optional(inner) => *inner,
        t => t,
    }
}

fn fields_of(a: &Analysis, m: crate::schema::MessageId) -> Vec<Completion> {
    a.schema
        .message(m)
        .fields
        .iter()
        .map(|f| Completion::new(f.name.clone(), CompletionKind::Field, Some(f.ty.display(&a.schema).to_string())))
        .collect()
}

/// Inside `emit SINK { ... }` at a field name: the fields of the sink's message.
fn emitted_record(a: &Analysis, item: Option<&Item>, lead: &str) -> Option<Vec<Completion>> {
    let item = item?;
    let inside = lead.get(item.span.start as usize..)?;
    let at = inside.rfind("emit ")?;
    let after = &inside[at + 5..];
    let open = after.find('{')?;
    // Still in that record (braces balanced since), at the start of a field.
    let mut depth = 0i32;
    for c in after[open..].chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    let last = lead.trim_end().chars().last()?;
    if depth != 1 || !matches!(last, '{' | ',') {
        return None;
    }
    let sink = after[..open].split_whitespace().next()?;
    let s = a.program.sinks.iter().find(|s| s.name == sink)?;
    Some(fields_of(a, s.message))
}

fn in_scope(a: &Analysis, item: Option<&Item>, offset: u32) -> Vec<Completion> {
    let mut out = Vec::new();
    let ty = |t: &Type| Some(t.display(&a.schema).to_string());
    for (name, t) in locals(a, item, offset) {
        out.push(Completion::new(name, CompletionKind::Local, ty(&t)));
    }
    if let Some(Type::Message(m)) = source_type(a, item) {
        out.extend(fields_of(a, m));
    }
    let in_rule = item.is_some_and(|i| matches!(i.kind, ItemKind::Rule { .. }));
    for decl in a.modules.iter().flat_map(|m| &m.items) {
        match &decl.kind {
            ItemKind::Const { name, .. } => out.push(Completion::new(name.text.clone(), CompletionKind::Const, None)),
            ItemKind::Fn { name, params, .. } => {
                let mut c = Completion::new(name.text.clone(), CompletionKind::Fn, None);
                let args: Vec<String> =
                    params.iter().enumerate().map(|(i, p)| format!("${{{}:{}}}", i + 1, p.name.text)).collect();
                c.snippet = Some(format!("{}({})", name.text, args.join(", ")));
                out.push(c);
            }
            ItemKind::Score { name, .. } if in_rule => {
                out.push(Completion::new(name.text.clone(), CompletionKind::Score, Some("int".into())))
            }
            _ => {}
        }
    }
    for b in Builtin::ALL {
        let mut c = Completion::new(b.name(), CompletionKind::Builtin, b.doc().lines().next().map(str::to_owned));
        c.snippet = Some(format!("{}($1)", b.name()));
        out.push(c);
    }
    out.extend(KEYWORDS.iter().map(|k| Completion::new(*k, CompletionKind::Keyword, None)));
    out
}
