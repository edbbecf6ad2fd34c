//! The bundle-wide tables every unit is checked against: type names, streams, consts, fns and
//! scores. Built once per bundle, read-only while units are checked.

use std::collections::HashMap;

use evr_grammar::ast::{self, Span};

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::ir::{Expr, Literal, Local, Program, ScoreId, SinkId, SourceId};
use crate::schema::{Schema, TypeRef};
use crate::types::Type;

pub const BUILTIN_TYPES: &[&str] = &["bool", "int", "float", "string", "bytes", "duration"];

pub struct ConstInfo {
    /// `None` when the const's own definition was wrong (already reported).
    pub value: Option<(Literal, Type)>,
    pub span: Span,
}

/// A checked fn, ready to be inlined at each call.
pub struct FnBody {
    pub params: Vec<Type>,
    pub ret: Type,
    /// Params are locals `0..params.len()`.
    pub locals: Vec<Local>,
    pub body: Expr,
    pub velocity_sites: u32,
    /// Expression depth once inlined, callees included; bounded like the parser bounds syntax.
    pub depth: u32,
    /// Expression nodes of `body`, callees inlined.
    pub nodes: usize,
}

/// How many expression nodes one unit (a rule, drop, score or fn) may take from the fns it
/// inlines. Calls are copied, so fns calling fns twice would grow exponentially: past this
/// bound a call is an error (E0019), and checking stays linear in the size of the bundle.
pub const MAX_INLINED_NODES: usize = 100_000;

/// How deep an fn may be once every call in it is inlined.
pub const MAX_INLINED_DEPTH: u32 = 4 * evr_grammar::ast::MAX_DEPTH;

pub struct FnInfo {
    pub name_span: Span,
    pub params: Vec<(String, Type)>,
    pub ret: Option<Type>,
    /// Set once the body is checked; stays `None` for recursive fns.
    pub body: Option<FnBody>,
}

pub struct ScoreInfo {
    pub id: ScoreId,
    pub source: Option<SourceId>,
}

pub struct Env<'s> {
    pub schema: &'s Schema,
    /// Short names from `use a.b.C [as D];`.
    pub aliases: HashMap<String, (TypeRef, Span)>,
    pub sources: HashMap<String, SourceId>,
    pub sinks: HashMap<String, SinkId>,
    pub consts: HashMap<String, ConstInfo>,
    pub fns: HashMap<String, FnInfo>,
    pub scores: HashMap<String, ScoreInfo>,
    /// Sources and sinks declared with a type or format already reported as wrong: their uses
    /// are errors without a diagnostic of their own.
    pub broken_streams: std::collections::HashSet<String>,
    pub program: Program,
}

