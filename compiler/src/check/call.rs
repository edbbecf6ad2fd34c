//! Calls: builtins (overloads, constant arguments, lambdas, velocity sites) and fns (inlined).

use evr_grammar::ast::{self, Span};
use evr_stdlib::Builtin;
use evr_stdlib::constant;
use evr_stdlib::signature::{Param, Ret};

use super::cx::{Cx, article};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::ir::{Expr, ExprKind, ListPredKind, Literal, LocalId};
use crate::symbols::{Def, Ref};
use crate::types::Type;

impl Cx<'_, '_> {
    pub fn call(&mut self, callee: &ast::Expr, args: &[ast::Expr], span: Span) -> Expr {
        let ast::ExprKind::Name(name) = &callee.kind else {
            self.error(
                Diagnostic::new(Code::E0016, callee.span, "only named functions can be called")
                    .label("not a function name"),
            );
            return Expr::error(span);
        };
        if self.env.fns.contains_key(&name.text) {
            let e = self.call_fn(name, args, span);
            self.refs.push(Ref::new(name.span, Def::Fn(name.text.clone()), e.ty.clone()));
            return e;
        }
        match Builtin::from_name(&name.text) {
            Some(b) => {
                let e = self.call_builtin(b, name, args, span);
                self.refs.push(Ref::new(name.span, Def::Builtin(b), e.ty.clone()));
                e
            }
            None => {
                let candidates = Builtin::ALL.iter().map(|b| b.name()).chain(self.env.fns.keys().map(String::as_str));
                let hint = did_you_mean(&name.text, candidates).or_else(|| {
                    Some("declare it with `fn NAME(x: T) -> R = ...;`, or see docs/LANGUAGE.md for the builtins".into())
                });
                self.error(
                    Diagnostic::new(Code::E0016, name.span, format!("unknown function `{}`", name.text))
                        .label("no builtin or fn has this name")
                        .maybe_hint(hint),
                );
                for a in args {
                    if !matches!(a.kind, ast::ExprKind::Lambda { .. }) {
                        self.expr(a, None);
                    }
                }
                Expr::error(span)
            }
        }
    }

    fn arity_error(&mut self, name: &ast::Name, want: usize, got: usize, span: Span, signature: &str) {
        let plural = if want == 1 { "" } else { "s" };
        let were = if got == 1 { "was" } else { "were" };
        self.error(
            Diagnostic::new(
                Code::E0017,
                span,
                format!("`{}` takes {want} argument{plural}, but {got} {were} given", name.text),
            )
            .label(format!("{got} argument{}", if got == 1 { "" } else { "s" }))
            .hint(format!("the signature is {signature}")),
        );
    }

