//! The checking context of one unit (a drop, score, rule, fn body, const or test): its scope,
//! its locals, what is known to be non-null, and where its diagnostics go.

use evr_grammar::ast::{Name, Span};

use super::env::Env;
use crate::diag::{Code, Diagnostic};
use crate::ir::{Expr, ExprKind, Literal, Local, LocalId, SourceId, Unit};
use crate::schema::MessageId;
use crate::symbols::{Def, Ref};
use crate::types::Type;

pub struct Cx<'a, 's> {
    pub env: &'a Env<'s>,
    pub diags: &'a mut Vec<Diagnostic>,
    /// The source whose event is in scope (`on SOURCE`), with its message.
    pub source: Option<(SourceId, MessageId)>,
    /// The unit names a source that does not exist: its field reads are already wrong, so
    /// unknown names are not reported again.
    pub source_unknown: bool,
    /// Rules read scores; drops and scores run before scores exist.
    pub scores_visible: bool,
    /// What kind of unit this is, for messages ("a fn", "a const").
    pub what: &'static str,
    pub unit: Unit,
    scope: Vec<(String, LocalId)>,
    /// Place keys of optional values known to be present here.
    narrowed: Vec<String>,
    /// Inside `has(...)`: an optional value must stay optional.
    pub no_narrowing: u32,
    /// Expression nodes this unit has taken from the fns it inlines, bounded by
    /// `env::MAX_INLINED_NODES`; past it, a call is reported instead of copied (once: then it
    /// is `usize::MAX`).
    pub inlined_nodes: usize,
    /// The names this context resolved, for the editor features.
    pub refs: Vec<Ref>,
}