impl<'s> Env<'s> {
    pub fn new(schema: &'s Schema) -> Env<'s> {
        Env {
            schema,
            aliases: HashMap::new(),
            sources: HashMap::new(),
            sinks: HashMap::new(),
            consts: HashMap::new(),
            fns: HashMap::new(),
            scores: HashMap::new(),
            broken_streams: Default::default(),
            program: Program::default(),
        }
    }

    /// A named type (alias or fully qualified).
    pub fn type_ref(&self, segments: &[&str]) -> Option<TypeRef> {
        if let [single] = segments
            && let Some((t, _)) = self.aliases.get(*single)
        {
            return Some(*t);
        }
        self.schema.lookup(&segments.join("."))
    }

    pub fn resolve_type(&self, t: &ast::TypeExpr, diags: &mut Vec<Diagnostic>) -> Type {
        match &t.kind {
            ast::TypeExprKind::Optional(inner) => self.resolve_type(inner, diags).optional(),
            ast::TypeExprKind::Generic(name, args) => {
                let args: Vec<Type> = args.iter().map(|a| self.resolve_type(a, diags)).collect();
                match (name.text.as_str(), args.as_slice()) {
                    ("list", [elem]) => Type::list(elem.clone()),
                    ("map", [k, v]) => {
                        if !matches!(k, Type::String | Type::Int | Type::Bool | Type::Error) {
                            diags.push(
                                Diagnostic::new(Code::E0005, t.span, "map keys must be string, int or bool")
                                    .label("this map type"),
                            );
                            return Type::Error;
                        }
                        Type::Map(Box::new(k.clone()), Box::new(v.clone()))
                    }
                    ("list", _) | ("map", _) => {
                        let want = if name.text == "list" { "list<T>" } else { "map<K, V>" };
                        diags.push(
                            Diagnostic::new(
                                Code::E0005,
                                t.span,
                                format!("wrong number of type arguments; write {want}"),
                            )
                            .label("here"),
                        );
                        Type::Error
                    }
                    _ => {
                        diags.push(
                            Diagnostic::new(Code::E0005, name.span, format!("unknown generic type `{}`", name.text))
                                .label("not a type")
                                .hint("the generic types are list<T> and map<K, V>"),
                        );
                        Type::Error
                    }
                }
            }
            // What the parser leaves of a type nested too deeply: already reported.
            ast::TypeExprKind::Named(path) if path.is_empty() => Type::Error,
            ast::TypeExprKind::Named(path) => {
                let segments: Vec<&str> = path.iter().map(|n| n.text.as_str()).collect();
                if let [single] = segments.as_slice() {
                    match *single {
                        "bool" => return Type::Bool,
                        "int" => return Type::Int,
                        "float" => return Type::Float,
                        "string" => return Type::String,
                        "bytes" => return Type::Bytes,
                        "duration" => return Type::Duration,
                        _ => {}
                    }
                }
                match self.type_ref(&segments) {
                    Some(TypeRef::Message(m)) => Type::Message(m),
                    Some(TypeRef::Enum(e)) => Type::Enum(e),
                    // It may be defined by a schema that did not compile (reported).
                    None if self.schema.incomplete => Type::Error,
                    None => {
                        diags.push(self.unknown_type(&segments.join("."), t.span));
                        Type::Error
                    }
                }
            }
        }
    }

    pub fn unknown_type(&self, name: &str, span: Span) -> Diagnostic {
        let short = name.rsplit('.').next().unwrap_or(name);
        let qualified: Vec<&str> = self.schema.with_short_name(short).collect();
        let hint = if let [one] = qualified.as_slice() {
            Some(format!("bring it in with `use {one};`"))
        } else {
            let candidates = BUILTIN_TYPES
                .iter()
                .copied()
                .chain(self.aliases.keys().map(String::as_str))
                .chain(self.schema.full_names());
            did_you_mean(name, candidates)
        };
        Diagnostic::new(Code::E0005, span, format!("unknown type `{name}`")).label("not a known type").maybe_hint(hint)
    }

    pub fn source_id(&self, name: &ast::Name, diags: &mut Vec<Diagnostic>) -> Option<SourceId> {
        if self.broken_streams.contains(&name.text) {
            return None;
        }
        stream(&self.sources, name, "source", Code::E0012, diags)
    }

    pub fn sink_id(&self, name: &ast::Name, diags: &mut Vec<Diagnostic>) -> Option<SinkId> {
        if self.broken_streams.contains(&name.text) {
            return None;
        }
        stream(&self.sinks, name, "sink", Code::E0011, diags)
    }

    pub fn type_name(&self, t: &Type) -> String {
        t.display(self.schema).to_string()
    }
}

/// A source or sink by name; an unknown one is reported with the closest name or how to declare it.
fn stream<T: Copy>(
    table: &HashMap<String, T>,
    name: &ast::Name,
    kind: &str,
    code: Code,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let id = table.get(&name.text).copied();
    if id.is_none() {
        let hint = did_you_mean(&name.text, table.keys().map(String::as_str))
            .or_else(|| Some(format!("declare it: `{kind} NAME: Message as json;`")));
        diags.push(
            Diagnostic::new(code, name.span, format!("unknown {kind} `{}`", name.text))
                .label(format!("no {kind} has this name"))
                .maybe_hint(hint),
        );
    }
    id
}