    fn call_builtin(&mut self, b: Builtin, name: &ast::Name, args: &[ast::Expr], span: Span) -> Expr {
        let signature = b.doc().lines().next().unwrap_or(b.name());
        let params = b.overloads()[0].params;
        if args.len() != params.len() {
            self.arity_error(name, params.len(), args.len(), span, signature);
            for a in args {
                if !matches!(a.kind, ast::ExprKind::Lambda { .. }) {
                    self.expr(a, None);
                }
            }
            return Expr::error(span);
        }
        // Type the arguments; lambdas wait until the list before them is typed.
        let mut typed: Vec<Option<Expr>> = Vec::with_capacity(args.len());
        for (i, (a, p)) in args.iter().zip(params).enumerate() {
            let is_lambda = matches!(a.kind, ast::ExprKind::Lambda { .. });
            match (p, is_lambda) {
                (Param::Predicate, true) => typed.push(None),
                (Param::Predicate, false) => {
                    self.error(
                        Diagnostic::new(
                            Code::E0025,
                            a.span,
                            format!("the last argument of `{}` must be a lambda", b.name()),
                        )
                        .label("not a lambda")
                        .hint(format!("write it as `{}(list, x => condition on x)`", b.name())),
                    );
                    self.expr(a, None);
                    return Expr::error(span);
                }
                (_, true) => {
                    self.error(
                        Diagnostic::new(
                            Code::E0025,
                            a.span,
                            format!("argument {} of `{}` cannot be a lambda", i + 1, b.name()),
                        )
                        .label("lambda here"),
                    );
                    return Expr::error(span);
                }
                (Param::Presence, false) => {
                    self.no_narrowing += 1;
                    let e = self.expr(a, None);
                    self.no_narrowing -= 1;
                    typed.push(Some(e));
                }
                _ => typed.push(Some(self.expr(a, None))),
            }
        }
        if typed.iter().flatten().any(|e| e.ty.is_error()) {
            return Expr::error(span);
        }
        if b == Builtin::Has {
            let arg = typed.pop().flatten().expect("has takes one typed argument");
            return self.has(arg, span);
        }
        // Constant arguments: known now, checked now.
        for (i, p) in params.iter().enumerate() {
            if p.is_constant()
                && let Some(e) = &typed[i]
                && !self.constant_arg(b, *p, e)
            {
                return Expr::error(span);
            }
        }
        if b == Builtin::Extract {
            self.check_group(&typed);
        }
        // Pick the overload: exact types first, then with int widened to float.
        let arg_types: Vec<Option<Type>> = typed.iter().map(|e| e.as_ref().map(|e| e.ty.clone())).collect();
        let chosen = [false, true].into_iter().find_map(|widen| {
            b.overloads().iter().position(|o| {
                o.params.iter().enumerate().all(|(i, p)| accepts(*p, arg_types[i].as_ref(), &arg_types, widen))
            })
        });
        let Some(overload) = chosen else {
            self.report_no_overload(b, &typed, span);
            return Expr::error(span);
        };
        let ov = b.overloads()[overload];
        let mut args_ir: Vec<Expr> = Vec::with_capacity(args.len());
        for (i, p) in ov.params.iter().enumerate() {
            let Some(e) = typed[i].take() else {
                // The predicate: its parameter is an element of the list before it.
                let ast::ExprKind::Lambda { param, body } = &args[i].kind else { unreachable!("checked above") };
                let elem = match args_ir.last().map(|l| &l.ty) {
                    Some(Type::List(t)) => (**t).clone(),
                    _ => Type::Error,
                };
                let list = args_ir.pop().expect("a list precedes the predicate");
                let kind = match b {
                    Builtin::Any => ListPredKind::Any,
                    Builtin::All => ListPredKind::All,
                    _ => ListPredKind::CountIf,
                };
                return self.list_pred(kind, list, param, elem, body, ov.ret, span);
            };
            let e = match p {
                Param::Is(t) => {
                    let t = Type::from_stdlib(*t);
                    let fname = b.name();
                    self.coerce(e, &t, &|| format!("argument {} of `{fname}`", i + 1))
                }
                Param::KeyOfMap => {
                    let key = match args_ir.first().map(|m| &m.ty) {
                        Some(Type::Map(k, _)) => (**k).clone(),
                        _ => Type::Error,
                    };
                    self.coerce(e, &key, &|| "the key".to_owned())
                }
                _ => e,
            };
            args_ir.push(e);
        }
        let site = b.is_velocity().then(|| self.next_site());
        let ty = ret_type(ov.ret);
        Expr::new(ExprKind::Call { builtin: b, overload: overload as u16, args: args_ir, site }, ty, span)
    }

    #[allow(clippy::too_many_arguments)]
    fn list_pred(
        &mut self,
        kind: ListPredKind,
        list: Expr,
        param: &ast::Name,
        elem: Type,
        body: &ast::Expr,
        ret: Ret,
        span: Span,
    ) -> Expr {
        let mark = self.mark();
        let local: LocalId = self.bind(param, elem);
        let body = self.condition(body, "the lambda's result");
        self.reset(mark);
        Expr::new(
            ExprKind::ListPred { kind, list: Box::new(list), param: local, body: Box::new(body) },
            ret_type(ret),
            span,
        )
    }