impl<'a, 's> Cx<'a, 's> {
    pub fn new(env: &'a Env<'s>, diags: &'a mut Vec<Diagnostic>, what: &'static str) -> Cx<'a, 's> {
        Cx {
            env,
            diags,
            source: None,
            source_unknown: false,
            scores_visible: false,
            what,
            unit: Unit::default(),
            scope: Vec::new(),
            narrowed: Vec::new(),
            no_narrowing: 0,
            inlined_nodes: 0,
            refs: Vec::new(),
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn ty(&self, t: &Type) -> String {
        self.env.type_name(t)
    }

    pub fn add_local(&mut self, name: &str, ty: Type, span: Span) -> LocalId {
        let id = LocalId(self.unit.locals.len() as u32);
        self.unit.locals.push(Local { name: name.to_owned(), ty, span });
        id
    }

    /// Declares a local and brings it into scope.
    pub fn bind(&mut self, name: &Name, ty: Type) -> LocalId {
        self.refs.push(Ref::new(name.span, Def::Local { binding: name.span }, ty.clone()));
        let id = self.add_local(&name.text, ty, name.span);
        self.scope.push((name.text.clone(), id));
        id
    }

    pub fn lookup_local(&self, name: &str) -> Option<LocalId> {
        self.scope.iter().rev().find(|(n, _)| n == name).map(|&(_, id)| id)
    }

    pub fn local_names(&self) -> impl Iterator<Item = &str> {
        self.scope.iter().map(|(n, _)| n.as_str())
    }

    /// Marks of the scope and the narrowing facts, to restore when a block ends.
    pub fn mark(&self) -> (usize, usize) {
        (self.scope.len(), self.narrowed.len())
    }

    pub fn reset(&mut self, mark: (usize, usize)) {
        self.scope.truncate(mark.0);
        self.narrowed.truncate(mark.1);
    }

    /// Assumes `cond` holds: every optional it proves present is narrowed until `reset`.
    pub fn assume(&mut self, cond: &Expr) {
        let mut facts = Vec::new();
        facts_of(cond, &mut facts);
        self.narrowed.extend(facts);
    }

    /// `T?` -> `T` when this place is known to be present.
    pub fn narrow(&self, e: Expr) -> Expr {
        if self.no_narrowing > 0 {
            return e;
        }
        let Type::Optional(inner) = &e.ty else { return e };
        match place_key(&e) {
            Some(key) if self.narrowed.contains(&key) => {
                let (ty, span) = ((**inner).clone(), e.span);
                Expr::new(ExprKind::Unwrap(Box::new(e)), ty, span)
            }
            _ => e,
        }
    }

    pub fn next_site(&mut self) -> u32 {
        let s = self.unit.velocity_sites;
        self.unit.velocity_sites += 1;
        s
    }

    /// Uses `e` where a `to` is needed, inserting the conversions the language allows
    /// (int to float, `T` to `T?`) and reporting anything else. `what` names the place
    /// ("field `key` of Counter", "the condition").
    pub fn coerce(&mut self, e: Expr, to: &Type, what: &dyn Fn() -> String) -> Expr {
        if e.ty == *to || e.ty.is_error() || to.is_error() {
            return e;
        }
        let span = e.span;
        match (&e.ty, to) {
            (Type::Int, Type::Float) => {
                if let ExprKind::Lit(Literal::Int(v)) = e.kind {
                    return Expr::lit(Literal::Float(v as f64), Type::Float, span);
                }
                Expr::new(ExprKind::IntToFloat(Box::new(e)), Type::Float, span)
            }
            (Type::Null, Type::Optional(_)) => Expr::lit(Literal::Null, to.clone(), span),
            (Type::Optional(from), Type::Optional(inner)) => {
                let from = (**from).clone();
                if from == Type::Int && **inner == Type::Float {
                    Expr::new(ExprKind::IntToFloat(Box::new(e)), to.clone(), span)
                } else {
                    self.mismatch(e, to, what)
                }
            }
            (_, Type::Optional(inner)) if !e.ty.is_optional() => {
                let inner = (**inner).clone();
                let converted = self.coerce(e, &inner, what);
                if converted.ty.is_error() {
                    return converted;
                }
                Expr::new(ExprKind::Some(Box::new(converted)), to.clone(), span)
            }
            (Type::Optional(_) | Type::Null, _) => {
                let msg = if e.ty == Type::Null {
                    format!("{} cannot be null", what())
                } else {
                    format!(
                        "{} must be {}, but this value may be null ({})",
                        what(),
                        article(&self.ty(to)),
                        self.ty(&e.ty)
                    )
                };
                self.error(
                    Diagnostic::new(Code::E0009, span, msg).label(format!("{} may be null", self.ty(&e.ty))).hint(
                        format!("give it a default with `?? {}`, or test it first with `has(...)`", default_text(to)),
                    ),
                );
                Expr::error(span)
            }
            (Type::List(from), Type::List(elem)) => {
                let (from, elem) = ((**from).clone(), (**elem).clone());
                match e.kind {
                    ExprKind::ListLit(items) => {
                        let items: Vec<Expr> = items.into_iter().map(|i| self.coerce(i, &elem, what)).collect();
                        Expr::new(ExprKind::ListLit(items), to.clone(), span)
                    }
                    ExprKind::Lit(Literal::List(items)) if from == Type::Int && elem == Type::Float => {
                        let items = items
                            .into_iter()
                            .map(|l| match l {
                                Literal::Int(v) => Literal::Float(v as f64),
                                other => other,
                            })
                            .collect();
                        Expr::lit(Literal::List(items), to.clone(), span)
                    }
                    ExprKind::Lit(Literal::List(ref items)) if items.is_empty() => {
                        Expr::lit(Literal::List(Vec::new()), to.clone(), span)
                    }
                    _ => self.mismatch(e, to, what),
                }
            }
            _ => self.mismatch(e, to, what),
        }
    }

    fn mismatch(&mut self, e: Expr, to: &Type, what: &dyn Fn() -> String) -> Expr {
        let (want, found) = (self.ty(to), self.ty(&e.ty));
        let hint = match (&e.ty, to) {
            (Type::Float, Type::Int) => {
                Some("turn a float into an int with round(x), floor(x), ceil(x) or to_int(x)".into())
            }
            (_, Type::String) if e.ty.is_scalar() => Some("turn a value into text with to_string(x)".into()),
            (Type::String, Type::Int) => Some("parse text with to_int(s), which gives an int?".into()),
            (Type::Int, Type::Enum(_)) => Some(format!("use a value of the enum, such as `{want}.NAME`")),
            _ => None,
        };
        self.error(
            Diagnostic::new(Code::E0008, e.span, format!("{} must be {}, found {found}", what(), article(&want)))
                .label(format!("this is {}", article(&found)))
                .maybe_hint(hint),
        );
        Expr::error(e.span)
    }
}

/// "an int", "a string", "an Item".
pub fn article(t: &str) -> String {
    let vowel = t.chars().next().is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {t}", if vowel { "an" } else { "a" })
}

/// A sensible default to suggest after `??` for a type.
pub fn default_text(t: &Type) -> String {
    match t.strip_optional() {
        Type::Int => "0".into(),
        Type::Float => "0.0".into(),
        Type::String => "\"\"".into(),
        Type::Bool => "false".into(),
        Type::Duration => "0ms".into(),
        Type::List(_) => "[]".into(),
        _ => "default".into(),
    }
}

/// A key naming a value that cannot change during one evaluation: a local, a field path of the
/// event, a literal index into one of those.
pub fn place_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Event => Some("$".into()),
        ExprKind::Local(id) => Some(format!("l{}", id.0)),
        ExprKind::Score(id) => Some(format!("s{}", id.0)),
        ExprKind::Unwrap(inner) | ExprKind::Some(inner) => place_key(inner),
        ExprKind::Field { base, index, .. } => Some(format!("{}.{index}", place_key(base)?)),
        ExprKind::Index { base, index } => match &index.kind {
            ExprKind::Lit(Literal::Int(i)) => Some(format!("{}[{i}]", place_key(base)?)),
            ExprKind::Lit(Literal::String(s)) => Some(format!("{}[{s:?}]", place_key(base)?)),
            _ => None,
        },
        _ => None,
    }
}

/// The places that are non-null whenever `cond` is true.
fn facts_of(cond: &Expr, out: &mut Vec<String>) {
    match &cond.kind {
        ExprKind::And(a, b) => {
            facts_of(a, out);
            facts_of(b, out);
        }
        ExprKind::Has(x) if x.ty.is_optional() => out.extend(place_key(x)),
        ExprKind::Compare { op: crate::ir::CmpOp::Ne, lhs, rhs } => {
            let is_null = |e: &Expr| matches!(e.kind, ExprKind::Lit(Literal::Null));
            if is_null(rhs) {
                out.extend(place_key(lhs));
            } else if is_null(lhs) {
                out.extend(place_key(rhs));
            }
        }
        _ => {}
    }
}
