//! Typing of expressions: names, fields, operators, literals, records.

use evr_grammar::ast::{self, BinOp, Span, UnOp};

use super::cx::{Cx, article, default_text};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::ir::{ArithOp, CmpOp, Expr, ExprKind, Literal, UnaryOp};
use crate::schema::TypeRef;
use crate::symbols::{Def, Ref};
use crate::types::Type;

impl Cx<'_, '_> {
    /// Types `e`. `expected` helps literals that cannot type themselves (records, `[]`, `null`);
    /// the caller still coerces the result.
    pub fn expr(&mut self, e: &ast::Expr, expected: Option<&Type>) -> Expr {
        let span = e.span;
        match &e.kind {
            ast::ExprKind::Int(v) => match i64::try_from(*v) {
                Ok(v) => Expr::lit(Literal::Int(v), Type::Int, span),
                Err(_) => {
                    self.error(
                        Diagnostic::new(Code::E0024, span, format!("integer {v} does not fit in an int"))
                            .label("too large")
                            .hint("ints are 64-bit signed: at most 9223372036854775807"),
                    );
                    Expr::error(span)
                }
            },
            ast::ExprKind::Float(v) => Expr::lit(Literal::Float(*v), Type::Float, span),
            ast::ExprKind::Str(s) => Expr::lit(Literal::String(s.clone()), Type::String, span),
            ast::ExprKind::Duration(ms) => Expr::lit(Literal::Duration(*ms), Type::Duration, span),
            ast::ExprKind::Bool(b) => Expr::lit(Literal::Bool(*b), Type::Bool, span),
            ast::ExprKind::Null => {
                let ty = match expected {
                    Some(t) if t.is_optional() => t.clone(),
                    _ => Type::Null,
                };
                Expr::lit(Literal::Null, ty, span)
            }
            ast::ExprKind::SelfRef => match self.source {
                Some((_, m)) => Expr::new(ExprKind::Event, Type::Message(m), span),
                None if self.source_unknown => Expr::error(span),
                None => {
                    self.error(
                        Diagnostic::new(Code::E0006, span, format!("`self` is not available in {}", self.what))
                            .label("no event here")
                            .hint("`self` is the event of a drop, score or rule declared `on SOURCE`"),
                    );
                    Expr::error(span)
                }
            },
            ast::ExprKind::Name(n) => match self.value_of_name(n) {
                Some(v) => v,
                None => {
                    self.unknown_name(n);
                    Expr::error(span)
                }
            },
            ast::ExprKind::List(items) => self.list(items, expected, span),
            ast::ExprKind::Record(r) => self.record(r, expected, span),
            ast::ExprKind::Unary(op, arg) => self.unary(*op, arg, span),
            ast::ExprKind::Binary(op, a, b) => self.binary(*op, a, b, expected, span),
            ast::ExprKind::In { needle, haystack, negated } => self.membership(needle, haystack, *negated, span),
            ast::ExprKind::Field(base, field) => self.field(base, field, span),
            ast::ExprKind::Index(base, index) => self.index(base, index, span),
            ast::ExprKind::Call { callee, args } => self.call(callee, args, span),
            ast::ExprKind::Lambda { .. } => {
                self.error(
                    Diagnostic::new(
                        Code::E0025,
                        span,
                        "a lambda can only be the last argument of any, all or count_if",
                    )
                    .label("lambda here"),
                );
                Expr::error(span)
            }
            ast::ExprKind::If { cond, then, otherwise } => {
                let cond = self.condition(cond, "the condition of `if`");
                let mark = self.mark();
                self.assume(&cond);
                let then = self.expr(then, expected);
                self.reset(mark);
                let otherwise = self.expr(otherwise, expected);
                let (then, otherwise, ty) = self.join(then, otherwise);
                Expr::new(
                    ExprKind::If { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) },
                    ty,
                    span,
                )
            }
            ast::ExprKind::Error => Expr::error(span),
        }
    }

    /// An expression that must be a bool.
    pub fn condition(&mut self, e: &ast::Expr, what: &str) -> Expr {
        let c = self.expr(e, Some(&Type::Bool));
        self.coerce(c, &Type::Bool, &|| what.to_owned())
    }

    /// A name as a value: a local, a field of the event, a score, a const.
    pub fn value_of_name(&mut self, n: &ast::Name) -> Option<Expr> {
        let span = n.span;
        if let Some(id) = self.lookup_local(&n.text) {
            let local = &self.unit.locals[id.0 as usize];
            let ty = local.ty.clone();
            self.refs.push(Ref::new(span, Def::Local { binding: local.span }, ty.clone()));
            return Some(self.narrow(Expr::new(ExprKind::Local(id), ty, span)));
        }
        if let Some((_, m)) = self.source
            && let Some((index, field)) = self.env.schema.message(m).field(&n.text)
        {
            self.refs.push(Ref::new(span, Def::Field { message: m, index }, field.ty.clone()));
            let event = Expr::new(ExprKind::Event, Type::Message(m), span);
            let read = Expr::new(ExprKind::Field { base: Box::new(event), message: m, index }, field.ty.clone(), span);
            return Some(self.narrow(read));
        }
        if self.scores_visible
            && let Some(info) = self.env.scores.get(&n.text)
            && (info.source == self.source.map(|s| s.0) || info.source.is_none())
        {
            self.refs.push(Ref::new(span, Def::Score(n.text.clone()), Type::Int));
            return Some(Expr::new(ExprKind::Score(info.id), Type::Int, span));
        }
        if let Some(c) = self.env.consts.get(&n.text) {
            let ty = c.value.as_ref().map_or(Type::Error, |(_, t)| t.clone());
            self.refs.push(Ref::new(span, Def::Const(n.text.clone()), ty));
            return Some(match &c.value {
                Some((lit, ty)) => Expr::lit(lit.clone(), ty.clone(), span),
                None => Expr::error(span),
            });
        }
        None
    }

    fn unknown_name(&mut self, n: &ast::Name) {
        if self.source_unknown {
            return;
        }
        let mut candidates: Vec<&str> = self.local_names().collect();
        if let Some((_, m)) = self.source {
            candidates.extend(self.env.schema.message(m).fields.iter().map(|f| f.name.as_str()));
        }
        if self.scores_visible {
            candidates.extend(self.env.scores.keys().map(String::as_str));
        }
        candidates.extend(self.env.consts.keys().map(String::as_str));
        let mut hint = did_you_mean(&n.text, candidates);
        let mut label = "not found in this scope".to_owned();
        if hint.is_none() {
            if let Some(info) = self.env.scores.get(&n.text) {
                label = "a score is not visible here".into();
                hint = Some(if self.scores_visible {
                    let src = info.source.map_or("another source", |s| &self.env.program.sources[s.0 as usize].name);
                    format!("score `{}` is computed on `{src}`; rules read the scores of their own source", n.text)
                } else {
                    "scores are computed after drops and are read by rules only".into()
                });
            } else if self.what == "a const" {
                hint = Some("a const may use only the consts declared before it; move this one after them".into());
            } else if self.source.is_none() {
                hint = Some(format!(
                    "{} sees only its parameters and consts; pass event fields to it as arguments",
                    self.what
                ));
            } else if self.env.fns.contains_key(&n.text) || evr_stdlib::Builtin::from_name(&n.text).is_some() {
                hint = Some(format!("`{}` is a function: call it as `{}(...)`", n.text, n.text));
            }
        }
        self.error(
            Diagnostic::new(Code::E0006, n.span, format!("unknown name `{}`", n.text)).label(label).maybe_hint(hint),
        );
    }

    fn list(&mut self, items: &[ast::Expr], expected: Option<&Type>, span: Span) -> Expr {
        let elem_expected = match expected.map(Type::strip_optional) {
            Some(Type::List(t)) => Some((**t).clone()),
            _ => None,
        };
        let mut typed: Vec<Expr> = items.iter().map(|i| self.expr(i, elem_expected.as_ref())).collect();
        let elem = match &elem_expected {
            Some(t) => t.clone(),
            None => {
                let Some(first) = typed.first() else {
                    self.error(
                        Diagnostic::new(Code::E0021, span, "cannot tell the element type of an empty list")
                            .label("empty list")
                            .hint("use it where a list type is known, e.g. as a field of an emitted record"),
                    );
                    return Expr::error(span);
                };
                let mut ty = first.ty.clone();
                for t in &typed[1..] {
                    ty = match (&ty, &t.ty) {
                        (a, b) if a == b => ty,
                        (Type::Error, _) => t.ty.clone(),
                        (_, Type::Error) => ty,
                        (Type::Int, Type::Float) | (Type::Float, Type::Int) => Type::Float,
                        (Type::Null, b) => b.clone().optional(),
                        (a, Type::Null) => a.clone().optional(),
                        (Type::Optional(a), b) | (b, Type::Optional(a)) if **a == *b => Type::Optional(a.clone()),
                        (a, b) => {
                            let (a, b) = (self.ty(a), self.ty(b));
                            self.error(
                                Diagnostic::new(
                                    Code::E0008,
                                    t.span,
                                    format!("list elements differ in type: {a} and {b}"),
                                )
                                .label(format!("this is {}", article(&b)))
                                .secondary(first.span, format!("the list starts with {}", article(&a))),
                            );
                            Type::Error
                        }
                    };
                }
                ty
            }
        };
        typed = typed.into_iter().map(|t| self.coerce(t, &elem, &|| "a list element".to_owned())).collect();
        let ty = Type::list(elem);
        let literals: Option<Vec<Literal>> = typed
            .iter()
            .map(|t| match &t.kind {
                ExprKind::Lit(l) if !matches!(l, Literal::List(_)) => Some(l.clone()),
                _ => None,
            })
            .collect();
        match literals {
            Some(lits) => Expr::lit(Literal::List(lits), ty, span),
            None => Expr::new(ExprKind::ListLit(typed), ty, span),
        }
    }

    fn unary(&mut self, op: UnOp, arg: &ast::Expr, span: Span) -> Expr {
        match op {
            UnOp::Not => {
                let a = self.condition(arg, "the operand of `!`");
                if let ExprKind::Lit(Literal::Bool(b)) = a.kind {
                    return Expr::lit(Literal::Bool(!b), Type::Bool, span);
                }
                Expr::new(ExprKind::Unary { op: UnaryOp::Not, arg: Box::new(a) }, Type::Bool, span)
            }
            UnOp::Neg => {
                // `-9223372036854775808` is an int although its digits alone are not.
                if let ast::ExprKind::Int(v) = arg.kind {
                    return match i64::try_from(-(i128::from(v))) {
                        Ok(n) => Expr::lit(Literal::Int(n), Type::Int, span),
                        Err(_) => {
                            self.error(
                                Diagnostic::new(Code::E0024, span, format!("integer -{v} does not fit in an int"))
                                    .label("too small")
                                    .hint("ints are 64-bit signed: at least -9223372036854775808"),
                            );
                            Expr::error(span)
                        }
                    };
                }
                let a = self.expr(arg, None);
                let a = self.require_present(a, "the operand of `-`");
                let op = match a.ty {
                    Type::Int => UnaryOp::NegInt,
                    Type::Float => UnaryOp::NegFloat,
                    Type::Duration => UnaryOp::NegDuration,
                    Type::Error => return Expr::error(span),
                    _ => {
                        let t = self.ty(&a.ty);
                        self.error(
                            Diagnostic::new(Code::E0008, a.span, format!("cannot negate {}", article(&t)))
                                .label(format!("this is {}", article(&t))),
                        );
                        return Expr::error(span);
                    }
                };
                match (&a.kind, op) {
                    (ExprKind::Lit(Literal::Float(f)), UnaryOp::NegFloat) => {
                        Expr::lit(Literal::Float(-f), Type::Float, span)
                    }
                    (ExprKind::Lit(Literal::Duration(d)), UnaryOp::NegDuration) => {
                        Expr::lit(Literal::Duration(-d), Type::Duration, span)
                    }
                    _ => {
                        let ty = a.ty.clone();
                        Expr::new(ExprKind::Unary { op, arg: Box::new(a) }, ty, span)
                    }
                }
            }
        }
    }

    /// Reports a `T?` operand (with the `??` hint) and gives back something usable as a `T`.
    pub fn require_present(&mut self, e: Expr, what: &str) -> Expr {
        match &e.ty {
            Type::Optional(inner) => {
                let t = self.ty(inner);
                let opt = self.ty(&e.ty);
                self.error(
                    Diagnostic::new(
                        Code::E0009,
                        e.span,
                        format!("{what} may be null ({opt}); it must be {}", article(&t)),
                    )
                    .label(format!("{opt} may be null"))
                    .hint(format!(
                        "give it a default with `?? {}`, or test it first with `has(...)`",
                        default_text(inner)
                    )),
                );
                Expr::error(e.span)
            }
            Type::Null => {
                self.error(Diagnostic::new(Code::E0009, e.span, format!("{what} cannot be null")).label("null here"));
                Expr::error(e.span)
            }
            _ => e,
        }
    }

    fn binary(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr, expected: Option<&Type>, span: Span) -> Expr {
        match op {
            BinOp::And | BinOp::Or => {
                let word = if op == BinOp::And { "&&" } else { "||" };
                let lhs = self.condition(a, &format!("the left side of `{word}`"));
                let mark = self.mark();
                if op == BinOp::And {
                    self.assume(&lhs);
                }
                let rhs = self.condition(b, &format!("the right side of `{word}`"));
                self.reset(mark);
                let kind = if op == BinOp::And {
                    ExprKind::And(Box::new(lhs), Box::new(rhs))
                } else {
                    ExprKind::Or(Box::new(lhs), Box::new(rhs))
                };
                Expr::new(kind, Type::Bool, span)
            }
            BinOp::Coalesce => self.coalesce(a, b, expected, span),
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let lhs = self.expr(a, None);
                let rhs = self.expr(b, Some(&lhs.ty));
                let lhs = if lhs.ty == Type::Null && rhs.ty.is_optional() {
                    Expr::lit(Literal::Null, rhs.ty.clone(), lhs.span)
                } else {
                    lhs
                };
                self.compare(op, lhs, rhs, span)
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let lhs = self.expr(a, None);
                let rhs = self.expr(b, None);
                self.arith(op, lhs, rhs, span)
            }
        }
    }

    fn coalesce(&mut self, a: &ast::Expr, b: &ast::Expr, expected: Option<&Type>, span: Span) -> Expr {
        let value = self.expr(a, expected.map(|t| t.clone().optional()).as_ref());
        match value.ty.clone() {
            Type::Optional(inner) => {
                let default = self.expr(b, Some(&inner));
                let inner = *inner;
                // int? ?? float gives a float; float? ?? int gives a float too.
                let (value, inner) = if inner == Type::Int && default.ty.strip_optional() == &Type::Float {
                    (self.coerce(value, &Type::Float.optional(), &|| unreachable_what()), Type::Float)
                } else {
                    (value, inner)
                };
                let target = if default.ty.is_optional() { inner.clone().optional() } else { inner.clone() };
                let default = self.coerce(default, &target, &|| "the default after `??`".to_owned());
                let ty = if default.ty.is_error() { inner } else { target };
                Expr::new(ExprKind::Coalesce { value: Box::new(value), default: Box::new(default) }, ty, span)
            }
            Type::Error => {
                self.expr(b, None);
                Expr::error(span)
            }
            Type::Null => {
                self.error(Diagnostic::new(Code::E0021, value.span, "`null ?? x` is always `x`").label("always null"));
                self.expr(b, expected)
            }
            other => {
                let t = self.ty(&other);
                self.error(
                    Diagnostic::new(Code::W0001, value.span, format!("this {t} is never null, so `??` never applies"))
                        .label(format!("{} that is never null", article(&t)))
                        .hint("remove the `?? default`"),
                );
                let default = self.expr(b, Some(&other));
                self.coerce(default, &other, &|| "the default after `??`".to_owned());
                value
            }
        }
    }

    fn compare(&mut self, op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
        let cmp = match op {
            BinOp::Eq => CmpOp::Eq,
            BinOp::Ne => CmpOp::Ne,
            BinOp::Lt => CmpOp::Lt,
            BinOp::Le => CmpOp::Le,
            BinOp::Gt => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        let ordering = !matches!(cmp, CmpOp::Eq | CmpOp::Ne);
        if lhs.ty.is_error() || rhs.ty.is_error() {
            return Expr::error(span);
        }
        // Null against a value that is never null is a mistake, not a constant.
        for (side, other) in [(&lhs, &rhs), (&rhs, &lhs)] {
            if side.ty == Type::Null && !other.ty.is_optional() {
                let t = self.ty(&other.ty);
                let hint = match &other.ty {
                    Type::Message(_) => "test presence with has(x)".to_owned(),
                    t => format!("compare with the default value instead, e.g. `{}`", default_text(t)),
                };
                self.error(
                    Diagnostic::new(Code::E0008, other.span, format!("{} is never null", article(&t)))
                        .label(format!("this is {}, not {t}?", article(&t)))
                        .hint(hint),
                );
                return Expr::error(span);
            }
        }
        let (lt, rt) = (lhs.ty.strip_optional().clone(), rhs.ty.strip_optional().clone());
        let (lhs, rhs) = match (&lt, &rt) {
            (Type::Int, Type::Float) => {
                let to = if lhs.ty.is_optional() { Type::Float.optional() } else { Type::Float };
                (self.coerce(lhs, &to, &unreachable_what), rhs)
            }
            (Type::Float, Type::Int) => {
                let to = if rhs.ty.is_optional() { Type::Float.optional() } else { Type::Float };
                (lhs, self.coerce(rhs, &to, &unreachable_what))
            }
            _ => (lhs, rhs),
        };
        let (lt, rt) = (lhs.ty.strip_optional().clone(), rhs.ty.strip_optional().clone());
        let comparable = lt == rt || lt == Type::Null || rt == Type::Null;
        let kind_ok = |t: &Type| {
            if ordering {
                matches!(t, Type::Int | Type::Float | Type::String | Type::Duration | Type::Bytes | Type::Null)
            } else {
                t.is_scalar() || *t == Type::Null
            }
        };
        if !comparable || !kind_ok(&lt) || !kind_ok(&rt) {
            let (a, b) = (self.ty(&lhs.ty), self.ty(&rhs.ty));
            let msg = if comparable {
                format!("values of type {a} cannot be compared with `{}`", op.symbol())
            } else {
                format!("cannot compare {a} with {b}")
            };
            let hint = match (&lt, &rt) {
                (Type::String, Type::Int) | (Type::Int, Type::String) => {
                    Some("convert one side: to_string(x), or to_int(s) ?? 0".to_owned())
                }
                (Type::Enum(e), _) | (_, Type::Enum(e)) => {
                    Some(format!("compare with a value of the enum, such as `{}.NAME`", self.env.schema.enum_(*e).name))
                }
                _ => None,
            };
            self.error(
                Diagnostic::new(Code::E0008, span, msg)
                    .label(format!("{a} {} {b}", op.symbol()))
                    .secondary(lhs.span, format!("this is {}", article(&a)))
                    .secondary(rhs.span, format!("this is {}", article(&b)))
                    .maybe_hint(hint),
            );
            return Expr::error(span);
        }
        Expr::new(ExprKind::Compare { op: cmp, lhs: Box::new(lhs), rhs: Box::new(rhs) }, Type::Bool, span)
    }

    fn arith(&mut self, op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
        let what = |side: &str| format!("the {side} side of `{}`", op.symbol());
        let lhs = self.require_present(lhs, &what("left"));
        let rhs = self.require_present(rhs, &what("right"));
        if lhs.ty.is_error() || rhs.ty.is_error() {
            return Expr::error(span);
        }
        use ArithOp::*;
        let pick = |int, float| match (&lhs.ty, &rhs.ty) {
            (Type::Int, Type::Int) => Some((int, Type::Int)),
            (Type::Int | Type::Float, Type::Int | Type::Float) => Some((float, Type::Float)),
            _ => None,
        };
        let resolved = match op {
            BinOp::Add => match (&lhs.ty, &rhs.ty) {
                (Type::String, Type::String) => Some((Concat, Type::String)),
                (Type::Duration, Type::Duration) => Some((AddDuration, Type::Duration)),
                _ => pick(AddInt, AddFloat),
            },
            BinOp::Sub => match (&lhs.ty, &rhs.ty) {
                (Type::Duration, Type::Duration) => Some((SubDuration, Type::Duration)),
                _ => pick(SubInt, SubFloat),
            },
            BinOp::Mul => pick(MulInt, MulFloat),
            BinOp::Div => pick(DivInt, DivFloat),
            _ => pick(RemInt, RemFloat),
        };
        let Some((op_ir, ty)) = resolved else {
            let (a, b) = (self.ty(&lhs.ty), self.ty(&rhs.ty));
            let verb = match op {
                BinOp::Add => "add",
                BinOp::Sub => "subtract",
                BinOp::Mul => "multiply",
                BinOp::Div => "divide",
                _ => "take the remainder of",
            };
            let hint = if op == BinOp::Add && (lhs.ty == Type::String || rhs.ty == Type::String) {
                Some("`+` joins two strings; turn the other side into text with to_string(x)".to_owned())
            } else {
                None
            };
            self.error(
                Diagnostic::new(Code::E0008, span, format!("cannot {verb} {a} and {b}"))
                    .label(format!("{a} {} {b}", op.symbol()))
                    .maybe_hint(hint),
            );
            return Expr::error(span);
        };
        let (lhs, rhs) = if ty == Type::Float {
            (self.coerce(lhs, &Type::Float, &unreachable_what), self.coerce(rhs, &Type::Float, &unreachable_what))
        } else {
            (lhs, rhs)
        };
        Expr::new(ExprKind::Arith { op: op_ir, lhs: Box::new(lhs), rhs: Box::new(rhs) }, ty, span)
    }

    fn membership(&mut self, needle: &ast::Expr, haystack: &ast::Expr, negated: bool, span: Span) -> Expr {
        let needle = self.expr(needle, None);
        let list = self.expr(haystack, None);
        if needle.ty.is_error() || list.ty.is_error() {
            return Expr::error(span);
        }
        let elem = match &list.ty {
            Type::List(t) => (**t).clone(),
            other => {
                let t = self.ty(other);
                self.error(
                    Diagnostic::new(
                        Code::E0008,
                        list.span,
                        format!("`in` needs a list on its right, found {}", article(&t)),
                    )
                    .label(format!("this is {}", article(&t)))
                    .hint("for maps, use contains_key(map, key)"),
                );
                return Expr::error(span);
            }
        };
        let target = if needle.ty.is_optional() { elem.clone().optional() } else { elem.clone() };
        let (n, e) = (self.ty(&needle.ty), self.ty(&Type::list(elem.clone())));
        let needle = if needle.ty.strip_optional() == &elem || needle.ty == Type::Null {
            needle
        } else if needle.ty.strip_optional() == &Type::Int && elem == Type::Float {
            self.coerce(needle, &target, &unreachable_what)
        } else {
            self.error(
                Diagnostic::new(Code::E0008, span, format!("cannot look for {} in a {e}", article(&n)))
                    .label(format!("{n} in {e}"))
                    .secondary(needle.span, format!("this is {}", article(&n))),
            );
            return Expr::error(span);
        };
        let kind = match list.kind {
            ExprKind::Lit(Literal::List(items)) => {
                let set = std::sync::Arc::new(crate::const_set::ConstSet::new(items, &elem));
                ExprKind::InSet { needle: Box::new(needle), set, negated }
            }
            _ => ExprKind::In { needle: Box::new(needle), list: Box::new(list), negated },
        };
        Expr::new(kind, Type::Bool, span)
    }

    fn field(&mut self, base: &ast::Expr, field: &ast::Name, span: Span) -> Expr {
        if let Some(v) = self.enum_value(base, field, span) {
            return v;
        }
        let base = self.expr(base, None);
        let (message, optional) = match &base.ty {
            Type::Message(m) => (*m, false),
            Type::Optional(inner) => match **inner {
                Type::Message(m) => (m, true),
                _ => return self.no_fields(&base, field),
            },
            Type::Error => return Expr::error(span),
            _ => return self.no_fields(&base, field),
        };
        let msg = self.env.schema.message(message);
        let Some((index, f)) = msg.field(&field.text) else {
            let hint = did_you_mean(&field.text, msg.fields.iter().map(|f| f.name.as_str())).or_else(|| {
                camel_hint(&field.text, msg.fields.iter().map(|f| (f.name.as_str(), f.json_name.as_str())))
            });
            self.error(
                Diagnostic::new(Code::E0007, field.span, format!("{} has no field `{}`", msg.name, field.text))
                    .label(format!("unknown field of {}", msg.name))
                    .maybe_hint(hint),
            );
            return Expr::error(span);
        };
        let ty = if optional { f.ty.clone().optional() } else { f.ty.clone() };
        self.refs.push(Ref::new(field.span, Def::Field { message, index }, ty.clone()));
        let read = Expr::new(ExprKind::Field { base: Box::new(base), message, index }, ty, span);
        self.narrow(read)
    }

    fn no_fields(&mut self, base: &Expr, field: &ast::Name) -> Expr {
        let t = self.ty(&base.ty);
        self.error(
            Diagnostic::new(
                Code::E0007,
                field.span,
                format!("{} has no fields; `.{}` needs a message", article(&t), field.text),
            )
            .label("no such field")
            .secondary(base.span, format!("this is {}", article(&t))),
        );
        Expr::error(base.span.to(field.span))
    }

    /// `Enum.VALUE` (or `pkg.Enum.VALUE`), when the part before the last dot names an enum type
    /// rather than a value.
    fn enum_value(&mut self, base: &ast::Expr, field: &ast::Name, span: Span) -> Option<Expr> {
        let mut segments = Vec::new();
        if !dotted(base, &mut segments) {
            return None;
        }
        if self.lookup_local(&segments[0].text).is_some() || {
            let first = segments[0];
            self.source.is_some_and(|(_, m)| self.env.schema.message(m).field(&first.text).is_some())
                || self.env.consts.contains_key(&first.text)
                || (self.scores_visible && self.env.scores.contains_key(&first.text))
        } {
            return None;
        }
        let names: Vec<&str> = segments.iter().map(|n| n.text.as_str()).collect();
        match self.env.type_ref(&names) {
            Some(TypeRef::Enum(id)) => {
                self.refs.push(Ref::new(base.span, Def::Type(TypeRef::Enum(id)), Type::Enum(id)));
                let e = self.env.schema.enum_(id);
                match e.value(&field.text) {
                    Some(v) => {
                        self.refs.push(Ref::new(field.span, Def::EnumValue { id, value: v }, Type::Enum(id)));
                        Some(Expr::lit(Literal::Enum(id, v), Type::Enum(id), span))
                    }
                    None => {
                        let hint = did_you_mean(&field.text, e.values.iter().map(|(n, _)| n.as_str())).or_else(|| {
                            let all: Vec<&str> = e.values.iter().map(|(n, _)| n.as_str()).collect();
                            Some(format!("its values are {}", all.join(", ")))
                        });
                        self.error(
                            Diagnostic::new(
                                Code::E0018,
                                field.span,
                                format!("enum {} has no value `{}`", e.name, field.text),
                            )
                            .label(format!("not a value of {}", e.name))
                            .maybe_hint(hint),
                        );
                        Some(Expr::error(span))
                    }
                }
            }
            Some(TypeRef::Message(id)) => {
                let m = &self.env.schema.message(id).name;
                self.error(
                    Diagnostic::new(Code::E0008, base.span, format!("{m} is a message type, not a value"))
                        .label("a type")
                        .hint("fields are read from values: from the event in scope, a local, or a lambda parameter"),
                );
                Some(Expr::error(span))
            }
            None if segments.len() == 1 => None,
            None => {
                // `a.b.c` where `a` is not a value: report `a` (the unknown name).
                let n = segments[0].clone();
                self.unknown_name(&n);
                Some(Expr::error(span))
            }
        }
    }

    fn index(&mut self, base: &ast::Expr, index: &ast::Expr, span: Span) -> Expr {
        let base = self.expr(base, None);
        let base = self.require_present(base, "the value being indexed");
        let (key_ty, value_ty) = match &base.ty {
            Type::List(t) => (Type::Int, (**t).clone()),
            Type::Map(k, v) => ((**k).clone(), (**v).clone()),
            Type::Error => {
                self.expr(index, None);
                return Expr::error(span);
            }
            other => {
                let t = self.ty(other);
                self.error(
                    Diagnostic::new(Code::E0008, base.span, format!("cannot index {}", article(&t)))
                        .label(format!("this is {}", article(&t)))
                        .hint("`[...]` reads an element of a list or a map"),
                );
                self.expr(index, None);
                return Expr::error(span);
            }
        };
        let i = self.expr(index, Some(&key_ty));
        let i = self.coerce(i, &key_ty, &|| "the index".to_owned());
        let read = Expr::new(ExprKind::Index { base: Box::new(base), index: Box::new(i) }, value_ty.optional(), span);
        self.narrow(read)
    }

    /// Joins the two branches of an `if` expression into one type.
    pub fn join(&mut self, a: Expr, b: Expr) -> (Expr, Expr, Type) {
        let ty = match (&a.ty, &b.ty) {
            (x, y) if x == y => x.clone(),
            (Type::Error, y) => y.clone(),
            (x, Type::Error) => x.clone(),
            (Type::Int, Type::Float) | (Type::Float, Type::Int) => Type::Float,
            (Type::Null, y) => y.clone().optional(),
            (x, Type::Null) => x.clone().optional(),
            (Type::Optional(x), y) | (y, Type::Optional(x)) if **x == *y => Type::Optional(x.clone()),
            (Type::Optional(x), y) | (y, Type::Optional(x))
                if matches!((&**x, y.strip_optional()), (Type::Int, Type::Float) | (Type::Float, Type::Int)) =>
            {
                Type::Float.optional()
            }
            (x, y) => {
                let (x, y) = (self.ty(x), self.ty(y));
                self.error(
                    Diagnostic::new(Code::E0008, b.span, format!("the branches of `if` differ in type: {x} and {y}"))
                        .label(format!("this is {}", article(&y)))
                        .secondary(a.span, format!("this is {}", article(&x))),
                );
                return (a, b, Type::Error);
            }
        };
        let what = || "a branch of `if`".to_owned();
        let a = self.coerce(a, &ty, &what);
        let b = self.coerce(b, &ty, &what);
        (a, b, ty)
    }

    /// A record literal `{ ..spread, field: value }` of a message type, or `{ "k": v }` of a map type.
    pub fn record(&mut self, r: &ast::Record, expected: Option<&Type>, span: Span) -> Expr {
        match expected.map(Type::strip_optional) {
            Some(Type::Message(m)) => self.message_record(r, *m, span),
            Some(Type::Map(k, v)) => self.map_record(r, &k.clone(), &v.clone(), None, span),
            Some(Type::Error) => Expr::error(span),
            Some(other) => {
                let t = self.ty(other);
                self.error(
                    Diagnostic::new(Code::E0008, span, format!("a record literal cannot be {}", article(&t)))
                        .label(format!("{t} expected here")),
                );
                Expr::error(span)
            }
            // `{ "k": v, ... }` with quoted keys alone reads as a map<string, V>.
            None if r.spread.is_none()
                && !r.fields.is_empty()
                && r.fields.iter().all(|f| matches!(f.key, ast::FieldKey::Str(..))) =>
            {
                let values: Vec<Expr> = r.fields.iter().map(|f| self.expr(&f.value, None)).collect();
                let mut ty = values[0].ty.clone();
                for v in &values[1..] {
                    let (_, _, joined) = self.join(Expr::error(v.span).with_type(ty.clone()), v.clone());
                    ty = joined;
                }
                if ty == Type::Null {
                    ty = Type::Error;
                }
                self.map_record(r, &Type::String, &ty, Some(values), span)
            }
            None => {
                self.error(
                    Diagnostic::new(Code::E0021, span, "cannot tell which message this record literal builds")
                        .label("record of unknown type")
                        .hint("record literals stand where a message type is known: in emit, given and expect, or as a field of another record"),
                );
                Expr::error(span)
            }
        }
    }

    fn message_record(&mut self, r: &ast::Record, m: crate::schema::MessageId, span: Span) -> Expr {
        let ty = Type::Message(m);
        let spread = r.spread.as_ref().map(|s| {
            let e = self.expr(s, Some(&ty));
            let name = self.env.schema.message(m).name.clone();
            Box::new(self.coerce(e, &ty, &|| format!("the spread into a {name} record")))
        });
        let mut fields: Vec<(u32, Expr)> = Vec::new();
        let mut seen: Vec<(u32, Span)> = Vec::new();
        for f in &r.fields {
            let msg = self.env.schema.message(m);
            let Some((index, field)) = msg.field(f.key.text()) else {
                let hint = did_you_mean(f.key.text(), msg.fields.iter().map(|f| f.name.as_str())).or_else(|| {
                    camel_hint(f.key.text(), msg.fields.iter().map(|f| (f.name.as_str(), f.json_name.as_str())))
                });
                self.error(
                    Diagnostic::new(Code::E0007, f.key.span(), format!("{} has no field `{}`", msg.name, f.key.text()))
                        .label(format!("unknown field of {}", msg.name))
                        .maybe_hint(hint),
                );
                self.expr(&f.value, None);
                continue;
            };
            let (field_ty, field_name, msg_name) = (field.ty.clone(), field.name.clone(), msg.name.clone());
            self.refs.push(Ref::new(f.key.span(), Def::Field { message: m, index }, field_ty.clone()));
            if let Some((_, first)) = seen.iter().find(|(i, _)| *i == index) {
                self.error(
                    Diagnostic::new(Code::E0010, f.key.span(), format!("field `{field_name}` is given twice"))
                        .label("again here")
                        .secondary(*first, "first given here"),
                );
                continue;
            }
            if let Some(oneof) = field.oneof
                && let Some(&(other, other_span)) =
                    seen.iter().find(|(i, _)| msg.fields[*i as usize].oneof == Some(oneof))
            {
                let (other_name, oneof_name) = (&msg.fields[other as usize].name, &msg.oneofs[oneof as usize]);
                self.error(
                    Diagnostic::new(
                        Code::E0030,
                        f.key.span(),
                        format!("`{other_name}` and `{field_name}` are members of oneof `{oneof_name}`: a record sets one of them"),
                    )
                    .label(format!("a second member of `{oneof_name}`"))
                    .secondary(other_span, "the first one")
                    .hint("keep one of them; choose between them with `if`"),
                );
                continue;
            }
            seen.push((index, f.key.span()));
            // Setting a member of a oneof unsets the others the spread may have set.
            if spread.is_some() {
                let siblings: Vec<(u32, Type)> =
                    msg.oneof_siblings(index as usize).map(|i| (i as u32, msg.fields[i].ty.clone())).collect();
                for (sibling, t) in siblings {
                    fields.push((sibling, Expr::lit(Literal::Null, t, f.key.span())));
                }
            }
            let value = self.expr(&f.value, Some(&field_ty));
            let value = self.coerce(value, &field_ty, &|| format!("field `{field_name}` of {msg_name}"));
            fields.push((index, value));
        }
        Expr::new(ExprKind::Record { message: m, spread, fields }, ty, span)
    }

    /// `typed` holds the values when the caller already typed them (to infer the map's type).
    fn map_record(&mut self, r: &ast::Record, k: &Type, v: &Type, typed: Option<Vec<Expr>>, span: Span) -> Expr {
        let mut typed = typed.map(Vec::into_iter);
        if let Some(s) = &r.spread {
            self.error(
                Diagnostic::new(Code::E0008, s.span, "a map literal cannot spread another value")
                    .label("not allowed here"),
            );
        }
        let mut entries = Vec::new();
        for f in &r.fields {
            let text = f.key.text();
            let key = match k {
                Type::String => Literal::String(text.to_owned()),
                Type::Int => match text.parse::<i64>() {
                    Ok(i) => Literal::Int(i),
                    Err(_) => {
                        self.error(
                            Diagnostic::new(Code::E0008, f.key.span(), format!("map key `{text}` is not an int"))
                                .label("this map has int keys"),
                        );
                        continue;
                    }
                },
                Type::Bool => match text {
                    "true" => Literal::Bool(true),
                    "false" => Literal::Bool(false),
                    _ => {
                        self.error(
                            Diagnostic::new(Code::E0008, f.key.span(), format!("map key `{text}` is not a bool"))
                                .label("this map has bool keys"),
                        );
                        continue;
                    }
                },
                _ => continue,
            };
            let value = match typed.as_mut().and_then(Iterator::next) {
                Some(done) => done,
                None => self.expr(&f.value, Some(v)),
            };
            let value = self.coerce(value, v, &|| format!("the value of map key `{text}`"));
            entries.push((Expr::lit(key, k.clone(), f.key.span()), value));
        }
        Expr::new(ExprKind::MapLit(entries), Type::Map(Box::new(k.clone()), Box::new(v.clone())), span)
    }
}

/// Collects `a.b.c` as names; false when the expression is anything else.
fn dotted<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Name>) -> bool {
    match &e.kind {
        ast::ExprKind::Name(n) => {
            out.push(n);
            true
        }
        ast::ExprKind::Field(base, f) => {
            if !dotted(base, out) {
                return false;
            }
            out.push(f);
            true
        }
        _ => false,
    }
}

/// Rule authors used to JSON often write `userId` for `user_id`.
fn camel_hint<'a>(wanted: &str, fields: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    fields
        .filter(|(_, json)| *json == wanted)
        .map(|(name, _)| format!("fields are named by their proto names: `{name}`"))
        .next()
}

fn unreachable_what() -> String {
    "this value".to_owned()
}