    fn has(&mut self, arg: Expr, span: Span) -> Expr {
        let present_always = match &arg.ty {
            Type::Optional(_) | Type::Null | Type::List(_) | Type::Map(_, _) => false,
            // A message-typed field (google.protobuf.Duration included) has presence.
            _ => match &arg.kind {
                ExprKind::Field { message, index, .. } => {
                    let f = &self.env.schema.message(*message).fields[*index as usize];
                    !(f.wire == crate::schema::WireKind::Message || f.wire.is_scalar_message())
                        || f.label != crate::schema::Label::Singular
                }
                _ => true,
            },
        };
        if present_always {
            let t = self.ty(&arg.ty);
            let hint = match &arg.ty {
                Type::Message(_) => "only a message field can be absent; `self` and locals are always there".to_owned(),
                t => format!(
                    "a plain proto3 field reads as its default when absent; compare with it instead (`!= {}`)",
                    super::cx::default_text(t)
                ),
            };
            self.error(
                Diagnostic::new(
                    Code::E0028,
                    arg.span,
                    format!("{} here is never absent, so `has` is always true", article(&t)),
                )
                .label(format!("this is {}, not {t}?", article(&t)))
                .hint(hint),
            );
            return Expr::error(span);
        }
        Expr::new(ExprKind::Has(Box::new(arg)), Type::Bool, span)
    }

    /// Checks a constant argument; false (after reporting) when it is not usable.
    fn constant_arg(&mut self, b: Builtin, p: Param, e: &Expr) -> bool {
        let what = match p {
            Param::Pattern => "pattern",
            Param::JsonPath => "JSON path",
            Param::Cidr => "CIDR block",
            _ => "window",
        };
        let text = match (&e.kind, p) {
            (ExprKind::Lit(Literal::String(s)), Param::Pattern | Param::JsonPath | Param::Cidr) => s.clone(),
            (ExprKind::Lit(Literal::Duration(ms)), Param::Window) => {
                if *ms <= 0 {
                    self.error(
                        Diagnostic::new(Code::E0023, e.span, "a window must be a positive duration")
                            .label(format!("{ms}ms"))
                            .hint("write it like 30s, 5m or 1h"),
                    );
                    return false;
                }
                return true;
            }
            _ => {
                let kind = if p == Param::Window { "duration literal such as 5m" } else { "string literal" };
                self.error(
                    Diagnostic::new(
                        Code::E0015,
                        e.span,
                        format!("the {what} of `{}` must be a constant {kind}", b.name()),
                    )
                    .label("this changes from event to event")
                    .hint(format!("{what}s are prepared once when the bundle loads; write a literal or name a const")),
                );
                return false;
            }
        };
        let problem = match p {
            Param::Pattern => constant::compile_pattern(&text)
                .err()
                .map(|r| (Code::E0014, format!("invalid regular expression: {r}"))),
            Param::JsonPath => {
                constant::parse_json_path(&text).err().map(|r| (Code::E0023, format!("invalid JSON path: {r}")))
            }
            _ => constant::parse_cidr(&text).err().map(|r| (Code::E0023, format!("invalid CIDR block: {r}"))),
        };
        match problem {
            Some((code, msg)) => {
                self.error(Diagnostic::new(code, e.span, msg).label(format!("this {what}")));
                false
            }
            None => true,
        }
    }

    /// `extract(s, PATTERN, group)` with a constant group: the pattern must have it.
    fn check_group(&mut self, typed: &[Option<Expr>]) {
        let (Some(Some(pattern)), Some(Some(group))) = (typed.get(1), typed.get(2)) else { return };
        let (ExprKind::Lit(Literal::String(text)), ExprKind::Lit(Literal::Int(g))) = (&pattern.kind, &group.kind)
        else {
            return;
        };
        let Ok(re) = constant::compile_pattern(text) else { return };
        let groups = re.captures_len() as i64;
        if (0..groups).contains(g) {
            return;
        }
        let has = match groups - 1 {
            0 => "no group".to_owned(),
            1 => "one group".to_owned(),
            n => format!("{n} groups"),
        };
        let hint = if groups == 2 {
            "group 0 is the whole match, group 1 the parenthesised part".to_owned()
        } else if groups == 1 {
            "group 0 is the whole match; put parentheses around the part to extract, as in \"id=([0-9]+)\"".to_owned()
        } else {
            format!("group 0 is the whole match, groups 1 to {} are the parenthesised parts", groups - 1)
        };
        self.error(
            Diagnostic::new(Code::E0023, group.span, format!("the pattern has {has}, so group {g} never matches"))
                .label(format!("group {g}"))
                .secondary(pattern.span, format!("{has} here"))
                .hint(hint),
        );
    }

    fn report_no_overload(&mut self, b: Builtin, typed: &[Option<Expr>], span: Span) {
        // Find the first argument that no overload accepts at its position, to point at it.
        let arg_types: Vec<Option<Type>> = typed.iter().map(|e| e.as_ref().map(|e| e.ty.clone())).collect();
        for (i, e) in typed.iter().enumerate() {
            let Some(e) = e else { continue };
            let ok = b.overloads().iter().any(|o| accepts(o.params[i], Some(&e.ty), &arg_types, true));
            if ok {
                continue;
            }
            let accepted: Vec<String> = b.overloads().iter().map(|o| describe(o.params[i])).collect();
            let mut unique: Vec<String> = Vec::new();
            for a in accepted {
                if !unique.contains(&a) {
                    unique.push(a);
                }
            }
            let found = self.ty(&e.ty);
            let want = unique.join(" or ");
            if let Type::Optional(inner) = &e.ty
                && b.overloads().iter().any(|o| accepts(o.params[i], Some(inner), &arg_types, true))
            {
                let what = format!("argument {} of `{}`", i + 1, b.name());
                self.require_present(e.clone(), &what);
                return;
            }
            self.error(
                Diagnostic::new(
                    Code::E0008,
                    e.span,
                    format!("argument {} of `{}` must be {want}, found {found}", i + 1, b.name()),
                )
                .label(format!("this is {}", article(&found)))
                .hint(format!("the signature is {}", b.doc().lines().next().unwrap_or(""))),
            );
            return;
        }
        self.error(
            Diagnostic::new(Code::E0008, span, format!("no form of `{}` takes these arguments", b.name()))
                .label("these arguments")
                .hint(format!("the signature is {}", b.doc().lines().next().unwrap_or(""))),
        );
    }

    fn call_fn(&mut self, name: &ast::Name, args: &[ast::Expr], span: Span) -> Expr {
        let env = self.env;
        let info = &env.fns[&name.text];
        let param_types: Vec<Type> = info.params.iter().map(|(_, t)| t.clone()).collect();
        let signature = format!(
            "{}({}){}",
            name.text,
            info.params.iter().map(|(n, t)| format!("{n}: {}", self.ty(t))).collect::<Vec<_>>().join(", "),
            info.ret.as_ref().map(|t| format!(" -> {}", self.ty(t))).unwrap_or_default()
        );
        if args.len() != param_types.len() {
            self.arity_error(name, param_types.len(), args.len(), span, &signature);
            return Expr::error(span);
        }
        let mut values = Vec::with_capacity(args.len());
        for (i, (a, t)) in args.iter().zip(&param_types).enumerate() {
            let e = self.expr(a, Some(t));
            let fname = &name.text;
            values.push(self.coerce(e, t, &|| format!("argument {} of `{fname}`", i + 1)));
        }
        let Some(body) = &info.body else {
            // Recursive (reported at its definition) or not checkable: its declared type stands.
            return Expr::error(span).with_type(info.ret.clone().unwrap_or(Type::Error));
        };
        if values.iter().any(|v| v.ty.is_error()) {
            return Expr::error(span).with_type(body.ret.clone());
        }
        if self.inlined_nodes.saturating_add(body.nodes) > super::env::MAX_INLINED_NODES {
            let limit = super::env::MAX_INLINED_NODES;
            if self.inlined_nodes == usize::MAX {
                // Reported at this unit's first call past the bound.
                return Expr::error(span).with_type(body.ret.clone());
            }
            self.error(
                Diagnostic::new(Code::E0019, span, format!("this call to `{}` makes {} too large once inlined", name.text, self.what))
                    .label(format!("{} expression nodes, {} from earlier calls", body.nodes, self.inlined_nodes))
                    .hint(format!("fns are copied where they are called, at most {limit} nodes a unit; bind a repeated call with `let`")),
            );
            self.inlined_nodes = usize::MAX;
            return Expr::error(span).with_type(body.ret.clone());
        }
        self.inlined_nodes += body.nodes;
        // Inline: the fn's locals become fresh locals of this unit, its velocity sites fresh sites.
        let local_base = self.unit.locals.len() as u32;
        let site_base = self.unit.velocity_sites;
        self.unit.locals.extend(body.locals.iter().cloned());
        self.unit.velocity_sites += body.velocity_sites;
        let mut inlined = body.body.clone();
        renumber(&mut inlined, local_base, site_base);
        let ret = body.ret.clone();
        for (i, v) in values.into_iter().enumerate().rev() {
            inlined = Expr::new(
                ExprKind::Let { local: LocalId(local_base + i as u32), value: Box::new(v), body: Box::new(inlined) },
                ret.clone(),
                span,
            );
        }
        inlined.span = span;
        inlined
    }
}

/// Shifts local ids and velocity sites of an inlined body into the caller's numbering.
fn renumber(e: &mut Expr, local_base: u32, site_base: u32) {
    match &mut e.kind {
        ExprKind::Local(id) => id.0 += local_base,
        ExprKind::Let { local, .. } => local.0 += local_base,
        ExprKind::ListPred { param, .. } => param.0 += local_base,
        ExprKind::Call { site: Some(s), .. } => *s += site_base,
        _ => {}
    }
    e.for_each_child_mut(|c| renumber(c, local_base, site_base));
}

fn accepts(p: Param, ty: Option<&Type>, all: &[Option<Type>], widen: bool) -> bool {
    let Some(ty) = ty else { return p == Param::Predicate };
    match p {
        Param::Is(t) => {
            let t = Type::from_stdlib(t);
            *ty == t || (widen && *ty == Type::Int && t == Type::Float)
        }
        Param::Scalar => ty.is_scalar(),
        Param::List => matches!(ty, Type::List(_)),
        Param::Map => matches!(ty, Type::Map(_, _)),
        Param::KeyOfMap => match all.first().and_then(|t| t.as_ref()) {
            Some(Type::Map(k, _)) => **k == *ty || (widen && **k == Type::Float && *ty == Type::Int),
            _ => false,
        },
        Param::Predicate | Param::Presence => true,
        Param::Pattern | Param::JsonPath | Param::Cidr => *ty == Type::String,
        Param::Window => *ty == Type::Duration,
    }
}

fn describe(p: Param) -> String {
    match p {
        Param::Is(evr_stdlib::signature::Ty::Bytes) => "bytes".into(),
        Param::Is(t) => article(&format!("{t:?}").to_lowercase()),
        Param::Scalar => "a scalar (bool, int, float, string, bytes, duration or enum)".into(),
        Param::List => "a list".into(),
        Param::Map => "a map".into(),
        Param::KeyOfMap => "a key of the map".into(),
        Param::Predicate => "a lambda".into(),
        Param::Presence => "a value that may be absent".into(),
        Param::Pattern => "a constant pattern".into(),
        Param::JsonPath => "a constant JSON path".into(),
        Param::Cidr => "a constant CIDR block".into(),
        Param::Window => "a constant duration".into(),
    }
}

fn ret_type(r: Ret) -> Type {
    match r {
        Ret::Is(t) => Type::from_stdlib(t),
        Ret::Opt(t) => Type::from_stdlib(t).optional(),
        Ret::ListOf(t) => Type::list(Type::from_stdlib(t)),
    }
}
